import EventLog
import Foundation
import TestSupport
import Testing

/// Python's Kafka clients against the server: confluent-kafka (librdkafka 2.16, bundled in its wheel) and
/// kafka-python 3 (a pure-Python implementation written independently of librdkafka). Each produces 1,000
/// messages idempotently, consumes them in a group with synchronous commits, and a second consumer of the
/// group finds nothing left (`Tests/clients/kafka_clients.py`).
@Suite(
    "Kafka protocol with Python clients", .serialized,
    .disabled(
        if: underThreadSanitizer,
        "minutes of client traffic against a ThreadSanitizer server; kcat and the wire tests cover it there"))
struct PythonClientTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("clients/kafka_clients.py").path

    @Test("produce, consume in a group, commit, and find nothing left", arguments: ["confluent", "kafka-python"])
    func produceConsumeCommit(library: String) async throws {
        let server = try await KafkaHarness()
        let topic = "py-\(library)", group = "billing-\(library)"
        let result = try await runTool(
            "python3", [Self.script, server.bootstrap, library, topic, group, "1000"], timeout: 180)
        #expect(result.status == 0, "\(result.stderr.suffix(2000))")
        let line = try #require(
            result.stdout.split(separator: "\n").last.map(String.init), "\(result.stderr.suffix(2000))")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(summary["delivered"] as? Int == 1000, "\(summary)")
        #expect(summary["unflushed"] as? Int == 0, "\(summary)")
        #expect(summary["consumed"] as? Int == 1000, "\(summary)")
        #expect(summary["distinct"] as? Int == 1000, "\(summary)")
        #expect(summary["again"] as? Int == 0, "\(summary)")
        if let log = server.log {
            let records = try log.read(topic: topic, partition: 0, from: 0, maxRecords: 2000)
            #expect(records.count == 1000, "stored exactly once")
            #expect(
                records.map { String(decoding: $0.value ?? [], as: UTF8.self) } == (0..<1000).map { "message-\($0)" })
            let lag = try log.lag(group: group, topics: [topic])
            #expect(lag.map(\.committed) == [1000] && lag.map(\.lag) == [0], "\(lag)")
        }
        try await server.stop()
    }
}
