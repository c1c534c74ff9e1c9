import ArgumentParser
import EventLog
import Foundation

/// `eventlog tail`: the last records of a topic, then follow new ones like `tail -f`.
struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the last records of a topic and follow new ones (works while another process writes).",
        discussion: """
            Examples:
              eventlog tail orders                 last 10 records of every partition, then follow
              eventlog tail orders -n 0 --key order-42
              eventlog tail orders --no-follow --partition 1 --json
            """)
    @OptionGroup var options: GlobalOptions
    @Argument(help: "Topic name.") var topic: String
    @Option(
        name: [.customShort("n"), .customLong("lines")],
        help: "How many of the latest records per partition to show first.")
    var lines: Int = 10
    @Option(help: "Only this partition.") var partition: Int?
    @Option(help: "Only records with this key.") var key: String?
    @Flag(inversion: .prefixedNo, help: "Keep following new records (default) or stop at the end.") var follow = true
    @Flag(help: "Print one JSON object per record.") var json = false

    func validate() throws {
        guard lines >= 0 else { throw ValidationError("-n must be 0 or more") }
    }

    func run() async throws {
        let log = try options.openLogForReading()
        let partitions = try partition.map { [$0] } ?? Array(0..<log.partitionCount(topic))
        var assignment: [TopicPartition] = []
        for p in partitions { assignment.append(TopicPartition(topic, p)) }
        let consumer = try log.consumer(partitions: assignment, from: .latest)
        for tp in assignment {
            let (start, end) = try log.offsets(topic: topic, partition: tp.partition)
            try consumer.seek(tp, to: .offset(max(start, end - Int64(lines))))
        }
        let printer = RecordPrinter(json: json)
        let keyBytes = key.map { Array($0.utf8) }
        for try await event in consumer.events {
            switch event {
            case .record(let record):
                if let keyBytes, record.record.key != keyBytes { continue }
                printer.print(record)
            case .caughtUp:
                if !follow { return }
            }
        }
    }
}

/// Prints consumer records as text or JSON lines, flushing each line (so pipes see them at once).
struct RecordPrinter {
    var json: Bool

    func print(_ record: ConsumerRecord) {
        let r = record.record
        var line: String
        if json {
            var object: [String: Any] = [
                "topic": record.topic, "partition": record.partition, "offset": r.offset,
                "timestamp": r.timestamp,
            ]
            object["key"] = r.keyString ?? NSNull()
            object["value"] = r.valueString ?? NSNull()
            if !r.headers.isEmpty {
                object["headers"] = Dictionary(
                    r.headers.map { ($0.key, $0.value.map { String(decoding: $0, as: UTF8.self) } ?? "") },
                    uniquingKeysWith: { $1 })
            }
            line = String(
                decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        } else {
            line = "\(record.partition):\(r.offset)\t\(r.keyString ?? "(null)")\t\(r.valueString ?? "(null)")"
        }
        line += "\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }
}
