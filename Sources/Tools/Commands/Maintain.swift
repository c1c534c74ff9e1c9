import ArgumentParser
import EventLog

/// `eventlog maintain`: one pass of retention and compaction over an embedded log directory — what
/// `eventlog serve` (and a library user's `maintenanceIntervalMilliseconds`) run in the background.
struct Maintain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run retention and compaction once over every partition.",
        discussion: """
            Retention deletes whole closed segments past a topic's time or size limit; compaction rewrites the \
            closed segments of compacted topics keeping the latest record per key (tombstones, records with \
            a null value, are dropped once older than the topic's delete retention). Offsets never change. \
            Compaction runs when a partition's dirty ratio reaches the topic's minimum, or always with \
            --force-compaction. It opens the log as its writer, so it cannot run beside a process that \
            writes the same directory.

            Example: eventlog maintain --force-compaction
            """)
    @OptionGroup var options: GlobalOptions
    @Flag(help: "Compact even when the dirty ratio is below the topic's minimum.") var forceCompaction = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let log = try options.openLog()
        defer { try? log.close() }
        let report = try log.runMaintenance(forceCompaction: forceCompaction)
        if json {
            print(#"{"segments_deleted":\#(report.segmentsDeleted),"records_compacted":\#(report.recordsCompacted)}"#)
        } else {
            print(
                "retention deleted \(report.segmentsDeleted) segments; compaction removed \(report.recordsCompacted) records"
            )
        }
    }
}
