import EventLog
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The original order-delivery architecture without Kafka or Debezium: `eventlog simulate --sink postgres`
/// writes aggregates and outbox rows in one transaction per simulated second, `eventlog cdc postgres --outbox`
/// relays them. The oracle is the simulator itself: `simulate --topics debezium` with the same seeds writes what
/// the original's Debezium router put on Kafka, and the relayed topics must hold exactly those records — key,
/// value bytes and event id, partition by partition in the same order (so per aggregate in order).
@Suite(
    .serialized,
    .disabled(
        if: underThreadSanitizer,
        "four simulations and a relay, all ThreadSanitizer builds, take over ten minutes; the plain run has it"))
struct OutboxEndToEndTests {
    static let relay = [
        "--tables", "public.order_event,public.driver_event", "--outbox", "public.order_event,public.driver_event",
        "--outbox-route-prefix", "debezium.", "--outbox-column", "id=event_id", "--outbox-column", "key=aggregate_id",
        "--outbox-column", "route=aggregate_type", "--outbox-column", "public.order_event:payload=order_payload",
        "--outbox-column", "public.driver_event:payload=driver_payload", "--outbox-column", "order=seq",
        "--partitions", "3",
    ]
    static let simulation = ["--duration", "12m", "--stores-per-city", "2"]

    /// Runs `eventlog` to its end; fails the test with its stderr when it fails.
    static func run(_ binary: String, _ arguments: [String]) async throws {
        let tool = try BackgroundTool(binary, arguments)
        await tool.waitForExit(timeout: 300)
        try #require(tool.exitStatus == 0, "eventlog \(arguments.joined(separator: " ")): \(tool.stderr)")
    }

    @Test func simulatorOutboxRelayedEqualsTheDebeziumTopics() async throws {
        let binary = try #require(eventlogBinary, "build the eventlog binary first: swift build --build-tests")
        let server = try PostgresServer()
        let relayed = TemporaryDirectory("outbox-relayed")
        let reference = TemporaryDirectory("outbox-reference")
        let seed = testSeed("outbox-e2e")
        let seeds = [seed % 1_000_000, seed % 1_000_000 + 1]

        // The first run is in the database before the relay starts (its initial snapshot reads it); the second
        // is written while the relay streams, and the relay is killed once in the middle of it.
        try await Self.run(
            binary,
            ["simulate", "--sink", "postgres", "--url", server.url(), "--seed", "\(seeds[0])"] + Self.simulation)
        let relayArguments = ["cdc", "postgres", "--data-dir", relayed.path, "--url", server.url()] + Self.relay
        var connector = try BackgroundTool(binary, relayArguments)
        try #require(
            await connector.waitFor(timeout: 120) { _ in connector.stdout.contains("streaming from slot") },
            "the relay did not start: \(connector.stderr)")
        let writer = try BackgroundTool(
            binary,
            ["simulate", "--sink", "postgres", "--url", server.url(), "--seed", "\(seeds[1])"] + Self.simulation)
        while writer.isRunning,
            try server.psql("SELECT count(*) >= 2000 FROM order_event WHERE event_id LIKE 'evt-\(seeds[1])-%'") != "t"
        {
            try await Task.sleep(for: .milliseconds(5))
        }
        print(
            "[outbox-e2e] relay killed \(writer.isRunning ? "while" : "after") the second simulation wrote (seed \(seed))"
        )
        kill(connector.pid, SIGKILL)
        await connector.waitForExit()
        connector = try BackgroundTool(binary, relayArguments)
        // Streaming before the slot is looked at: when the writer had finished before the kill, the first run may
        // have confirmed everything, and a SIGTERM during start-up (before the handlers) ended the second by signal.
        try #require(
            await connector.waitFor(timeout: 120) { _ in connector.stdout.contains("streaming from slot") },
            "the relay did not start again: \(connector.stderr)")
        await writer.waitForExit(timeout: 300)
        #expect(writer.exitStatus == 0, "the second simulation: \(writer.stderr)")
        try #require(try await CaptureHarness.waitForSlot(server, connector: connector), "seed \(seed)")
        await connector.stop()
        #expect(connector.exitStatus == 0, "\(connector.stderr)")

        for s in seeds {
            try await Self.run(
                binary,
                [
                    "simulate", "--data-dir", reference.path, "--topics", "debezium", "--partitions", "3",
                    "--no-summary",
                    "--seed", "\(s)",
                ] + Self.simulation)
        }
        let expected = try Log.openReadOnly(directory: reference.path)
        let actual = try Log.openReadOnly(directory: relayed.path)
        defer {
            try? expected.close()
            try? actual.close()
        }
        var total = 0
        for topic in ["debezium.Order", "debezium.Driver"] {
            for partition in 0..<3 {
                let want = try CaptureHarness.records(expected, topic, partition: partition).map(Self.event)
                let got = try CaptureHarness.records(actual, topic, partition: partition).map(Self.event)
                total += want.count
                if let at = zip(want, got).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                    Issue.record(
                        "\(topic)/\(partition) differs at \(at): want \(want[at]), got \(got[at]) (seed \(seed))")
                } else {
                    #expect(
                        got.count == want.count, "\(topic)/\(partition): \(got.count) relayed, \(want.count) simulated")
                }
            }
        }
        let rows = try server.psql("SELECT (SELECT count(*) FROM order_event) + (SELECT count(*) FROM driver_event)")
        #expect(Int(rows) == total, "the outbox holds \(rows) rows, the simulator wrote \(total) events")
        #expect(total > 10_000, "the simulation produced too little to prove anything: \(total)")
        // Aggregates commit with their events: each order's row is its last event's snapshot.
        let stale = try server.psql(
            """
            SELECT count(*) FROM orders o WHERE o.payload::text <> (SELECT e.order_payload::text FROM order_event e
              WHERE e.aggregate_id = o.order_id ORDER BY e.seq DESC LIMIT 1)
            """)
        #expect(stale == "0", "\(stale) orders differ from their last event's snapshot")
    }

    /// What the relay must reproduce of a record: key, value bytes, event id.
    static func event(_ record: Record) -> String {
        "\(record.keyText ?? "null") \(record.header("id") ?? "no id") \(record.value.map { String(decoding: $0, as: UTF8.self) } ?? "null")"
    }

}
