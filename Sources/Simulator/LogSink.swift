public import EventLog
import EventLogFoundation

/// Writes simulation events straight into a log: topics `orders` and `drivers`, keyed by aggregate id,
/// partitioned by key with Kafka's partitioner.
///
/// Events are gathered in one ``RecordBatchBuilder`` per partition, which is handed over when it holds
/// 1,000 records or at each simulated-second boundary. Both points depend only on the simulation, never
/// on wall-clock time, so the same seed produces byte-identical segment files at any speed.
///
/// ```
///  simulation thread                          writer thread
///  encode JSON → builder[topic][partition] ─► queue (FIFO, bounded) ─► seal (compress, CRC) → append
///                 ▲                                                                  │
///                 └───────────────────────────── pool of empty builders ◄───────────┘
/// ```
///
/// Sealing and writing run on their own thread so the simulation and the log use both cores. The queue is
/// FIFO, so each partition's batches reach the log in the order they were filled; the queue is bounded,
/// so a slow disk slows the simulation instead of growing memory.
public final class LogSink: SimulationSink, @unchecked Sendable {
    /// Which topics the events go to, and in what shape.
    public enum TopicLayout: String, Sendable, CaseIterable {
        /// Topics `orders` and `drivers`: each event whole (the reference's event fields, the aggregate as
        /// `payload`).
        case events
        /// What the original's Debezium outbox event router put on Kafka: topics `debezium.Order` and
        /// `debezium.Driver`, key = the aggregate id, value = the aggregate snapshot (the event's `payload`),
        /// header `id` = the event id — so consumers written for the original read it unchanged.
        case debezium

        /// The topic names, for `orders` and `drivers` in that order.
        public var topics: [String] {
            self == .events ? ["orders", "drivers"] : ["debezium.Order", "debezium.Driver"]
        }
    }

    /// The log written to.
    public let log: Log
    private let compression: Compression
    private var builders: [[RecordBatchBuilder]] = []  // [topic index][partition]
    private var partitionCounts: [Int] = []
    private let layout: TopicLayout
    private let writer: Writer

    /// Records appended so far.
    public var appended: Int64 { writer.lock.withLock { writer.written } }

    /// Creates the topics if needed and prepares one builder per partition.
    public init(
        log: Log, partitions: Int = 4, compression: Compression = .lz4, durability: DurabilityPolicy = .none,
        layout: TopicLayout = .events
    ) throws {
        self.log = log
        self.compression = compression
        self.layout = layout
        writer = Writer(log: log, topics: layout.topics)
        for topic in layout.topics {
            var config = TopicConfiguration(partitions: partitions)
            config.compression = compression
            config.durability = durability
            config.retentionMilliseconds = nil
            try log.createTopicIfNeeded(topic, configuration: config)
            let count = try log.partitionCount(topic)
            partitionCounts.append(count)
            builders.append((0..<count).map { _ in RecordBatchBuilder(compression: compression) })
        }
    }

    /// Lets the writer finish what is queued, then ends its thread.
    deinit { writer.stop() }

    public func emit(_ topic: SimulationTopic, key: String, value: UnsafeRawBufferPointer, timestamp: Int64) throws {
        let t = topic == .orders ? 0 : 1
        var key = key
        try key.withUTF8 { keyBytes in
            let raw = UnsafeRawBufferPointer(keyBytes)
            let partition = Partitioner.partition(forKey: raw, partitionCount: partitionCounts[t])
            let builder = builders[t][partition]
            if layout == .debezium {
                appendOutboxRecord(builder, key: raw, event: value, timestamp: timestamp)
            } else {
                builder.append(key: raw, value: value, timestamp: timestamp)
            }
            if builder.count >= 1000 { try handOver(t, partition) }
        }
    }

