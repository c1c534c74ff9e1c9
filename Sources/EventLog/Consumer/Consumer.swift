import Synchronization

/// A topic partition.
public struct TopicPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The topic.
    public var topic: String
    /// The partition number.
    public var partition: Int

    /// Creates a topic partition.
    public init(_ topic: String, _ partition: Int) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    public var description: String { "\(topic)-\(partition)" }
}

/// A record with the topic and partition it came from.
public struct ConsumerRecord: Sendable, Hashable {
    /// Where the record is stored.
    public var topicPartition: TopicPartition
    /// The record.
    public var record: Record

    /// The record's topic.
    public var topic: String { topicPartition.topic }
    /// The record's partition.
    public var partition: Int { topicPartition.partition }
    /// The record's offset.
    public var offset: Int64 { record.offset }
}

/// What a consumer's event stream yields: records, and a marker each time it has caught up.
public enum ConsumerEvent: Sendable, Hashable {
    /// A record.
    case record(ConsumerRecord)
    /// Every assigned partition has been read to its end: what follows is live. Emitted once when the
    /// history is exhausted, and again after each later burst of records is exhausted.
    case caughtUp
}

/// Reads records from a set of topic partitions, in the style of a Kafka consumer: `poll` for
/// batches, or iterate ``events`` / ``records`` with `for try await`.
///
/// New records in the same process wake a waiting consumer directly (no sleeps); in a read-only log
/// of a directory another process writes, the wake-up comes from file-change notification (inotify).
/// Either way only whole, CRC-valid batches are delivered.
///
/// ```swift
/// let consumer = try log.consumer(topics: ["orders"], from: .earliest)
/// for try await event in consumer.events {
///     switch event {
///     case .record(let r): handle(r)
///     case .caughtUp: print("history done; now live")
///     }
/// }
/// ```
///
/// A consumer is used by one task or thread at a time.
public final class Consumer: @unchecked Sendable {
    let log: Log
    private var readers: [TopicPartition: PartitionReader] = [:]
    private var order: [TopicPartition] = []
    private var cursor = 0
    let wakeup = AppendSignal()
    private var observers: [(Partition, UInt64)] = []
    /// Called with each record as it is handed to the caller (group consumers track positions with it).
    var onDeliver: ((ConsumerRecord) -> Void)?
    /// Called before every read attempt, including after each wake-up (group consumers sync with the
    /// group here, so a waiting member reacts to a rebalance at once).
    var beforeRead: (() throws -> Void)?
    /// Nanoseconds after which an idle iterator should read again even without new records (a group
    /// member with uncommitted positions wants its auto-commit turn); `nil`: wait for records only.
    var idleWakeup: (() -> UInt64?)?

    init(log: Log, assignment: [TopicPartition], from start: StartPosition) throws {
        self.log = log
        try assign(assignment, from: start)
    }

    deinit {
        for (partition, id) in observers { partition.appendSignal.removeObserver(id) }
    }

    /// The partitions this consumer reads, sorted.
    public var assignment: [TopicPartition] { order }

    /// Replaces the assignment; partitions kept keep their position, new ones start at `start`.
    func assign(_ partitions: [TopicPartition], from start: StartPosition, positions: [TopicPartition: Int64] = [:])
        throws
    {
        let wanted = Set(partitions)
        for (partition, id) in observers where !wanted.contains(TopicPartition(partition.topic, partition.index)) {
            partition.appendSignal.removeObserver(id)
        }
        observers.removeAll { !wanted.contains(TopicPartition($0.0.topic, $0.0.index)) }
        readers = readers.filter { wanted.contains($0.key) }
        for tp in wanted where readers[tp] == nil {
            let position: StartPosition = positions[tp].map { .offset($0) } ?? start
            readers[tp] = try log.reader(topic: tp.topic, partition: tp.partition, from: position)
            let partition = try log.partition(tp.topic, tp.partition)
            let signal = wakeup
            observers.append((partition, partition.appendSignal.addObserver { signal.signal() }))
        }
        order = wanted.sorted()
        cursor = 0
    }

    func isAssigned(_ partition: TopicPartition) -> Bool { readers[partition] != nil }

    /// The offset of the next record this consumer returns from `partition`.
    public func position(_ partition: TopicPartition) -> Int64? { readers[partition]?.nextOffset }

    /// Moves one partition's position.
    public func seek(_ partition: TopicPartition, to start: StartPosition) throws {
        guard let reader = readers[partition] else {
            throw EventLogError(
                .unknownPartition, "\(partition) is not assigned to this consumer",
                topic: partition.topic, partition: partition.partition)
        }
        try reader.seek(to: log.partition(partition.topic, partition.partition).resolve(start))
    }

    /// Whether every assigned partition has been read to its current end.
    public var isCaughtUp: Bool { readers.values.allSatisfy { $0.nextOffset >= $0.endOffset } }

