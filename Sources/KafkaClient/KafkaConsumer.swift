import CRdKafka
public import EventLog

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One message read from Kafka.
public struct KafkaMessage: Sendable, Hashable {
    /// The partition it was read from.
    public var partition: Int
    /// Its key, value, headers, timestamp and offset.
    public var record: Record
}

/// What ``KafkaConsumer/poll(timeoutMilliseconds:)`` returns.
public enum KafkaEvent: Sendable, Hashable {
    /// A message.
    case message(KafkaMessage)
    /// The consumer has read everything in `partition` up to `offset` (the end when it looked).
    case endOfPartition(partition: Int, offset: Int64)
}

/// A Kafka consumer on librdkafka that reads partitions it is *assigned* from offsets its user keeps — no
/// group membership, no commits: what a stream job whose offsets live in its snapshots, or a mirror whose
/// position lives in the target, needs.
///
/// Not thread-safe: one thread polls it.
public final class KafkaConsumer {
    private let client: OpaquePointer
    private let topic: String

    /// Where an assigned partition starts.
    public enum Start: Sendable, Hashable {
        /// The first message still on the broker.
        case earliest
        /// Only messages produced after the assignment.
        case latest
        /// The message at this offset (or the first after it).
        case offset(Int64)
    }

    /// Connects to `brokers` to read `topic`. End-of-partition events are on (``KafkaEvent/endOfPartition(partition:offset:)``).
    public init(brokers: String, topic: String, properties: KafkaProperties = []) throws(KafkaClientError) {
        self.topic = topic
        // A group id is required by librdkafka's assign, though this consumer never joins the group or
        // commits to it.
        client = try makeClient(
            RD_KAFKA_CONSUMER,
            [
                ("bootstrap.servers", brokers), ("group.id", "eventlog-assign-only"), ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"), ("enable.partition.eof", "true"),
                ("auto.offset.reset", "earliest"),
            ] + properties)
        rd_kafka_poll_set_consumer(client)
    }

    deinit {
        _ = rd_kafka_assign(client, nil)
        rd_kafka_consumer_close(client)
        rd_kafka_destroy(client)
    }

    /// The number of partitions of the topic.
    public func partitionCount(timeoutMilliseconds: Int32 = 10_000) throws(KafkaClientError) -> Int {
        try KafkaClient.partitionCount(client, topic: topic, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// The earliest offset still on the broker and the end (one past the last message) of `partition`.
    public func watermarks(partition: Int, timeoutMilliseconds: Int32 = 10_000) throws(KafkaClientError) -> (
        low: Int64, high: Int64
    ) {
        var low: Int64 = 0
        var high: Int64 = 0
        let error = rd_kafka_query_watermark_offsets(client, topic, Int32(partition), &low, &high, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaClientError("watermarks of '\(topic)' partition \(partition)", error)
        }
        return (low, high)
    }

    /// Reads exactly these partitions from these starts (replacing any earlier assignment).
    public func assign(_ starts: [Int: Start]) throws(KafkaClientError) {
        guard let list = rd_kafka_topic_partition_list_new(Int32(starts.count)) else {
            throw KafkaClientError("rd_kafka_topic_partition_list_new failed")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (partition, start) in starts.sorted(by: { $0.key < $1.key }) {
            let entry = rd_kafka_topic_partition_list_add(list, topic, Int32(partition))!
            switch start {
            case .earliest: entry.pointee.offset = Int64(RD_KAFKA_OFFSET_BEGINNING)
            case .latest: entry.pointee.offset = Int64(RD_KAFKA_OFFSET_END)
            case .offset(let offset): entry.pointee.offset = offset
            }
        }
        let error = rd_kafka_assign(client, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaClientError("assign '\(topic)'", error) }
    }

    /// The next message or end-of-partition event, or nil when none arrives within the timeout.
    ///
    /// - Throws: ``KafkaClientError`` for a consumer error (an unknown topic or partition, an offset out of
    ///   range with no reset policy, a broker gone for good).
    public func poll(timeoutMilliseconds: Int32) throws(KafkaClientError) -> KafkaEvent? {
        guard let message = rd_kafka_consumer_poll(client, timeoutMilliseconds) else { return nil }
        defer { rd_kafka_message_destroy(message) }
        let m = message.pointee
        if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
            return .endOfPartition(partition: Int(m.partition), offset: m.offset)
        }
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let detail = m.payload.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? ""
            throw KafkaClientError("consume '\(topic)' partition \(m.partition): \(detail)", m.err)
        }
        func bytes(_ pointer: UnsafeMutableRawPointer?, _ count: Int) -> [UInt8]? {
            guard let pointer else { return nil }
            return Array(UnsafeRawBufferPointer(start: pointer, count: count))
        }
        var headers: [Header] = []
        var list: OpaquePointer? = nil
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>? = nil
            var value: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers.append(
                    Header(
                        key: name.map { String(cString: $0) } ?? "",
                        value: value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        let record = Record(
            offset: m.offset, timestamp: timestamp, key: bytes(m.key, m.key_len), value: bytes(m.payload, m.len),
            headers: headers)
        return .message(KafkaMessage(partition: Int(m.partition), record: record))
    }
}
