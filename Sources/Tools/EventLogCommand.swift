import ArgumentParser

@main
struct EventLogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventlog",
        abstract: "A durable Kafka-format event log in a directory.",
        subcommands: [])
}
