import CRdKafka

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure of the Kafka client: librdkafka's error code (Kafka's protocol error codes are positive, the
/// library's own negative) and what was being done.
public struct KafkaClientError: Error, Sendable, CustomStringConvertible {
    /// librdkafka's `rd_kafka_resp_err_t` (0 when the failure is not one of librdkafka's, e.g. bad input).
    public let code: Int32
    /// What failed, with librdkafka's text.
    public let message: String

    /// An error with `code` and `message`.
    public init(code: Int32 = 0, _ message: String) {
        self.code = code
        self.message = message
    }

    init(_ what: String, _ error: rd_kafka_resp_err_t) {
        code = error.rawValue
        message = "\(what): \(String(cString: rd_kafka_err2str(error)))"
    }

    public var description: String { "Kafka: \(message)" + (code != 0 ? " (error \(code))" : "") }
}

/// librdkafka configuration properties (`bootstrap.servers`, `acks`, …), applied in order.
public typealias KafkaProperties = [(String, String)]

/// Makes a librdkafka client of `type` from `properties`.
func makeClient(_ type: rd_kafka_type_t, _ properties: KafkaProperties, configure: (OpaquePointer) -> Void = { _ in })
    throws(KafkaClientError) -> OpaquePointer
{
    guard let conf = rd_kafka_conf_new() else { throw KafkaClientError("rd_kafka_conf_new failed") }
    var errorText = [CChar](repeating: 0, count: 512)
    for (name, value) in properties {
        let result = rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
        guard result == RD_KAFKA_CONF_OK else {
            rd_kafka_conf_destroy(conf)
            throw KafkaClientError("configuration \(name)=\(value): \(text(errorText))")
        }
    }
    configure(conf)
    // On success rd_kafka_new owns `conf`; on failure it is still ours.
    guard let client = rd_kafka_new(type, conf, &errorText, errorText.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaClientError("creating the client: \(text(errorText))")
    }
    return client
}

/// The number of partitions of `topic` on the cluster `client` talks to.
func partitionCount(_ client: OpaquePointer, topic: String, timeoutMilliseconds: Int32) throws(KafkaClientError) -> Int
{
    guard let handle = rd_kafka_topic_new(client, topic, nil) else {
        throw KafkaClientError("topic handle for '\(topic)' failed")
    }
    defer { rd_kafka_topic_destroy(handle) }
    var metadata: UnsafePointer<rd_kafka_metadata>? = nil
    let error = rd_kafka_metadata(client, 0, handle, &metadata, timeoutMilliseconds)
    guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
        throw KafkaClientError("metadata for '\(topic)'", error)
    }
    defer { rd_kafka_metadata_destroy(metadata) }
    guard metadata.pointee.topic_cnt == 1 else { throw KafkaClientError("no metadata for topic '\(topic)'") }
    let entry = metadata.pointee.topics[0]
    guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaClientError("topic '\(topic)'", entry.err) }
    return Int(entry.partition_cnt)
}

/// The text before the terminating NUL of a C buffer.
func text(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
