public import EventLog

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Copies topics from one place to another — an embedded log directory or any Kafka-protocol cluster, on
/// either side — keeping each record's partition, key, value, headers and timestamp, and resuming after a
/// crash with neither a gap nor a duplicate.
///
/// How it resumes: every copied record carries one extra header, ``offsetHeader``, holding its offset in
/// the source partition (replacing the header if the source record already had one, as when mirroring a
/// mirror). Writes to a target partition are in source order and all-or-nothing per batch (an append to
/// the log; an idempotent, ordered producer to Kafka), so after a kill the target holds a prefix of the
/// copy and its last record names where to continue. A target partition written by anyone else as well
/// breaks this: mirror into topics only the mirror writes.
///
/// Invariant (per partition p): the target's records carrying ``offsetHeader`` are exactly the source's
/// records of p from where mirroring began up to some offset, in order, each once.
public final class TopicMirror: Sendable {
    /// One side of a mirror.
    public enum Endpoint: Sendable {
        /// An embedded log (open it for writing when it is the target).
        case log(Log)
        /// A Kafka-protocol cluster: `host:port,…`.
        case kafka(brokers: String, properties: KafkaProperties = [])
    }

    /// The header each copied record carries: its source offset, as decimal digits.
    public static let offsetHeader = "eventlog.mirror.offset"

    private let source: Endpoint
    private let target: Endpoint

    /// A mirror from `source` to `target`.
    public init(from source: Endpoint, to target: Endpoint) {
        self.source = source
        self.target = target
    }

    /// What one ``copy(topic:follow:batch:progress:)`` did.
    public struct Report: Sendable, Hashable {
        /// Records copied, per partition.
        public var copied: [Int: Int64] = [:]
        /// The source offset each partition resumed from (0 or the earliest when nothing was copied before).
        public var resumedFrom: [Int: Int64] = [:]
    }

    /// Copies `topic`'s partitions up to the ends they have when the call starts (or, with `follow`, for
    /// ever, until `shouldStop` returns true). A missing target topic is created with the source's partition
    /// count; an existing one must have at least as many partitions.
    ///
    /// - Throws: ``KafkaClientError`` or ``EventLogError`` naming the side and partition that failed; what was
    ///   copied before stays copied, and the next call resumes after it.
    @discardableResult
    public func copy(
        topic: String, follow: Bool = false, batch: Int = 1000, shouldStop: @escaping () -> Bool = { false }
    ) throws -> Report {
        let reader = try SourceSide(source, topic: topic)
        let partitions = try reader.partitionCount()
        let writer = try TargetSide(target, topic: topic, partitions: partitions)
        var report = Report()
        var next: [Int: Int64] = [:]
        var ends: [Int: Int64] = [:]
        for partition in 0..<partitions {
            let resume = try writer.lastMirroredOffset(partition: partition).map { $0 + 1 }
            let start = try resume ?? reader.earliest(partition: partition)
            next[partition] = start
            report.resumedFrom[partition] = start
            ends[partition] = try reader.end(partition: partition)
        }
        try reader.start(at: next)
        while !shouldStop() {
            var progressed = false
            for partition in 0..<partitions {
                if !follow, next[partition]! >= ends[partition]! { continue }
                let records = try reader.read(partition: partition, max: batch)
                    .filter { !follow ? $0.offset < ends[partition]! : true }
                // Where the source says it has read to: past gaps (compaction, control records) that hold no
                // record, so a partition whose end offset has no record still counts as done.
                if let position = reader.position(partition: partition) {
                    next[partition] = max(next[partition]!, position)
                }
                guard !records.isEmpty else { continue }
                try writer.write(
                    records.map { record in
                        var headers = record.headers.filter { $0.key != Self.offsetHeader }
                        headers.append(Header(key: Self.offsetHeader, string: String(record.offset)))
                        return ProducerRecord(
                            key: record.key, value: record.value, timestamp: record.timestamp, headers: headers)
                    }, partition: partition)
                next[partition] = max(next[partition]!, records[records.count - 1].offset + 1)
                report.copied[partition, default: 0] += Int64(records.count)
                progressed = true
            }
            if !follow, (0..<partitions).allSatisfy({ next[$0]! >= ends[$0]! }) { break }
            if !progressed { try reader.idle() }
        }
        try writer.finish()
        return report
    }
}

/// Reads a topic's partitions from a log or a cluster.
private final class SourceSide {
    private let log: Log?
    private let consumer: KafkaConsumer?
    private let topic: String
    private var readers: [Int: PartitionReader] = [:]
    /// Messages polled from Kafka for a partition other than the one asked for, kept for later.
    private var pending: [Int: [Record]] = [:]
    /// Per partition, the offset Kafka last reported as its end when the consumer got there.
    private var reachedEnd: [Int: Int64] = [:]

    init(_ endpoint: TopicMirror.Endpoint, topic: String) throws {
        self.topic = topic
        switch endpoint {
        case .log(let log):
            self.log = log
            consumer = nil
        case .kafka(let brokers, let properties):
            log = nil
            consumer = try KafkaConsumer(brokers: brokers, topic: topic, properties: properties)
        }
    }

