import EventLogFoundation
import Foundation
import Testing

@testable import EventLog

@Suite("Log: topics, appends and reads")
struct LogTests {
    @Test(
        "appends return dense offsets and read back exactly, across codecs, sizes and reopen",
        arguments: [Compression.none, .lz4, .zstd(level: 1)])
    func roundTrip(compression: Compression) throws {
        let dir = TemporaryDirectory()
        let seed = testSeed("roundTrip-\(compression)")
        var generator = SeededGenerator(seed: seed)
        var expected: [Record] = []
        do {
            let log = try Log(directory: dir.path)
            var config = TopicConfiguration(partitions: 1)
            config.compression = compression
            config.segmentBytes = 64 * 1024  // many segments
            try log.createTopic("t", configuration: config)
            for _ in 0..<60 {
                let builder = RecordBatchBuilder(compression: compression)
                let count = Int.random(in: 1...40, using: &generator)
                var batch: [Record] = []
                for _ in 0..<count {
                    let key: [UInt8]? = Bool.random(using: &generator) ? nil : randomBytes(0...20, &generator)
                    let value: [UInt8]? =
                        Int.random(in: 0..<10, using: &generator) == 0 ? nil : randomBytes(0...3000, &generator)
                    let headers = (0..<Int.random(in: 0...2, using: &generator)).map { i in
                        Header(
                            key: "h\(i)", value: Bool.random(using: &generator) ? nil : randomBytes(0...5, &generator))
                    }
                    let ts = Int64.random(in: 1_600_000_000_000...1_700_000_000_000, using: &generator)
                    builder.append(key: key, value: value, timestamp: ts, headers: headers)
                    batch.append(Record(offset: 0, timestamp: ts, key: key, value: value, headers: headers))
                }
                let result = try log.append(builder, to: "t", partition: 0)
                #expect(result.baseOffset == Int64(expected.count))
                #expect(result.lastOffset == Int64(expected.count + count - 1))
                for (i, var record) in batch.enumerated() {
                    record.offset = result.baseOffset + Int64(i)
                    expected.append(record)
                }
            }
            #expect(try log.describeTopic("t").partitions[0].segments > 1)
            #expect(try log.all("t") == expected)
            #expect(log.invariantViolation() == nil)
            try log.close()
        }
        let reopened = try Log(directory: dir.path)
        #expect(reopened.openedCleanly)
        #expect(try reopened.all("t") == expected)
        #expect(reopened.invariantViolation() == nil)
        // Reads from any offset, including the middle of a batch.
        for _ in 0..<20 {
            let from = Int64.random(in: 0..<Int64(expected.count), using: &generator)
            let got = try reopened.read(topic: "t", partition: 0, from: from, maxRecords: 7)
            #expect(got == Array(expected[Int(from)..<min(expected.count, Int(from) + 7)]))
        }
        // Appends continue at the right offset after reopen.
        let next = try reopened.append(ProducerRecord(value: "after"), to: "t")
        #expect(next.offset == Int64(expected.count))
    }

    @Test(
        "extreme record timestamps (Int64.min and .max) are stored and read back; segment age and retention never trap")
    func extremeTimestamps() throws {
        // Found by the record-batch fuzzer: a segment whose first batch carries Int64.min made the
        // segment-age check (`now - created`) overflow on the next append.
        // A reopened segment's age starts at its first batch's largest timestamp, so reopen between appends.
        let dir = TemporaryDirectory()
        var configuration = TopicConfiguration()
        configuration.retentionMilliseconds = nil
        try Log(directory: dir.path).createTopic("t", configuration: configuration)
        let timestamps: [Int64] = [.min, .max, .min, 0, .max, -1]
        for timestamp in timestamps {
            let log = try Log(directory: dir.path)
            try log.append([ProducerRecord(key: "k", value: "v", timestamp: timestamp)], to: "t")
            try log.runMaintenance()
            try log.close()
        }
        let reopened = try Log(directory: dir.path)
        defer { try? reopened.close() }
        var read: [Int64] = []
        let reader = try reopened.reader(topic: "t", partition: 0)
        while try reader.read({ read.append($0.timestamp) }) > 0 {}
        #expect(read == timestamps)
    }

