public import EventLog
import EventLogFoundation
import Foundation

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
    /// The log written to.
    public let log: Log
    private let compression: Compression
    private var builders: [[RecordBatchBuilder]] = []  // [topic index][partition]
    private var partitionCounts: [Int] = []
    private static let topics: [SimulationTopic] = [.orders, .drivers]

    // Shared with the writer thread, guarded by `lock`.
    private let lock = ConditionLock()
    private var queue: [(topic: Int, partition: Int, builder: RecordBatchBuilder)] = []
    private var pool: [RecordBatchBuilder] = []
    private var busy = false
    private var stopping = false
    private var failure: (any Error)?
    private var written: Int64 = 0
    private var writerStarted = false
    private static let maxQueued = 32

    /// Records appended so far.
    public var appended: Int64 { lock.withLock { written } }

    /// Creates the topics if needed and prepares one builder per partition.
    public init(log: Log, partitions: Int = 4, compression: Compression = .lz4, durability: DurabilityPolicy = .none)
        throws
    {
        self.log = log
        self.compression = compression
        for topic in Self.topics {
            var config = TopicConfiguration(partitions: partitions)
            config.compression = compression
            config.durability = durability
            config.retentionMilliseconds = nil
            try log.createTopicIfNeeded(topic.rawValue, configuration: config)
            let count = try log.partitionCount(topic.rawValue)
            partitionCounts.append(count)
            builders.append((0..<count).map { _ in RecordBatchBuilder(compression: compression) })
        }
    }

    deinit {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
    }

    public func emit(_ topic: SimulationTopic, key: String, value: UnsafeRawBufferPointer, timestamp: Int64) throws {
        let t = topic == .orders ? 0 : 1
        var key = key
        try key.withUTF8 { keyBytes in
            let raw = UnsafeRawBufferPointer(keyBytes)
            let partition = Partitioner.partition(forKey: raw, partitionCount: partitionCounts[t])
            let builder = builders[t][partition]
            builder.append(key: raw, value: value, timestamp: timestamp)
            if builder.count >= 1000 { try handOver(t, partition) }
        }
    }

    public func tick(_ now: Int64) throws {
        for t in 0..<builders.count {
            for p in 0..<builders[t].count where !builders[t][p].isEmpty { try handOver(t, p) }
        }
    }

    /// Hands every non-empty batch to the writer and waits until everything is in the log.
    public func flush() throws {
        try tick(0)
        let failed = lock.withLock { () -> (any Error)? in
            while (!queue.isEmpty || busy) && failure == nil { lock.wait() }
            return failure
        }
        if let failed { throw failed }
    }

    private func handOver(_ t: Int, _ partition: Int) throws {
        startWriterIfNeeded()
        let full = builders[t][partition]
        let (fresh, failed) = lock.withLock { () -> (RecordBatchBuilder?, (any Error)?) in
            while queue.count >= Self.maxQueued && failure == nil { lock.wait() }
            if let failure { return (nil, failure) }
            queue.append((t, partition, full))
            lock.broadcast()
            return (pool.popLast() ?? RecordBatchBuilder(compression: compression), nil)
        }
        if let failed { throw failed }
        builders[t][partition] = fresh!
    }

    private func startWriterIfNeeded() {
        guard !writerStarted else { return }
        writerStarted = true
        let thread = Thread { [self] in writerLoop() }
        thread.name = "eventlog-simulator-writer"
        thread.start()
    }

    private func writerLoop() {
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
                try log.append(builder, to: Self.topics[t].rawValue, partition: partition)
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
