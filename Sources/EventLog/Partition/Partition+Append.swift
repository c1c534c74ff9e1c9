import EventLogFoundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The offsets an append was given.
public struct AppendResult: Sendable, Hashable {
    /// Offset of the first record of the batch.
    public var baseOffset: Int64
    /// Offset of the last record of the batch.
    public var lastOffset: Int64
    /// `true` when an idempotent producer retried a batch the log already had: nothing was written and
    /// these are the offsets the first attempt got.
    public var isDuplicate: Bool
}

extension Partition {
    /// Appends one sealed batch (from a builder), assigning offsets, and returns once the topic's
    /// durability policy is satisfied.
    ///
    /// - Throws: ``EventLogError`` `.recordTooLarge`, `.keyRequired`, `.outOfOrderSequence`,
    ///   `.producerFenced`, `.io` (nothing is acknowledged and the partition stays consistent).
    func append(_ builder: RecordBatchBuilder) throws(EventLogError) -> AppendResult {
        guard writable else { throw error(.readOnly, "the log was opened read-only") }
        let config = self.config
        if config.cleanupPolicy.contains(.compact) && builder.hasKeylessRecord {
            throw error(.keyRequired, "topic '\(topic)' is compacted, so every record needs a key")
        }
        let sealed = try builder.seal()
        let batch = UnsafeMutableRawBufferPointer(mutating: sealed)
        if batch.count > config.maxRecordBytes {
            throw error(
                .recordTooLarge,
                "a batch of \(batch.count) bytes exceeds the topic's maxRecordBytes of \(config.maxRecordBytes)")
        }
        return try appendSealed(batch, config: config)
    }

    /// Appends a batch a client encoded (Kafka's Produce) after validating it as Kafka's broker does
    /// (``ClientBatchValidation``); only the base offset and the partition leader epoch (both outside the
    /// CRC) are rewritten, every other byte is stored as sent.
    func appendEncoded(_ batch: UnsafeMutableRawBufferPointer, codecs: Codecs, scratch: ByteStorage)
        throws(EventLogError) -> AppendResult
    {
        guard writable else { throw error(.readOnly, "the log was opened read-only") }
        let config = self.config
        let (keyless, _) = try ClientBatchValidation.validate(
            UnsafeRawBufferPointer(batch), maxBytes: config.maxRecordBytes, codecs: codecs, scratch: scratch)
        if config.cleanupPolicy.contains(.compact) && keyless {
            throw error(.keyRequired, "topic '\(topic)' is compacted, so every record needs a key")
        }
        batch.baseAddress!.storeBytes(of: Int32(0).bigEndian, toByteOffset: 12, as: Int32.self)  // leader epoch
        return try appendSealed(batch, config: config)
    }

    private func appendSealed(_ batch: UnsafeMutableRawBufferPointer, config: TopicConfiguration)
        throws(EventLogError) -> AppendResult
    {
        let result = try writer.withLock { (writer) throws(EventLogError) -> AppendResult in
            try append(batch, config: config, writer: &writer)
        }
        if !result.isDuplicate {
            notifyAppend(result.lastOffset + 1)
            if config.durability == .sync { try awaitDurable(upTo: result.lastOffset + 1) }
        }
        return result
    }

    private func append(_ batch: UnsafeMutableRawBufferPointer, config: TopicConfiguration, writer: inout WriterState)
        throws(EventLogError) -> AppendResult
    {
        if let damage = writer.damage {
            throw error(.corruptData, "partition \(topic)-\(index) is damaged; appends are refused: \(damage)")
        }
        let base = batch.baseAddress!
        var header = RecordBatchHeader(base)
        let verdict = try writer.producers.check(
            producerId: header.producerId, epoch: header.producerEpoch, firstSequence: header.baseSequence,
            lastSequence: header.lastSequence)
        if case .duplicate(let first, let last) = verdict {
            statistics.withLock { $0.duplicateBatches += 1 }
            return AppendResult(baseOffset: first, lastOffset: last, isDuplicate: true)
        }
        var (active, end) = state.withLock { ($0.segments[$0.segments.count - 1], $0.logEndOffset) }
        do { try active.prepareForAppend() } catch { throw error.with(topic: topic, partition: index) }
        let now = clock.milliseconds()
        if try shouldRoll(
            active, adding: batch.count, lastOffset: end + Int64(header.lastOffsetDelta), config: config, now: now)
        {
            active = try roll(from: active, at: end, config: config, now: now)
        }
        // Stamp the offset; bytes 0–11 are outside the CRC.
        base.storeBytes(of: end.bigEndian, toByteOffset: 0, as: Int64.self)
        header.baseOffset = end
        do {
            try active.append(
                UnsafeRawBufferPointer(start: base, count: batch.count), header: header,
                indexInterval: config.indexIntervalBytes)
        } catch { throw error.with(topic: topic, partition: index) }
        writer.producers.record(header)
        state.withLock { $0.logEndOffset = header.lastOffset + 1 }
        statistics.withLock {
            $0.appendedBatches += 1
            $0.appendedRecords += Int64(header.recordsCount)
        }
        return AppendResult(baseOffset: end, lastOffset: header.lastOffset, isDuplicate: false)
    }

