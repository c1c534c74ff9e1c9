/// The checks a batch encoded by someone else (a Kafka client's Produce) must pass before the log stores
/// it, as Kafka's broker validates a v2 batch: whatever passes is readable by every reader of the log,
/// so a client can never store bytes that make a partition unreadable.
///
/// - exactly one whole batch: `batchLength + 12` is the byte count given;
/// - magic 2 and a matching CRC-32C (bytes 21 to the end);
/// - at least one record, `recordsCount == lastOffsetDelta + 1`, no control batch (no transactions);
/// - a producer id ≥ 0 has a base sequence ≥ 0;
/// - a codec the log reads (none, gzip, snappy, lz4, zstd) and a payload that decompresses;
/// - every record decodes, with offset deltas 0, 1, 2, … in order, and every header decodes, each record
///   ending exactly where its length says, the records region ending after the last one.
enum ClientBatchValidation {
    /// - Returns: Whether some record has no key (a compacted topic refuses such a batch).
    static func validate(_ batch: UnsafeRawBufferPointer, maxBytes: Int, codecs: Codecs, scratch: ByteStorage)
        throws(EventLogError) -> (hasKeylessRecord: Bool, records: Int)
    {
        guard let base = batch.baseAddress, batch.count >= RecordBatchHeader.size else {
            throw invalid("a batch needs at least \(RecordBatchHeader.size) bytes, got \(batch.count)")
        }
        let header = RecordBatchHeader(base)
        if header.magic != 2 {
            throw invalid("unsupported magic byte \(header.magic) (only RecordBatch v2, magic 2, is accepted)")
        }
        guard Int(header.batchLength) + RecordBatchHeader.logOverhead == batch.count else {
            throw invalid(
                "the batch length field says \(Int(header.batchLength) + RecordBatchHeader.logOverhead) bytes but \(batch.count) were sent (exactly one batch per partition)"
            )
        }
        if batch.count > maxBytes {
            throw EventLogError(
                .recordTooLarge, "a batch of \(batch.count) bytes exceeds the topic's maxRecordBytes of \(maxBytes)")
        }
        if let problem = RecordBatchHeader.validate(base, available: batch.count, maxBatchSize: Int.max) {
            if case .crcMismatch = problem { throw EventLogError(.corruptData, "\(problem)") }
            throw invalid("\(problem)")
        }
        guard header.recordsCount >= 1, Int64(header.recordsCount) == Int64(header.lastOffsetDelta) + 1 else {
            throw invalid(
                "recordsCount \(header.recordsCount) does not match lastOffsetDelta \(header.lastOffsetDelta) + 1")
        }
        if header.isControl { throw invalid("control batches are not accepted (transactions are not supported)") }
        if header.attributes & 0x10 != 0 { throw invalid("transactional batches are not accepted") }
        if header.producerId >= 0 && header.baseSequence < 0 {
            throw invalid("producer \(header.producerId) sent base sequence \(header.baseSequence); it must be ≥ 0")
        }
        let payload = UnsafeRawBufferPointer(rebasing: batch[RecordBatchHeader.size...])
        let region: UnsafeRawBufferPointer
        switch header.codec {
        case 0: region = payload
        case 1, 2, 3, 4:
            try codecs.decompress(payload, codec: header.codec, into: scratch)
            region = scratch.bytes
        default: throw invalid("unknown compression codec \(header.codec)")
        }
        let keyless = try validateRecords(region, count: Int(header.recordsCount))
        return (keyless, Int(header.recordsCount))
    }

    /// Walks the records region: lengths, varints, consecutive offset deltas, headers.
    private static func validateRecords(_ region: UnsafeRawBufferPointer, count: Int) throws(EventLogError) -> Bool {
        guard let base = region.baseAddress else { throw invalid("the records region is empty") }
        var keyless = false
        let end = region.count
        var position = 0
        for index in 0..<count {
            guard let length = Varint.read(base, &position, end: end), length > 0, length <= Int64(end - position)
            else {
                throw invalid("record \(index): its length runs past the batch")
            }
            let recordEnd = position + Int(length)
            position += 1  // attributes
            guard Varint.read(base, &position, end: recordEnd) != nil,  // timestamp delta
                let offsetDelta = Varint.read(base, &position, end: recordEnd)
            else { throw invalid("record \(index): malformed timestamp or offset delta") }
            guard offsetDelta == Int64(index) else {
                throw invalid("record \(index) has offset delta \(offsetDelta); deltas must run 0, 1, 2, …")
            }
            let keyStart = position
            guard skipBytes(base, &position, end: recordEnd, nullable: true) else {
                throw invalid("record \(index): malformed key")
            }
            if base.load(fromByteOffset: keyStart, as: UInt8.self) == 1 { keyless = true }  // zigzag −1: null
            guard skipBytes(base, &position, end: recordEnd, nullable: true) else {
                throw invalid("record \(index): malformed value")
            }
            guard let headers = Varint.read(base, &position, end: recordEnd), headers >= 0,
                headers <= Int64(recordEnd - position)
            else { throw invalid("record \(index): malformed header count") }
            for _ in 0..<Int(headers) {
                guard skipBytes(base, &position, end: recordEnd, nullable: false),
                    skipBytes(base, &position, end: recordEnd, nullable: true)
                else { throw invalid("record \(index): malformed header") }
            }
            guard position == recordEnd else {
                throw invalid("record \(index): \(recordEnd - position) bytes left over after its headers")
            }
        }
        guard position == end else { throw invalid("\(end - position) bytes after the last record") }
        return keyless
    }

    /// Skips a varint length and that many bytes (−1 for null when `nullable`).
    private static func skipBytes(_ base: UnsafeRawPointer, _ position: inout Int, end: Int, nullable: Bool) -> Bool {
        guard let length = Varint.read(base, &position, end: end) else { return false }
        if length == -1 && nullable { return true }
        guard length >= 0, length <= Int64(end - position) else { return false }
        position += Int(length)
        return true
    }

    private static func invalid(_ message: String) -> EventLogError { EventLogError(.invalidInput, message) }
}
