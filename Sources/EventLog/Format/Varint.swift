import EventLogFoundation

// Kafka's zig-zag varints, on the log's byte buffer. Hand-written: every record's lengths, deltas and
// header counts are varints, so these run once per field on the append and read paths.

extension ByteStorage {
    /// Appends a zig-zag varint (Kafka's signed varint/varlong encoding).
    @inline(__always)
    func appendVarint(_ value: Int64) {
        reserve(10)
        count += Varint.write(value, to: base + count)
    }
}

/// Kafka's zig-zag varints: `(v << 1) ^ (v >> 63)`, 7 bits per byte, low group first.
enum Varint {
    @inline(__always)
    static func size(_ value: Int64) -> Int {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var n = 1
        while v >= 0x80 {
            v >>= 7
            n += 1
        }
        return n
    }

    @inline(__always)
    static func write(_ value: Int64, to pointer: UnsafeMutableRawPointer) -> Int {
        var v = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var n = 0
        while v >= 0x80 {
            pointer.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: n, as: UInt8.self)
            v >>= 7
            n += 1
        }
        pointer.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: n, as: UInt8.self)
        return n + 1
    }

    /// Reads a varint at `position` (advanced past it); `nil` if it runs past `end` or is over 10 bytes.
    @inline(__always)
    static func read(_ base: UnsafeRawPointer, _ position: inout Int, end: Int) -> Int64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < end {
            let byte = base.load(fromByteOffset: position, as: UInt8.self)
            position += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 {
                return Int64(bitPattern: result >> 1) ^ -Int64(bitPattern: result & 1)
            }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }
}
