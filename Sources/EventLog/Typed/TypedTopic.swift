import Foundation

/// A typed view of a topic: values are `Codable` and stored as JSON, keys come from the value.
///
/// The byte path is untouched — this only encodes before appending and decodes after reading — so
/// code that needs the last bit of speed keeps using ``RecordBatchBuilder`` and ``PartitionReader``.
///
/// ```swift
/// struct OrderEvent: Codable, Sendable { var orderId: String; var status: String }
/// let orders = TypedTopic<OrderEvent>(log: log, topic: "orders", key: \.orderId)
/// try orders.append(OrderEvent(orderId: "order-1", status: "CREATED"))
/// for event in try orders.read(partition: 0, from: .earliest) { print(event.offset, event.value.status) }
/// ```
public struct TypedTopic<Value: Codable & Sendable>: Sendable {
    /// The log.
    public let log: Log
    /// The topic's name.
    public let topic: String
    private let key: (@Sendable (Value) -> String)?

    /// A typed event read back, with where it was stored.
    public struct Event: Sendable {
        /// The partition.
        public var partition: Int
        /// The offset.
        public var offset: Int64
        /// The record timestamp (milliseconds since the epoch).
        public var timestamp: Int64
        /// The record key, if any.
        public var key: String?
        /// The decoded value.
        public var value: Value
    }

    /// Creates a typed view.
    ///
    /// - Parameters:
    ///   - key: Derives a record's key from its value (so all events of one entity share a partition);
    ///     `nil` for keyless records.
    public init(log: Log, topic: String, key: (@Sendable (Value) -> String)? = nil) {
        self.log = log
        self.topic = topic
        self.key = key
    }

    /// Creates a typed view keyed by a string property.
    public init(log: Log, topic: String, key: any KeyPath<Value, String> & Sendable) {
        self.init(log: log, topic: topic, key: { $0[keyPath: key] })
    }

    /// Appends values (as JSON), each keyed by `key`, partitioned by key.
    @discardableResult
    public func append(_ values: [Value], timestamp: Int64? = nil) throws -> [RecordPosition] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var records: [ProducerRecord] = []
        records.reserveCapacity(values.count)
        for value in values {
            let data: Data
            do { data = try encoder.encode(value) } catch {
                throw EventLogError(
                    .serialization, "cannot encode \(Value.self) for topic '\(topic)': \(error)", topic: topic)
            }
            records.append(
                ProducerRecord(key: key.map { Array($0(value).utf8) }, value: Array(data), timestamp: timestamp))
        }
        return try log.append(records, to: topic)
    }

    /// Appends one value.
    @discardableResult
    public func append(_ value: Value, timestamp: Int64? = nil) throws -> RecordPosition {
        try append([value], timestamp: timestamp)[0]
    }

    /// Reads up to `maxRecords` values of one partition.
    ///
    /// - Throws: ``EventLogError/Code/serialization`` naming the offset of a value that does not decode.
    public func read(partition: Int, from start: StartPosition = .earliest, maxRecords: Int = 1000) throws -> [Event] {
        let reader = try log.reader(topic: topic, partition: partition, from: start)
        let decoder = JSONDecoder()
        var events: [Event] = []
        for record in try reader.poll(maxRecords: maxRecords) {
            guard let bytes = record.value else { continue }  // tombstones carry no value
            do {
                let value = try decoder.decode(Value.self, from: Data(bytes))
                events.append(
                    Event(
                        partition: partition, offset: record.offset, timestamp: record.timestamp,
                        key: record.keyString, value: value))
            } catch {
                throw EventLogError(
                    .serialization, "record does not decode as \(Value.self): \(error)", topic: topic,
                    partition: partition, offset: record.offset)
            }
        }
        return events
    }
}
