import ArgumentParser

@main
struct EventLogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventlog",
        abstract: "A durable, Kafka-format event log in a directory.",
        discussion: """
            Every subcommand works on a log directory: --data-dir, else $EVENTLOG_DIR, else ./eventlog-data.

            Examples:
              eventlog simulate --duration 2h           (the order-delivery simulator into the log)
              eventlog topics create orders --partitions 4 --compression lz4
              printf 'k1\\tv1\\n' | eventlog produce orders --separator tab
              eventlog consume orders --from earliest --max 10
              eventlog tail orders -n 5                 (then follows, like tail -f)
              eventlog consume orders --group billing   (resumes from the group's commits)
              eventlog groups describe billing
              eventlog verify
              eventlog tables create --preset orders    (a live upsert table over the orders topic)
              eventlog query "SELECT status, COUNT(*) FROM orders GROUP BY status"
              eventlog bench W1 --input /tmp/w1.jsonl
            """,
        subcommands: [
            Simulate.self, Soak.self, Topics.self, Produce.self, Consume.self, Tail.self, Groups.self, Stats.self,
            Dump.self,
            Verify.self, Repair.self, Maintain.self, Tables.self, Query.self,
            Serve.self, MirrorCommand.self, CDC.self, ServicesCommand.self, Bench.self, BenchLatency.self,
        ])
}
