import Foundation
import Testing

@testable import EventLog

/// Damage in a cleanly closed log is corruption: nothing is cut until an operator repairs the partition;
/// recovery after an unclean stop and repair keep what they cut in quarantine files.
@Suite("Quarantine and repair: no path destroys data")
struct QuarantineTests {
    /// A cleanly closed log with three one-record batches; returns the segment's path and the third batch's
    /// position.
    static func cleanLogWithDamagedLastBatch(_ dir: String) throws -> (path: String, position: Int) {
        let log = try Log(directory: dir)
        try log.createTopic("t")
        for i in 1...3 { try log.append(ProducerRecord(value: "rec-\(i)"), to: "t", partition: 0) }
        try log.close()
        let path = segmentPath(dir, "t", 0)
        return (path, damageBatchLength(path, skipping: 2))
    }

    @Test("damage in a cleanly closed log is reported, never cut; reads go on, appends are refused")
    func cleanDamageIsKept() throws {
        let dir = TemporaryDirectory()
        let (path, position) = try Self.cleanLogWithDamagedLastBatch(dir.path)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        for _ in 0..<2 {  // opening twice changes nothing either
            let log = try Log(directory: dir.path)
            let report = try #require(log.recoveryReports.first { $0.topic == "t" })
            #expect(report.corruption?.contains("\(path) at position \(position)") == true, "\(report)")
            #expect(report.truncatedBytes == 0 && report.quarantined.isEmpty)
            #expect(try log.all("t").map(\.valueString) == ["rec-1", "rec-2"])
            let refused = #expect(throws: EventLogError.self) {
                try log.append(ProducerRecord(value: "rec-4"), to: "t", partition: 0)
            }
            #expect(refused?.code == .corruptData)
            #expect(refused?.description.contains("eventlog repair --topic t --partition 0") == true)
            #expect(refused?.description.contains(path) == true)
            try log.close()
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original)
        }
    }

    @Test("repair moves the bytes from the damage on into a quarantine file, then appends go on")
    func repairQuarantines() throws {
        let dir = TemporaryDirectory()
        let (path, position) = try Self.cleanLogWithDamagedLastBatch(dir.path)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let log = try Log(directory: dir.path)
        let report = try #require(try log.repair(topic: "t", partition: 0))
        let quarantine = path + ".quarantine-\(position)"
        #expect(report.quarantined == [quarantine])
        #expect(try Data(contentsOf: URL(fileURLWithPath: quarantine)) == original[position...])
        #expect(report.truncatedBytes == Int64(original.count - position))
        #expect(try log.repair(topic: "t", partition: 0) == nil)  // nothing left to repair
        try log.append(ProducerRecord(value: "rec-4"), to: "t", partition: 0)
        #expect(try log.all("t").map(\.valueString) == ["rec-1", "rec-2", "rec-4"])
        try log.close()
        #expect(try SegmentInspector.quarantineFiles(in: dir.path) == [quarantine])
        #expect(try SegmentInspector.inspect(path: path).isValid)
        let reopened = try Log(directory: dir.path)
        #expect(try reopened.all("t").map(\.valueString) == ["rec-1", "rec-2", "rec-4"])
        try reopened.close()
    }

    @Test("unclean recovery keeps the tail it cuts in quarantine, up to the limit, and says what it deleted")
    func uncleanRecoveryQuarantines() throws {
        for limit in [Log.Configuration.defaultQuarantineLimit, 10] {
            let dir = TemporaryDirectory()
            let (records, ends) = try prepareUncleanLog(dir.path)
            let path = segmentPath(dir.path, "t", 0)
            let garbage = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37) }
            modifyFile(path) { $0 += garbage }
            var configuration = Log.Configuration()
            configuration.quarantineLimitBytes = limit
            let log = try Log(directory: dir.path, configuration: configuration)
            let report = try #require(log.recoveryReports.first { $0.topic == "t" })
            let quarantine = path + ".quarantine-\(ends.last!)"
            #expect(report.truncatedBytes == 100)
            #expect(report.quarantined == [quarantine])
            #expect(try Data(contentsOf: URL(fileURLWithPath: quarantine)) == Data(garbage.prefix(Int(limit))))
            #expect(report.droppedBeyondQuarantine == max(0, 100 - limit))
            #expect(report.corruption == nil)
            #expect(try log.all("t") == records)
            try log.close()
        }
    }

    @Test("unclean recovery renames the segments after the damage into quarantine instead of deleting them")
    func laterSegmentsQuarantined() throws {
        let dir = TemporaryDirectory()
        do {
            let log = try Log(directory: dir.path)
            var config = TopicConfiguration()
            config.segmentBytes = 1024
            try log.createTopic("t", configuration: config)
            for i in 0..<60 {
                try log.append(ProducerRecord(value: "record-\(i)-" + String(repeating: "x", count: 40)), to: "t")
            }
            try log.close()
        }
        // As after a crash before the first checkpoint: recovery validates every segment.
        try FileManager.default.removeItem(atPath: dir.path + "/" + Log.cleanShutdownFile)
        try FileManager.default.removeItem(atPath: dir.path + "/" + Log.checkpointFile)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/t-0").filter {
            $0.hasSuffix(".log")
        }
        .sorted()
        #expect(names.count >= 3)
        // Flip a byte in the first segment's second batch; everything after it goes to quarantine.
        let first = dir.path + "/t-0/" + names[0]
        let laterBytes = try names.dropFirst().map {
            try Data(contentsOf: URL(fileURLWithPath: dir.path + "/t-0/" + $0))
        }
        modifyFile(first) { bytes in
            let second = 12 + bytes[8..<12].reduce(0) { $0 << 8 | Int($1) }
            bytes[second + 70] ^= 0x40
        }
        let log = try Log(directory: dir.path)
        let report = try #require(log.recoveryReports.first { $0.topic == "t" })
        #expect(report.droppedSegments == names.count - 1)
        #expect(report.droppedBeyondQuarantine == 0)
        for (name, bytes) in zip(names.dropFirst(), laterBytes) {
            let moved = dir.path + "/t-0/" + name + ".quarantine-0"
            #expect(report.quarantined.contains(moved))
            #expect(try Data(contentsOf: URL(fileURLWithPath: moved)) == bytes)
        }
        #expect(try log.all("t").count == 1)
        try log.close()
    }
}
