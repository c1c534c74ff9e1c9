import EventLogFoundation

/// Stored batches as bytes, for a server that speaks Kafka's protocol: what a Fetch returns for one
/// partition.
public struct EncodedBatches: Sendable {
    /// Whole RecordBatch v2 batches as stored: the first is the one holding the requested offset (or the
    /// first after it, where compaction removed it), so a client skips the records before its offset.
    public var bytes: [UInt8]
    /// The log end offset when the batches were read (Kafka's high watermark: on one node every appended
    /// record is committed).
    public var highWatermark: Int64
    /// The first offset still stored.
    public var logStartOffset: Int64
}

/// Where stored batches lie in the segment files, for a server that sends them without copying them
/// (`sendfile`): what ``Log/encodedBatchRegions(topic:partition:from:maxBytes:)`` returns.
public struct EncodedBatchRegions: Sendable {
    /// A run of whole batches in one segment file.
    public struct Region: Sendable, Hashable {
        /// A duplicate of the segment's descriptor, opened for this region alone: the caller owns it and
        /// must close it (it stays valid when the segment is deleted or compacted meanwhile: it keeps the
        /// file it was made from).
        public let descriptor: Int32
        /// Where the run starts in the file, and its length in bytes.
        public let offset: Int64
        public let count: Int

        /// Closes ``descriptor`` (for a region that will not be sent).
        public func close() { SystemIO.closeDescriptor(descriptor) }
    }

    /// The runs, in offset order: the same bytes ``EncodedBatches/bytes`` would hold.
    public var regions: [Region]
    /// See ``EncodedBatches/highWatermark``.
    public var highWatermark: Int64
    /// See ``EncodedBatches/logStartOffset``.
    public var logStartOffset: Int64

    /// The bytes of all regions.
    public var byteCount: Int { regions.reduce(0) { $0 + $1.count } }
}

extension Log {
    /// Appends a batch encoded by a client — Kafka's Produce — after validating it as Kafka's broker does:
    /// one whole RecordBatch v2, matching CRC-32C, consistent counts, consecutive offset deltas, records and
    /// headers that decode, a codec the log reads. Only the base offset and the partition leader epoch
    /// (outside the CRC) are rewritten; every other byte is stored as sent.
    ///
    /// - Parameter batch: The batch; its first 16 bytes are overwritten (offset and epoch).
    /// - Throws: `.invalidInput` (malformed batch), `.corruptData` (CRC mismatch), `.compression` (gzip or
    ///   snappy, or a frame that does not decompress), `.recordTooLarge`, `.keyRequired`, `.unknownTopic`,
    ///   `.unknownPartition`, `.outOfOrderSequence`, `.producerFenced`, `.io`. Nothing is stored on error.
    @discardableResult
    public func appendEncodedBatch(_ batch: UnsafeMutableRawBufferPointer, to topic: String, partition: Int)
        throws(EventLogError) -> AppendResult
    {
        try requireWritable()
        let target = try self.partition(topic, partition)
        let tools = validationTools.withLock { $0.popLast() } ?? ValidationTools()
        defer { validationTools.withLock { if $0.count < 8 { $0.append(tools) } } }
        do throws(EventLogError) {
            return try target.appendEncoded(batch, codecs: tools.codecs, scratch: tools.scratch)
        } catch {
            throw error.with(topic: topic, partition: partition)
        }
    }

    /// Reads whole stored batches from the one holding `offset`, up to about `maxBytes` (the first batch is
    /// returned whole even when larger, as Kafka does, so a consumer always makes progress).
    ///
    /// - Throws: `.offsetOutOfRange` when `offset` is below the log start or past the log end;
    ///   `.corruptData` when a stored batch header is damaged; `.unknownTopic`, `.unknownPartition`.
    public func encodedBatches(topic: String, partition: Int, from offset: Int64, maxBytes: Int)
        throws(EventLogError) -> EncodedBatches
    {
        try readingPartition(topic, partition) { (target) throws(EventLogError) in
            try target.encodedBatches(from: offset, maxBytes: maxBytes)
        }
    }

    /// The batches ``encodedBatches(topic:partition:from:maxBytes:)`` would return, as runs of the segment
    /// files — for `sendfile`: the bytes go from the page cache to the socket without being copied here.
    /// Each region's descriptor is a duplicate the caller must close.
    ///
    /// - Throws: as ``encodedBatches(topic:partition:from:maxBytes:)``, and `.io` when a descriptor cannot be
    ///   duplicated (none is left open then).
    public func encodedBatchRegions(topic: String, partition: Int, from offset: Int64, maxBytes: Int)
        throws(EventLogError) -> EncodedBatchRegions
    {
        try readingPartition(topic, partition) { (target) throws(EventLogError) in
            try target.encodedBatchRegions(from: offset, maxBytes: maxBytes)
        }
    }

    /// Runs `body` on a partition brought up to what its writer has appended (in a read-only process),
    /// naming the topic and partition in its errors.
    private func readingPartition<T>(
        _ topic: String, _ partition: Int, _ body: (Partition) throws(EventLogError) -> T
    ) throws(EventLogError) -> T {
        let target = try self.partition(topic, partition)
        if !target.writable { try target.followWriter() }
        do throws(EventLogError) { return try body(target) } catch {
            throw error.with(topic: topic, partition: partition)
        }
    }