    /// Returns up to `maxRecords` records, waiting at most `timeout` for some to arrive.
    ///
    /// Partitions are served round-robin so one busy partition cannot starve the others.
    public func poll(maxRecords: Int = 500, timeout: Duration = .zero) throws -> [ConsumerRecord] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let seen = wakeup.version
            try beforeRead?()
            let records = try readAvailable(maxRecords: maxRecords)
            if !records.isEmpty {
                if let onDeliver { records.forEach(onDeliver) }
                return records
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { return [] }
            let (seconds, attoseconds) = remaining.components
            wakeup.block(after: seen, nanoseconds: seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
    }

    private func readAvailable(maxRecords: Int) throws -> [ConsumerRecord] {
        var records: [ConsumerRecord] = []
        guard !order.isEmpty else { return records }
        var idle = 0
        while records.count < maxRecords && idle < order.count {
            let tp = order[cursor % order.count]
            cursor += 1
            let reader = readers[tp]!
            let n = try reader.read(maxBytes: 256 * 1024, maxRecords: maxRecords - records.count) { view in
                records.append(ConsumerRecord(topicPartition: tp, record: view.record))
            }
            idle = n == 0 ? idle + 1 : 0
        }
        return records
    }

    /// Waits (asynchronously) until any assigned partition may have new records.
    func waitForRecords(after seen: UInt64) async { await wakeup.wait(after: seen) }

    /// Waits for records, or `nanoseconds` at most.
    func waitForRecords(after seen: UInt64, atMost nanoseconds: UInt64) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wakeup.wait(after: seen) }
            group.addTask { try? await Task.sleep(nanoseconds: nanoseconds) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Every record from the current positions on, forever (until the task is cancelled).
    public var records: Records { Records(consumer: self) }

    /// Records plus a ``ConsumerEvent/caughtUp`` marker whenever the history is exhausted.
    public var events: Events { Events(consumer: self) }

    /// The `AsyncSequence` of ``ConsumerEvent``s.
    public struct Events: AsyncSequence, Sendable {
        let consumer: Consumer
        public typealias Element = ConsumerEvent

        public func makeAsyncIterator() -> Iterator { Iterator(consumer: consumer) }

        /// Pulls records on demand: the consumer reads only as fast as the loop consumes.
        public struct Iterator: AsyncIteratorProtocol {
            let consumer: Consumer
            var buffer: [ConsumerRecord] = []
            var index = 0
            var announcedCaughtUp = false

            public mutating func next() async throws -> ConsumerEvent? {
                while true {
                    if index < buffer.count {
                        let record = buffer[index]
                        index += 1
                        // A rebalance may have revoked the partition since the buffer was filled.
                        guard consumer.isAssigned(record.topicPartition) else { continue }
                        consumer.onDeliver?(record)
                        return .record(record)
                    }
                    if Task.isCancelled { return nil }
                    let seen = consumer.wakeup.version
                    try consumer.beforeRead?()
                    buffer = try consumer.readAvailable(maxRecords: 1000)
                    index = 0
                    if !buffer.isEmpty {
                        announcedCaughtUp = false
                        continue
                    }
                    if !announcedCaughtUp {
                        announcedCaughtUp = true
                        return .caughtUp
                    }
                    if let nanoseconds = consumer.idleWakeup?() {
                        await consumer.waitForRecords(after: seen, atMost: nanoseconds)
                    } else {
                        await consumer.waitForRecords(after: seen)
                    }
                }
            }
        }
    }

    /// The `AsyncSequence` of records alone.
    public struct Records: AsyncSequence, Sendable {
        let consumer: Consumer
        public typealias Element = ConsumerRecord

        public func makeAsyncIterator() -> Iterator { Iterator(events: Events(consumer: consumer).makeAsyncIterator()) }

        /// Skips the caught-up markers.
        public struct Iterator: AsyncIteratorProtocol {
            var events: Events.Iterator
            public mutating func next() async throws -> ConsumerRecord? {
                while let event = try await events.next() {
                    if case .record(let record) = event { return record }
                }
                return nil
            }
        }
    }
}

extension Log {
    /// A consumer of explicit partitions.
    public func consumer(partitions: [TopicPartition], from start: StartPosition = .earliest) throws -> Consumer {
        try checkOpen()
        return try Consumer(log: self, assignment: partitions, from: start)
    }

    /// A consumer of every partition of `topics`.
    public func consumer(topics: [String], from start: StartPosition = .earliest) throws -> Consumer {
        var partitions: [TopicPartition] = []
        for topic in topics {
            for p in 0..<(try partitionCount(topic)) { partitions.append(TopicPartition(topic, p)) }
        }
        return try consumer(partitions: partitions, from: start)
    }
}
