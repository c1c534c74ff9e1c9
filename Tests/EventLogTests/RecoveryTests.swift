import EventLogFoundation
import Foundation
import Testing

@testable import EventLog

/// Writes `batches` batches of 3 records to topic "t", closes cleanly, then removes the clean-shutdown
/// marker so the next open runs recovery as after a crash. Returns the records and each batch's end position.
func prepareUncleanLog(_ dir: String, batches: Int = 5, compression: Compression = .none) throws -> (
    records: [Record], ends: [Int64]
) {
    let log = try Log(directory: dir)
    var config = TopicConfiguration()
    config.compression = compression
    try log.createTopic("t", configuration: config)
    var ends: [Int64] = []
    for b in 0..<batches {
        try log.append(
            (0..<3).map { ProducerRecord(key: "k\(b)-\($0)", value: "value-\(b)-\($0)") },
            to: "t", partition: 0)
        ends.append(fileSize(segmentPath(dir, "t", 0)))
    }
    let records = try log.all("t")
    try log.close()
    try FileManager.default.removeItem(atPath: dir + "/" + Log.cleanShutdownFile)
    return (records, ends)
}

func truncateFile(_ path: String, to length: Int64) {
    let fd = open(path, O_WRONLY)
    ftruncate(fd, off_t(length))
    close(fd)
}

func modifyFile(_ path: String, _ body: (inout [UInt8]) -> Void) {
    var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
    body(&bytes)
    #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
}

@Suite("Recovery after an unclean shutdown")
struct RecoveryTests {
    @Test(
        "a tail torn at every byte position of the last batch is cut back to the valid prefix",
        arguments: [Compression.none, .lz4])
    func tornTail(compression: Compression) throws {
        let dir = TemporaryDirectory()
        let (records, ends) = try prepareUncleanLog(dir.path, compression: compression)
        let path = segmentPath(dir.path, "t", 0)
        let pristine = FileManager.default.contents(atPath: path)!
        let lastStart = ends[ends.count - 2]
        for cut in lastStart..<ends[ends.count - 1] {
            #expect(FileManager.default.createFile(atPath: path, contents: pristine.prefix(Int(cut))))
            try? FileManager.default.removeItem(atPath: dir.path + "/" + Log.cleanShutdownFile)
            let log = try Log(directory: dir.path)
            #expect(try log.all("t") == Array(records.prefix(records.count - 3)), "cut at \(cut)")
            let report = try log.statistics(topic: "t", partition: 0).recovery
            #expect(report.truncatedBytes == cut - lastStart, "cut at \(cut)")
            #expect(fileSize(path) == lastStart)
            #expect(log.invariantViolation() == nil)
            // The log keeps working at the right offset.
            #expect(try log.append(ProducerRecord(key: "n", value: "new"), to: "t").offset == Int64(records.count - 3))
            try log.close()
        }
    }

    @Test("random garbage appended after the last batch is removed and reported")
    func garbage() throws {
        let seed = testSeed("garbage")
        var generator = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let (records, ends) = try prepareUncleanLog(dir.path)
        let path = segmentPath(dir.path, "t", 0)
        for round in 0..<20 {
            let junk = randomBytes(1...5000, &generator)
            modifyFile(path) { $0 += junk }
            try? FileManager.default.removeItem(atPath: dir.path + "/" + Log.cleanShutdownFile)
            let log = try Log(directory: dir.path)
            #expect(try log.all("t") == records, "round \(round)")
            #expect(try log.statistics(topic: "t", partition: 0).recovery.truncatedBytes == Int64(junk.count))
            #expect(fileSize(path) == ends.last!)
            try log.close()
        }
    }

    @Test("a flipped bit in any batch truncates from that batch on, keeping exactly the valid prefix")
    func bitFlips() throws {
        let seed = testSeed("bitFlips")
        var generator = SeededGenerator(seed: seed)
        for round in 0..<25 {
            let dir = TemporaryDirectory()
            let (records, ends) = try prepareUncleanLog(dir.path, batches: 6)
            let path = segmentPath(dir.path, "t", 0)
            let position = Int.random(in: 0..<Int(ends.last!), using: &generator)
            let bit = UInt8(1) << UInt8.random(in: 0...7, using: &generator)
            modifyFile(path) { $0[position] ^= bit }
            let damaged = ends.firstIndex { $0 > Int64(position) }!  // batch holding the flipped byte
            let log = try Log(directory: dir.path)
            let kept = try log.all("t")
            // Bits 12–15 (partition leader epoch) are outside the CRC, as in Kafka: such a flip is harmless.
            let batchStart = damaged == 0 ? 0 : Int(ends[damaged - 1])
            if (12..<16).contains(position - batchStart) {
                #expect(kept == records, "round \(round): flip at \(position)")
            } else {
                #expect(kept == Array(records.prefix(damaged * 3)), "round \(round): flip at \(position)")
                let report = try log.statistics(topic: "t", partition: 0).recovery
                #expect(report.problems.count == 1)
                #expect(report.problems.first?.contains("position \(batchStart)") == true)
            }
            #expect(log.invariantViolation() == nil)
        }
    }

