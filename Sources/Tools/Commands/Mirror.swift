import ArgumentParser
import EventLog
import Foundation
import KafkaClient
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `eventlog mirror`: copies topics between embedded log directories and Kafka-protocol clusters
/// (``TopicMirror``), resumable after a kill with no gap and no duplicate.
struct MirrorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Copy topics between a log directory and a Kafka-protocol cluster (either way, or alike).",
        discussion: """
            Each side is a log directory or a broker list (host:port[,host:port…]). Records keep their \
            partition, key, value, headers and timestamp, and gain one header, eventlog.mirror.offset, with \
            their source offset: a restarted mirror reads the target's last record of each partition and \
            continues after it, so a mirror killed at any moment and started again copies every record \
            exactly once. Mirror into topics nothing else writes. Without --follow it stops at the ends \
            the source had when it started.

            Examples:
              eventlog mirror --from ./eventlog-data --to 127.0.0.1:9092 --topics orders,drivers
              eventlog mirror --from kafka.example:9092 --to ./copy --topics orders --follow
            """)
    @Option(help: "The source: a log directory or host:port[,host:port…].") var from: String
    @Option(help: "The target: a log directory or host:port[,host:port…].") var to: String
    @Option(help: "Comma-separated topics to copy.") var topics: String
    @Flag(help: "Keep copying new records until interrupted.") var follow = false
    @Option(help: "Records per write.") var batch = 1000
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    static let interrupted = Atomic<Bool>(false)

    /// A broker list: every comma-separated part is `host:port`.
    static func isBrokerList(_ text: String) -> Bool {
        text.split(separator: ",").allSatisfy { part in
            guard let colon = part.lastIndex(of: ":"), !part.contains("/") else { return false }
            return !part[..<colon].isEmpty && Int(part[part.index(after: colon)...]) != nil
        }
    }

    func endpoint(_ text: String, writable: Bool, logger: Logger) throws -> TopicMirror.Endpoint {
        if Self.isBrokerList(text) { return .kafka(brokers: text) }
        if writable { return .log(try Log(directory: text, configuration: .init(logger: logger))) }
        guard FileManager.default.fileExists(atPath: text) else {
            throw ValidationError("no event log at '\(text)' (and it is not a host:port broker list)")
        }
        return .log(try Log.openReadOnly(directory: text, configuration: .init(logger: logger)))
    }

    func run() throws {
        let names = topics.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) }
        guard !names.isEmpty, !names.contains("") else { throw ValidationError("--topics names no topic") }
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
        var options = GlobalOptions()
        options.logLevel = logLevel
        let logger = options.logger()
        let source = try endpoint(from, writable: false, logger: logger)
        let target = try endpoint(to, writable: true, logger: logger)
        defer { if case .log(let log) = target { try? log.close() } }
        // Ctrl-C (or SIGTERM) stops after the current write; a second one exits at once (the next run
        // resumes after what the target holds either way).
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { _ in
                if MirrorCommand.interrupted.exchange(true, ordering: .relaxed) { _exit(130) }
            }
        }
        let stopped: @Sendable () -> Bool = { MirrorCommand.interrupted.load(ordering: .relaxed) }
        let mirror = TopicMirror(from: source, to: target)
        if follow {
            // One thread per topic, each following its topic until interrupted.
            let failures = Locked<[String]>([])
            let threads = names.map { topic in
                WorkerThread(name: "mirror-\(topic)") {
                    do {
                        try mirror.copy(topic: topic, follow: true, batch: batch) { stopped() }
                    } catch {
                        failures.withLock { $0.append("\(topic): \(error)") }
                        MirrorCommand.interrupted.store(true, ordering: .relaxed)
                    }
                }
            }
            threads.forEach { $0.join() }
            if let first = failures.withLock({ $0.first }) { throw ValidationError("mirror failed: \(first)") }
            return
        }
        for topic in names {
            let report = try mirror.copy(topic: topic, batch: batch) { stopped() }
            let copied = report.copied.values.reduce(0, +)
            print("\(topic): copied \(copied) records over \(report.resumedFrom.count) partitions")
        }
    }
}
