/// A growable, reusable byte buffer with unchecked big-endian writers (the log adds Kafka's varints).
///
/// The batch builder and the readers own one each and reuse it across batches, which is how the append
/// and read paths stay at (at most) one heap allocation per batch: the buffer grows to the largest batch
/// seen and then stays. It is a class so its storage is never copied on write. (The live views copy a batch of
/// records into one, too.)
package final class ByteStorage {
    // `@exclusivity(unchecked)` here: a buffer has one owner at a time and no access overlaps another; the
    // modules above reach these fields on every record, where dynamic checks cost about a tenth of the run.
    @exclusivity(unchecked) package private(set) var base: UnsafeMutableRawPointer
    @exclusivity(unchecked) package private(set) var capacity: Int
    @exclusivity(unchecked) package var count: Int = 0

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
    package func ensureCapacity(_ total: Int) {
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

    @inlinable @inline(__always)
    package func appendByte(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inlinable @inline(__always)
    package func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        base.storeBytes(of: value.bigEndian, toByteOffset: count, as: T.self)
        count += MemoryLayout<T>.size
    }

    @inlinable @inline(__always)
    package func setBigEndian<T: FixedWidthInteger>(_ value: T, at position: Int) {
        base.storeBytes(of: value.bigEndian, toByteOffset: position, as: T.self)
    }
}

extension UnsafeRawPointer {
    /// The big-endian integer at `offset`, which need not be aligned.
    @inlinable @inline(__always)
    package func loadBigEndian<T: FixedWidthInteger>(at offset: Int, as type: T.Type = T.self) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
