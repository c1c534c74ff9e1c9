/// A growable, reusable byte buffer with unchecked big-endian and varint writers.
///
/// The batch builder and the readers own one each and reuse it across batches, which is how the append
/// and read paths stay at (at most) one heap allocation per batch: the buffer grows to the largest batch
/// seen and then stays. It is a class so its storage is never copied on write. (Package access: the live
/// views copy a batch of records into one, too.)
package final class ByteStorage {
    package private(set) var base: UnsafeMutableRawPointer
    package private(set) var capacity: Int
    package var count: Int = 0

    package init(capacity: Int = 64 * 1024) {
        self.capacity = max(capacity, 64)
        self.base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inlinable @inline(__always)
    package func reserve(_ additional: Int) {
        if count + additional > capacity { grow(to: count + additional) }
    }

    /// Makes room for at least `total` bytes in all, keeping the contents.
    func ensureCapacity(_ total: Int) {
        if total > capacity { grow(to: total) }
    }

    @usableFromInline
    package func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inlinable @inline(__always)
    package func append(_ source: UnsafeRawBufferPointer) {
        reserve(source.count)
        if let address = source.baseAddress { (base + count).copyMemory(from: address, byteCount: source.count) }
        count += source.count
    }

    @inline(__always)
    func appendByte(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        base.storeBytes(of: value.bigEndian, toByteOffset: count, as: T.self)
        count += MemoryLayout<T>.size
    }

    @inline(__always)
    func setBigEndian<T: FixedWidthInteger>(_ value: T, at position: Int) {
        base.storeBytes(of: value.bigEndian, toByteOffset: position, as: T.self)
    }

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

extension UnsafeRawPointer {
    @inline(__always)
    func loadBigEndian<T: FixedWidthInteger>(at offset: Int, as type: T.Type = T.self) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
