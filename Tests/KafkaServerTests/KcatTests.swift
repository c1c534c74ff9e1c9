import EventLog
import Foundation
import TestSupport
import Testing

/// The reference's acceptance list, driven by kcat (librdkafka 2.0, from Debian) against the server:
/// an independent client implementation, not this project's own codec.
@Suite("Kafka protocol with kcat", .serialized)
struct KcatTests {
    @Test("metadata lists the broker, the topic and its partitions exactly as kcat prints them")
    func metadata() async throws {
        let server = try await KafkaHarness(topics: ["orders": 2])
        let result = try await runTool("kcat", ["-b", server.bootstrap, "-L", "-t", "orders"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout == """
                Metadata for orders (from broker 0: \(server.bootstrap)/0):
                 1 brokers:
                  broker 0 at \(server.bootstrap) (controller)
                 1 topics:
                  topic "orders" with 2 partitions:
                    partition 0, leader 0, replicas: 0, isrs: 0
                    partition 1, leader 0, replicas: 0, isrs: 0

                """)
        try await server.stop()
    }

    @Test("produce with kcat, consume with kcat and with the library: same keys, values, offsets per partition")
    func roundTrip() async throws {
        let server = try await KafkaHarness(topics: ["orders": 2])
        for partition in 0..<2 {
            let input = (1...3).map { "k\($0)-\(partition):v\($0)-\(partition)\n" }.joined()
            let produced = try await runTool(
                "kcat", ["-b", server.bootstrap, "-P", "-t", "orders", "-p", "\(partition)", "-K:"], input: input)
            #expect(produced.status == 0, "\(produced.stderr)")
        }
        for partition in 0..<2 {
            let consumed = try await runTool(
                "kcat",
                [
                    "-b", server.bootstrap, "-C", "-t", "orders", "-p", "\(partition)", "-o", "beginning", "-e", "-f",
                    "%p:%o %k=%s\\n",
                ])
            #expect(consumed.status == 0)
            #expect(
                consumed.stdout
                    == (1...3).map { "\(partition):\($0 - 1) k\($0)-\(partition)=v\($0)-\(partition)\n" }.joined())
            #expect(consumed.stderr.contains("Reached end of topic orders [\(partition)] at offset 3"))
            if let log = server.log {
                let records = try log.read(topic: "orders", partition: partition, from: 0)
                #expect(
                    records.map { String(decoding: $0.key ?? [], as: UTF8.self) }
                        == (1...3).map { "k\($0)-\(partition)" })
                #expect(
                    records.map { String(decoding: $0.value ?? [], as: UTF8.self) }
                        == (1...3).map { "v\($0)-\(partition)" })
                #expect(records.map(\.offset) == [0, 1, 2])
            }
        }
        if let binary = KafkaHarness.binary, KafkaHarness.external == nil {
            // The server's counters reach `eventlog stats` in another process within a second or so.
            var produces = 0
            for _ in 0..<100 where produces < 2 {
                try await Task.sleep(for: .milliseconds(100))
                let stats = try await runTool(binary, ["stats", "--data-dir", server.directory])
                let line = stats.stdout.split(separator: "\n").first {
                    $0.hasPrefix("eventlog_kafka_requests_total{api=\"produce\"}")
                }
                produces = line.flatMap { Int($0.split(separator: " ").last!) } ?? 0
            }
            #expect(produces >= 2, "two kcat producers, each one Produce request at least")
        }
        try await server.stop()
    }

    @Test(
        "a consumer waiting at the end is woken by a produce from another client (long poll)", .timeLimit(.minutes(5)))
    func longPoll() async throws {
        let server = try await KafkaHarness(topics: ["live": 1])
        let consumer = try BackgroundTool(
            "kcat", ["-b", server.bootstrap, "-C", "-t", "live", "-o", "beginning", "-c", "2", "-u", "-f", "%s\\n"])
        #expect(await consumer.waitFor { _ in consumer.isRunning })
        try await Task.sleep(for: .milliseconds(700))
        _ = try await runTool("kcat", ["-b", server.bootstrap, "-P", "-t", "live"], input: "first\nsecond\n")
        await consumer.waitForExit()
        #expect(consumer.stdout == "first\nsecond\n")
        await consumer.stop()
        try await server.stop()
    }

    @Test("gzip, snappy, lz4 and zstd batches are stored compressed as sent and read back by kcat and the library")
    func codecs() async throws {
        let server = try await KafkaHarness()
        let input = String(repeating: "hello hello\n", count: 500)
        for (codec, id) in [("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)] {
            let produced = try await runTool(
                "kcat",
                // A slow first ApiVersions answer (ThreadSanitizer builds) must not make librdkafka fall back to
                // old broker features, which would send the batch uncompressed.
                [
                    "-b", server.bootstrap, "-P", "-t", "c_\(codec)", "-z", codec, "-d", "msg", "-X",
                    "api.version.request.timeout.ms=120000",
                ],
                input: input, timeout: 180)
            #expect(produced.stderr.contains(", \(codec))"), "\(codec): \(produced.stderr.suffix(500))")
            #expect(!produced.stderr.contains("Unsupported compression"), "\(codec)")
            let consumed = try await runTool(
                "kcat", ["-b", server.bootstrap, "-C", "-t", "c_\(codec)", "-o", "beginning", "-e", "-q"])
            #expect(consumed.stdout == input, "\(codec)")
            if let log = server.log {
                // librdkafka sends a batch uncompressed when compressing would not shrink it (a small first
                // batch, depending on timing), so look for the codec among all stored batches.
                let stored = try log.encodedBatches(topic: "c_\(codec)", partition: 0, from: 0, maxBytes: 1 << 20).bytes
                var codecs: [Int] = []
                var position = 0
                while position + 23 <= stored.count {
                    codecs.append(Int(stored[position + 22]) & 7)
                    let length = stored[position + 8..<position + 12].reduce(0) { $0 << 8 | Int($1) }
                    position += 12 + length
                }
                #expect(codecs.contains(id), "stored codecs for \(codec): \(codecs)")
                let records = try log.read(topic: "c_\(codec)", partition: 0, from: 0, maxRecords: 1000)
                #expect(
                    records.count == 500 && records.allSatisfy { $0.value == Array("hello hello".utf8) }, "\(codec)")
            }
        }
        try await server.stop()
    }

    @Test("an idempotent producer gets a producer id and its batches start at sequence 0, stored once")
    func idempotence() async throws {
        let server = try await KafkaHarness()
        let produced = try await runTool(
            "kcat", ["-b", server.bootstrap, "-P", "-t", "idem", "-X", "enable.idempotence=true", "-d", "eos,msg"],
            input: "a\nb\nc\n")
        #expect(produced.status == 0)
        #expect(produced.stderr.contains("Acquired PID{Id:"))
        #expect(produced.stderr.contains("BaseSeq 0"))
        if let log = server.log {
            #expect(
                try log.read(topic: "idem", partition: 0, from: 0).map { String(decoding: $0.value!, as: UTF8.self) }
                    == ["a", "b", "c"])
        }
        try await server.stop()
    }

    @Test("a fetch past the end resets the consumer to the end (offset out of range)")
    func outOfRange() async throws {
        let server = try await KafkaHarness()
        _ = try await runTool("kcat", ["-b", server.bootstrap, "-P", "-t", "short"], input: "x\n")
        let consumed = try await runTool(
            "kcat", ["-b", server.bootstrap, "-C", "-t", "short", "-o", "100", "-e", "-d", "fetch"])
        #expect(
            consumed.stderr.contains("offset reset (at offset 100, broker 0) to END"), "\(consumed.stderr.suffix(800))")
        try await server.stop()
    }

    @Test(
        "a two-member group: both partitions to the first, one each after the second joins, both back when it leaves; commits land in the log",
        .timeLimit(.minutes(5)))
    func groupRebalance() async throws {
        let server = try await KafkaHarness(topics: ["orders": 2])
        for partition in 0..<2 {
            _ = try await runTool(
                "kcat", ["-b", server.bootstrap, "-P", "-t", "orders", "-p", "\(partition)"],
                input: "a\(partition)\nb\(partition)\n")
        }
        let arguments = [
            "-b", server.bootstrap, "-G", "g1", "-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=200",
            "-u", "-f", "%p:%o %s\\n", "orders",
        ]
        let first = try BackgroundTool("kcat", arguments)
        #expect(await first.waitFor { $0.contains("assigned: orders [0], orders [1]") }, "\(first.stderr)")
        let second = try BackgroundTool("kcat", arguments)
        #expect(await second.waitFor { $0.contains("assigned: orders [") }, "\(second.stderr)")
        #expect(await first.waitFor { $0.contains("revoked: orders [0], orders [1]") })
        #expect(
            await first.waitFor { text in
                let last = text.components(separatedBy: "assigned: ").last ?? ""
                return last.hasPrefix("orders [0]\n") || last.hasPrefix("orders [1]\n")
            }, "\(first.stderr)")
        await second.stop()  // SIGTERM: kcat leaves the group
        #expect(
            await first.waitFor {
                $0.components(separatedBy: "assigned: ").last?.hasPrefix("orders [0], orders [1]") == true
            }, "\(first.stderr)")
        // Every record was read (at least once) and the group's commits reached the log's offset store.
        let seen = Set((first.stdout + second.stdout).split(separator: "\n").map(String.init))
        #expect(seen.isSuperset(of: ["0:0 a0", "0:1 b0", "1:0 a1", "1:1 b1"]), "\(seen)")
        if let log = server.log {
            var committed: [TopicPartition: CommittedOffset] = [:]
            for _ in 0..<100 {
                committed = try log.committedOffsets(group: "g1")
                if committed.values.map(\.offset) == [2, 2] { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(
                committed[TopicPartition("orders", 0)]?.offset == 2
                    && committed[TopicPartition("orders", 1)]?.offset == 2)
        }
        await first.stop()
        try await server.stop()
    }
}
