/// Builds one RecordBatch v2 in a reusable buffer: the fast way to append.
///
/// Records are encoded straight into the builder's buffer as they are added, so appending a batch
/// costs no allocation per record, and `reset()` keeps the buffer for the next batch.
///
/// ```swift
/// let batch = RecordBatchBuilder(compression: .lz4)
/// for event in events { batch.append(key: event.id, value: event.json, timestamp: event.time) }
/// let offsets = try log.append(batch, to: "orders", partition: 0)
/// batch.reset()
/// ```
///
/// A builder is not thread-safe; use one per producing thread.
public final class RecordBatchBuilder {
    /// The compression applied when the batch is sealed.
    public var compression: Compression
    let records = ByteStorage(capacity: 64 * 1024)
    let sealed = ByteStorage(capacity: 1024)
    let codecs = Codecs()
    /// Number of records added since the last reset.
    public private(set) var count: Int = 0
    private(set) var firstTimestamp: Int64 = 0
    private(set) var maxTimestamp: Int64 = .min
    /// Whether any record in the batch has no key (compacted topics reject such batches).
    private(set) var hasKeylessRecord = false
    var producerId: Int64 = -1
    var producerEpoch: Int16 = -1
    var baseSequence: Int32 = -1
    /// When set, the batch's lastOffsetDelta (compaction keeps the original batch's offset range).
    var lastOffsetDeltaOverride: Int32? = nil

    /// Creates an empty builder.
    public init(compression: Compression = .none) {
        self.compression = compression
        records.count = RecordBatchHeader.size
    }

    /// Whether no record has been added since the last reset.
    public var isEmpty: Bool { count == 0 }

    /// Bytes of encoded (uncompressed) records so far, header included.
    public var encodedSize: Int { records.count }

    /// Empties the builder, keeping its buffer.
    public func reset() {
        records.count = RecordBatchHeader.size
        count = 0
        maxTimestamp = .min
        hasKeylessRecord = false
        producerId = -1
        producerEpoch = -1
        baseSequence = -1
        lastOffsetDeltaOverride = nil
    }

    /// Appends a record given as raw bytes.
    ///
    /// - Parameters:
    ///   - key: The key, or `nil` for none.
    ///   - value: The value, or `nil` for a tombstone.
    ///   - timestamp: Milliseconds since the epoch.
    ///   - headers: Headers, in order.
    /// - Complexity: O(key + value + headers) with no allocation once the buffer has grown.
    public func append(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, timestamp: Int64, headers: [Header] = []
    ) {
        append(key: key, value: value, timestamp: timestamp, headers: headers, offsetDelta: Int64(count))
    }

    /// Appends a record at an explicit offset delta (compaction keeps the original offsets).
    func append(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, timestamp: Int64, headers: [Header],
        offsetDelta: Int64
    ) {
        var headerBytes = 0
        for header in headers {
            let keyBytes = header.key.utf8.count
            headerBytes += Varint.size(Int64(keyBytes)) + keyBytes
            headerBytes += Varint.size(Int64(header.value?.count ?? -1)) + (header.value?.count ?? 0)
        }
        beginRecord(
            key: key, value: value, timestamp: timestamp, offsetDelta: offsetDelta, headerCount: headers.count,
            headerBytes: headerBytes)
        for header in headers {
            var name = header.key
            records.appendVarint(Int64(name.utf8.count))
            name.withUTF8 { records.append(UnsafeRawBufferPointer($0)) }
            if let value = header.value {
                records.appendVarint(Int64(value.count))
                value.withUnsafeBytes { records.append($0) }
            } else {
                records.appendVarint(-1)
            }
        }
    }

    /// Appends a record with two headers given as bytes, without building ``Header``s (an array each):
    /// ``EventStreams`` writes an id and a type on every event, and at hundreds of thousands of events a second
    /// those allocations showed in its profile. The bytes are those ``append(key:value:timestamp:headers:)``
    /// writes for the same headers.
    func append(
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, timestamp: Int64,
        headers first: (name: StaticString, value: UnsafeRawBufferPointer),
        _ second: (name: StaticString, value: UnsafeRawBufferPointer)
    ) {
        func size(_ header: (name: StaticString, value: UnsafeRawBufferPointer)) -> Int {
            let name = header.name.utf8CodeUnitCount, value = header.value.count
            return Varint.size(Int64(name)) + name + Varint.size(Int64(value)) + value
        }
        beginRecord(
            key: key, value: value, timestamp: timestamp, offsetDelta: Int64(count), headerCount: 2,
            headerBytes: size(first) + size(second))
        func write(_ header: (name: StaticString, value: UnsafeRawBufferPointer)) {
            records.appendVarint(Int64(header.name.utf8CodeUnitCount))
            header.name.withUTF8Buffer { records.append(UnsafeRawBufferPointer($0)) }
            records.appendVarint(Int64(header.value.count))
            records.append(header.value)
        }
        write(first)
        write(second)
    }

