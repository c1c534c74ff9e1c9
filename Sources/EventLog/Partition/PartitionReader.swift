import EventLogFoundation
import Synchronization

/// Reads one partition forward from an offset, in batches, verifying every batch's CRC before any of its
/// records is handed out.
///
/// A reader owns reusable buffers, so reading costs no allocation per record (and none per batch once
/// the buffers have grown). It remembers its file position between calls and needs the index only after a
/// ``seek(to:)``. It keeps the last chunk it read: a call that stopped at `maxRecords` leaves the rest of the
/// chunk for the next call, which continues from memory instead of reading the file again. That is safe
/// because a segment's bytes below its visible size never change (appends go past it; a failed append is
/// cut back only beyond it; compaction writes new segments). It sees records up to the partition's log end
/// at the time of each call; a batch that is still being written is never visible.
///
/// ```swift
/// let reader = try log.reader(topic: "orders", partition: 0, from: .earliest)
/// while try reader.read({ record in handle(record) }) > 0 {}
/// ```
///
/// A reader is not thread-safe; use one per thread.
public final class PartitionReader {
    let partition: Partition
    /// The offset of the next record this reader returns.
    public private(set) var nextOffset: Int64
    private var cursor: (segment: Segment, position: Int64)?
    private let buffer = ByteStorage(capacity: 1 << 20)
    /// The segment and file position `buffer` holds bytes of (`buffer.count` of them), if any.
    private var buffered: (segment: Segment, position: Int64)?
    private let scratch = ByteStorage(capacity: 1 << 16)
    private let codecs = Codecs()

    init(partition: Partition, from offset: Int64) {
        self.partition = partition
        self.nextOffset = offset
    }

    /// Moves the reader so the next record it returns is the first at or after `offset`.
    public func seek(to offset: Int64) {
        nextOffset = offset
        cursor = nil
    }

    /// The partition's log end offset: the offset the next appended record will get.
    public var endOffset: Int64 { partition.offsets.end }

    /// Reads the next records, up to about `maxBytes` of batches and at most `maxRecords` records, calling
    /// `body` for each.
    ///
    /// - Parameters:
    ///   - maxBytes: A soft limit on bytes read from disk; at least one whole batch is read.
    ///   - maxRecords: Stop after this many records; the next call continues with the record after the
    ///     last one delivered, even in the middle of a batch.
    ///   - body: Receives each record; the view is valid only during the call.
    /// - Returns: The number of records delivered; 0 means the reader is at the log end.
    /// - Throws: `.offsetOutOfRange` when `nextOffset` is below the log start (retention deleted it) or past
    ///   the end; `.corruptData` (with file, position and offset) when a batch fails its CRC.
    @discardableResult
    public func read(maxBytes: Int = 1 << 20, maxRecords: Int = .max, _ body: (RecordView) throws -> Void) throws -> Int
    {
        precondition(maxRecords > 0, "maxRecords must be positive")
        while true {
            var (segments, start, end) = partition.state.withLock { ($0.segments, $0.logStartOffset, $0.logEndOffset) }
            if nextOffset >= end && !partition.writable {
                try partition.followWriter()
                (segments, start, end) = partition.state.withLock { ($0.segments, $0.logStartOffset, $0.logEndOffset) }
            }
            if nextOffset >= end {
                if nextOffset > end {
                    throw partition.error(
                        .offsetOutOfRange,
                        "offset \(nextOffset) is past the log end \(end)", offset: nextOffset)
                }
                return 0
            }
            if cursor == nil {
                if nextOffset < start {
                    throw partition.error(
                        .offsetOutOfRange,
                        "offset \(nextOffset) is below the log start \(start) (deleted by retention)",
                        offset: nextOffset)
                }
                guard let index = segments.lastIndex(where: { $0.baseOffset <= nextOffset }) else {
                    throw partition.error(
                        .offsetOutOfRange, "no segment holds offset \(nextOffset)", offset: nextOffset)
                }
                cursor = (segments[index], segments[index].position(forOffset: nextOffset))
            }
            let (segment, position) = cursor!
            let size = segment.size
            if position >= size {
                // This segment is exhausted: continue in the next one, if there is one.
                guard let next = segments.first(where: { $0.baseOffset > segment.baseOffset }) else { return 0 }
                if nextOffset < start {
                    cursor = nil
                    throw partition.error(
                        .offsetOutOfRange,
                        "offset \(nextOffset) is below the log start \(start) (deleted by retention)",
                        offset: nextOffset)
                }
                // Offsets between segments can only be missing through compaction: skip the gap.
                if nextOffset < next.baseOffset { nextOffset = next.baseOffset }
                cursor = (next, 0)
                continue
            }
            switch try readChunk(
                segment: segment, position: position, size: size, maxBytes: maxBytes, maxRecords: maxRecords,
                end: end, body)
            {
            case .delivered(let count): return count
            case .atEnd: return 0
            case .skipped:
                // Progress guarantee: a chunk that delivered nothing moved the cursor past at least one batch.
                // A loop that could call readChunk again at the same place would spin forever; say so instead.
                guard let moved = cursor, moved.segment !== segment || moved.position > position else {
                    throw corruption(segment, position, "reader made no progress (internal error)")
                }
            }
        }
    }

