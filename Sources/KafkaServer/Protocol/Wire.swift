public import NIOCore

/// A request the server cannot decode: the connection is closed (Kafka does the same), after logging
/// what was wrong and where.
public struct KafkaProtocolError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Reads Kafka's primitive types from a request body.
///
/// Hand-written, because the codec is the product: it decides what a hostile or broken peer can make the
/// server do. Every read checks what is left and throws naming the field; array and byte lengths are
/// checked against the bytes remaining before anything is allocated, so a frame of N bytes can never make
/// the server allocate more than about N bytes for it. `flexible` selects the compact encodings (KIP-482:
/// unsigned-varint lengths + 1, tagged fields at the end of every structure).
public struct WireReader {
    var buffer: ByteBuffer
    let flexible: Bool

    public init(_ buffer: ByteBuffer, flexible: Bool) {
        self.buffer = buffer
        self.flexible = flexible
    }

    var remaining: Int { buffer.readableBytes }

    mutating func int8(_ field: StaticString) throws -> Int8 { try integer(field) }
    mutating func int16(_ field: StaticString) throws -> Int16 { try integer(field) }
    mutating func int32(_ field: StaticString) throws -> Int32 { try integer(field) }
    mutating func int64(_ field: StaticString) throws -> Int64 { try integer(field) }
    mutating func bool(_ field: StaticString) throws -> Bool { try int8(field) != 0 }

    private mutating func integer<T: FixedWidthInteger>(_ field: StaticString) throws -> T {
        guard let value = buffer.readInteger(endianness: .big, as: T.self) else {
            throw KafkaProtocolError("request ends inside \(field)")
        }
        return value
    }

    mutating func unsignedVarint(_ field: StaticString) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while shift < 64 {
            guard let byte = buffer.readInteger(as: UInt8.self) else {
                throw KafkaProtocolError("request ends inside \(field)")
            }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw KafkaProtocolError("\(field): varint longer than 10 bytes")
    }

    /// A length: int16/int32 (−1 = null) or, flexible, uvarint N+1 (0 = null). `nil` for null.
    private mutating func length(_ field: StaticString, wide: Bool) throws -> Int? {
        let value: Int
        if flexible {
            let raw = try unsignedVarint(field)
            guard raw <= UInt64(Int32.max) else { throw KafkaProtocolError("\(field): length \(raw) is too large") }
            value = Int(raw) - 1
        } else {
            value = wide ? Int(try int32(field)) : Int(try int16(field))
        }
        if value == -1 { return nil }
        guard value >= 0 else { throw KafkaProtocolError("\(field): negative length \(value)") }
        guard value <= remaining else {
            throw KafkaProtocolError("\(field): length \(value) runs past the request (\(remaining) bytes left)")
        }
        return value
    }

    mutating func nullableString(_ field: StaticString) throws -> String? {
        guard let count = try length(field, wide: false) else { return nil }
        return buffer.readString(length: count)!
    }

    mutating func string(_ field: StaticString) throws -> String {
        guard let value = try nullableString(field) else { throw KafkaProtocolError("\(field) must not be null") }
        return value
    }

    mutating func nullableBytes(_ field: StaticString) throws -> ByteBuffer? {
        guard let count = try length(field, wide: true) else { return nil }
        return buffer.readSlice(length: count)!
    }

    mutating func bytes(_ field: StaticString) throws -> ByteBuffer {
        try nullableBytes(field) ?? ByteBuffer()
    }

    /// An array's element count (`nil` for a null array). Each element takes at least one byte, so a count
    /// above the bytes left is refused before anything is allocated.
    mutating func arrayCount(_ field: StaticString) throws -> Int? {
        let count: Int
        if flexible {
            let raw = try unsignedVarint(field)
            guard raw <= UInt64(Int32.max) else {
                throw KafkaProtocolError("\(field): array length \(raw) is too large")
            }
            count = Int(raw) - 1
        } else {
            count = Int(try int32(field))
        }
        if count == -1 { return nil }
        guard count >= 0 else { throw KafkaProtocolError("\(field): negative array length \(count)") }
        guard count <= remaining else {
            throw KafkaProtocolError("\(field): \(count) elements cannot fit in the \(remaining) bytes left")
        }
        return count
    }

    mutating func array<T>(_ field: StaticString, _ element: (inout WireReader) throws -> T) throws -> [T] {
        guard let count = try arrayCount(field) else { return [] }
        var result: [T] = []
        result.reserveCapacity(count)
        for _ in 0..<count { result.append(try element(&self)) }
        return result
    }

    /// Skips the tagged fields that end a structure in flexible versions (none are understood yet).
    mutating func taggedFields() throws {
        guard flexible else { return }
        let count = try unsignedVarint("tagged fields")
        guard count <= UInt64(remaining) else { throw KafkaProtocolError("tagged fields: \(count) cannot fit") }
        for _ in 0..<count {
            _ = try unsignedVarint("tag")
            let size = try unsignedVarint("tagged field size")
            guard size <= UInt64(remaining) else {
                throw KafkaProtocolError("tagged field of \(size) bytes runs past the request")
            }
            buffer.moveReaderIndex(forwardBy: Int(size))
        }
    }
}

/// Writes Kafka's primitive types into a response body (see ``WireReader`` for `flexible`).
public struct WireWriter {
    var buffer: ByteBuffer
    let flexible: Bool

    init(_ buffer: ByteBuffer, flexible: Bool) {
        self.buffer = buffer
        self.flexible = flexible
    }

    mutating func int8(_ value: Int8) { buffer.writeInteger(value) }
    mutating func int16(_ value: Int16) { buffer.writeInteger(value, endianness: .big) }
    mutating func int32(_ value: Int32) { buffer.writeInteger(value, endianness: .big) }
    mutating func int64(_ value: Int64) { buffer.writeInteger(value, endianness: .big) }
    mutating func bool(_ value: Bool) { buffer.writeInteger(UInt8(value ? 1 : 0)) }

    mutating func unsignedVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.writeInteger(UInt8(v))
    }

    private mutating func length(_ count: Int?, wide: Bool) {
        if flexible {
            unsignedVarint(UInt64((count ?? -1) + 1))
        } else if wide {
            int32(Int32(count ?? -1))
        } else {
            int16(Int16(count ?? -1))
        }
    }

    mutating func string(_ value: String?) {
        guard let value else { return length(nil, wide: false) }
        length(value.utf8.count, wide: false)
        buffer.writeString(value)
    }

    mutating func bytes(_ value: ByteBuffer?) {
        guard var value else { return length(nil, wide: true) }
        length(value.readableBytes, wide: true)
        buffer.writeBuffer(&value)
    }

    mutating func bytes(_ value: [UInt8]) {
        length(value.count, wide: true)
        buffer.writeBytes(value)
    }

    mutating func arrayCount(_ count: Int?) { length(count, wide: true) }

    mutating func array<T>(_ elements: [T], _ write: (inout WireWriter, T) -> Void) {
        arrayCount(elements.count)
        for element in elements { write(&self, element) }
    }

    /// An empty set of tagged fields (flexible versions only).
    mutating func taggedFields() {
        if flexible { unsignedVarint(0) }
    }
}