    func partitionCount() throws -> Int { try log?.partitionCount(topic) ?? consumer!.partitionCount() }

    func earliest(partition: Int) throws -> Int64 {
        if let log { return try log.offsets(topic: topic, partition: partition).start }
        return try consumer!.watermarks(partition: partition).low
    }

    func end(partition: Int) throws -> Int64 {
        if let log { return try log.offsets(topic: topic, partition: partition).end }
        return try consumer!.watermarks(partition: partition).high
    }

    func start(at next: [Int: Int64]) throws {
        if let log {
            for (partition, offset) in next {
                readers[partition] = try log.reader(topic: topic, partition: partition, from: .offset(offset))
            }
        } else {
            try consumer!.assign(next.mapValues { .offset($0) })
        }
    }

    func read(partition: Int, max: Int) throws -> [Record] {
        if let reader = readers[partition] { return try reader.poll(maxRecords: max) }
        var records = pending.removeValue(forKey: partition) ?? []
        var timeout: Int32 = records.isEmpty ? 50 : 0
        while records.count < max, let event = try consumer!.poll(timeoutMilliseconds: timeout) {
            timeout = 0
            guard case .message(let message) = event else {
                if case .endOfPartition(let ended, let offset) = event { reachedEnd[ended] = offset }
                continue
            }
            if message.partition == partition {
                records.append(message.record)
            } else {
                pending[message.partition, default: []].append(message.record)
            }
        }
        if records.count > max {
            pending[partition] = Array(records[max...])
            records.removeSubrange(max...)
        }
        return records
    }

    /// The offset below which every record of `partition` has been read (returned by ``read(partition:max:)``
    /// or seen not to exist), when the source knows it.
    func position(partition: Int) -> Int64? {
        if let reader = readers[partition] { return reader.nextOffset }
        return pending[partition]?.isEmpty == false ? nil : reachedEnd[partition]
    }

    /// Nothing new anywhere: wait a little before looking again.
    func idle() throws {
        if log != nil { usleep(10_000) }
    }
}

/// Writes a topic's partitions into a log or a cluster.
private final class TargetSide {
    private let log: Log?
    private let producer: KafkaProducer?
    private let brokers: String?
    private let properties: KafkaProperties
    private let topic: String

    init(_ endpoint: TopicMirror.Endpoint, topic: String, partitions: Int) throws {
        self.topic = topic
        switch endpoint {
        case .log(let log):
            self.log = log
            producer = nil
            brokers = nil
            properties = []
            var configuration = TopicConfiguration()
            configuration.partitions = partitions
            try log.createTopicIfNeeded(topic, configuration: configuration)
            let existing = try log.partitionCount(topic)
            guard existing >= partitions else {
                throw KafkaClientError(
                    "target topic '\(topic)' has \(existing) partition(s); the source has \(partitions)")
            }
        case .kafka(let brokers, let properties):
            log = nil
            self.brokers = brokers
            self.properties = properties
            let producer = try KafkaProducer(brokers: brokers, properties: properties)
            self.producer = producer
            try producer.createTopic(topic, partitions: partitions)
            let existing = try producer.partitionCount(topic: topic)
            guard existing >= partitions else {
                throw KafkaClientError(
                    "target topic '\(topic)' on \(brokers) has \(existing) partition(s); the source has \(partitions)")
            }
        }
    }

    /// The source offset the target's last record of `partition` was copied from, if any.
    func lastMirroredOffset(partition: Int) throws -> Int64? {
        let last: Record?
        if let log {
            let (start, end) = try log.offsets(topic: topic, partition: partition)
            last = end > start ? try log.read(topic: topic, partition: partition, from: end - 1).last : nil
        } else {
            // A fresh assign-only consumer per partition: reassigning one consumer waited on stale fetches.
            let consumer = try KafkaConsumer(brokers: brokers!, topic: topic, properties: properties)
            let (low, high) = try consumer.watermarks(partition: partition)
            guard high > low else { return nil }
            try consumer.assign([partition: .offset(high - 1)])
            var found: Record? = nil
            for _ in 0..<200 where found == nil {
                if case .message(let message) = try consumer.poll(timeoutMilliseconds: 50),
                    message.partition == partition
                {
                    found = message.record
                }
            }
            guard let found else {
                throw KafkaClientError("could not read the last record of '\(topic)' partition \(partition)")
            }
            last = found
        }
        guard let last else { return nil }
        guard let header = last.headers.last(where: { $0.key == TopicMirror.offsetHeader }),
            let text = header.value.map({ String(decoding: $0, as: UTF8.self) }), let offset = Int64(text)
        else {
            throw KafkaClientError(
                "target '\(topic)' partition \(partition) ends with a record the mirror did not write (no \(TopicMirror.offsetHeader) header); mirror into topics only the mirror writes"
            )
        }
        return offset
    }

    func write(_ records: [ProducerRecord], partition: Int) throws {
        if let log {
            _ = try log.append(records, to: topic, partition: partition)
        } else {
            for record in records {
                try producer!.produce(
                    topic: topic, partition: partition, key: record.key, value: record.value, headers: record.headers,
                    timestamp: record.timestamp)
            }
            try producer!.flush()
        }
    }

    func finish() throws { try producer?.flush() }
}