    /// What one ``readChunk(segment:position:size:maxBytes:maxRecords:end:_:)`` did. Every call delivers a
    /// record, moves the cursor past at least one batch, or finds that nothing before `end` is left here.
    private enum ChunkResult {
        /// This many records (at least one) went to the body.
        case delivered(Int)
        /// Whole batches below `nextOffset` (or emptied by compaction) were passed; the cursor moved forward.
        case skipped
        /// The next batch starts at or past `end`: it was appended after this call took `end`.
        case atEnd
    }

    /// Reads whole batches from `position` and delivers their records at or past `nextOffset`.
    ///
    /// It continues in the chunk the last call read when that chunk holds at least the length prefix of the
    /// batch at `position`; otherwise (and when a batch runs past the chunk's end) it reads from `position`.
    /// Bytes of the file below `size` are whole batches, so a fresh read that yields less than one batch is
    /// corruption (the file is shorter than the partition believes), never a reason to try again.
    private func readChunk(
        segment: Segment, position: Int64, size: Int64, maxBytes: Int, maxRecords: Int, end: Int64,
        _ body: (RecordView) throws -> Void
    ) throws -> ChunkResult {
        let want = Int(min(Int64(max(maxBytes, RecordBatchHeader.size)), size - position))
        var start = 0
        var got = 0
        if let buffered, buffered.segment === segment, position >= buffered.position,
            position + Int64(RecordBatchHeader.logOverhead) <= buffered.position + Int64(buffer.count)
        {
            start = Int(position - buffered.position)
            got = buffer.count - start
        } else {
            got = try fill(segment, at: position, count: want)
            guard got >= RecordBatchHeader.logOverhead else {
                throw corruption(
                    segment, position,
                    "batch is truncated: \(got) bytes where the segment's size says \(size - position)")
            }
        }
        var consumed = 0
        var delivered = 0
        while consumed + RecordBatchHeader.logOverhead <= got {
            let p = UnsafeRawPointer(buffer.base + start + consumed)
            let total =
                Int(p.loadBigEndian(at: RecordBatchHeader.lengthOffset, as: Int32.self)) + RecordBatchHeader.logOverhead
            let batchPosition = position + Int64(consumed)
            if total < RecordBatchHeader.size || batchPosition + Int64(total) > size {
                throw corruption(
                    segment, batchPosition, "invalid batch length \(total - RecordBatchHeader.logOverhead)")
            }
            if consumed + total > got {
                if consumed > 0 { break }
                // The batch runs past the chunk (or is larger than one): read from its start, at least all of it.
                got = try fill(segment, at: position, count: Int(min(Int64(max(want, total)), size - position)))
                start = 0
                guard got >= total else { throw corruption(segment, batchPosition, "batch is truncated") }
                continue
            }
            if let problem = RecordBatchHeader.validate(p, available: total, maxBatchSize: total) {
                throw corruption(segment, batchPosition, "\(problem)")
            }
            let batch = RecordBatchView(UnsafeRawBufferPointer(start: p, count: total))
            // A batch appended after `end` was read (the writer does not stop for readers) belongs to the
            // next call: stop in front of it rather than step over it.
            if batch.header.baseOffset >= end { break }
            consumed += total
            if batch.header.lastOffset >= nextOffset {
                let minimum = nextOffset
                var last = minimum - 1
                do {
                    _ = try batch.forEachRecord(from: minimum, codecs: codecs, scratch: scratch) { record in
                        try body(record)
                        delivered += 1
                        last = record.offset
                        return delivered < maxRecords
                    }
                } catch let error as EventLogError {
                    var error = error.with(topic: partition.topic, partition: partition.index)
                    error.path = segment.logPath
                    error.filePosition = batchPosition
                    throw error
                }
                if delivered >= maxRecords && last < batch.header.lastOffset {
                    // Stopped inside the batch: the next call re-reads it from its start and skips what
                    // was delivered.
                    nextOffset = last + 1
                    cursor = (segment, batchPosition)
                    return .delivered(delivered)
                }
                nextOffset = batch.header.lastOffset + 1
            }
            cursor = (segment, position + Int64(consumed))
            if delivered >= maxRecords || (delivered > 0 && consumed >= maxBytes) { break }
        }
        cursor = (segment, position + Int64(consumed))
        if delivered > 0 { return .delivered(delivered) }
        return consumed > 0 ? .skipped : .atEnd
    }

