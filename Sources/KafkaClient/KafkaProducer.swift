import CRdKafka
public import EventLog
import EventLogFoundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A Kafka producer on librdkafka: messages queue in the library and go out in batches; ``flush(timeoutMilliseconds:)``
/// waits until every queued message is acknowledged (or failed) and reports failures.
///
/// Defaults are what a pipeline or a mirror needs: `acks=all` and idempotence on (the broker drops
/// duplicates of retried batches, so a message is written at most once per `produce`, in order per
/// partition). Pass more librdkafka properties to change them.
///
/// Thread safety: `produce` and `flush` may be called from any thread, but the counts are per producer —
/// use one producer per writer when failures must be attributed.
public final class KafkaProducer: @unchecked Sendable {
    // `@unchecked`: librdkafka's handle is thread-safe; the counts are atomics (C) and `reportedFailures` is locked.
    private let client: OpaquePointer
    private let deliveries: UnsafeMutablePointer<eventlog_kafka_deliveries>
    /// Failures already reported by `flush`.
    private let reportedFailures = Locked<Int64>(0)

    /// Connects to `brokers` (`host:port,…`).
    ///
    /// - Throws: ``KafkaClientError`` when a property is invalid.
    public init(brokers: String, properties: KafkaProperties = []) throws(KafkaClientError) {
        deliveries = .allocate(capacity: 1)
        let counts = deliveries
        do {
            client = try makeClient(
                RD_KAFKA_PRODUCER,
                [("bootstrap.servers", brokers), ("acks", "all"), ("enable.idempotence", "true")] + properties
            ) { conf in eventlog_kafka_track_deliveries(conf, counts) }
        } catch {
            deliveries.deallocate()
            throw error
        }
    }

    deinit {
        _ = rd_kafka_flush(client, 10_000)
        rd_kafka_destroy(client)
        deliveries.deallocate()
    }

