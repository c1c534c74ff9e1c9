#if canImport(Glibc)
    import Glibc
#endif

/// Reads a segment file on its own — no `Log`, no lock — and describes every batch in it, checking each
/// CRC. This is what `eventlog dump` and `eventlog verify` use; it is safe on a file another process is
/// appending to (a batch still being written shows up as a torn tail).
public enum SegmentInspector {
    /// One batch as stored.
    public struct Batch: Sendable, Hashable {
        /// Byte position in the file.
        public var position: Int64
        /// Total bytes.
        public var size: Int
        /// First and last offset.
        public var baseOffset: Int64, lastOffset: Int64
        /// Number of records.
        public var recordCount: Int
        /// Codec name: none, gzip, snappy, lz4, zstd.
        public var codec: String
        /// First and largest timestamps.
        public var baseTimestamp: Int64, maxTimestamp: Int64
        /// Producer id (-1 when none) and base sequence.
        public var producerId: Int64, baseSequence: Int32
        /// The stored CRC.
        public var crc: UInt32
    }

    /// The result of a whole-file check.
    public struct Report: Sendable, Hashable {
        /// The file.
        public var path: String
        /// Bytes in the file.
        public var fileSize: Int64
        /// Bytes of whole valid batches from the start.
        public var validBytes: Int64
        /// Valid batches.
        public var batches: Int
        /// Records in valid batches.
        public var records: Int64
        /// What is wrong at `validBytes`, if the file does not end there.
        public var problem: String?
        /// Whether every byte belongs to a valid batch.
        public var isValid: Bool { problem == nil }
    }

    static let codecNames = ["none", "gzip", "snappy", "lz4", "zstd"]

    /// Checks every batch of the segment at `path`, calling `body` for each valid one.
    ///
    /// - Throws: `.io` if the file cannot be read. Damage is not thrown: it is the report's `problem`.
    public static func inspect(path: String, _ body: (Batch) -> Void = { _ in }) throws(EventLogError) -> Report {
        let io = SystemIO()
        let fd = try io.check(io.open(path, flags: O_RDONLY | O_CLOEXEC), "open", path: path)
        defer { io.close(fd) }
        let size = try io.check(io.fileSize(fd), "stat", path: path)
        var report = Report(path: path, fileSize: size, validBytes: 0, batches: 0, records: 0, problem: nil)
        let buffer = ByteStorage(capacity: 1 << 20)
        var position: Int64 = 0
        var expected: Int64 = .min
        while position < size {
            let header = Int(min(Int64(RecordBatchHeader.size), size - position))
            buffer.ensureCapacity(RecordBatchHeader.size)
            let got = try io.check(io.pread(fd, into: buffer.base, count: header, offset: position), "read", path: path)
            guard got >= RecordBatchHeader.logOverhead else {
                report.problem = BatchProblem.truncated.description
                break
            }
            let length = Int64(UnsafeRawPointer(buffer.base).loadBigEndian(at: 8, as: Int32.self))
            let total = length + Int64(RecordBatchHeader.logOverhead)
            guard length >= Int64(RecordBatchHeader.size - RecordBatchHeader.logOverhead) else {
                report.problem = BatchProblem.invalidLength(Int(length)).description
                break
            }
            guard position + total <= size else {
                report.problem = BatchProblem.truncated.description
                break
            }
            buffer.ensureCapacity(Int(total))
            _ = try io.check(io.pread(fd, into: buffer.base, count: Int(total), offset: position), "read", path: path)
            if let problem = RecordBatchHeader.validate(buffer.base, available: Int(total), maxBatchSize: Int(total)) {
                report.problem = problem.description
                break
            }
            let h = RecordBatchHeader(buffer.base)
            if h.baseOffset < expected {
                report.problem =
                    BatchProblem.unexpectedOffset(expected: expected, found: h.baseOffset, exact: false).description
                break
            }
            expected = h.lastOffset + 1
            body(
                Batch(
                    position: position, size: Int(total), baseOffset: h.baseOffset, lastOffset: h.lastOffset,
                    recordCount: Int(h.recordsCount),
                    codec: h.codec < codecNames.count ? codecNames[h.codec] : "codec \(h.codec)",
                    baseTimestamp: h.baseTimestamp, maxTimestamp: h.maxTimestamp, producerId: h.producerId,
                    baseSequence: h.baseSequence, crc: h.crc))
            report.batches += 1
            report.records += Int64(h.recordsCount)
            position += total
        }
        report.validBytes = position
        return report
    }

    /// The quarantine files (`<segment>.log.quarantine-<position>`) under a log directory, sorted: bytes that
    /// recovery or ``Log/repair(topic:partition:)`` cut from a segment.
    public static func quarantineFiles(in directory: String) throws(EventLogError) -> [String] {
        try partitionFiles(in: directory) { $0.contains(".log.quarantine-") }.map(\.path)
    }

    /// The segment files of every partition under a log directory, sorted: `(topic-partition, path)`.
    public static func segmentFiles(in directory: String) throws(EventLogError) -> [(partition: String, path: String)] {
        try partitionFiles(in: directory) { Segment.baseOffset(fromFileName: $0) != nil }
    }

    /// The files of every partition directory under `directory` whose name passes `include`, sorted.
    private static func partitionFiles(in directory: String, _ include: (String) -> Bool) throws(EventLogError)
        -> [(partition: String, path: String)]
    {
        let io = SystemIO()
        var result: [(String, String)] = []
        let names = try io.check(io.listDirectory(directory), "list", path: directory)
        for name in names.sorted()
        where io.isDirectory(directory + "/" + name) && name != "topics" && !name.hasSuffix(".deleted") {
            let partitionDir = directory + "/" + name
            let files = try io.check(io.listDirectory(partitionDir), "list", path: partitionDir)
            for file in files.sorted() where include(file) {
                result.append((name, partitionDir + "/" + file))
            }
        }
        return result
    }
}
