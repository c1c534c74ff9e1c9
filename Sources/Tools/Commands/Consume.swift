import ArgumentParser
import EventLog
import Foundation

/// `eventlog consume`: print records of a topic.
struct Consume: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print records of a topic.",
        discussion: "Example: eventlog consume orders --from earliest --max 10 --json")
    @OptionGroup var options: GlobalOptions
    @Argument(help: "Topic name.") var topic: String
    @Option(help: "Only this partition (default: all).") var partition: Int?
    @Option(help: "Where to start: earliest, latest, an offset, or ts:MILLISECONDS.") var from: String = "earliest"
    @Option(help: "Stop after this many records.") var max: Int?
    @Flag(help: "Print one JSON object per record.") var json = false

    func start() throws -> StartPosition {
        switch from {
        case "earliest": return .earliest
        case "latest": return .latest
        default:
            if from.hasPrefix("ts:"), let ts = Int64(from.dropFirst(3)) { return .timestamp(ts) }
            if let offset = Int64(from), offset >= 0 { return .offset(offset) }
            throw ValidationError("--from must be earliest, latest, an offset or ts:MILLISECONDS; got '\(from)'")
        }
    }

    func run() throws {
        let log = try options.openLogForReading()
        let partitions = try partition.map { [$0] } ?? Array(0..<log.partitionCount(topic))
        var printed = 0
        for p in partitions {
            let reader = try log.reader(topic: topic, partition: p, from: try start())
            var done = false
            while !done, try reader.read({ record in
                guard !done else { return }
                printRecord(record, partition: p)
                printed += 1
                if let max, printed >= max { done = true }
            }) > 0 {}
            if done { break }
        }
    }

    func printRecord(_ record: RecordView, partition: Int) {
        let key = record.key.map { String(decoding: $0, as: UTF8.self) }
        let value = record.value.map { String(decoding: $0, as: UTF8.self) }
        if json {
            var object: [String: Any] = ["partition": partition, "offset": record.offset, "timestamp": record.timestamp]
            object["key"] = key ?? NSNull()
            object["value"] = value ?? NSNull()
            if record.headerCount > 0 {
                object["headers"] = Dictionary(record.headers.map { ($0.key, $0.value.map { String(decoding: $0, as: UTF8.self) } ?? "") },
                                               uniquingKeysWith: { $1 })
            }
            printJSON(object)
        } else {
            print("\(partition):\(record.offset)\t\(key ?? "(null)")\t\(value ?? "(null)")")
        }
    }
}
