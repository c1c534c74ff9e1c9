import EventLog
import EventLogFoundation
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
            let storage = storage
            var w = BinaryWriter(Self.snapshotMagic)
            w.string(configJSON)
            w.u64(UInt64(storage.documentCount))
            let next = storage.offsets.dictionary
            w.u32(UInt32(next.count))
            for (partition, offset) in next.sorted(by: { $0.key < $1.key }) {
                w.u32(UInt32(partition))
                w.i64(offset)
            }
            for column in storage.columns {
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
            w.array(storage.valid.words)
            w.u64(UInt64(storage.keys.count))
            storage.keys.forEach { key, entry in
                for i in 0..<4 { w.i64(key[i]) }
                w.u32(UInt32(bitPattern: entry.doc))
                w.i64(entry.comparison)
                w.u8(entry.deleted ? 1 : 0)
            }
            w.i64(writer.largestComparisonSeen)
            return w.sealed()
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
        guard var r = BinaryReader.unsealing(bytes, after: Self.snapshotMagic.count) else { throw bad("CRC mismatch") }
        guard Array(bytes[0..<8]) == Self.snapshotMagic else { throw bad("not a table snapshot") }
        do throws(BinaryReader.Failure) {
            guard try r.string() == configJSON else { throw .init("written for a different table definition") }
            let outcome: Result<Void, BinaryReader.Failure> = lock.write {
                do throws(BinaryReader.Failure) {
                    let rawCount = try r.u64()
                    guard rawCount <= UInt64(Int32.max) else { throw .init("\(rawCount) rows exceed the limit") }
                    let count = Int(rawCount)
                    var offsets: [Int: Int64] = [:]
                    for _ in 0..<(try r.u32()) {
                        let partition = Int(try r.u32())
                        let offset = try r.i64()
                        // Offsets are kept in a dense per-partition table: a forged partition number must
                        // not size it.
                        guard partition < OffsetTable.maximumPartitions else {
                            throw .init(
                                "partition \(partition) is beyond the \(OffsetTable.maximumPartitions) a table follows")
                        }
                        guard offset >= 0 else { throw .init("negative offset \(offset) for partition \(partition)") }
                        offsets[partition] = offset
                    }
                    for column in self.storage.columns {
                        if column.isMultiValue {
                            column.lists = try (0..<(try r.count(eachAtLeast: 4))).map {
                                _ throws(BinaryReader.Failure) in
                                try r.values()
                            }
                            continue
                        }
                        switch column.type {
                        case .string:
                            column.codes = try r.array(Int32.self)
                            let strings = try (0..<(try r.count(eachAtLeast: 4))).map {
                                _ throws(BinaryReader.Failure) in
                                try r.string()
                            }
                            column.dictionary.replace(with: strings)
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
                    var keys = KeyMap(dense: self.storage.keys.dense)
                    let denseLimit =
                        keys.dense ? Int64(self.storage.columns[self.storage.keyColumns[0]].dictionary.count) : 0
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
                    guard r.isAtEnd else { throw .init("\(r.end - r.position) bytes left over") }
                    try self.storage.install(count: count, offsets: offsets, valid: valid, keys: keys)
                    self.writer.restored(largest: largest)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            try outcome.get()
        } catch {
            lock.write {
                storage.reset()
                writer.reset()
            }
            throw bad(error.message)
        }
    }
}

/// Multi-value lists in snapshots: a u32 count, then per value a tag and its payload.
extension BinaryWriter {
    mutating func values(_ list: [SQLValue]) {
        u32(UInt32(list.count))
        for value in list {
            switch value {
            case .null: u8(0)
            case .bool(let b): u8(b ? 2 : 1)
            case .long(let v):
                u8(3)
                i64(v)
            case .double(let v):
                u8(4)
                u64(v.bitPattern)
            case .string(let s):
                u8(5)
                string(s)
            default:
                u8(5)
                string(value.description)
            }
        }
    }
}

extension BinaryReader {
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