    /// Reads `count` bytes at `position` of `segment` into `buffer` and remembers where they came from.
    private func fill(_ segment: Segment, at position: Int64, count: Int) throws -> Int {
        buffered = nil
        let got = try segment.read(at: position, count: count, into: buffer)
        buffered = (segment, position)
        return got
    }

    private func corruption(_ segment: Segment, _ position: Int64, _ what: String) -> EventLogError {
        EventLogError(
            .corruptData, "corrupt batch: \(what)", path: segment.logPath, topic: partition.topic,
            partition: partition.index, offset: nextOffset, filePosition: position)
    }

    /// Reads up to `maxRecords` records as owned values.
    public func poll(maxRecords: Int = 500) throws -> [Record] {
        var records: [Record] = []
        while records.count < maxRecords {
            let n = try read(maxRecords: maxRecords - records.count) { records.append($0.record) }
            if n == 0 { break }
        }
        return records
    }
}

/// Where a reader starts.
public enum StartPosition: Sendable, Hashable {
    /// The oldest record still in the log.
    case earliest
    /// The log end: only records appended from now on.
    case latest
    /// A given offset.
    case offset(Int64)
    /// The first record whose timestamp is at or after the given milliseconds.
    case timestamp(Int64)
}

extension Partition {
    /// The offset of the first record with timestamp ≥ `timestamp`, or the log end if there is none.
    func offset(forTimestamp timestamp: Int64) throws -> Int64 {
        let segments = self.segments
        guard let segment = segments.first(where: { $0.maxTimestamp >= timestamp }) else { return offsets.end }
        let reader = PartitionReader(
            partition: self, from: max(segment.offsetToScan(forTimestamp: timestamp), offsets.start))
        var found: Int64? = nil
        while found == nil {
            let n = try reader.read(maxBytes: 64 * 1024) { record in
                if found == nil && record.timestamp >= timestamp { found = record.offset }
            }
            if n == 0 { break }
        }
        return found ?? offsets.end
    }

    func resolve(_ start: StartPosition) throws -> Int64 {
        switch start {
        case .earliest: return offsets.start
        case .latest: return offsets.end
        case .offset(let offset): return offset
        case .timestamp(let timestamp): return try offset(forTimestamp: timestamp)
        }
    }
}