    @Test("a CRC mismatch in sealed data is reported by readers with topic, partition, offset and position")
    func corruptionSeenByReaders() throws {
        let dir = TemporaryDirectory()
        let (_, ends) = try prepareUncleanLog(dir.path)
        // Clean shutdown: no recovery scan, so the damage is only found when read.
        #expect(FileManager.default.createFile(atPath: dir.path + "/" + Log.cleanShutdownFile, contents: Data()))
        modifyFile(segmentPath(dir.path, "t", 0)) { $0[Int(ends[1]) + 70] ^= 0x01 }
        let log = try Log(directory: dir.path)
        let reader = try log.reader(topic: "t", partition: 0, from: .earliest)
        var seen: [Int64] = []
        let error = #expect(throws: EventLogError.self) {
            while try reader.read(maxBytes: 10, { seen.append($0.offset) }) > 0 {}
        }
        #expect(seen == [0, 1, 2, 3, 4, 5])
        #expect(error?.code == .corruptData)
        #expect(error?.topic == "t")
        #expect(error?.partition == 0)
        #expect(error?.offset == 6)
        #expect(error?.filePosition == ends[1])
        #expect(error?.description.contains("CRC") == true)
    }

    @Test("a length field claiming 2 GB is treated as a torn tail, with bounded memory")
    func hugeLength() throws {
        let dir = TemporaryDirectory()
        let (records, ends) = try prepareUncleanLog(dir.path)
        modifyFile(segmentPath(dir.path, "t", 0)) { bytes in
            var fake = [UInt8](repeating: 0, count: 61)
            fake[8] = 0x7f; fake[9] = 0xff; fake[10] = 0xff; fake[11] = 0xff
            bytes += fake
        }
        let log = try Log(directory: dir.path)
        #expect(try log.all("t") == records)
        #expect(fileSize(segmentPath(dir.path, "t", 0)) == ends.last!)
    }

    @Test("damage in an earlier segment drops every later segment, keeping their bytes in quarantine")
    func laterSegmentsDropped() throws {
        let dir = TemporaryDirectory()
        do {
            let log = try Log(directory: dir.path)
            var config = TopicConfiguration()
            config.segmentBytes = 1024
            try log.createTopic("t", configuration: config)
            for i in 0..<100 {
                try log.append(
                    ProducerRecord(key: "k", value: "value-\(i)-" + String(repeating: "x", count: 40)), to: "t")
            }
            try log.close()
        }
        try FileManager.default.removeItem(atPath: dir.path + "/" + Log.cleanShutdownFile)
        // Recovery point 0 makes every segment count.
        try FileManager.default.removeItem(atPath: dir.path + "/" + Log.checkpointFile)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/t-0").filter {
            $0.hasSuffix(".log")
        }.sorted()
        #expect(names.count > 3)
        let second = Segment.baseOffset(fromFileName: names[1])!
        let original = try names.map { try Data(contentsOf: URL(fileURLWithPath: dir.path + "/t-0/" + $0)) }
        modifyFile(dir.path + "/t-0/" + names[1]) { $0[30] ^= 0xff }
        let log = try Log(directory: dir.path)
        let records = try log.all("t")
        #expect(records.count == Int(second))
        #expect(records.map(\.offset) == Array(0..<second))
        let report = try log.statistics(topic: "t", partition: 0).recovery
        #expect(report.droppedSegments == names.count - 2)
        #expect(try log.describeTopic("t").partitions[0].segments == 2)
        // Nothing is destroyed: the damaged segment's bytes (cut at 0) and every later segment, renamed, are in
        // quarantine, byte for byte.
        #expect(report.droppedBeyondQuarantine == 0)
        for index in 1..<names.count {
            let moved = dir.path + "/t-0/" + names[index] + ".quarantine-0"
            #expect(report.quarantined.contains(moved))
            var expected = original[index]
            if index == 1 { expected[30] ^= 0xff }
            #expect(try Data(contentsOf: URL(fileURLWithPath: moved)) == expected)
        }
    }
}
