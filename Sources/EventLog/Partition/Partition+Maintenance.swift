import EventLogFoundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Retention and compaction.
///
/// Retention deletes whole non-active segments, oldest first: while the oldest one's largest timestamp is
/// older than `retentionMilliseconds`, and while the partition without it is still at least
/// `retentionBytes`. Readers holding a deleted segment keep reading its open file.
///
/// Compaction keeps, in the sealed segments, only the last record of each key (as of the sealed
/// segments), drops tombstones whose batch is older than `deleteRetentionMilliseconds`, and never changes
/// an offset. Each segment is rewritten with a crash-safe swap:
///
/// (`Segment.replaced(with:indexInterval:now:)`): a kill at any moment leaves either the old or the new
/// segment, both valid.
extension Partition {
    /// Deletes segments past the retention limits; returns how many were deleted.
    func applyRetention() throws(EventLogError) -> Int {
        let config = self.config
        guard config.cleanupPolicy.contains(.delete), writable else { return 0 }
        let now = clock.milliseconds()
        return maintenance.withLock {
            let segments = self.segments
            guard segments.count > 1 else { return 0 }
            var deleteCount = 0
            if let retention = config.retentionMilliseconds {
                for segment in segments.dropLast() {
                    if segment.maxTimestamp < now - retention { deleteCount += 1 } else { break }
                }
            }
            if let limit = config.retentionBytes {
                var excess = segments.reduce(Int64(0)) { $0 + $1.size } - limit
                var bySize = 0
                for segment in segments.dropLast() {
                    if excess - segment.size >= 0 {
                        excess -= segment.size
                        bySize += 1
                    } else {
                        break
                    }
                }
                deleteCount = max(deleteCount, bySize)
            }
            guard deleteCount > 0 else { return 0 }
            let doomed = Array(segments.prefix(deleteCount))
            state.withLock { state in
                state.segments.removeFirst(deleteCount)
                state.logStartOffset = state.segments[0].baseOffset
            }
            for segment in doomed { segment.deleteFiles() }
            _ = io.fsyncDirectory(directory)
            statistics.withLock { $0.segmentsDeletedByRetention += deleteCount }
            logger.debug("retention deleted segments", metadata: ["eventlog.count": "\(deleteCount)"])
            return deleteCount
        }
    }

    /// Repairs a partition whose damage was found in a cleanly closed log: moves the bytes from the damage
    /// on (the rest of the damaged segment, and every later segment) into quarantine files, cuts the
    /// segment there, and accepts appends again. Returns nil when the partition is not damaged.
    func repair(quarantineLimit: Int64) throws(EventLogError) -> RecoveryReport? {
        guard writable else { throw error(.readOnly, "the log was opened read-only") }
        return try writer.withLock { (writer) throws(EventLogError) -> RecoveryReport? in
            guard let damage = writer.damage else { return nil }
            var report = RecoveryReport(topic: topic, partition: index)
            report.problems.append(damage)
            let damaged = state.withLock { $0.segments[$0.segments.count - 1] }
            // Segments after the damaged one are on disk but were never served.
            let names = try io.check(io.listDirectory(directory), "list", path: directory)
            let later = try names.compactMap { Segment.baseOffset(fromFileName: $0) }
                .filter { $0 > damaged.baseOffset }.sorted()
                .map { (base) throws(EventLogError) in
                    try Segment.open(
                        directory: directory, baseOffset: base, io: io, writable: true, now: clock.milliseconds())
                }
            try Self.cutTail(
                damaged, at: damaged.size, later: later, limit: quarantineLimit, io: io,
                report: &report)
            writer.damage = nil
            logger.warning("repaired a damaged partition", metadata: ["eventlog.report": "\(report)"])
            return report
        }
    }

