/// Kafka's RecordBatch v2, the unit the log stores, indexes, checksums and compresses.
///
/// ```
///  0        8        12       16 17     21    23       27             35             43         51    53      57      61
///  +--------+--------+--------+--+------+-----+--------+--------------+--------------+----------+-----+-------+-------+------ - -
///  |base    |batch   |leader  |m |crc32c|attrs|last    |base          |max           |producer  |prod.|base   |records| records
///  |offset  |length  |epoch   |a |      |     |offset Δ|timestamp     |timestamp     |id        |epoch|seq.   |count  | (or one
///  |int64   |int32   |int32   |g |uint32|int16|int32   |int64         |int64         |int64     |int16|int32  |int32  | compressed
///  +--------+--------+--------+--+------+-----+--------+--------------+--------------+----------+-----+-------+-------+ frame)
///                                 \_________________________ covered by the CRC ______________________________________________/
/// ```
///
/// All integers are big-endian. `batchLength` counts the bytes after itself, so a batch is
/// `batchLength + 12` bytes. Because the CRC starts at byte 21, the log stamps `baseOffset` into a
/// producer-built batch without recomputing it.
struct RecordBatchHeader: Equatable {
    static let size = 61
    static let lengthOffset = 8
    static let magicOffset = 16
    static let crcOffset = 17
    static let attributesOffset = 21
    /// Bytes before and including `batchLength`, which `batchLength` does not count.
    static let logOverhead = 12

    var baseOffset: Int64
    var batchLength: Int32
    var partitionLeaderEpoch: Int32
    var magic: Int8
    var crc: UInt32
    var attributes: Int16
    var lastOffsetDelta: Int32
    var baseTimestamp: Int64
    var maxTimestamp: Int64
    var producerId: Int64
    var producerEpoch: Int16
    var baseSequence: Int32
    var recordsCount: Int32

    var totalSize: Int { Int(batchLength) + Self.logOverhead }
    var lastOffset: Int64 { baseOffset &+ Int64(lastOffsetDelta) }  // wrapping: the header may be hostile
    var codec: Int { Int(attributes & 0x7) }
    var isControl: Bool { attributes & 0x20 != 0 }
    var lastSequence: Int32 {
        baseSequence == -1
            ? -1 : Int32(truncatingIfNeeded: (Int64(baseSequence) + Int64(lastOffsetDelta)) & 0x7fff_ffff)
    }

    /// Reads the fixed header; the caller guarantees 61 readable bytes.
    init(_ p: UnsafeRawPointer) {
        baseOffset = p.loadBigEndian(at: 0)
        batchLength = p.loadBigEndian(at: 8)
        partitionLeaderEpoch = p.loadBigEndian(at: 12)
        magic = p.loadBigEndian(at: 16)
        crc = p.loadBigEndian(at: 17)
        attributes = p.loadBigEndian(at: 21)
        lastOffsetDelta = p.loadBigEndian(at: 23)
        baseTimestamp = p.loadBigEndian(at: 27)
        maxTimestamp = p.loadBigEndian(at: 35)
        producerId = p.loadBigEndian(at: 43)
        producerEpoch = p.loadBigEndian(at: 51)
        baseSequence = p.loadBigEndian(at: 53)
        recordsCount = p.loadBigEndian(at: 57)
    }

    /// Why the batch at `bytes` (which may extend past it) is invalid, or `nil` if it is whole and its CRC
    /// matches. `available` is how many bytes are readable from the start of the batch.
    static func validate(_ p: UnsafeRawPointer, available: Int, maxBatchSize: Int) -> BatchProblem? {
        guard available >= logOverhead else { return .truncated }
        let length = Int(p.loadBigEndian(at: lengthOffset, as: Int32.self))
        guard length >= size - logOverhead else { return .invalidLength(length) }
        guard length + logOverhead <= maxBatchSize else { return .invalidLength(length) }
        guard available >= length + logOverhead else { return .truncated }
        let magic = p.load(fromByteOffset: magicOffset, as: UInt8.self)
        guard magic == 2 else { return .badMagic(Int(magic)) }
        let stored = p.loadBigEndian(at: crcOffset, as: UInt32.self)
        let computed = CRC32C.checksum(
            UnsafeRawBufferPointer(start: p + attributesOffset, count: length + logOverhead - attributesOffset))
        guard stored == computed else { return .crcMismatch(stored: stored, computed: computed) }
        let lastDelta = p.loadBigEndian(at: 23, as: Int32.self)
        let count = p.loadBigEndian(at: 57, as: Int32.self)
        guard lastDelta >= 0, count >= 0, Int64(count) <= Int64(lastDelta) + 1 else {
            return .invalidCounts(lastOffsetDelta: Int(lastDelta), records: Int(count))
        }
        // The base offset is outside the CRC (the log stamps it): it must be non-negative and leave the
        // offset after the batch representable.
        let base = p.loadBigEndian(at: 0, as: Int64.self)
        guard base >= 0, base < Int64.max - Int64(lastDelta) else { return .invalidBaseOffset(base) }
        return nil
    }
}

