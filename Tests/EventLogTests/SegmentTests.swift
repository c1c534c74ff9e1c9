import Foundation
import SystemPackage
import Testing

@testable import EventLog

/// `Segment` on its own: the only type that writes a segment's file (append, sync, truncate, cut, remove,
/// replace), checked against the file's bytes on disk.
@Suite("Segment")
struct SegmentTests {
    /// A sealed batch of `count` records stamped with `baseOffset`, as the partition hands it to a segment.
    static func batch(baseOffset: Int64, count: Int, tag: String) throws -> [UInt8] {
        let builder = RecordBatchBuilder()
        for i in 0..<count { builder.append(key: "k\(i)", value: "\(tag)-\(i)", timestamp: 1_000 + Int64(i)) }
        var bytes = Array(try builder.seal())
        withUnsafeBytes(of: baseOffset.bigEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        return bytes
    }

    static func append(_ segment: Segment, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            try segment.append(raw, header: RecordBatchHeader(raw.baseAddress!), indexInterval: 64)
        }
    }

    static func fileBytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }

    @Test("appended batches lie whole and contiguous in the file; a rebuild from the file agrees")
    func appendAndRebuild() throws {
        let dir = TemporaryDirectory()
        let segment = try Segment.create(directory: dir.path, baseOffset: 100, io: SystemIO(), now: 0)
        let batches = try [(100, 3), (103, 1), (104, 5)].map { try Self.batch(baseOffset: $0.0, count: $0.1, tag: "b") }
        for batch in batches { try Self.append(segment, batch) }
        #expect(segment.size == Int64(batches.joined().count))
        #expect(segment.nextOffset == 109)
        #expect(Self.fileBytes(segment.logPath) == Array(batches.joined()))
        #expect(segment.invariantViolation() == nil)
        #expect(segment.position(forOffset: 104) == Int64(batches[0].count), "the indexed batch before 104 (103)")

        let reopened = try Segment.open(directory: dir.path, baseOffset: 100, io: SystemIO(), writable: false, now: 0)
        let outcome = try reopened.scanAndRebuild(firstOffset: 100, indexInterval: 64, now: 0, contiguous: true)
        #expect(outcome.problem == nil)
        #expect(reopened.size == segment.size && reopened.nextOffset == 109)
    }

    @Test(
        "a short write is cut again: the file never keeps part of a batch, and the next append follows the last whole one"
    )
    func failedAppendIsCut() throws {
        let dir = TemporaryDirectory()
        let faults = FaultInjector()
        let segment = try Segment.create(directory: dir.path, baseOffset: 0, io: SystemIO(faults: faults), now: 0)
        let first = try Self.batch(baseOffset: 0, count: 2, tag: "a")
        try Self.append(segment, first)
        faults.shortWrite(bytes: 30)
        let failing = try Self.batch(baseOffset: 2, count: 2, tag: "lost")
        #expect(throws: EventLogError.self) { try Self.append(segment, failing) }
        #expect(Self.fileBytes(segment.logPath) == first)
        #expect(segment.size == Int64(first.count) && segment.nextOffset == 2)
        let second = try Self.batch(baseOffset: 2, count: 1, tag: "b")
        try Self.append(segment, second)
        #expect(Self.fileBytes(segment.logPath) == first + second)
        #expect(segment.invariantViolation() == nil)
    }

    @Test("when cutting a failed append fails too, prepareForAppend cuts it before anything else is written")
    func failedCleanupIsCutLater() throws {
        let dir = TemporaryDirectory()
        let faults = FaultInjector()
        let segment = try Segment.create(directory: dir.path, baseOffset: 0, io: SystemIO(faults: faults), now: 0)
        let first = try Self.batch(baseOffset: 0, count: 1, tag: "a")
        try Self.append(segment, first)
        faults.shortWrite(bytes: 40)
        faults.fail(.truncate, with: .ioError)
        #expect(throws: EventLogError.self) {
            try Self.append(segment, try Self.batch(baseOffset: 1, count: 3, tag: "x"))
        }
        #expect(Self.fileBytes(segment.logPath).count == first.count + 40, "the partial bytes are still there")
        try segment.prepareForAppend()
        #expect(Self.fileBytes(segment.logPath) == first)
        let second = try Self.batch(baseOffset: 1, count: 1, tag: "b")
        try Self.append(segment, second)
        #expect(Self.fileBytes(segment.logPath) == first + second)
    }

    @Test("cut(at:) keeps the tail in a quarantine file before truncating, up to the limit")
    func cutQuarantines() throws {
        let dir = TemporaryDirectory()
        let segment = try Segment.create(directory: dir.path, baseOffset: 0, io: SystemIO(), now: 0)
        let batches = try (0..<3).map { try Self.batch(baseOffset: Int64($0), count: 1, tag: "r\($0)") }
        for batch in batches { try Self.append(segment, batch) }
        let position = Int64(batches[0].count)
        let cut = try segment.cut(at: position, quarantineLimit: 1 << 20)
        #expect(cut.quarantineFile == segment.logPath + ".quarantine-\(position)")
        #expect(Self.fileBytes(cut.quarantineFile!) == Array(batches[1...].joined()))
        #expect(cut.removedBytes == Int64(batches[1].count + batches[2].count) && cut.deletedBytes == 0)
        #expect(Self.fileBytes(segment.logPath) == batches[0])

        let limited = try Segment.create(directory: dir.path, baseOffset: 10, io: SystemIO(), now: 0)
        for (i, batch) in try (10..<13).map({ try Self.batch(baseOffset: Int64($0), count: 1, tag: "q\($0)") })
            .enumerated()
        {
            _ = i
            try Self.append(limited, batch)
        }
        let whole = Self.fileBytes(limited.logPath)
        let small = try limited.cut(at: 0, quarantineLimit: 25)
        #expect(Self.fileBytes(small.quarantineFile!) == Array(whole.prefix(25)))
        #expect(small.quarantinedBytes == 25 && small.deletedBytes == Int64(whole.count - 25))
        #expect(Self.fileBytes(limited.logPath).isEmpty)
    }

    @Test(
        "remove keeps the log file as quarantine-0 when it fits the limit, deletes it otherwise; readers keep reading")
    func removeQuarantines() throws {
        let dir = TemporaryDirectory()
        let kept = try Segment.create(directory: dir.path, baseOffset: 0, io: SystemIO(), now: 0)
        let bytes = try Self.batch(baseOffset: 0, count: 2, tag: "keep")
        try Self.append(kept, bytes)
        let cut = kept.remove(quarantineLimit: 1 << 20)
        #expect(cut.quarantineFile == kept.logPath + ".quarantine-0" && cut.deletedBytes == 0)
        #expect(Self.fileBytes(kept.logPath + ".quarantine-0") == bytes)
        #expect(!FileManager.default.fileExists(atPath: kept.logPath))
        let buffer = ByteStorage()
        #expect(try kept.read(at: 0, count: bytes.count, into: buffer) == bytes.count, "the open file still reads")

        let dropped = try Segment.create(directory: dir.path, baseOffset: 5, io: SystemIO(), now: 0)
        try Self.append(dropped, try Self.batch(baseOffset: 5, count: 2, tag: "drop"))
        let gone = dropped.remove(quarantineLimit: 10)
        #expect(gone.quarantineFile == nil && gone.deletedBytes == dropped.size)
        #expect(!FileManager.default.fileExists(atPath: dropped.logPath + ".quarantine-0"))
    }

    @Test("replaced(with:) puts a compacted copy in place, indexed; the old object keeps reading the old bytes")
    func replaceSwapsFiles() throws {
        let dir = TemporaryDirectory()
        let segment = try Segment.create(directory: dir.path, baseOffset: 0, io: SystemIO(), now: 0)
        let batches = try (0..<4).map { try Self.batch(baseOffset: Int64($0 * 2), count: 2, tag: "v\($0)") }
        for batch in batches { try Self.append(segment, batch) }
        try segment.writeIndexFiles(sync: true)
        let original = Self.fileBytes(segment.logPath)
        let compacted = batches[1] + batches[3]  // offsets 2…3 and 6…7: gaps are what compaction leaves
        let replacement = try compacted.withUnsafeBytes { try segment.replaced(with: $0, indexInterval: 64, now: 0) }
        #expect(Self.fileBytes(segment.logPath) == compacted)
        #expect(replacement.size == Int64(compacted.count) && replacement.nextOffset == 8)
        #expect(replacement.invariantViolation() == nil)
        #expect(FileManager.default.fileExists(atPath: replacement.indexPath))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter {
            $0.hasSuffix(".swap") || $0.hasSuffix(".tmp")
        }
        #expect(leftovers.isEmpty)
        let buffer = ByteStorage()
        _ = try segment.read(at: 0, count: original.count, into: buffer)
        #expect(Array(buffer.bytes) == original, "a reader of the old segment is undisturbed")
    }
}