    /// Compacts the sealed segments if the dirty ratio calls for it (or `force`); returns the records removed.
    func compact(force: Bool = false) throws(EventLogError) -> Int64 {
        let config = self.config
        guard config.cleanupPolicy.contains(.compact), writable, writer.withLock({ $0.damage == nil }) else { return 0 }
        let now = clock.milliseconds()
        return try maintenance.withLock { () throws(EventLogError) -> Int64 in
            let segments = self.segments
            let sealed = Array(segments.dropLast())
            guard !sealed.isEmpty else { return 0 }
            let cleanedUpTo = statistics.withLock { $0.cleanedUpTo }
            let total = sealed.reduce(Int64(0)) { $0 + $1.size }
            let dirty = sealed.filter { $0.baseOffset >= cleanedUpTo }.reduce(Int64(0)) { $0 + $1.size }
            guard total > 0, force || Double(dirty) / Double(total) >= config.minCleanableDirtyRatio else { return 0 }

            // 1. The offset map: last offset of every key in the sealed segments.
            var latest: [[UInt8]: Int64] = [:]
            let reader = SegmentScanner()
            for segment in sealed {
                try reader.forEachBatch(in: segment, partition: self) { (batch) throws(EventLogError) in
                    _ = try typed {
                        try batch.forEachRecord(codecs: reader.codecs, scratch: reader.scratch) { record in
                            if let key = record.key { latest[Array(key)] = record.offset }
                            return true
                        }
                    }
                }
            }
            // 2. Rewrite each sealed segment.
            var removed: Int64 = 0
            let builder = RecordBatchBuilder(compression: .none)
            for segment in sealed {
                let output = ByteStorage(capacity: Int(min(segment.size, 1 << 24)) + 64)
                var changed = false
                try reader.forEachBatch(in: segment, partition: self) { (batch) throws(EventLogError) in
                    let header = batch.header
                    let tombstonesExpire = header.maxTimestamp < now - config.deleteRetentionMilliseconds
                    var kept: [RecordView] = []
                    var visited = 0
                    // Views into the scratch buffer stay valid while this batch is processed.
                    _ = try typed {
                        try batch.forEachRecord(codecs: reader.codecs, scratch: reader.scratch) { record in
                            visited += 1
                            guard let key = record.key else { return true }
                            if latest[Array(key)] == record.offset && !(record.value == nil && tombstonesExpire) {
                                kept.append(record)
                            }
                            return true
                        }
                    }
                    removed += Int64(visited - kept.count)
                    if kept.count == visited {
                        output.append(batch.bytes)
                        return
                    }
                    changed = true
                    guard !kept.isEmpty else { return }
                    builder.reset()
                    builder.compression = Compression(codecBits: header.codec)
                    for record in kept {
                        builder.append(
                            key: record.key, value: record.value, timestamp: record.timestamp,
                            headers: record.headers, offsetDelta: record.offset - header.baseOffset)
                    }
                    builder.lastOffsetDeltaOverride = header.lastOffsetDelta
                    builder.producerId = header.producerId
                    builder.producerEpoch = header.producerEpoch
                    builder.baseSequence = header.baseSequence
                    let bytes = try builder.seal()
                    let start = output.count
                    output.append(bytes)
                    output.setBigEndian(header.baseOffset, at: start)
                }
                if changed {
                    try swap(segment, with: output)
                }
            }
            let active = segments[segments.count - 1].baseOffset
            statistics.withLock {
                $0.cleanedUpTo = active
                $0.compactions += 1
                $0.recordsRemovedByCompaction += removed
            }
            return removed
        }
    }

    /// Puts the compacted copy of `segment` in its place (``Segment/replaced(with:indexInterval:now:)``);
    /// readers holding the old segment keep reading the old file.
    private func swap(_ segment: Segment, with contents: ByteStorage) throws(EventLogError) {
        let replacement: Segment
        do {
            replacement = try segment.replaced(
                with: contents.bytes, indexInterval: config.indexIntervalBytes, now: clock.milliseconds())
        } catch { throw error.with(topic: topic, partition: index) }
        state.withLock { state in
            if let i = state.segments.firstIndex(where: { $0 === segment }) { state.segments[i] = replacement }
        }
    }
}

/// Runs `body`, whose only errors are ``EventLogError``s but whose signature is untyped.
func typed<T>(_ body: () throws -> T) throws(EventLogError) -> T {
    do { return try body() } catch let error as EventLogError { throw error } catch {
        throw EventLogError(.io, "unexpected error: \(error)")
    }
}

extension Compression {
    init(codecBits: Int) {
        switch codecBits {
        case 3: self = .lz4
        case 4: self = .zstd
        default: self = .none
        }
    }
}

/// Walks every batch of a segment (validating each) with its own buffers; for maintenance work.
///
/// Progress: each pass of the outer loop reads from `position` and either consumes at least one whole batch
/// or throws, so the walk ends after at most one pass per batch.
final class SegmentScanner {
    let buffer = ByteStorage(capacity: 1 << 20)
    let scratch = ByteStorage(capacity: 1 << 16)
    let codecs = Codecs()

    func forEachBatch(
        in segment: Segment, partition: Partition, _ body: (RecordBatchView) throws(EventLogError) -> Void
    )
        throws(EventLogError)
    {
        func corrupt(_ what: String, at position: Int64) -> EventLogError {
            EventLogError(
                .corruptData, "corrupt batch: \(what)", path: segment.logPath, topic: partition.topic,
                partition: partition.index, filePosition: position)
        }
        let size = segment.size
        var position: Int64 = 0
        while position < size {
            var got = try segment.read(at: position, count: Int(min(Int64(8 << 20), size - position)), into: buffer)
            var consumed = 0
            while consumed + RecordBatchHeader.logOverhead <= got {
                let p = UnsafeRawPointer(buffer.base + consumed)
                let total =
                    Int(p.loadBigEndian(at: RecordBatchHeader.lengthOffset, as: Int32.self))
                    + RecordBatchHeader.logOverhead
                if total < RecordBatchHeader.size || position + Int64(consumed + total) > size {
                    throw corrupt("invalid batch length", at: position + Int64(consumed))
                }
                if consumed + total > got {
                    if consumed > 0 { break }
                    // A batch larger than the chunk: read all of it.
                    got = try segment.read(at: position, count: total, into: buffer)
                    guard got >= total else { throw corrupt("batch is truncated", at: position) }
                    continue
                }
                if let problem = RecordBatchHeader.validate(p, available: total, maxBatchSize: total) {
                    throw corrupt("\(problem)", at: position + Int64(consumed))
                }
                try body(RecordBatchView(UnsafeRawBufferPointer(start: p, count: total)))
                consumed += total
            }
            // Fewer bytes than a batch where the segment's size promises one: the file is shorter than it was.
            guard consumed > 0 else { throw corrupt("batch is truncated", at: position) }
            position += Int64(consumed)
        }
    }
}
