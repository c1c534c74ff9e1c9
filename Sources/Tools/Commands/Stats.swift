import ArgumentParser
import EventLog
import Foundation

/// `eventlog stats`: sizes and offsets of every topic.
struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Records, bytes and segments per topic.")
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
    }
}