    private func shouldRoll(
        _ active: Segment, adding bytes: Int, lastOffset: Int64, config: TopicConfiguration, now: Int64
    )
        throws(EventLogError) -> Bool
    {
        let (size, created) = active.state.withLock { ($0.size, $0.createdAt) }
        guard size > 0 else { return false }
        if size + Int64(bytes) > config.segmentBytes { return true }
        // `created` is the first batch's largest timestamp, which the producer chose: any Int64, so the age
        // is computed without trapping. An age past Int64.max is older than any configured limit.
        let (age, overflow) = now.subtractingReportingOverflow(created)
        if overflow ? now > created : age >= config.segmentMilliseconds { return true }
        if lastOffset - active.baseOffset > Int64(Int32.max) { return true }
        return false
    }

    /// Seals `active` (indexes written; synced unless the policy is `.none`) and starts a segment at `offset`.
    private func roll(from active: Segment, at offset: Int64, config: TopicConfiguration, now: Int64)
        throws(EventLogError) -> Segment
    {
        let durable = config.durability != .none
        if durable {
            try io.check(active.sync(), "fsync segment before roll", path: active.logPath)
        }
        try active.writeIndexFiles(sync: durable)
        let next = try Segment.create(directory: directory, baseOffset: offset, io: io, now: now)
        state.withLock { $0.segments.append(next) }
        logger.debug("rolled segment", metadata: ["eventlog.base_offset": "\(offset)"])
        return next
    }

    // MARK: Durability

    /// Blocks until everything below `offset` has been fdatasync'd. Concurrent callers share one sync: the
    /// first becomes the leader and syncs up to the log end it sees; the others wait for it and only sync
    /// again if their offset is still not covered (group commit).
    func awaitDurable(upTo offset: Int64) throws(EventLogError) {
        syncLock.lock()
        defer { syncLock.unlock() }
        while syncState.syncedOffset < offset {
            if syncState.syncing {
                syncLock.wait()
                continue
            }
            syncState.syncing = true
            syncLock.unlock()
            // Read the target and the segment together: a roll syncs the old segment before publishing
            // the new one, so syncing the segment that was active when `goal` was read covers `goal`.
            let (goal, segment) = state.withLock { ($0.logEndOffset, $0.segments[$0.segments.count - 1]) }
            let result = segment.sync()
            syncLock.lock()
            syncState.syncing = false
            syncLock.broadcast()
            switch result {
            case .success:
                syncState.syncedOffset = max(syncState.syncedOffset, goal)
                statistics.withLock { $0.syncs += 1 }
            case .failure(let errno):
                throw EventLogError(
                    .io, "fdatasync failed; the append is not acknowledged: \(errno)", errno: errno,
                    path: segment.logPath, topic: topic, partition: index)
            }
        }
    }

    /// Syncs everything appended so far (used by the interval flusher and by `Log.flush()`).
    func flush() throws(EventLogError) {
        let end = offsets.end
        let synced = syncLock.withLock { syncState.syncedOffset }
        if synced < end { try awaitDurable(upTo: end) }
    }

    var syncedOffset: Int64 { syncLock.withLock { syncState.syncedOffset } }

    func notifyAppend(_ end: Int64) {
        appendSignal.signal()
    }

    /// Writes the producer-state snapshot covering everything below the current log end.
    func writeProducerSnapshot() throws(EventLogError) {
        let bytes = writer.withLock { writer in writer.producers.serialized(upTo: offsets.end) }
        try io.writeFileAtomically(directory + "/producer.snapshot", bytes)
    }

    /// Writes the active segment's index files (at clean shutdown).
    func writeActiveIndexes() throws(EventLogError) {
        let active = state.withLock { $0.segments.last }
        try active?.writeIndexFiles(sync: true)
    }
}