    @Test("keyed records land on Kafka's murmur2 partition; offsets per partition are dense")
    func partitioning() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("orders", configuration: TopicConfiguration(partitions: 4))
        let records = (0..<200).map { ProducerRecord(key: "order-\($0 % 37)", value: "v\($0)") }
        let positions = try log.append(records, to: "orders")
        var next = [Int64](repeating: 0, count: 4)
        for (record, position) in zip(records, positions) {
            #expect(position.partition == Partitioner.partition(forKey: record.key!, partitionCount: 4))
            #expect(position.offset == next[position.partition])
            next[position.partition] += 1
        }
        for p in 0..<4 {
            let stored = try log.all("orders", p)
            #expect(stored.count == Int(next[p]))
            #expect(stored.allSatisfy { Partitioner.partition(forKey: $0.key!, partitionCount: 4) == p })
        }
    }

    @Test("reads by timestamp find the first record at or after it")
    func timestamps() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        var config = TopicConfiguration()
        config.segmentBytes = 4096
        config.indexIntervalBytes = 256
        try log.createTopic("t", configuration: config)
        for i in 0..<500 {
            try log.append(
                ProducerRecord(key: "k", value: String(repeating: "x", count: 50), timestamp: 1_000 + Int64(i) * 10),
                to: "t")
        }
        #expect(try log.offset(topic: "t", partition: 0, forTimestamp: 0) == 0)
        #expect(try log.offset(topic: "t", partition: 0, forTimestamp: 1_000) == 0)
        #expect(try log.offset(topic: "t", partition: 0, forTimestamp: 1_001) == 1)
        #expect(try log.offset(topic: "t", partition: 0, forTimestamp: 3_455) == 246)
        #expect(try log.offset(topic: "t", partition: 0, forTimestamp: 5_990) == 499)
        #expect(try log.offset(topic: "t", partition: 0, forTimestamp: 9_999) == 500)
        let reader = try log.reader(topic: "t", partition: 0, from: .timestamp(2_000))
        #expect(try reader.poll(maxRecords: 1).first?.offset == 100)
    }

    @Test("topics can be created, described, altered, listed and deleted; bad input gets clear errors")
    func topicAdministration() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("a", configuration: TopicConfiguration(partitions: 3))
        try log.createTopic("b")
        #expect(log.topicNames() == ["a", "b"])
        #expect(try log.describeTopic("a").partitions.count == 3)
        let duplicate = #expect(throws: EventLogError.self) { try log.createTopic("a") }
        #expect(duplicate?.code == .topicAlreadyExists)
        let escape = #expect(throws: EventLogError.self) { try log.createTopic("../../etc") }
        #expect(escape?.code == .invalidTopicName)
        let zero = #expect(throws: EventLogError.self) {
            try log.createTopic("z", configuration: TopicConfiguration(partitions: 0))
        }
        #expect(zero?.code == .invalidConfiguration)
        try log.alterTopic("a") {
            $0.retentionMilliseconds = 1000; $0.compression = .lz4
        }
        #expect(try log.describeTopic("a").configuration.compression == .lz4)
        let grow = #expect(throws: EventLogError.self) { try log.alterTopic("a") { $0.partitions = 5 } }
        #expect(grow?.code == .invalidConfiguration)
        try log.append(ProducerRecord(key: "k", value: "v"), to: "b")
        try log.deleteTopic("b")
        #expect(log.topicNames() == ["a"])
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/b-0"))
        let unknown = #expect(throws: EventLogError.self) { try log.append(ProducerRecord(value: "v"), to: "b") }
        #expect(unknown?.code == .unknownTopic)
        let badPartition = #expect(throws: EventLogError.self) {
            try log.append(ProducerRecord(value: "v"), to: "a", partition: 3)
        }
        #expect(badPartition?.code == .unknownPartition)
        try log.close()
        let reopened = try Log(directory: dir.path)
        #expect(reopened.topicNames() == ["a"])
        #expect(try reopened.describeTopic("a").configuration.retentionMilliseconds == 1000)
    }

    @Test("one writer per directory: a second gets an error naming the holder's pid; readers may follow")
    func writerLock() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("t")
        let second = #expect(throws: EventLogError.self) { try Log(directory: dir.path) }
        #expect(second?.code == .directoryLocked)
        #expect(second?.message.contains("\(getpid())") == true)
        try log.append(ProducerRecord(value: "one"), to: "t")
        let reader = try Log.openReadOnly(directory: dir.path)
        #expect(try reader.all("t").map(\.valueString) == ["one"])
        let denied = #expect(throws: EventLogError.self) { try reader.append(ProducerRecord(value: "x"), to: "t") }
        #expect(denied?.code == .readOnly)
        try log.close()
        _ = try Log(directory: dir.path)  // the lock is released on close
    }

    @Test("oversized batches and keyless records on compacted topics are refused; nothing stored is lost")
    func refusals() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        var config = TopicConfiguration()
        config.maxRecordBytes = 1000
        config.cleanupPolicy = .compact
        try log.createTopic("t", configuration: config)
        try log.append(ProducerRecord(key: "k", value: "kept"), to: "t")
        let big = #expect(throws: EventLogError.self) {
            try log.append(ProducerRecord(key: "k", value: String(repeating: "x", count: 2000)), to: "t")
        }
        #expect(big?.code == .recordTooLarge)
        let keyless = #expect(throws: EventLogError.self) { try log.append(ProducerRecord(value: "v"), to: "t") }
        #expect(keyless?.code == .keyRequired)
        #expect(try log.all("t").map(\.valueString) == ["kept"])
    }

    @Test("an offset below the log start or past the end is a clear error")
    func outOfRange() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("t")
        try log.append(ProducerRecord(value: "v"), to: "t")
        let past = #expect(throws: EventLogError.self) { try log.read(topic: "t", partition: 0, from: 5) }
        #expect(past?.code == .offsetOutOfRange)
        #expect(try log.read(topic: "t", partition: 0, from: 1).isEmpty)
    }

    @Test("the README quick start compiles and runs")
    func quickStart() throws {
        let dir = TemporaryDirectory()
        // --- README quick start (keep in sync) ---
        let log = try Log(directory: dir.path)
        try log.createTopicIfNeeded("orders", configuration: TopicConfiguration(partitions: 4))
        try log.append(ProducerRecord(key: "order-1", value: #"{"status":"CREATED"}"#), to: "orders")
        let partition = Partitioner.partition(forKey: Array("order-1".utf8), partitionCount: 4)
        let reader = try log.reader(topic: "orders", partition: partition, from: .earliest)
        try reader.read { record in
            print(record.offset, String(decoding: record.value!, as: UTF8.self))
        }
        try log.close()
        // --- end ---
    }
}

@Suite("README samples")
struct ReadmeSampleTests {
    @Test("the README's consuming, group and event-stream sample compiles and runs")
    func consumingQuickStart() async throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopicIfNeeded("orders", configuration: TopicConfiguration(partitions: 4))
        try log.append(ProducerRecord(key: "order-1", value: #"{"status":"CREATED"}"#), to: "orders")
        var seen = 0
        // --- README sample (keep in sync) ---
        for try await event in try log.consumer(topics: ["orders"], from: .earliest).events {
            guard case .record(let r) = event else { break }  // or keep going: new records arrive as they are written
            print(r.partition, r.offset, r.record.valueString ?? "")
            seen += 1
        }
        let member = try log.groupConsumer(group: "billing", topics: ["orders"])
        let records = try member.poll(maxRecords: 500, timeout: .seconds(1))
        try member.commit()
        print(try log.lag(group: "billing"))
        let streams = try EventStreams(log: log, topic: "accounts")
        try streams.append(to: "account-7", events: [.init(type: "Opened", string: "{}")], expecting: .noStream)
        let history = try streams.read("account-7")
        // --- end ---
        #expect(seen == 1)
        #expect(records.count == 1)
        #expect(try log.lag(group: "billing").allSatisfy { $0.lag == 0 })
        #expect(history.map(\.type) == ["Opened"])
    }
}

func randomBytes(_ range: ClosedRange<Int>, _ generator: inout SeededGenerator) -> [UInt8] {
    (0..<Int.random(in: range, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

@Suite("Typed topics")
struct TypedTopicTests {
    struct OrderEvent: Codable, Sendable, Equatable {
        var orderId: String
        var status: String
        var lat: Double
    }

    @Test("Codable values round-trip, keyed and partitioned by their key; bad JSON names its offset")
    func roundTrip() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("orders", configuration: TopicConfiguration(partitions: 3))
        let orders = TypedTopic<OrderEvent>(log: log, topic: "orders", key: \.orderId)
        let events = (0..<30).map { OrderEvent(orderId: "order-\($0 % 5)", status: "S\($0)", lat: Double($0) / 3) }
        let positions = try orders.append(events)
        var read: [OrderEvent] = []
        for p in 0..<3 {
            let got = try orders.read(partition: p)
            #expect(got.allSatisfy { Partitioner.partition(forKey: Array($0.key!.utf8), partitionCount: 3) == p })
            read += got.map(\.value)
        }
        #expect(Set(read.map(\.status)) == Set(events.map(\.status)))
        #expect(positions.count == 30)
        try log.append(ProducerRecord(key: "order-0", value: "not json"), to: "orders", partition: 0)
        let bad = #expect(throws: EventLogError.self) { _ = try orders.read(partition: 0) }
        #expect(bad?.code == .serialization)
        #expect(bad?.offset != nil)
    }
}