    /// Returns when some partition of `positions` has records at or past its given offset, or after
    /// `timeoutMilliseconds` — a Fetch's long poll, woken by appends instead of polling. Unknown
    /// partitions are ignored. Cancelling the task returns at once.
    public func waitForRecords(_ positions: [TopicPartition: Int64], timeoutMilliseconds: Int64) async {
        let watched = positions.compactMap { position -> (Partition, Int64)? in
            guard let partition = try? self.partition(position.key.topic, position.key.partition) else { return nil }
            return (partition, position.value)
        }
        guard timeoutMilliseconds > 0 else { return }
        await withTaskGroup(of: Void.self) { group in
            for (partition, offset) in watched {
                group.addTask {
                    while !Task.isCancelled {
                        let seen = partition.appendSignal.version
                        if partition.offsets.end > offset { return }
                        await partition.appendSignal.wait(after: seen)
                    }
                }
            }
            group.addTask { try? await Task.sleep(for: .milliseconds(timeoutMilliseconds)) }
            await group.next()
            group.cancelAll()
        }
    }
}

/// The codec contexts and buffer one validation uses; pooled by the log.
final class ValidationTools: @unchecked Sendable {  // used by one caller at a time (taken from the pool)
    let codecs = Codecs()
    let scratch = ByteStorage(capacity: 1 << 16)
}

extension Partition {
    /// A run of whole batches in one segment.
    private struct Span {
        let segment: Segment
        let position: Int64
        var count: Int
    }

    /// The runs of stored batches from the one holding `offset`, up to about `maxBytes` (the first batch
    /// whole), reading only batch headers; adjacent batches of a segment form one run.
    private func spans(from offset: Int64, maxBytes: Int) throws(EventLogError) -> (
        spans: [Span], highWatermark: Int64, logStartOffset: Int64
    ) {
        let (segments, start, end) = state.withLock { ($0.segments, $0.logStartOffset, $0.logEndOffset) }
        guard offset >= start && offset <= end else {
            throw error(
                .offsetOutOfRange, "offset \(offset) is outside the partition's \(start)...\(end)", offset: offset)
        }
        var spans: [Span] = []
        var total = 0
        guard offset < end,
            var segmentIndex = segments.lastIndex(where: { $0.baseOffset <= offset }) ?? segments.indices.first
        else { return (spans, end, start) }
        var position = segments[segmentIndex].position(forOffset: offset)
        let header = ByteStorage(capacity: RecordBatchHeader.size)
        while true {
            let segment = segments[segmentIndex]
            let size = segment.size
            if position >= size {
                segmentIndex += 1
                guard segmentIndex < segments.count else { break }
                position = 0
                continue
            }
            guard size - position >= Int64(RecordBatchHeader.size),
                try segment.read(at: position, count: RecordBatchHeader.size, into: header) == RecordBatchHeader.size
            else { throw damaged(segment, position, "a batch header is cut short") }
            let batch = RecordBatchHeader(header.base)
            let length = Int64(batch.totalSize)
            guard batch.batchLength >= Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead),
                length <= size - position
            else { throw damaged(segment, position, "invalid batch length \(batch.batchLength)") }
            if batch.baseOffset >= end { break }
            if batch.lastOffset >= offset {
                if total > 0 && total + Int(length) > maxBytes { break }
                if let last = spans.last, last.segment === segment, last.position + Int64(last.count) == position {
                    spans[spans.count - 1].count += Int(length)
                } else {
                    spans.append(Span(segment: segment, position: position, count: Int(length)))
                }
                total += Int(length)
                if total >= maxBytes { break }
            }
            position += length
        }
        return (spans, end, start)
    }

    /// See ``Log/encodedBatches(topic:partition:from:maxBytes:)``.
    func encodedBatches(from offset: Int64, maxBytes: Int) throws(EventLogError) -> EncodedBatches {
        let (spans, highWatermark, logStartOffset) = try spans(from: offset, maxBytes: maxBytes)
        var result = EncodedBatches(bytes: [], highWatermark: highWatermark, logStartOffset: logStartOffset)
        result.bytes.reserveCapacity(spans.reduce(0) { $0 + $1.count })
        for span in spans {
            let from = result.bytes.count
            result.bytes.append(contentsOf: repeatElement(0, count: span.count))
            let outcome = result.bytes.withUnsafeMutableBytes { bytes in
                Result { () throws(EventLogError) in
                    try span.segment.read(
                        at: span.position, into: UnsafeMutableRawBufferPointer(rebasing: bytes[from...]))
                }
            }
            guard try outcome.get() == span.count else {
                throw damaged(span.segment, span.position, "the segment file is shorter than its size")
            }
        }
        return result
    }

    /// See ``Log/encodedBatchRegions(topic:partition:from:maxBytes:)``.
    func encodedBatchRegions(from offset: Int64, maxBytes: Int) throws(EventLogError) -> EncodedBatchRegions {
        let (spans, highWatermark, logStartOffset) = try spans(from: offset, maxBytes: maxBytes)
        var regions: [EncodedBatchRegions.Region] = []
        do throws(EventLogError) {
            for span in spans {
                regions.append(
                    .init(descriptor: try span.segment.duplicateDescriptor(), offset: span.position, count: span.count))
            }
        } catch {
            for region in regions { region.close() }
            throw error
        }
        return EncodedBatchRegions(regions: regions, highWatermark: highWatermark, logStartOffset: logStartOffset)
    }

    private func damaged(_ segment: Segment, _ position: Int64, _ what: String) -> EventLogError {
        EventLogError(.corruptData, what, path: segment.logPath, topic: topic, partition: index, filePosition: position)
    }
}
