import ArgumentParser
import EventLog
import Foundation
import KafkaServer

/// `eventlog stats`: sizes and offsets of every topic, and a running `eventlog serve`'s counters.
struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Records, bytes and segments per topic; the Kafka server's counters when one serves the log.")
    @OptionGroup var options: GlobalOptions
    @Flag(help: "Print JSON.") var json = false
    func run() throws {
        let log = try options.openLogForReading()
        var rows: [[String: Any]] = []
        for name in log.topicNames() {
            let d = try log.describeTopic(name)
            let records = d.partitions.reduce(Int64(0)) { $0 + $1.logEndOffset - $1.logStartOffset }
            let bytes = d.partitions.reduce(Int64(0)) { $0 + $1.bytes }
            let segments = d.partitions.reduce(0) { $0 + $1.segments }
            rows.append([
                "topic": name, "partitions": d.partitions.count, "records": records, "bytes": bytes,
                "segments": segments,
            ])
        }
        if json { printJSON(rows); return }
        print("TOPIC                PARTITIONS  RECORDS     BYTES        SEGMENTS")
        for r in rows {
            let name = (r["topic"] as! String).padding(toLength: 20, withPad: " ", startingAt: 0)
            print(
                "\(name) \(pad(r["partitions"] as! Int, 10))  \(pad(r["records"] as! Int64, 10))  \(pad(r["bytes"] as! Int64, 11))  \(r["segments"] as! Int)"
            )
        }
        // Written every second by `eventlog serve --kafka` (requests per API, bytes in and out, connections).
        let metrics = log.directory + "/" + KafkaServer.metricsFile
        if let text = try? String(contentsOfFile: metrics, encoding: .utf8) {
            print("\nKafka server counters (\(metrics)):")
            print(text, terminator: "")
        }
    }
}