    /// Starts a record and counts it: the batch's timestamps, then the record's length, attributes, deltas, key,
    /// value and header count. The caller writes the `headerCount` headers, `headerBytes` long in all, next.
    private func beginRecord(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, timestamp: Int64, offsetDelta: Int64,
        headerCount: Int, headerBytes: Int
    ) {
        if count == 0 { firstTimestamp = timestamp }
        if timestamp > maxTimestamp { maxTimestamp = timestamp }
        if key == nil { hasKeylessRecord = true }
        let timestampDelta = timestamp &- firstTimestamp
        let keyLength = key.map { Int64($0.count) } ?? -1
        let valueLength = value.map { Int64($0.count) } ?? -1
        var bodySize = 1 + Varint.size(timestampDelta) + Varint.size(offsetDelta)
        bodySize += Varint.size(keyLength) + Int(max(keyLength, 0))
        bodySize += Varint.size(valueLength) + Int(max(valueLength, 0))
        bodySize += Varint.size(Int64(headerCount)) + headerBytes
        records.reserve(bodySize + 10)
        records.appendVarint(Int64(bodySize))
        records.appendByte(0)
        records.appendVarint(timestampDelta)
        records.appendVarint(offsetDelta)
        records.appendVarint(keyLength)
        if let key { records.append(key) }
        records.appendVarint(valueLength)
        if let value { records.append(value) }
        records.appendVarint(Int64(headerCount))
        count += 1
    }

    /// Appends a record given as byte arrays.
    public func append(key: [UInt8]?, value: [UInt8]?, timestamp: Int64, headers: [Header] = []) {
        withOptionalBytes(key) { k in
            withOptionalBytes(value) { v in append(key: k, value: v, timestamp: timestamp, headers: headers) }
        }
    }

    /// Appends a record given as UTF-8 strings.
    public func append(key: String?, value: String?, timestamp: Int64, headers: [Header] = []) {
        var key = key
        var value = value
        withOptionalUTF8(&key) { k in
            withOptionalUTF8(&value) { v in append(key: k, value: v, timestamp: timestamp, headers: headers) }
        }
    }

    /// Appends a ``ProducerRecord``; a missing timestamp becomes `defaultTimestamp`.
    public func append(_ record: ProducerRecord, defaultTimestamp: Int64) {
        append(
            key: record.key, value: record.value, timestamp: record.timestamp ?? defaultTimestamp,
            headers: record.headers)
    }

    /// Finishes the batch: fills the header, compresses, computes the CRC.
    ///
    /// The result has base offset 0; the partition stamps the real one at bytes 0–7 (outside the CRC).
    /// It stays valid until the next mutation of the builder.
    func seal() throws(EventLogError) -> UnsafeRawBufferPointer {
        precondition(count > 0, "sealing an empty batch")
        let output: ByteStorage
        if compression == .none {
            output = records
        } else {
            sealed.count = 0
            sealed.reserve(RecordBatchHeader.size)
            sealed.count = RecordBatchHeader.size
            try codecs.compress(
                UnsafeRawBufferPointer(
                    start: records.base + RecordBatchHeader.size,
                    count: records.count - RecordBatchHeader.size),
                with: compression, into: sealed)
            output = sealed
        }
        output.setBigEndian(Int64(0), at: 0)
        output.setBigEndian(Int32(output.count - RecordBatchHeader.logOverhead), at: 8)
        output.setBigEndian(Int32(0), at: 12)
        output.base.storeBytes(of: 2, toByteOffset: 16, as: UInt8.self)
        output.setBigEndian(compression.attributeBits, at: 21)
        output.setBigEndian(lastOffsetDeltaOverride ?? Int32(count - 1), at: 23)
        output.setBigEndian(firstTimestamp, at: 27)
        output.setBigEndian(maxTimestamp, at: 35)
        output.setBigEndian(producerId, at: 43)
        output.setBigEndian(producerEpoch, at: 51)
        output.setBigEndian(baseSequence, at: 53)
        output.setBigEndian(Int32(count), at: 57)
        let crc = CRC32C.checksum(
            UnsafeRawBufferPointer(start: output.base + 21, count: output.count - 21))
        output.setBigEndian(crc, at: 17)
        return output.bytes
    }
}

@inline(__always)
private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}

@inline(__always)
private func withOptionalUTF8<R>(_ string: inout String?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard string != nil else { return body(nil) }
    return string!.withUTF8 { body(UnsafeRawBufferPointer($0)) }
}
