import EventLogFoundation
import Synchronization

extension Log {
    /// Appends a batch built with a ``RecordBatchBuilder`` to one partition.
    ///
    /// The builder keeps its contents; call `reset()` before reusing it. Returns once the topic's
    /// durability policy is met.
    ///
    /// - Returns: The offsets given to the batch's first and last records.
    /// - Throws: `.unknownTopic`, `.unknownPartition`, `.recordTooLarge`, `.keyRequired` (compacted
    ///   topics), `.io` (nothing acknowledged; the log stays readable and accepts appends once the cause
    ///   is gone).
    /// - Complexity: One `pwrite` per batch; with the `.sync` policy, one shared `fdatasync` per group.
    @discardableResult
    public func append(_ batch: RecordBatchBuilder, to topic: String, partition: Int) throws(EventLogError)
        -> AppendResult
    {
        try requireWritable()
        guard !batch.isEmpty else {
            throw EventLogError(
                .invalidConfiguration, "cannot append an empty batch", topic: topic, partition: partition)
        }
        let target = try self.partition(topic, partition)
        do throws(EventLogError) { return try target.append(batch) } catch {
            throw error.with(topic: topic, partition: partition)
        }
    }

    /// Appends records, choosing each keyed record's partition with Kafka's default partitioner (murmur2)
    /// unless `partition` is given; keyless records go to one partition per call, round-robin.
    ///
    /// Records for the same partition are written as one batch, compressed with the topic's codec.
    ///
    /// - Returns: For each input record, the partition and offset it was given, in input order.
    @discardableResult
    public func append(_ records: [ProducerRecord], to topic: String, partition: Int? = nil)
        throws(EventLogError) -> [RecordPosition]
    {
        try requireWritable()
        let found: Topic? = state.withLock { $0.topics[topic] }
        guard let found else { throw EventLogError(.unknownTopic, "topic '\(topic)' does not exist", topic: topic) }
        let count = found.partitions.count
        if let partition, partition < 0 || partition >= count {
            throw EventLogError(
                .unknownPartition,
                "partition \(partition) does not exist; topic '\(topic)' has partitions 0...\(count - 1)",
                topic: topic, partition: partition)
        }
        let keyless = state.withLock { state -> Int in
            state.roundRobin &+= 1
            return state.roundRobin % count
        }
        var groups: [Int: [Int]] = [:]
        for (i, record) in records.enumerated() {
            let p = partition ?? record.key.map { Partitioner.partition(forKey: $0, partitionCount: count) } ?? keyless
            groups[p, default: []].append(i)
        }
        let now = configuration.clock.milliseconds()
        var positions = [RecordPosition](repeating: RecordPosition(partition: 0, offset: 0), count: records.count)
        let builder = RecordBatchBuilder(compression: found.configuration.compression)
        let maxBatch = max(found.configuration.maxRecordBytes / 2, 1024)
        for p in groups.keys.sorted() {
            var pending: [Int] = []
            func flushBatch() throws(EventLogError) {
                guard !pending.isEmpty else { return }
                let result = try append(builder, to: topic, partition: p)
                for (j, i) in pending.enumerated() {
                    positions[i] = RecordPosition(partition: p, offset: result.baseOffset + Int64(j))
                }
                builder.reset()
                pending.removeAll(keepingCapacity: true)
            }
            for i in groups[p]! {
                if builder.encodedSize > maxBatch { try flushBatch() }
                builder.append(records[i], defaultTimestamp: now)
                pending.append(i)
            }
            try flushBatch()
        }
        return positions
    }

    /// Appends one record; see ``append(_:to:partition:)-(ProducerRecord…)``.
    @discardableResult
    public func append(_ record: ProducerRecord, to topic: String, partition: Int? = nil) throws(EventLogError)
        -> RecordPosition
    {
        try append([record], to: topic, partition: partition)[0]
    }

    /// A reader of one partition starting at `start`.
    public func reader(topic: String, partition: Int, from start: StartPosition = .earliest) throws -> PartitionReader {
        try checkOpen()
        let target = try self.partition(topic, partition)
        return PartitionReader(partition: target, from: try target.resolve(start))
    }

    /// Reads up to `maxRecords` records of one partition from `offset` (a compacted-away offset reads from
    /// the next one that exists).
    public func read(topic: String, partition: Int, from offset: Int64, maxRecords: Int = 500) throws -> [Record] {
        try reader(topic: topic, partition: partition, from: .offset(offset)).poll(maxRecords: maxRecords)
    }

    /// The first stored offset and the next offset to be assigned in a partition.
    public func offsets(topic: String, partition: Int) throws(EventLogError) -> (start: Int64, end: Int64) {
        try self.partition(topic, partition).offsets
    }

    /// The offset of the first record with a timestamp at or after `timestamp` (the log end if none).
    public func offset(topic: String, partition: Int, forTimestamp timestamp: Int64) throws -> Int64 {
        try self.partition(topic, partition).offset(forTimestamp: timestamp)
    }

    /// Counters for one partition, including what recovery did at open.
    public func statistics(topic: String, partition: Int) throws(EventLogError) -> PartitionStatistics {
        try self.partition(topic, partition).statistics.withLock { $0 }
    }

    /// The offset below which a partition's data has been fdatasync'd (tests).
    func partitionSyncedOffset(_ topic: String, _ partition: Int) -> Int64 {
        (try? self.partition(topic, partition).syncedOffset) ?? -1
    }

    /// Checks the invariants of every open partition (offsets dense and increasing across segments, indexes
    /// within their segments, the synced offset at most the end); returns the first violation, or `nil`.
    /// Tests and `eventlog soak` call it after every step; it reads memory only.
    public func invariantViolation() -> String? {
        let topics = state.withLock { $0.topics }
        for topic in topics.values {
            for partition in topic.partitions {
                if let problem = partition.invariantViolation() { return problem }
            }
        }
        return nil
    }
}

/// Where a record was stored.
public struct RecordPosition: Sendable, Hashable {
    /// The partition.
    public var partition: Int
    /// The offset within it.
    public var offset: Int64
}
