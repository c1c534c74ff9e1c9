import CEventLogSupport
import EventLog
import Foundation

/// Table snapshots: the whole table (columns, dictionaries, valid bits, key map, offsets) in one file, so a
/// restart loads it and replays only the records after the saved offsets.
///
/// Layout (little-endian), then a CRC-32C of everything before it:
/// ```
/// "ELVIEW01" | config JSON (u32 length + bytes) | documents u64 | offsets: u32 n, (partition u32, offset i64)×n
/// | per column: its arrays (u64 count + raw elements; strings as u32 length + UTF-8)
/// | valid bitmap words | key map: u64 n, (4 × i64 parts, doc i32, comparison i64, deleted u8)×n
/// | largest comparison i64 | crc32c u32
/// ```
/// Invariants: a snapshot is written to a temporary file, fsynced and renamed over the old one, so the
/// file is always a complete snapshot; one whose CRC, magic or config does not match is ignored (the table
/// replays the topic from the start instead), never trusted.
extension LiveTable {
    static let snapshotMagic = Array("ELVIEW01".utf8)

    /// The snapshot's bytes (taken under the read lock, so it is one consistent state).
    func snapshotBytes() -> [UInt8] {
        lock.read {
            var w = SnapshotEncoder()
            w.bytes.append(contentsOf: Self.snapshotMagic)
            w.string(configJSON)
            w.u64(UInt64(documentCount))
            let next = offsets.dictionary
            w.u32(UInt32(next.count))
            for (partition, offset) in next.sorted(by: { $0.key < $1.key }) {
                w.u32(UInt32(partition))
                w.i64(offset)
            }
            for column in columns {
                if column.isMultiValue {
                    w.u64(UInt64(column.lists.count))
                    for list in column.lists { w.values(list) }
                    continue
                }
                switch column.type {
                case .string:
                    w.array(column.codes)
                    w.u64(UInt64(column.dictionary.count))
                    for s in column.dictionary.strings { w.string(s) }
                case .long:
                    w.array(column.longs)
                    w.array(column.nulls.map { $0 ? UInt8(1) : 0 })
                case .double:
                    w.array(column.doubles)
                    w.array(column.nulls.map { $0 ? UInt8(1) : 0 })
                case .boolean: w.array(column.bytes)
                case .point:
                    w.array(column.doubles)
                    w.array(column.latitudes)
                    w.array(column.nulls.map { $0 ? UInt8(1) : 0 })
                }
            }
            w.array(valid.words)
            w.u64(UInt64(keys.count))
            keys.forEach { key, entry in
                for i in 0..<4 { w.i64(key[i]) }
                w.u32(UInt32(bitPattern: entry.doc))
                w.i64(entry.comparison)
                w.bytes.append(entry.deleted ? 1 : 0)
            }
            w.i64(largestComparisonSeen)
            let crc = w.bytes.withUnsafeBytes { eventlog_crc32c(0, $0.baseAddress, $0.count) }
            w.u32(crc)
            return w.bytes
        }
    }

