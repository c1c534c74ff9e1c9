import ArgumentParser
import EventLog
import Foundation

/// `eventlog groups list|describe|reset-offsets`.
struct Groups: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List consumer groups, show their offsets and lag, reset their offsets.",
        subcommands: [List.self, Describe.self, ResetOffsets.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List groups that committed offsets.")
        @OptionGroup var options: GlobalOptions
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            let names = try options.openLogForReading().groupNames()
            if json { printJSON(names) } else { names.forEach { print($0) } }
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Committed offset, log end and lag per partition.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Group name.") var group: String
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            let log = try options.openLogForReading()
            guard try log.groupNames().contains(group) else {
                throw ValidationError("group '\(group)' has no committed offsets (see: eventlog groups list)")
            }
            let lags = try log.lag(group: group)
            if json {
                printJSON(
                    lags.map {
                        [
                            "topic": $0.topicPartition.topic, "partition": $0.topicPartition.partition,
                            "committed": $0.committed.map { $0 as Any } ?? NSNull(), "end": $0.endOffset, "lag": $0.lag,
                        ]
                    })
                return
            }
            print("TOPIC                PARTITION  COMMITTED   END-OFFSET  LAG")
            for l in lags {
                let topic = l.topicPartition.topic.padding(
                    toLength: max(20, l.topicPartition.topic.count), withPad: " ", startingAt: 0)
                print(
                    "\(topic) \(pad(l.topicPartition.partition, 9))  \(pad(l.committed.map(String.init) ?? "-", 9))  \(pad(l.endOffset, 10))  \(l.lag)"
                )
            }
            print("total lag \(lags.reduce(0) { $0 + $1.lag })")
        }
    }

    struct ResetOffsets: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-offsets", abstract: "Set a group's committed offsets on a topic.",
            discussion: "Example: eventlog groups reset-offsets billing --topic orders --to earliest")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Group name.") var group: String
        @Option(help: "Topic.") var topic: String
        @Option(help: "earliest, latest, an offset, or ts:MILLISECONDS.") var to: String
        func run() throws {
            let log = try options.openLogForReading()
            let position = try parseStartPosition(to, option: "--to")
            try log.resetOffsets(group: group, topic: topic, to: position)
            print("reset group \(group) on \(topic) to \(to)")
        }
    }
}
