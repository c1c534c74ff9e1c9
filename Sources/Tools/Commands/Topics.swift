import ArgumentParser
import EventLog
import Foundation

/// `eventlog topics list|create|describe|alter|delete`.
struct Topics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, describe, alter and delete topics.",
        subcommands: [List.self, Create.self, Describe.self, Alter.self, Delete.self], defaultSubcommand: List.self)

    /// Settings shared by create and alter.
    struct Settings: ParsableArguments {
        @Option(help: "Cleanup policy: delete, compact or delete,compact.") var cleanupPolicy: String?
        @Option(help: "Retention in milliseconds (-1: forever).") var retentionMs: Int64?
        @Option(help: "Retention in bytes per partition (-1: unlimited).") var retentionBytes: Int64?
        @Option(help: "Roll segments at this many bytes.") var segmentBytes: Int64?
        @Option(help: "Roll segments older than this many milliseconds.") var segmentMs: Int64?
        @Option(help: "Largest batch in bytes.") var maxRecordBytes: Int?
        @Option(help: "Compression: none, lz4, zstd or zstd:LEVEL.") var compression: Compression?
        @Option(help: "Durability: none, sync or interval:MS.") var durability: DurabilityPolicy?

        func apply(to config: inout TopicConfiguration) throws {
            if let cleanupPolicy {
                var policy: CleanupPolicy = []
                for part in cleanupPolicy.split(separator: ",") {
                    switch part.trimmingCharacters(in: .whitespaces) {
                    case "delete": policy.insert(.delete)
                    case "compact": policy.insert(.compact)
                    default: throw ValidationError("unknown cleanup policy '\(part)'; expected delete, compact or both")
                    }
                }
                config.cleanupPolicy = policy
            }
            if let retentionMs { config.retentionMilliseconds = retentionMs < 0 ? nil : retentionMs }
            if let retentionBytes { config.retentionBytes = retentionBytes < 0 ? nil : retentionBytes }
            if let segmentBytes { config.segmentBytes = segmentBytes }
            if let segmentMs { config.segmentMilliseconds = segmentMs }
            if let maxRecordBytes { config.maxRecordBytes = maxRecordBytes }
            if let compression { config.compression = compression }
            if let durability { config.durability = durability }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics.")
        @OptionGroup var options: GlobalOptions
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            let log = try options.openLogForReading()
            let names = log.topicNames()
            if json { printJSON(names) } else { names.forEach { print($0) } }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a topic.",
            discussion: "Example: eventlog topics create orders --partitions 4 --compression lz4")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Topic name ([a-zA-Z0-9._-], at most 249 characters).") var name: String
        @Option(help: "Number of partitions.") var partitions: Int = 1
        @OptionGroup var settings: Settings
        func run() throws {
            let log = try options.openLog()
            var config = TopicConfiguration(partitions: partitions)
            try settings.apply(to: &config)
            try log.createTopic(name, configuration: config)
            try log.close()
            print("created topic \(name) with \(partitions) partition\(partitions == 1 ? "" : "s")")
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a topic's configuration and offsets.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Topic name.") var name: String
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            let log = try options.openLogForReading()
            let d = try log.describeTopic(name)
            let c = d.configuration
            if json {
                printJSON(
                    [
                        "name": d.name,
                        "partitions": d.partitions.map {
                            [
                                "partition": $0.partition, "logStartOffset": $0.logStartOffset,
                                "logEndOffset": $0.logEndOffset,
                                "segments": $0.segments, "bytes": $0.bytes,
                            ]
                        },
                        "cleanupPolicy": policyName(c.cleanupPolicy), "compression": c.compression.description,
                        "durability": c.durability.description, "retentionMs": c.retentionMilliseconds ?? -1,
                        "retentionBytes": c.retentionBytes ?? -1, "segmentBytes": c.segmentBytes,
                    ] as [String: Any])
                return
            }
            print(
                "topic \(d.name): \(d.partitions.count) partitions, cleanup \(policyName(c.cleanupPolicy)), compression \(c.compression), durability \(c.durability)"
            )
            print(
                "  retention \(c.retentionMilliseconds.map { "\($0) ms" } ?? "forever"), \(c.retentionBytes.map { "\($0) bytes" } ?? "unlimited"); segments roll at \(c.segmentBytes) bytes / \(c.segmentMilliseconds) ms"
            )
            print("  partition  start-offset  end-offset  segments  bytes")
            for p in d.partitions {
                print(
                    "  \(pad(p.partition, 9))  \(pad(p.logStartOffset, 12))  \(pad(p.logEndOffset, 10))  \(pad(p.segments, 8))  \(p.bytes)"
                )
            }
        }
    }

    struct Alter: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a topic's settings.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Topic name.") var name: String
        @OptionGroup var settings: Settings
        func run() throws {
            let log = try options.openLog()
            var failure: (any Error)?
            try log.alterTopic(name) { config in
                do { try settings.apply(to: &config) } catch { failure = error }
            }
            if let failure { throw failure }
            try log.close()
            print("altered topic \(name)")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a topic and its data.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Topic name.") var name: String
        func run() throws {
            let log = try options.openLog()
            try log.deleteTopic(name)
            try log.close()
            print("deleted topic \(name)")
        }
    }
}

func policyName(_ policy: CleanupPolicy) -> String {
    [policy.contains(.delete) ? "delete" : nil, policy.contains(.compact) ? "compact" : nil].compactMap { $0 }.joined(
        separator: ",")
}

func pad(_ value: some CustomStringConvertible, _ width: Int) -> String {
    let text = value.description
    return String(repeating: " ", count: max(0, width - text.count)) + text
}

func printJSON(_ value: Any) {
    let data = try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
