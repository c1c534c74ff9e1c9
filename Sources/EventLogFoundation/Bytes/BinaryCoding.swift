/// Little-endian binary encoding for the package's own metadata files (StreamJet and table snapshots),
/// sealed with a trailing CRC-32C so a torn or damaged file is detected, never trusted.
package struct BinaryWriter {
    package var bytes: [UInt8]

    package init(_ prefix: [UInt8] = []) { bytes = prefix }

    package mutating func u8(_ v: UInt8) { bytes.append(v) }
    package mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    package mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    /// A u32 length and the bytes.
    package mutating func data(_ data: [UInt8]) {
        u32(UInt32(data.count))
        bytes.append(contentsOf: data)
    }
    /// A u32 length and the UTF-8.
    package mutating func string(_ s: String) {
        u32(UInt32(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }
    /// A u64 count and the raw elements (the package writes little-endian machines only; a file's magic
    /// pins its layout).
    package mutating func array<T: BitwiseCopyable>(_ values: [T]) {
        u64(UInt64(values.count))
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// The bytes with their CRC-32C appended.
    package consuming func sealed() -> [UInt8] {
        let crc = bytes.withUnsafeBytes { CRC32C.checksum($0) }
        u32(crc)
        return bytes
    }
}

/// Reads what ``BinaryWriter`` wrote, checking every length against the end of the data.
package struct BinaryReader {
    package struct Failure: Error {
        package let message: String
        package init(_ message: String) { self.message = message }
    }

    let bytes: [UInt8]
    package private(set) var position: Int
    package let end: Int

    /// A reader of `bytes[position..<end]`.
    package init(_ bytes: [UInt8], from position: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.position = position
        self.end = end ?? bytes.count
    }

    /// A reader of a sealed file's body after `prefix` bytes, or nil when the file is shorter than the
    /// prefix and the seal or its CRC-32C does not match.
    package static func unsealing(_ bytes: [UInt8], after prefix: Int = 0) -> BinaryReader? {
        guard bytes.count >= prefix + 4 else { return nil }
        let body = bytes.count - 4
        let stored = bytes.withUnsafeBytes {
            UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: body, as: UInt32.self))
        }
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[..<body])) }
        return crc == stored ? BinaryReader(bytes, from: prefix, to: body) : nil
    }

    package var isAtEnd: Bool { position == end }

    mutating func take(_ count: Int) throws(Failure) -> Int {
        guard count >= 0, count <= end - position else { throw Failure("truncated at byte \(position)") }
        defer { position += count }
        return position
    }
    package mutating func u8() throws(Failure) -> UInt8 { bytes[try take(1)] }
    package mutating func u32() throws(Failure) -> UInt32 {
        let at = try take(4)
        return UInt32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) })
    }
    package mutating func u64() throws(Failure) -> UInt64 {
        let at = try take(8)
        return UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self) })
    }
    package mutating func i64() throws(Failure) -> Int64 { Int64(bitPattern: try u64()) }
    /// A u64 count of items that take at least `eachAtLeast` bytes each, checked against what is left.
    package mutating func count(eachAtLeast size: Int) throws(Failure) -> Int {
        let at = position
        let value = try u64()
        guard value <= UInt64(end - position) / UInt64(size) else {
            throw Failure("count \(value) at byte \(at) exceeds the file")
        }
        return Int(value)
    }
    package mutating func data() throws(Failure) -> [UInt8] {
        let count = Int(try u32())
        let at = try take(count)
        return Array(bytes[at..<at + count])
    }
    package mutating func string() throws(Failure) -> String {
        let count = Int(try u32())
        let at = try take(count)
        return String(decoding: bytes[at..<at + count], as: UTF8.self)
    }
    package mutating func array<T: BitwiseCopyable>(_: T.Type) throws(Failure) -> [T] {
        let count = try u64()
        guard count <= UInt64(end - position) / UInt64(MemoryLayout<T>.stride) else {
            throw Failure("array length \(count) at byte \(position) exceeds the file")
        }
        let at = try take(Int(count) * MemoryLayout<T>.stride)
        return [T](unsafeUninitializedCapacity: Int(count)) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: raw[at..<at + Int(count) * MemoryLayout<T>.stride]))
            }
            initialized = Int(count)
        }
    }
}