    var configJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Replaces the table's contents with a snapshot's.
    ///
    /// - Throws: ``ViewError`` with code `snapshot` when the bytes are damaged or belong to another
    ///   definition; the table is left empty then.
    func restore(_ bytes: [UInt8], source: String) throws(ViewError) {
        func bad(_ why: String) -> ViewError { ViewError(.snapshot, "\(source): \(why)") }
        guard bytes.count >= Self.snapshotMagic.count + 4 else { throw bad("too short (\(bytes.count) bytes)") }
        let body = bytes.count - 4
        let stored = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: body, as: UInt32.self) }
        let crc = bytes.withUnsafeBytes { eventlog_crc32c(0, $0.baseAddress, body) }
        guard crc == UInt32(littleEndian: stored) else { throw bad("CRC mismatch (stored \(stored), computed \(crc))") }
        guard Array(bytes[0..<8]) == Self.snapshotMagic else { throw bad("not a table snapshot") }
        var r = SnapshotDecoder(bytes: bytes, position: 8, end: body)
        do throws(SnapshotDecoder.Failure) {
            guard try r.string() == configJSON else { throw .init("written for a different table definition") }
            let outcome: Result<Void, SnapshotDecoder.Failure> = lock.write {
                do throws(SnapshotDecoder.Failure) {
                    let rawCount = try r.u64()
                    guard rawCount <= UInt64(Int32.max) else { throw .init("\(rawCount) rows exceed the limit") }
                    let count = Int(rawCount)
                    var offsets: [Int: Int64] = [:]
                    for _ in 0..<(try r.u32()) {
                        let partition = Int(try r.u32())
                        let offset = try r.i64()
                        guard offset >= 0 else { throw .init("negative offset \(offset) for partition \(partition)") }
                        offsets[partition] = offset
                    }
                    for column in columns {
                        if column.isMultiValue {
                            column.lists = try (0..<(try r.count(eachAtLeast: 4))).map {
                                _ throws(SnapshotDecoder.Failure) in
                                try r.values()
                            }
                            continue
                        }
                        switch column.type {
                        case .string:
                            column.codes = try r.array(Int32.self)
                            let strings = try (0..<(try r.count(eachAtLeast: 4))).map {
                                _ throws(SnapshotDecoder.Failure) in
                                try r.string()
                            }
                            column.dictionary = StringDictionary(strings: strings)
                        case .long:
                            column.longs = try r.array(Int64.self)
                            column.nulls = try r.array(UInt8.self).map { $0 != 0 }
                        case .double:
                            column.doubles = try r.array(Double.self)
                            column.nulls = try r.array(UInt8.self).map { $0 != 0 }
                        case .boolean: column.bytes = try r.array(UInt8.self)
                        case .point:
                            column.doubles = try r.array(Double.self)
                            column.latitudes = try r.array(Double.self)
                            column.nulls = try r.array(UInt8.self).map { $0 != 0 }
                        }
                    }
                    let valid = Bitmap(words: try r.array(UInt64.self))
                    var keys = KeyMap(dense: self.keys.dense)
                    let denseLimit = keys.dense ? Int64(columns[keyColumns[0]].dictionary.count) : 0
                    for _ in 0..<(try r.count(eachAtLeast: 45)) {
                        var key = PrimaryKey()
                        for i in 0..<4 { key[i] = try r.i64() }
                        if keys.dense, key[0] != Int64.min, !(0..<denseLimit).contains(key[0]) {
                            throw .init("a key refers to string \(key[0]) of a dictionary of \(denseLimit)")
                        }
                        let doc = Int32(bitPattern: try r.u32())
                        keys[key] = KeyEntry(doc: doc, comparison: try r.i64(), deleted: try r.u8() != 0)
                    }
                    let largest = try r.i64()
                    guard r.position == r.end else { throw .init("\(r.end - r.position) bytes left over") }
                    try installRestored(count: count, offsets: offsets, valid: valid, keys: keys, largest: largest)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            try outcome.get()
        } catch {
            lock.write { resetStorage() }
            throw bad(error.message)
        }
    }
}

/// Appends little-endian values.
struct SnapshotEncoder {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func string(_ s: String) {
        u32(UInt32(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }
    /// A count and the raw elements (this machine is little-endian; the magic pins the layout).
    mutating func array<T: BitwiseCopyable>(_ values: [T]) {
        u64(UInt64(values.count))
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
    mutating func values(_ list: [SQLValue]) {
        u32(UInt32(list.count))
        for value in list {
            switch value {
            case .null: u8(0)
            case .bool(let b): u8(b ? 2 : 1)
            case .long(let v): u8(3); i64(v)
            case .double(let v): u8(4); u64(v.bitPattern)
            case .string(let s): u8(5); string(s)
            default: u8(5); string(value.description)
            }
        }
    }
}

/// Reads what ``SnapshotEncoder`` wrote, checking every length against the end.
struct SnapshotDecoder {
    struct Failure: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }
    let bytes: [UInt8]
    var position: Int
    let end: Int

    mutating func take(_ count: Int) throws(Failure) -> Int {
        guard count >= 0, count <= end - position else { throw Failure("truncated at byte \(position)") }
        defer { position += count }
        return position
    }
    mutating func u8() throws(Failure) -> UInt8 { bytes[try take(1)] }
    mutating func u32() throws(Failure) -> UInt32 {
        let at = try take(4)
        return UInt32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) })
    }
    mutating func u64() throws(Failure) -> UInt64 {
        let at = try take(8)
        return UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self) })
    }
    mutating func i64() throws(Failure) -> Int64 { Int64(bitPattern: try u64()) }
    /// A u64 count of items that take at least `eachAtLeast` bytes each, checked against what is left.
    mutating func count(eachAtLeast size: Int) throws(Failure) -> Int {
        let at = position
        let value = try u64()
        guard value <= UInt64(end - position) / UInt64(size) else {
            throw Failure("count \(value) at byte \(at) exceeds the file")
        }
        return Int(value)
    }
    mutating func string() throws(Failure) -> String {
        let count = Int(try u32())
        let at = try take(count)
        return String(decoding: bytes[at..<at + count], as: UTF8.self)
    }
    mutating func array<T: BitwiseCopyable>(_: T.Type) throws(Failure) -> [T] {
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
    mutating func values() throws(Failure) -> [SQLValue] {
        let count = Int(try u32())
        guard count <= end - position else {
            throw Failure("list length \(count) at byte \(position) exceeds the file")
        }
        var list: [SQLValue] = []
        for _ in 0..<count {
            switch try u8() {
            case 0: list.append(.null)
            case 1: list.append(.bool(false))
            case 2: list.append(.bool(true))
            case 3: list.append(.long(try i64()))
            case 4: list.append(.double(Double(bitPattern: try u64())))
            case 5: list.append(.string(try string()))
            case let tag: throw Failure("unknown value tag \(tag) at byte \(position - 1)")
            }
        }
        return list
    }
}
