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
}
