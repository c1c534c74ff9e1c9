import ArgumentParser
import EventLog
import Foundation

/// `eventlog verify`: check every segment of a log directory.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every batch of every segment (CRC, lengths, offsets); exit 1 on damage.")
    @OptionGroup var options: GlobalOptions
    @Flag(help: "Print one JSON line per segment.") var json = false

    func run() throws {
        guard FileManager.default.fileExists(atPath: options.directory) else {
            throw ValidationError("no event log at '\(options.directory)'")
        }
        var damaged = 0
        var batches = 0
        var records: Int64 = 0
        let files = try SegmentInspector.segmentFiles(in: options.directory)
        let progress = Progress(label: "verify")
        defer { progress.finish() }
        for (index, (partition, path)) in files.enumerated() {
            progress.update("segment \(index + 1) of \(files.count), \(records) records so far")
            let report = try SegmentInspector.inspect(path: path)
            batches += report.batches
            records += report.records
            if json {
                printJSON([
                    "partition": partition, "file": path, "batches": report.batches, "records": report.records,
                    "valid": report.isValid, "problem": report.problem ?? NSNull(), "validBytes": report.validBytes,
                    "fileSize": report.fileSize,
                ])
            } else if let problem = report.problem {
                print("DAMAGED \(path) at position \(report.validBytes) of \(report.fileSize): \(problem)")
            }
            if !report.isValid { damaged += 1 }
        }
        // Bytes recovery or `eventlog repair` cut from segments are kept beside them for inspection.
        let quarantined = try SegmentInspector.quarantineFiles(in: options.directory)
        for path in quarantined {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            if json {
                printJSON(["quarantine": path, "bytes": size])
            } else {
                print("QUARANTINE \(path) (\(size) bytes cut by recovery or repair)")
            }
        }
        if !json {
            print(
                "\(files.count) segments, \(batches) batches, \(records) records checked; \(damaged == 0 ? "no damage" : "\(damaged) damaged")"
                    + (quarantined.isEmpty ? "" : "; \(quarantined.count) quarantine files")
            )
        }
        if damaged > 0 { throw ExitCode(1) }
    }
}
