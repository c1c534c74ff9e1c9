public import EventLog
public import StreamJet

extension Source {
    /// The messages of a Kafka topic, decoded by `decode` (return nil to skip one); the native timestamp is
    /// the message's. Exactly-once with the job's snapshots: each instance's position (the next offset of each
    /// partition it reads) is saved in the snapshot and restored after a restart, and no consumer group is
    /// involved (nothing is committed to the cluster).
    ///
    /// A pipeline written against ``Source/topic(_:_:partitions:from:bounded:decode:)`` runs unchanged against
    /// a Kafka cluster — or against `eventlog serve --kafka` — with this source in its place.
    ///
    /// - Parameters:
    ///   - brokers: `host:port,…`.
    ///   - topic: The topic; its partitions are spread over the source's instances.
    ///   - start: Where partitions begin when the job has no snapshot.
    ///   - bounded: When true the source finishes at the ends the partitions had when the job started.
    ///   - properties: More librdkafka consumer properties.
    public static func kafka(
        brokers: String, topic: String, from start: KafkaConsumer.Start = .earliest, bounded: Bool = false,
        properties: KafkaProperties = [], decode: @escaping (KafkaMessage) throws -> Item?
    ) -> Source<Item> {
        .custom(name: "kafka-\(topic)", blocking: true) { index, count in
            try KafkaSourceReader(
                brokers: brokers, topic: topic, index: index, count: count, start: start, bounded: bounded,
                properties: properties, decode: decode)
        }
    }
}

extension Source where Item == KafkaMessage {
    /// The messages of a Kafka topic as they are (see ``kafka(brokers:topic:from:bounded:properties:decode:)``).
    public static func kafka(
        brokers: String, topic: String, from start: KafkaConsumer.Start = .earliest, bounded: Bool = false,
        properties: KafkaProperties = []
    ) -> Source<KafkaMessage> {
        .kafka(brokers: brokers, topic: topic, from: start, bounded: bounded, properties: properties) { $0 }
    }
}

/// One instance of a Kafka source: an assign-only consumer of its share of the partitions.
///
/// Invariant: `next[i]` is the offset after the last message of partition `partitions[i]` handed to the
/// engine (-1 before the first), so ``position()`` describes exactly what was emitted.
final class KafkaSourceReader<Item>: PartitionedSourceReader {
    private let consumer: KafkaConsumer
    private let partitions: [Int]
    private let lane: [Int: Int]
    private let start: KafkaConsumer.Start
    private let decode: (KafkaMessage) throws -> Item?
    private var next: [Int64]
    private var ends: [Int64]?
    private var finished: [Bool]

    init(
        brokers: String, topic: String, index: Int, count: Int, start: KafkaConsumer.Start, bounded: Bool,
        properties: KafkaProperties, decode: @escaping (KafkaMessage) throws -> Item?
    ) throws {
        consumer = try KafkaConsumer(brokers: brokers, topic: topic, properties: properties)
        let all = try consumer.partitionCount()
        partitions = Array(stride(from: index, to: all, by: count))
        lane = Dictionary(uniqueKeysWithValues: partitions.enumerated().map { ($0.element, $0.offset) })
        self.start = start
        self.decode = decode
        next = Array(repeating: -1, count: partitions.count)
        finished = Array(repeating: false, count: partitions.count)
        if bounded {
            ends = try partitions.map { try consumer.watermarks(partition: $0).high }
        }
        try assign()
    }

    private func assign() throws {
        var starts: [Int: KafkaConsumer.Start] = [:]
        for (i, partition) in partitions.enumerated() where !finished[i] {
            starts[partition] = next[i] >= 0 ? .offset(next[i]) : start
        }
        try consumer.assign(starts)
    }

    var partitionCount: Int { partitions.count }