    /// The outbox router's record for an event: its `payload` as the value, its `eventId` as header `id`.
    private func appendOutboxRecord(
        _ builder: RecordBatchBuilder, key: UnsafeRawBufferPointer, event: UnsafeRawBufferPointer, timestamp: Int64
    ) {
        var payload: UnsafeRawBufferPointer?
        var id: [UInt8]?
        JSONFields.scan(event) { name, value in
            if name.equals("payload") {
                payload = value.bytes
            } else if name.equals("eventId") {
                id = Array(value.bytes)
            }
            return payload == nil || id == nil
        }
        builder.append(key: key, value: payload ?? event, timestamp: timestamp, headers: [Header(key: "id", value: id)])
    }

    public func tick(_ now: Int64) throws {
        for t in 0..<builders.count {
            for p in 0..<builders[t].count where !builders[t][p].isEmpty { try handOver(t, p) }
        }
    }

    /// Hands every non-empty batch to the writer and waits until everything is in the log.
    public func flush() throws {
        try tick(0)
        try writer.waitUntilWritten()
    }

    private func handOver(_ t: Int, _ partition: Int) throws {
        builders[t][partition] = try writer.enqueue(
            builders[t][partition], topic: t, partition: partition, compression: compression)
    }

    /// The writer thread and what it shares with the simulation thread. The thread holds only this
    /// object, so a sink that goes away stops it (and joins it) in `deinit`.
    private final class Writer: @unchecked Sendable {
        let log: Log
        let topics: [String]
        // Shared with the writer thread, guarded by `lock`.
        let lock = ConditionLock()
        private var queue: [(topic: Int, partition: Int, builder: RecordBatchBuilder)] = []
        private var pool: [RecordBatchBuilder] = []
        private var busy = false
        private var stopping = false
        private var failure: (any Error)?
        var written: Int64 = 0
        private var thread: WorkerThread?  // the simulation thread's: started on the first hand-over
        private static let maxQueued = 32

        init(log: Log, topics: [String]) {
            self.log = log
            self.topics = topics
        }

        /// Queues a full builder (waiting while the queue is full) and returns an empty one to fill next.
        func enqueue(
            _ full: RecordBatchBuilder, topic: Int, partition: Int, compression: Compression
        ) throws -> RecordBatchBuilder {
            if thread == nil { thread = WorkerThread(name: "simulator-writer") { [self] in run() } }
            let (fresh, failed) = lock.withLock { () -> (RecordBatchBuilder?, (any Error)?) in
                while queue.count >= Self.maxQueued && failure == nil { lock.wait() }
                if let failure { return (nil, failure) }
                queue.append((topic, partition, full))
                lock.broadcast()
                return (pool.popLast() ?? RecordBatchBuilder(compression: compression), nil)
            }
            if let failed { throw failed }
            return fresh!
        }

        /// Waits until the queue is empty and nothing is being written; throws the first write error.
        func waitUntilWritten() throws {
            let failed = lock.withLock { () -> (any Error)? in
                while (!queue.isEmpty || busy) && failure == nil { lock.wait() }
                return failure
            }
            if let failed { throw failed }
        }

        func stop() {
            lock.withLock {
                stopping = true
                lock.broadcast()
            }
            thread?.join()
        }

        private func run() {
            while true {
                let next = lock.withLock { () -> (topic: Int, partition: Int, builder: RecordBatchBuilder)? in
                    while queue.isEmpty && !stopping { lock.wait() }
                    if queue.isEmpty { return nil }
                    busy = true
                    return queue.removeFirst()
                }
                guard let (t, partition, builder) = next else { return }
                var error: (any Error)? = nil
                do {
                    try log.append(builder, to: topics[t], partition: partition)
                } catch let failed {
                    error = failed
                }
                let count = Int64(builder.count)
                builder.reset()
                lock.withLock {
                    if let error, failure == nil { failure = error }
                    if error == nil { written += count }
                    pool.append(builder)
                    busy = false
                    lock.broadcast()
                }
            }
        }
    }
}