    /// Queues one message (its bytes are copied). `partition` nil lets librdkafka's partitioner choose by
    /// key (murmur2, as Kafka's Java client does: `consistent_random`… set `partitioner` to change it);
    /// `timestamp` nil is now. Blocks while librdkafka's queue is full, serving delivery reports.
    public func produce(
        topic: String, partition: Int? = nil, key: [UInt8]?, value: [UInt8]?, headers: [Header] = [],
        timestamp: Int64? = nil
    ) throws(KafkaClientError) {
        while true {
            let error = Self.produce(
                client, topic: topic, partition: Int32(partition ?? -1), key: key, value: value, headers: headers,
                timestamp: timestamp ?? 0)
            if error == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                rd_kafka_poll(client, 10)
                continue
            }
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaClientError("produce to '\(topic)'", error) }
            rd_kafka_poll(client, 0)
            return
        }
    }

    /// Queues a log record's key, value, headers and timestamp.
    public func produce(_ record: Record, topic: String, partition: Int? = nil) throws(KafkaClientError) {
        try produce(
            topic: topic, partition: partition, key: record.key, value: record.value, headers: record.headers,
            timestamp: record.timestamp)
    }

    private static func produce(
        _ client: OpaquePointer, topic: String, partition: Int32, key: [UInt8]?, value: [UInt8]?, headers: [Header],
        timestamp: Int64
    ) -> rd_kafka_resp_err_t {
        // Pointers into the Swift arrays live for this call; librdkafka copies (RD_KAFKA_MSG_F_COPY).
        func withOptional<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
            guard let bytes else { return body(nil, 0) }
            return bytes.withUnsafeBytes { body($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count) }
        }
        return withOptional(key) { keyBase, keyCount in
            withOptional(value) { valueBase, valueCount in
                if headers.isEmpty {
                    return eventlog_kafka_produce(
                        client, topic, partition, keyBase, keyCount, valueBase, valueCount, timestamp, 0, nil, nil, nil)
                }
                let names = headers.map { strdup($0.key) }
                defer { names.forEach { free($0) } }
                let values = headers.map { header -> UnsafeMutableRawPointer? in
                    guard let value = header.value else { return nil }
                    let copy = UnsafeMutableRawPointer.allocate(byteCount: max(1, value.count), alignment: 1)
                    value.withUnsafeBytes {
                        if let base = $0.baseAddress { copy.copyMemory(from: base, byteCount: $0.count) }
                    }
                    return copy
                }
                defer { values.forEach { $0?.deallocate() } }
                let lengths = headers.map { $0.value?.count ?? 0 }
                let constNames = names.map { UnsafePointer($0) }
                let constValues = values.map { $0.map { UnsafeRawPointer($0) } }
                return eventlog_kafka_produce(
                    client, topic, partition, keyBase, keyCount, valueBase, valueCount, timestamp, Int32(headers.count),
                    constNames, constValues, lengths)
            }
        }
    }

    /// Waits until every queued message is acknowledged or has failed.
    ///
    /// - Throws: ``KafkaClientError`` when messages are still queued after the timeout, or when a message
    ///   produced since the last flush failed (naming the first failure).
    public func flush(timeoutMilliseconds: Int32 = 30_000) throws(KafkaClientError) {
        let result = rd_kafka_flush(client, timeoutMilliseconds)
        var delivered: Int64 = 0
        var failed: Int64 = 0
        eventlog_kafka_read_deliveries(deliveries, &delivered, &failed)
        let newFailures = reportedFailures.withLock { reported -> Int64 in
            defer { reported = failed }
            return failed - reported
        }
        if newFailures > 0 {
            let text = withUnsafeBytes(of: deliveries.pointee.first_error_text) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw KafkaClientError(
                code: deliveries.pointee.first_error, "\(newFailures) message(s) failed; the first: \(text)")
        }
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaClientError("flush: \(rd_kafka_outq_len(client)) message(s) still queued", result)
        }
    }

    /// Messages acknowledged by the broker so far.
    public var deliveredCount: Int64 {
        var delivered: Int64 = 0
        var failed: Int64 = 0
        eventlog_kafka_read_deliveries(deliveries, &delivered, &failed)
        return delivered
    }

    /// Creates `topic` with `partitions` partitions (replication factor 1) unless it exists; returns whether
    /// it created it.
    ///
    /// - Throws: ``KafkaClientError`` with the cluster's error (other than "already exists").
    @discardableResult
    public func createTopic(_ topic: String, partitions: Int, timeoutMilliseconds: Int32 = 10_000)
        throws(KafkaClientError) -> Bool
    {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let newTopic = rd_kafka_NewTopic_new(topic, Int32(partitions), 1, &errorText, errorText.count) else {
            throw KafkaClientError("topic '\(topic)': \(text(errorText))")
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        guard let queue = rd_kafka_queue_new(client) else { throw KafkaClientError("rd_kafka_queue_new failed") }
        defer { rd_kafka_queue_destroy(queue) }
        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(client, &topics, 1, nil, queue)
        guard let event = rd_kafka_queue_poll(queue, timeoutMilliseconds) else {
            throw KafkaClientError("creating topic '\(topic)': no answer in \(timeoutMilliseconds) ms")
        }
        defer { rd_kafka_event_destroy(event) }
        guard rd_kafka_event_error(event) == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaClientError("creating topic '\(topic)'", rd_kafka_event_error(event))
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaClientError("creating topic '\(topic)': unexpected answer")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count), count == 1 else {
            throw KafkaClientError("creating topic '\(topic)': no result")
        }
        let error = rd_kafka_topic_result_error(results[0])
        if error == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { return false }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaClientError("creating topic '\(topic)'", error) }
        return true
    }

    /// The number of partitions of `topic` (asking the cluster; it may create the topic when auto-creation
    /// is on).
    public func partitionCount(topic: String, timeoutMilliseconds: Int32 = 10_000) throws(KafkaClientError) -> Int {
        try KafkaClient.partitionCount(client, topic: topic, timeoutMilliseconds: timeoutMilliseconds)
    }
}
