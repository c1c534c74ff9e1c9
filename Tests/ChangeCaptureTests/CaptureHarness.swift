import ChangeCapture
import EventLog
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

/// A PostgreSQL server, a log and a connector running in this process, for one test.
final class CaptureHarness: @unchecked Sendable {
    let server: PostgresServer
    let directory: TemporaryDirectory
    let log: Log
    private var task: Task<CaptureError?, Never>?
    private(set) var capture: PostgresCapture?
    /// What the connector stopped with, if it stopped by itself.
    let stoppedWith = Mutex<CaptureError?>(nil)

    init(database: String = "postgres", settings: [String: String] = [:]) throws {
        server = try PostgresServer(settings: settings)
        directory = TemporaryDirectory("cdc-test")
        log = try Log(directory: directory.path)
    }

    deinit {
        task?.cancel()
        try? log.close()
        server.stop()
    }

    func configuration(tables: [String], database: String = "postgres") throws -> PostgresCapture.Configuration {
        var configuration = PostgresCapture.Configuration(
            url: try PostgresURL(server.url(database: database)), tables: tables)
        configuration.stallSeconds = 30
        return configuration
    }

    /// Starts the connector; returns once it streams (or throws what stopped it before that).
    func start(_ configuration: PostgresCapture.Configuration) async throws {
        await stop()
        stoppedWith.withLock { $0 = nil }
        let capture = PostgresCapture(
            log: log, configuration: configuration,
            logger: Logger(label: "cdc-test", factory: { StreamLogHandler.standardError(label: $0) }))
        self.capture = capture
        let ready = AsyncStream<Void>.makeStream()
        task = Task {
            do throws(CaptureError) {
                try await capture.run { ready.continuation.yield() }
                ready.continuation.finish()
                return nil
            } catch {
                ready.continuation.finish()
                self.stoppedWith.withLock { $0 = error }
                return error
            }
        }
        var iterator = ready.stream.makeAsyncIterator()
        if await iterator.next() == nil, let error = await task?.value { throw error }
    }

    /// The error the connector stopped with (waits at most `timeout` seconds for it to stop).
    func failure(timeout: Double = 30) async -> CaptureError? {
        guard let task else { return nil }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let value = await firstValue(task, within: 0.1) { return value }
        }
        return nil
    }

    private func firstValue(_ task: Task<CaptureError?, Never>, within seconds: Double) async -> CaptureError?? {
        await withTaskGroup(of: CaptureError??.self) { group in
            group.addTask { await task.value }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                return .none
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    func stop() async {
        task?.cancel()
        _ = await task?.value
        task = nil
    }

    /// Waits until the connector has confirmed the slot past everything PostgreSQL wrote until now — for as long
    /// as it makes progress, and `timeout` seconds without any.
    func catchUp(timeout: Double = 60) async throws {
        let target = try server.psql("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8")
        let wanted = UInt64(target) ?? 0
        var deadline = Date().addingTimeInterval(timeout)
        var confirmed = capture?.statistics.confirmedLSN ?? 0
        while (capture?.statistics.confirmedLSN ?? 0) < wanted {
            if let error = stoppedWith.withLock({ $0 }) { throw error }
            if let now = capture?.statistics.confirmedLSN, now > confirmed {
                (confirmed, deadline) = (now, Date().addingTimeInterval(timeout))
            }
            guard Date() < deadline else {
                let error = stoppedWith.withLock { $0 }
                let statistics = String(describing: capture?.statistics)
                Issue.record(
                    Comment(
                        rawValue: "capture did not catch up to \(wanted) in \(timeout) s: \(statistics); "
                            + "stopped with \(String(describing: error))"))
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until the slot `slot` is confirmed past everything PostgreSQL wrote until now, for as long as the
    /// connector makes progress (a fixed deadline failed under ThreadSanitizer, where a healthy connector is
    /// many times slower); records an issue and returns false when it stalls for `stallSeconds` or exits.
    static func waitForSlot(
        _ server: PostgresServer, slot: String = "eventlog", connector: BackgroundTool, stallSeconds: Double = 120
    ) async throws -> Bool {
        let target = try server.psql("SELECT pg_current_wal_insert_lsn()")
        var last = ""
        var lastProgress = Date()
        while connector.isRunning {
            let row = try server.psql(
                "SELECT confirmed_flush_lsn >= '\(target)'::pg_lsn, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '\(slot)'"
            )
            if row.hasPrefix("t|") { return true }
            if row != last {
                (last, lastProgress) = (row, Date())
            } else if Date().timeIntervalSince(lastProgress) > stallSeconds {
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the connector did not confirm the slot past \(target) (at \(last)): \(connector.stderr)")
        return false
    }

    /// Every record of a topic's partition 0.
    func records(_ topic: String) throws -> [Record] {
        try Self.records(log, topic)
    }

    static func records(_ log: Log, _ topic: String, partition: Int = 0) throws -> [Record] {
        guard log.topicNames().contains(topic) else { return [] }
        var out: [Record] = []
        let end = try log.offsets(topic: topic, partition: partition).end
        var offset: Int64 = 0
        while offset < end {
            let batch = try log.read(topic: topic, partition: partition, from: offset, maxRecords: 5000)
            guard let last = batch.last else { break }
            out += batch
            offset = last.offset + 1
        }
        return out
    }
}

/// A change event's value, parsed.
struct Envelope {
    let json: [String: Any]
    init?(_ record: Record) {
        guard let value = record.value,
            let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any]
        else { return nil }
        json = object
    }
    var op: String { json["op"] as? String ?? "" }
    var before: [String: Any]? { json["before"] as? [String: Any] }
    var after: [String: Any]? { json["after"] as? [String: Any] }
    var source: [String: Any] { json["source"] as? [String: Any] ?? [:] }
    /// The row's current image (after, else before).
    var row: [String: Any]? { after ?? before }
}

extension Record {
    func header(_ name: String) -> String? {
        headers.first { $0.key == name }?.value.map { String(decoding: $0, as: UTF8.self) }
    }
    var keyText: String? { key.map { String(decoding: $0, as: UTF8.self) } }
}
