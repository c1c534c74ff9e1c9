import EventLog
import EventLogFoundation
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The server killed with SIGKILL while a librdkafka producer (acks=all, idempotent) writes, restarted each
/// time on the same port and directory: every message the producer saw acknowledged is in the log exactly
/// once, and nothing appears twice or out of order (idempotence survives the server's restarts).
@Suite(
    "Kafka server under kill -9", .serialized,
    .disabled(
        if: underThreadSanitizer,
        "40,000 messages through restarts of a ThreadSanitizer server take too long; the plain run has it"))
struct KafkaKillTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("clients/acked_producer.py").path

    /// A port that was free a moment ago.
    static func freePort() -> Int { PostgresServer.freePort() }

    @Test(
        "kill -9 and restart the server under an idempotent acks=all producer: every acknowledged message exactly once, in order",
        .timeLimit(.minutes(5)))
    func killWhileProducing() async throws {
        guard KafkaHarness.external == nil else { return }
        let seed = testSeed("kafka-kill")
        var random = SeededGenerator(seed: seed)
        let rounds = ProcessInfo.processInfo.environment["EVENTLOG_KAFKA_KILL_ROUNDS"].flatMap(Int.init) ?? 5
        let server = try await KafkaHarness(topics: ["acked": 1], port: Self.freePort())
        let ackedFile = server.directory + "-acked.txt"
        defer { try? FileManager.default.removeItem(atPath: ackedFile) }
        let count = 40_000
        let producer = try BackgroundTool(
            "python3", [Self.script, server.bootstrap, "acked", "\(count)", ackedFile])
        var kills = 0
        while kills < rounds && producer.isRunning {
            try await Task.sleep(for: .milliseconds(Int.random(in: 200...900, using: &random)))
            try await server.killAndRestart()
            kills += 1
        }
        await producer.waitForExit(timeout: 240)
        #expect(
            producer.stdout.contains("remaining=0 failures=0"), "\(producer.stdout) \(producer.stderr.suffix(1500))")
        print("[kafka-kill] seed \(seed): \(kills) kills")
        let acked = ((try? String(contentsOfFile: ackedFile, encoding: .utf8)) ?? "").split(separator: "\n").map(
            String.init)
        let log = try #require(server.log)
        let stored = try log.read(topic: "acked", partition: 0, from: 0, maxRecords: count * 2).map {
            String(decoding: $0.value ?? [], as: UTF8.self)
        }
        let indices = stored.compactMap { Int($0.dropFirst(2)) }
        #expect(Set(stored).count == stored.count, "duplicates in the log: \(stored.count - Set(stored).count)")
        #expect(zip(indices, indices.dropFirst()).allSatisfy { $0 < $1 }, "messages out of order")
        let missing = Set(acked).subtracting(stored)
        #expect(missing.isEmpty, "\(missing.count) acknowledged messages missing, e.g. \(missing.prefix(5))")
        #expect(acked.count == count, "acknowledged \(acked.count) of \(count)")
        try await server.stop()
    }
}
