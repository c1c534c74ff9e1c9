/// A record header: a UTF-8 key and an optional byte value, as in Kafka.
public struct Header: Sendable, Hashable {
    /// The header's name.
    public var key: String
    /// The header's value; `nil` is distinct from empty.
    public var value: [UInt8]?

    /// Creates a header.
    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    /// Creates a header with a UTF-8 string value.
    public init(key: String, string: String) {
        self.key = key
        self.value = Array(string.utf8)
    }
}

/// A record to append: an optional key, an optional value, a timestamp and headers.
///
/// A record with a key and a `nil` value is a *tombstone*: on a compacted topic it deletes the key.
public struct ProducerRecord: Sendable, Hashable {
    /// The key; it chooses the partition (murmur2, as Kafka's default partitioner) and is what compaction keeps.
    public var key: [UInt8]?
    /// The payload; `nil` makes a tombstone.
    public var value: [UInt8]?
    /// Event time in milliseconds since the epoch; `nil` means "now" by the log's clock.
    public var timestamp: Int64?
    /// Headers, in order.
    public var headers: [Header]

    /// Creates a record from bytes.
    public init(key: [UInt8]? = nil, value: [UInt8]?, timestamp: Int64? = nil, headers: [Header] = []) {
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.headers = headers
    }

    /// Creates a record from UTF-8 strings.
    public init(key: String? = nil, value: String?, timestamp: Int64? = nil, headers: [Header] = []) {
        self.init(
            key: key.map { Array($0.utf8) }, value: value.map { Array($0.utf8) }, timestamp: timestamp,
            headers: headers)
    }
}

/// A record read back from the log, owning its bytes.
public struct Record: Sendable, Hashable {
    /// The record's offset in its partition.
    public var offset: Int64
    /// Its timestamp in milliseconds since the epoch.
    public var timestamp: Int64
    /// Its key, if it has one.
    public var key: [UInt8]?
    /// Its value; `nil` for a tombstone.
    public var value: [UInt8]?
    /// Its headers.
    public var headers: [Header]

    /// Creates a record.
    public init(offset: Int64, timestamp: Int64, key: [UInt8]?, value: [UInt8]?, headers: [Header] = []) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The value decoded as UTF-8, if there is a value.
    public var valueString: String? { value.map { String(decoding: $0, as: UTF8.self) } }
    /// The key decoded as UTF-8, if there is a key.
    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
}

/// A record borrowed from a read buffer: no copies, no allocation.
///
/// Valid only inside the closure that receives it; copy what you keep (``record``).
public struct RecordView {
    /// The record's offset in its partition.
    public let offset: Int64
    /// Its timestamp in milliseconds since the epoch.
    public let timestamp: Int64
    /// Its key bytes, if it has a key.
    public let key: UnsafeRawBufferPointer?
    /// Its value bytes; `nil` for a tombstone.
    public let value: UnsafeRawBufferPointer?
    /// How many headers it has.
    public let headerCount: Int
    let headerBytes: UnsafeRawBufferPointer

    /// Its headers, decoded (this allocates).
    public var headers: [Header] {
        guard headerCount > 0, let base = headerBytes.baseAddress else { return [] }
        var result: [Header] = []
        result.reserveCapacity(min(headerCount, headerBytes.count / 2))  // a header takes at least 2 bytes
        var position = 0
        let end = headerBytes.count
        for _ in 0..<headerCount {
            guard let keyLength = Varint.read(base, &position, end: end), keyLength >= 0,
                keyLength <= Int64(end - position)
            else { break }
            let key = String(
                decoding: UnsafeRawBufferPointer(start: base + position, count: Int(keyLength)),
                as: UTF8.self)
            position += Int(keyLength)
            guard let valueLength = Varint.read(base, &position, end: end) else { break }
            var value: [UInt8]? = nil
            if valueLength >= 0 {
                guard valueLength <= Int64(end - position) else { break }
                value = Array(UnsafeRawBufferPointer(start: base + position, count: Int(valueLength)))
                position += Int(valueLength)
            }
            result.append(Header(key: key, value: value))
        }
        return result
    }

    /// A copy that owns its bytes.
    public var record: Record {
        Record(
            offset: offset, timestamp: timestamp, key: key.map { Array($0) }, value: value.map { Array($0) },
            headers: headers)
    }
}
