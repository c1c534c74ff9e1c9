import EventLogFoundation
import Foundation
import Testing

@testable import EventLog

@Suite("Retention and compaction")
struct MaintenanceTests {
    func smallSegments(_ policy: CleanupPolicy) -> TopicConfiguration {
        var config = TopicConfiguration()
        config.segmentBytes = 2048
        config.cleanupPolicy = policy
        return config
    }

    @Test("time retention deletes whole old segments, never the active one; readers holding them keep reading")
    func timeRetention() throws {
        let dir = TemporaryDirectory()
        let clock = ManualClock(milliseconds: 1_000_000_000)
        let log = try Log(directory: dir.path, configuration: .init(clock: clock))
        var config = smallSegments(.delete)
        config.retentionMilliseconds = 60_000
        try log.createTopic("t", configuration: config)
        for i in 0..<200 {
            try log.append(
                ProducerRecord(
                    key: "k", value: "v\(i)-" + String(repeating: "x", count: 30), timestamp: clock.milliseconds()),
                to: "t")
            clock.advance(by: 1000)
        }
        let before = try log.describeTopic("t").partitions[0]
        let holder = try log.reader(topic: "t", partition: 0, from: .earliest)
        var held: [Int64] = []
        try holder.read(maxBytes: 100) { held.append($0.offset) }
        let report = try log.runMaintenance()
        let after = try log.describeTopic("t").partitions[0]
        #expect(report.segmentsDeleted > 0)
        #expect(after.segments == before.segments - report.segmentsDeleted)
        #expect(after.logStartOffset > 0)
        // Every remaining segment has a record younger than the retention, or is the active one.
        let oldestKept = try log.read(topic: "t", partition: 0, from: after.logStartOffset, maxRecords: 1)[0]
        #expect(oldestKept.offset == after.logStartOffset)
        #expect(clock.milliseconds() - 60_000 - oldestKept.timestamp < 2048 / 40 * 1000)
        // The reader that held the first segment finishes it from the unlinked file.
        // Past it, the deleted range is reported, not skipped silently.
        let skipped = #expect(throws: EventLogError.self) { while try holder.read({ held.append($0.offset) }) > 0 {} }
        #expect(skipped?.code == .offsetOutOfRange)
        #expect(held.count > 1)
        #expect(held == Array(0..<Int64(held.count)))
        let gone = #expect(throws: EventLogError.self) { try log.read(topic: "t", partition: 0, from: 0) }
        #expect(gone?.code == .offsetOutOfRange)
        // Everything old: all but the active segment go.
        clock.advance(by: 10_000_000)
        try log.runMaintenance()
        #expect(try log.describeTopic("t").partitions[0].segments == 1)
        #expect(try log.offsets(topic: "t", partition: 0).end == 200)
    }

