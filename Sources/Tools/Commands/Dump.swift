import ArgumentParser
import EventLog
import Foundation

/// `eventlog dump`: describe the batches of segment files.
struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the batches of segment files: offsets, timestamps, codec, CRC status.",
        discussion: "Example: eventlog dump eventlog-data/orders-0/00000000000000000000.log")
    @Argument(help: "Segment files (.log).") var files: [String]
    @Flag(help: "Print JSON lines.") var json = false

    func run() throws {
        var damaged = false
        for file in files {
            let report = try SegmentInspector.inspect(path: file) { b in
                if json {
                    printJSON([
                        "position": b.position, "size": b.size, "baseOffset": b.baseOffset, "lastOffset": b.lastOffset,
                        "records": b.recordCount, "codec": b.codec, "baseTimestamp": b.baseTimestamp,
                        "maxTimestamp": b.maxTimestamp, "producerId": b.producerId, "crc": String(b.crc, radix: 16),
                        "crcValid": true,
                    ])
                } else {
                    print(
                        "position \(b.position) size \(b.size) offsets \(b.baseOffset)...\(b.lastOffset) records \(b.recordCount) codec \(b.codec) maxTimestamp \(b.maxTimestamp) crc \(String(b.crc, radix: 16)) ok"
                    )
                }
            }
            if let problem = report.problem {
                damaged = true
                printError("\(file): damaged at position \(report.validBytes) of \(report.fileSize): \(problem)")
            }
        }
        if damaged { throw ExitCode(1) }
    }
}
