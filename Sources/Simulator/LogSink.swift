public import EventLog

/// Writes simulation events straight into a log: topics `orders` and `drivers`, keyed by aggregate id,
/// partitioned by key with Kafka's partitioner.
///
/// Events are gathered in one ``RecordBatchBuilder`` per partition and appended when a builder holds
/// 1,000 records or at each simulated-second boundary. Both points depend only on the simulation, never
/// on wall-clock time, so the same seed produces byte-identical segment files at any speed.
public final class LogSink: SimulationSink {
    /// The log written to.
    public let log: Log
    private var builders: [SimulationTopic: [RecordBatchBuilder]] = [:]
    private var partitionCounts: [SimulationTopic: Int] = [:]
    /// Records appended so far.
    public private(set) var appended: Int64 = 0

    /// Creates the topics if needed and prepares one builder per partition.
    public init(log: Log, partitions: Int = 4, compression: Compression = .lz4, durability: DurabilityPolicy = .none)
        throws
    {
        self.log = log
        for topic in [SimulationTopic.orders, .drivers] {
            var config = TopicConfiguration(partitions: partitions)
            config.compression = compression
            config.durability = durability
            config.retentionMilliseconds = nil
            try log.createTopicIfNeeded(topic.rawValue, configuration: config)
            let count = try log.partitionCount(topic.rawValue)
            partitionCounts[topic] = count
            builders[topic] = (0..<count).map { _ in RecordBatchBuilder(compression: compression) }
        }
    }

    public func emit(_ topic: SimulationTopic, key: String, value: [UInt8], timestamp: Int64) throws {
        var key = key
        try key.withUTF8 { keyBytes in
            let raw = UnsafeRawBufferPointer(keyBytes)
            let partition = Partitioner.partition(forKey: raw, partitionCount: partitionCounts[topic]!)
            let builder = builders[topic]![partition]
            value.withUnsafeBytes { builder.append(key: raw, value: $0, timestamp: timestamp) }
            if builder.count >= 1000 { try write(builder, topic, partition) }
        }
    }

    public func tick(_ now: Int64) throws { try flush() }

    /// Appends every non-empty batch.
    public func flush() throws {
        for topic in [SimulationTopic.orders, .drivers] {
            for (partition, builder) in builders[topic]!.enumerated() where !builder.isEmpty {
                try write(builder, topic, partition)
            }
        }
    }

    private func write(_ builder: RecordBatchBuilder, _ topic: SimulationTopic, _ partition: Int) throws {
        try log.append(builder, to: topic.rawValue, partition: partition)
        appended += Int64(builder.count)
        builder.reset()
    }
}
