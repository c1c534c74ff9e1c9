import EventLogFoundation
import Synchronization

/// Validating scans: how a segment's contents are rebuilt from its bytes after an unclean shutdown, and how
/// a read-only process finds the committed end of a segment another process is writing.
extension Segment {
    struct ScanOutcome {
        /// Bytes from position 0 that hold whole, valid batches.
        var validSize: Int64
        /// The file size at the time of the scan.
        var fileSize: Int64
        var batches = 0
        var records: Int64 = 0
        /// What stopped the scan before `fileSize`, if anything.
        var problem: BatchProblem?
    }

    /// Validates every batch from the start of the file (size, magic, CRC-32C, increasing offsets),
    /// rebuilds the indexes and the segment's state from them, and stops at the first invalid byte. It
    /// does not truncate: the caller decides (recovery truncates, a read-only follower waits).
    ///
    /// - Parameters:
    ///   - firstOffset: The smallest base offset the first batch may have (the end of the previous segment).
    ///   - onBatch: Called for each valid batch (producer-state replay).
    ///   - contiguous: each batch must start right after the previous one and the first at `baseOffset`
    ///     (true unless the topic is compacted, where batches may have been removed). This catches damage
    ///     to the base offset, which lies outside the CRC.
    func scanAndRebuild(
        firstOffset: Int64, indexInterval: Int, now: Int64, contiguous: Bool,
        onBatch: (RecordBatchHeader, Int64) -> Void = { _, _ in }
    ) throws(EventLogError) -> ScanOutcome {
        var rebuilt = State(nextOffset: baseOffset, createdAt: now)
        let outcome = try scan(
            into: &rebuilt, expected: contiguous ? baseOffset : max(firstOffset, baseOffset),
            contiguous: contiguous, indexInterval: indexInterval, onBatch: onBatch)
        if let firstMax = rebuilt.firstBatchMaxTimestamp { rebuilt.createdAt = firstMax }
        state.withLock { $0 = rebuilt }
        return outcome
    }

    /// Validates and takes in the batches another process appended past the known size (read-only
    /// followers). A torn or in-progress tail simply stays invisible. Returns the new size.
    @discardableResult
    func followAppends(indexInterval: Int, contiguous: Bool) throws(EventLogError) -> Int64 {
        var current = state.withLock { $0 }
        guard case .success(let fileSize) = io.fileSize(file.fd), fileSize > current.size else { return current.size }
        _ = try scan(into: &current, expected: current.nextOffset, contiguous: contiguous, indexInterval: indexInterval)
        let updated = current
        state.withLock { $0 = updated }
        return updated.size
    }

    /// Scans from `state.size` to the end of the file, accounting each valid batch into `state`.
    private func scan(
        into rebuilt: inout State, expected first: Int64, contiguous: Bool, indexInterval: Int,
        onBatch: (RecordBatchHeader, Int64) -> Void = { _, _ in }
    ) throws(EventLogError) -> ScanOutcome {
        let fileSize = try io.check(io.fileSize(file.fd), "stat", path: logPath)
        var outcome = ScanOutcome(validSize: rebuilt.size, fileSize: fileSize)
        let chunkSize = Int(min(Int64(8 << 20), max(fileSize - rebuilt.size, 4096)))
        let buffer = ByteStorage(capacity: chunkSize)
        var position: Int64 = rebuilt.size
        var chunkStart: Int64 = position
        var expected = first
        while position < fileSize {
            var available = Int(chunkStart + Int64(buffer.count) - position)
            if available < RecordBatchHeader.logOverhead || position < chunkStart {
                chunkStart = position
                available = try read(at: position, count: Int(min(Int64(chunkSize), fileSize - position)), into: buffer)
            }
            guard available >= RecordBatchHeader.logOverhead else {
                outcome.problem = .truncated
                break
            }
            var p = UnsafeRawPointer(buffer.base + Int(position - chunkStart))
            let length = Int64(p.loadBigEndian(at: RecordBatchHeader.lengthOffset, as: Int32.self))
            let total = length + Int64(RecordBatchHeader.logOverhead)
            if length < Int64(RecordBatchHeader.size - RecordBatchHeader.logOverhead) {
                outcome.problem = .invalidLength(Int(length))
                break
            }
            if position + total > fileSize {
                outcome.problem = .truncated
                break
            }
            if total > Int64(available) {
                chunkStart = position
                available = try read(at: position, count: Int(max(Int64(chunkSize), total)), into: buffer)
                p = UnsafeRawPointer(buffer.base)
            }
            if let problem = RecordBatchHeader.validate(p, available: available, maxBatchSize: Int(total)) {
                outcome.problem = problem
                break
            }
            let header = RecordBatchHeader(p)
            if header.baseOffset < expected || (contiguous && header.baseOffset != expected) {
                outcome.problem = .unexpectedOffset(expected: expected, found: header.baseOffset, exact: contiguous)
                break
            }
            if header.lastOffset - baseOffset > Int64(UInt32.max) || position + total > Int64(UInt32.max) {
                outcome.problem = .invalidLength(Int(length))
                break
            }
            Self.account(
                &rebuilt, header: header, position: position, baseOffset: baseOffset, indexInterval: indexInterval)
            onBatch(header, position)
            outcome.batches += 1
            outcome.records += Int64(header.recordsCount)
            expected = header.lastOffset + 1
            position += total
        }
        outcome.validSize = position
        return outcome
    }
}
