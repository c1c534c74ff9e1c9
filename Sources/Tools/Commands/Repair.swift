import ArgumentParser
import EventLog

/// `eventlog repair`: the operator's decision to cut a damaged partition of a cleanly closed log.
struct Repair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cut a damaged partition at its damage, keeping the cut bytes in a quarantine file.",
        discussion: """
            A log that was closed cleanly is never cut by recovery: damage found in it is reported, everything \
            before it stays readable, and appends to that partition are refused. This command moves the bytes \
            from the damage on into <segment>.log.quarantine-<position> beside the segment (up to 64 MiB; \
            more is deleted and reported), cuts the segment there, and lets appends continue. \
            `eventlog verify` lists quarantine files.

            Example: eventlog repair --topic orders --partition 3
            """)
    @OptionGroup var options: GlobalOptions
    @Option(help: "The topic.") var topic: String
    @Option(help: "The partition.") var partition: Int

    func run() throws {
        let log = try options.openLog()
        defer { try? log.close() }
        guard let report = try log.repair(topic: topic, partition: partition) else {
            print("\(topic)-\(partition) is not damaged; nothing to repair")
            return
        }
        print("repaired \(report)")
    }
}