    @Test("size retention keeps the partition under retentionBytes plus one segment")
    func sizeRetention() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        var config = smallSegments(.delete)
        config.retentionBytes = 8192
        try log.createTopic("t", configuration: config)
        for i in 0..<500 {
            try log.append(ProducerRecord(key: "k", value: "value-\(i)-" + String(repeating: "y", count: 30)), to: "t")
        }
        try log.runMaintenance()
        let partition = try log.describeTopic("t").partitions[0]
        #expect(partition.bytes <= 8192 + 2048)
        #expect(partition.bytes >= 8192 - 2048)
        #expect(try log.all("t").last?.offset == 499)
    }

    @Test("compaction keeps the last record per key, drops expired tombstones, keeps offsets (randomized)")
    func compaction() throws {
        let seed = testSeed("compaction")
        var generator = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let log = try Log(directory: dir.path, configuration: .init(clock: clock))
        var config = smallSegments(.compact)
        config.deleteRetentionMilliseconds = 1000
        try log.createTopic("t", configuration: config)
        var written: [(key: String, value: String?)] = []
        for i in 0..<600 {
            let key = "key-\(Int.random(in: 0..<40, using: &generator))"
            let value: String? = Int.random(in: 0..<8, using: &generator) == 0 ? nil : "v\(i)"
            try log.append(ProducerRecord(key: key, value: value), to: "t")
            written.append((key, value))
        }
        let before = try log.all("t")
        let segments = try log.describeTopic("t").partitions[0].segments
        #expect(segments > 3)
        let activeBase = try log.partition("t", 0).segments.last!.baseOffset
        // Tombstones younger than deleteRetention stay.
        let removed = try log.runMaintenance(forceCompaction: true).recordsCompacted
        #expect(removed > 0)
        let after = try log.all("t")
        func expected(dropTombstones: Bool) -> [Record] {
            var last: [String: Int64] = [:]
            for record in before where record.offset < activeBase { last[record.keyString!] = record.offset }
            return before.filter { record in
                record.offset >= activeBase
                    || (last[record.keyString!] == record.offset && !(dropTombstones && record.value == nil))
            }
        }
        #expect(after == expected(dropTombstones: false))
        // Later, tombstones past their retention go too.
        clock.advance(by: 5000)
        try log.runMaintenance(forceCompaction: true)
        #expect(try log.all("t") == expected(dropTombstones: true))
        // Offsets are unchanged, and reading a compacted-away offset reads from the next one.
        let survivors = try log.all("t")
        if let gap = (0..<activeBase).first(where: { offset in !survivors.contains { $0.offset == offset } }) {
            let next = survivors.first { $0.offset > gap }
            #expect(try log.read(topic: "t", partition: 0, from: gap, maxRecords: 1).first == next)
        }
        #expect(log.invariantViolation() == nil)
        try log.close()
        #expect(try Log(directory: dir.path).all("t") == expected(dropTombstones: true))
    }

    @Test(
        "eventlog maintain compacts from outside: the latest record per key, no tombstones, offsets kept (model, randomized)"
    )
    func maintainCommand() throws {
        let seed = testSeed("maintain")
        var generator = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        var config = smallSegments(.compact)
        config.deleteRetentionMilliseconds = 0
        var before: [Record] = []
        var activeBase: Int64 = 0
        do {
            let log = try Log(directory: dir.path)
            try log.createTopic("t", configuration: config)
            for i in 0..<800 {
                let key = "key-\(Int.random(in: 0..<50, using: &generator))"
                let value: String? = Int.random(in: 0..<6, using: &generator) == 0 ? nil : "v\(i)"
                try log.append(ProducerRecord(key: key, value: value), to: "t")
            }
            before = try log.all("t")
            activeBase = try log.partition("t", 0).segments.last!.baseOffset
            try log.close()
        }
        let result = try runEventlog(["maintain", "--force-compaction", "--json", "--data-dir", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        // The model: below the active segment, each key's last record survives unless it is a tombstone.
        var last: [String: Int64] = [:]
        for record in before where record.offset < activeBase { last[record.keyString!] = record.offset }
        let expected = before.filter { record in
            record.offset >= activeBase || (last[record.keyString!] == record.offset && record.value != nil)
        }
        #expect(result.stdout.contains("\"records_compacted\":\(before.count - expected.count)"), "\(result.stdout)")
        let after = try Log.openReadOnly(directory: dir.path).all("t")
        #expect(after == expected)
        #expect(try runEventlog(["verify", "--data-dir", dir.path]).status == 0)
    }

    @Test("compaction walks batches larger than its 8 MiB read chunk (it used to re-read the first forever)")
    func compactionOfHugeBatches() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        var config = smallSegments(.compact)
        config.maxRecordBytes = 20 << 20
        try log.createTopic("t", configuration: config)
        let huge = [UInt8](repeating: 7, count: 9 << 20)
        try log.append(ProducerRecord(key: Array("k".utf8), value: huge), to: "t")
        try log.append(ProducerRecord(key: Array("k".utf8), value: huge), to: "t")
        try log.append(ProducerRecord(key: Array("other".utf8), value: Array("last".utf8)), to: "t")
        let report = try log.runMaintenance(forceCompaction: true)
        #expect(report.recordsCompacted == 1)
        let records = try log.all("t")
        #expect(records.map(\.offset) == [1, 2])
        #expect(records[0].value == huge)
    }
}
