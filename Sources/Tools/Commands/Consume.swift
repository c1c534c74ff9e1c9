import ArgumentParser
import EventLog
import Foundation

/// `eventlog consume`: print records of a topic, alone or as a member of a consumer group.
struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print records of a topic; with --group, resume from and commit the group's offsets.",
        discussion: """
            Examples:
              eventlog consume orders --from earliest --max 10 --json
              eventlog consume orders --group billing            (exits at the end; commits what it printed)
              eventlog consume orders --from latest --follow     (waits for new records)
            """)
    @OptionGroup var options: GlobalOptions
    @Argument(help: "Topic name.") var topic: String
    @Option(help: "Only this partition (default: all).") var partition: Int?
    @Option(help: "Where to start: earliest, latest, an offset, or ts:MILLISECONDS (without --group).")
    var from: String = "earliest"
    @Option(help: "Consume as a member of this group: start at its committed offsets and commit progress.")
    var group: String?
    @Option(help: "Stop after this many records.") var max: Int?
    @Flag(help: "Keep waiting for new records instead of exiting at the end.") var follow = false
    @Flag(help: "Print one JSON object per record.") var json = false

    func start() throws -> StartPosition { try parseStartPosition(from, option: "--from") }

    func validate() throws {
        _ = try start()
        if group != nil && partition != nil { throw ValidationError("--partition cannot be combined with --group") }
        if let max, max < 1 { throw ValidationError("--max must be at least 1") }
    }

    func run() async throws {
        let log = try options.openLogForReading()
        if let group {
            var config = GroupConsumer.Configuration()
            config.resetTo = try start()
            config.autoCommitIntervalMilliseconds = 1000
            let member = try log.groupConsumer(group: group, topics: [topic], configuration: config)
            defer { try? member.close() }
            // Ctrl-C (or SIGTERM) ends the loop, and the position read so far is committed, as Kafka's
            // console consumer does on close.
            let reading = Task { try await printEvents(member.events) }
            let stops = [SIGINT, SIGTERM].map { signalNumber in
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber)
                source.setEventHandler { reading.cancel() }
                source.resume()
                return source
            }
            defer { stops.forEach { $0.cancel() } }
            try await reading.value
            try member.commit()
        } else {
            let partitions = try partition.map { [$0] } ?? Array(0..<log.partitionCount(topic))
            let consumer = try log.consumer(partitions: partitions.map { TopicPartition(topic, $0) }, from: try start())
            try await printEvents(consumer.events)
        }
    }

    /// Prints records until the end (or forever with --follow) or --max.
    private func printEvents<Events: AsyncSequence>(_ events: Events) async throws
    where Events.Element == ConsumerEvent {
        let printer = RecordPrinter(json: json)
        var printed = 0
        for try await event in events {
            guard case .record(let record) = event else {
                if follow { continue } else { break }
            }
            printer.print(record)
            printed += 1
            if let max, printed >= max { break }
        }
    }
}