    func read(limit: Int, into output: SourceOutput<Item>) throws -> Bool {
        if let ends {
            // A bounded partition is done once read to the end it had when the job started (an empty one at
            // once); one not read yet (`next` -1) waits for its first message or its end-of-partition event.
            for i in partitions.indices where !finished[i] {
                let reachedEnd = next[i] >= 0 ? next[i] >= ends[i] : ends[i] == 0
                if reachedEnd {
                    finished[i] = true
                    output.finish(partition: i)
                }
            }
        }
        if finished.allSatisfy({ $0 }) { return true }
        var taken = 0
        // Wait up to 100 ms for the first event, then take what is already there.
        var timeout: Int32 = 100
        while taken < limit * max(1, partitions.count), let event = try consumer.poll(timeoutMilliseconds: timeout) {
            timeout = 0
            switch event {
            case .message(let message):
                guard let i = lane[message.partition], !finished[i] else { continue }
                next[i] = message.record.offset + 1
                taken += 1
                if let item = try decode(message) {
                    output.append(item, partition: i, timestamp: message.record.timestamp)
                }
                if let ends, next[i] >= ends[i] {
                    finished[i] = true
                    output.finish(partition: i)
                }
            case .endOfPartition(let partition, let offset):
                guard let i = lane[partition], !finished[i], let ends else { continue }
                if offset >= ends[i] {
                    next[i] = max(next[i], offset)
                    finished[i] = true
                    output.finish(partition: i)
                }
            }
        }
        return finished.allSatisfy { $0 }
    }

    func position() -> [Int64] { next }

    func restore(_ position: [Int64]) throws {
        guard position.count == partitions.count else {
            throw KafkaClientError(
                "a snapshot of \(position.count) partition(s) does not fit this instance's \(partitions.count)")
        }
        next = position
        try assign()
    }
}

extension Sinks {
    /// Produces each item to a Kafka topic through an idempotent producer (`acks=all`): `encode` gives the
    /// key, value and headers; the partition follows librdkafka's partitioner on the key.
    ///
    /// At-least-once: queued messages are flushed (and their acknowledgements awaited) before each snapshot
    /// of the job completes and when the job finishes, so nothing emitted before a snapshot is lost; after a
    /// restart, items emitted after the last snapshot are produced again. (Exactly-once into Kafka needs
    /// Kafka transactions, which `eventlog serve` does not implement.) A failed delivery fails the job.
    public static func kafka<Item>(
        brokers: String, topic: String, properties: KafkaProperties = [],
        encode: @escaping @Sendable (Item) -> (key: [UInt8]?, value: [UInt8]?, headers: [Header])
    ) -> KafkaSink<Item> {
        KafkaSink(brokers: brokers, topic: topic, properties: properties, encode: encode)
    }
}

/// The sink ``Sinks/kafka(brokers:topic:properties:encode:)`` makes.
public struct KafkaSink<Item>: Sink {
    public var name: String { "kafka-\(topic)" }
    public var localParallelism: Int? { 1 }
    let brokers: String
    let topic: String
    let properties: KafkaProperties
    let encode: @Sendable (Item) -> (key: [UInt8]?, value: [UInt8]?, headers: [Header])

    public func makeProcessor(index: Int) -> any Processor {
        KafkaSinkProcessor(brokers: brokers, topic: topic, properties: properties, encode: encode)
    }
}

final class KafkaSinkProcessor<Item>: Processor {
    private let brokers: String
    private let topic: String
    private let properties: KafkaProperties
    private let encode: (Item) -> (key: [UInt8]?, value: [UInt8]?, headers: [Header])
    private var producer: KafkaProducer!
    private var inbox: Inbox<Timestamped<Item>>!

    init(
        brokers: String, topic: String, properties: KafkaProperties,
        encode: @escaping (Item) -> (key: [UInt8]?, value: [UInt8]?, headers: [Header])
    ) {
        self.brokers = brokers
        self.topic = topic
        self.properties = properties
        self.encode = encode
    }

    var isCooperative: Bool { false }

    func initialize(context: ProcessorContext) throws {
        inbox = context.inbox(0)
        producer = try KafkaProducer(brokers: brokers, properties: properties)
    }

    func process(ordinal: Int) throws {
        while let item = inbox.poll() {
            let (key, value, headers) = encode(item.value)
            try producer.produce(topic: topic, key: key, value: value, headers: headers)
        }
    }

    func saveToSnapshot(_ snapshot: SnapshotWriter) throws -> Bool {
        try producer.flush()
        return true
    }

    func complete() throws -> Bool {
        try producer.flush()
        return true
    }
}