/// What is wrong with bytes that should hold a batch.
enum BatchProblem: Equatable, CustomStringConvertible {
    case truncated
    case invalidLength(Int)
    case badMagic(Int)
    case crcMismatch(stored: UInt32, computed: UInt32)
    case invalidCounts(lastOffsetDelta: Int, records: Int)
    case invalidBaseOffset(Int64)
    case unexpectedOffset(expected: Int64, found: Int64, exact: Bool)

    var description: String {
        switch self {
        case .truncated: "batch is truncated (torn write)"
        case .invalidLength(let n): "invalid batch length \(n)"
        case .badMagic(let m): "unsupported magic byte \(m) (expected 2)"
        case .crcMismatch(let stored, let computed):
            "CRC-32C mismatch: stored \(hex(stored)), computed \(hex(computed))"
        case .invalidCounts(let delta, let records): "inconsistent lastOffsetDelta \(delta) for \(records) records"
        case .invalidBaseOffset(let base): "invalid base offset \(base)"
        case .unexpectedOffset(let expected, let found, let exact):
            "base offset \(found) does not follow the previous batch (expected \(exact ? "" : "at least ")\(expected))"
        }
    }

    private func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// A whole, validated batch in memory, readable record by record.
struct RecordBatchView {
    let bytes: UnsafeRawBufferPointer
    let header: RecordBatchHeader

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.header = RecordBatchHeader(bytes.baseAddress!)
    }

    /// Calls `body` for each record with offset ≥ `minimumOffset`, decompressing into `scratch` when needed.
    /// Returns the number of records visited; stops early when `body` returns `false`.
    @inline(__always)
    func forEachRecord(
        from minimumOffset: Int64 = .min, codecs: Codecs, scratch: ByteStorage,
        _ body: (RecordView) throws -> Bool
    ) throws -> (visited: Int, stopped: Bool) {
        let recordsRegion: UnsafeRawBufferPointer
        let payload = UnsafeRawBufferPointer(rebasing: bytes[RecordBatchHeader.size...])
        if header.codec == 0 {
            recordsRegion = payload
        } else {
            try codecs.decompress(payload, codec: header.codec, into: scratch)
            recordsRegion = scratch.bytes
        }
        return try Self.decodeRecords(
            recordsRegion, header: header, from: minimumOffset, body)
    }

    static func decodeRecords(
        _ region: UnsafeRawBufferPointer, header: RecordBatchHeader, from minimumOffset: Int64,
        _ body: (RecordView) throws -> Bool
    ) throws -> (visited: Int, stopped: Bool) {
        guard let base = region.baseAddress else {
            if header.recordsCount == 0 { return (0, false) }
            throw corrupt("empty records region for \(header.recordsCount) records", header)
        }
        let end = region.count
        var position = 0
        var visited = 0
        for _ in 0..<Int(header.recordsCount) {
            // Lengths are compared as `length <= end - position`: a hostile varint may be near Int64.max.
            guard let length = Varint.read(base, &position, end: end), length > 0, length <= Int64(end - position)
            else {
                throw corrupt("record length runs past the batch", header)
            }
            let recordEnd = position + Int(length)
            position += 1  // attributes
            guard let timestampDelta = Varint.read(base, &position, end: recordEnd),
                let offsetDelta = Varint.read(base, &position, end: recordEnd),
                let keyLength = Varint.read(base, &position, end: recordEnd), keyLength >= -1,
                max(keyLength, 0) <= Int64(recordEnd - position)
            else { throw corrupt("malformed record header", header) }
            var key: UnsafeRawBufferPointer? = nil
            if keyLength >= 0 {
                key = UnsafeRawBufferPointer(start: base + position, count: Int(keyLength))
                position += Int(keyLength)
            }
            guard let valueLength = Varint.read(base, &position, end: recordEnd), valueLength >= -1,
                max(valueLength, 0) <= Int64(recordEnd - position)
            else { throw corrupt("malformed record value", header) }
            var value: UnsafeRawBufferPointer? = nil
            if valueLength >= 0 {
                value = UnsafeRawBufferPointer(start: base + position, count: Int(valueLength))
                position += Int(valueLength)
            }
            guard let headerCount = Varint.read(base, &position, end: recordEnd), headerCount >= 0 else {
                throw corrupt("malformed header count", header)
            }
            guard offsetDelta >= 0, offsetDelta <= Int64(header.lastOffsetDelta) else {
                throw corrupt(
                    "record offset delta \(offsetDelta) is outside the batch's 0...\(header.lastOffsetDelta)", header)
            }
            let offset = header.baseOffset &+ offsetDelta
            let headerBytes = UnsafeRawBufferPointer(start: base + position, count: recordEnd - position)
            position = recordEnd
            if offset < minimumOffset { continue }
            visited += 1
            let view = RecordView(
                offset: offset, timestamp: header.baseTimestamp &+ timestampDelta, key: key, value: value,
                headerCount: Int(headerCount), headerBytes: headerBytes)
            if try !body(view) { return (visited, true) }
        }
        return (visited, false)
    }

    private static func corrupt(_ what: String, _ header: RecordBatchHeader) -> EventLogError {
        EventLogError(.corruptData, "\(what) (batch at base offset \(header.baseOffset))", offset: header.baseOffset)
    }
}
