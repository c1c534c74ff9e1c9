import CEventLogSupport
import EventLogFoundation

/// Distinct strings of a column, each with a dense code (0, 1, 2, … in order of first appearance).
///
/// Written by hand because it is on the ingest hot path: codes are found straight from the record's
/// bytes (8-bytes-at-a-time multiplicative hash, open addressing) with no allocation for a string already
/// seen. Each slot keeps the hash's top bits and, for strings of up to 16 bytes (ids, statuses), the
/// bytes themselves, so a lookup costs one cache miss in the table rather than three (table, offsets,
/// bytes): with 100,000 order ids the misses were a quarter of the ingest time.
final class StringDictionary {
    // `@exclusivity(unchecked)` here: owned by a LiveTable, written only under its write lock and read under its
    // read lock, never re-entrantly; the checks are per-row cost on the ingest path.
    @exclusivity(unchecked) private(set) var strings: [String] = []
    @exclusivity(unchecked) private var bytes: [UInt8] = []
    @exclusivity(unchecked) private var starts: [Int] = [0]
    @exclusivity(unchecked) private var table: [Slot] = Array(repeating: Slot(), count: 64)
    @exclusivity(unchecked) private var mask = 63

    /// One open-addressing slot (half a cache line).
    struct Slot {
        /// High 32 bits the hash's top bits, low 32 bits code + 1 (0: empty).
        var entry: UInt64 = 0
        /// The string's length, and its bytes zero-padded when it has at most 16.
        var length: UInt64 = 0
        var word0: UInt64 = 0
        var word1: UInt64 = 0
    }

    var count: Int { strings.count }

    @inline(__always)
    static func hash(_ data: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(data.count)
        guard let base = data.baseAddress else { return h }
        var index = 0
        while index + 8 <= data.count {
            let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            h = (h ^ word) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 32
            index += 8
        }
        if index < data.count {
            var tail: UInt64 = 0
            for i in index..<data.count { tail = tail << 8 | UInt64(base.load(fromByteOffset: i, as: UInt8.self)) }
            h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
        }
        h ^= h >> 29
        h = h &* 0xFF51_AFD7_ED55_8CCD
        return h ^ (h >> 32)
    }

    /// The first 16 bytes of `data` as two little-endian words, zero-padded (only for up to 16 bytes).
    @inline(__always)
    static func words(_ data: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        let n = data.count
        guard let base = data.baseAddress, n > 0 else { return (0, 0) }
        if n >= 8 {
            let first = base.loadUnaligned(as: UInt64.self)
            if n == 8 { return (first, 0) }
            // The word ending at the last byte, shifted so bytes 8..<n come first.
            let last = base.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) >> UInt64(8 * (16 - n))
            return (first, last)
        }
        var word: UInt64 = 0
        for i in 0..<n { word |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << UInt64(8 * i) }
        return (word, 0)
    }

    @inline(__always)
    private func matches(_ slot: Slot, _ data: UnsafeRawBufferPointer, _ words: (UInt64, UInt64)) -> Bool {
        guard slot.length == UInt64(data.count) else { return false }
        if data.count <= 16 { return slot.word0 == words.0 && slot.word1 == words.1 }
        let start = starts[Int(slot.entry & 0xFFFF_FFFF) - 1]
        return bytes.withUnsafeBytes { all in bytesEqual(all.baseAddress! + start, data.baseAddress!, data.count) }
    }

    /// The slot holding `data`, or the empty slot where it would go.
    @inline(__always)
    private func probe(_ data: UnsafeRawBufferPointer, _ h: UInt64, _ words: (UInt64, UInt64)) -> Int {
        let tag = h >> 32
        var index = Int(truncatingIfNeeded: h) & mask
        return table.withUnsafeBufferPointer { slots in
            while true {
                let slot = slots[index]
                if slot.entry == 0 || (slot.entry >> 32 == tag && matches(slot, data, words)) { return index }
                index = (index + 1) & mask
            }
        }
    }

    /// The code of these UTF-8 bytes, if seen.
    func find(_ data: UnsafeRawBufferPointer) -> Int32? {
        let h = Self.hash(data), words = data.count <= 16 ? Self.words(data) : (0, 0)
        let entry = table[probe(data, h, words)].entry
        return entry == 0 ? nil : Int32(entry & 0xFFFF_FFFF) - 1
    }

    func find(_ string: String) -> Int32? {
        var copy = string
        return copy.withUTF8 { find(UnsafeRawBufferPointer($0)) }
    }

    /// Starts loading the table slot where `hash`'s probe begins, so a `code(_:hash:)` call made a little
    /// later (after the rest of the record is parsed) finds it in cache.
    @inline(__always)
    func prefetch(hash: UInt64) {
        table.withUnsafeBufferPointer { eventlog_prefetch($0.baseAddress! + (Int(truncatingIfNeeded: hash) & mask)) }
    }

    /// The code of these UTF-8 bytes, adding them when new.
    @inline(__always)
    func code(_ data: UnsafeRawBufferPointer) -> Int32 { code(data, hash: Self.hash(data)) }

    /// ``code(_:)`` with the bytes' hash already computed.
    @inline(__always)
    func code(_ data: UnsafeRawBufferPointer, hash h: UInt64) -> Int32 {
        let words = data.count <= 16 ? Self.words(data) : (0, 0)
        let index = probe(data, h, words)
        let entry = table[index].entry
        if entry != 0 { return Int32(entry & 0xFFFF_FFFF) - 1 }
        let code = Int32(strings.count)
        strings.append(String(decoding: data, as: UTF8.self))
        bytes.append(contentsOf: data)
        starts.append(bytes.count)
        table[index] = Slot(
            entry: (h >> 32) << 32 | UInt64(code + 1), length: UInt64(data.count), word0: words.0, word1: words.1)
        if strings.count * 2 > table.count { grow() }
        return code
    }

    func code(_ string: String) -> Int32 {
        var copy = string
        return copy.withUTF8 { code(UnsafeRawBufferPointer($0)) }
    }

    private func grow() {
        let old = table
        table = Array(repeating: Slot(), count: table.count * 2)
        mask = table.count - 1
        for slot in old where slot.entry != 0 {
            let code = Int(slot.entry & 0xFFFF_FFFF) - 1
            let start = starts[code], end = starts[code + 1]
            let h = bytes.withUnsafeBytes { Self.hash(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
            var index = Int(truncatingIfNeeded: h) & mask
            while table[index].entry != 0 { index = (index + 1) & mask }
            table[index] = slot
        }
    }

    /// A dictionary of `strings`, coded in order.
    init(strings: [String] = []) {
        replace(with: strings)
    }

    /// Starts over with `strings`, coded in order (snapshot restore, reset).
    func replace(with strings: [String]) {
        self.strings = []
        bytes = []
        starts = [0]
        table = Array(repeating: Slot(), count: 64)
        mask = 63
        for string in strings { _ = code(string) }
    }
}

/// A growable set of document numbers that keeps its size (queries ask for it often).
struct Bitmap {
    private(set) var words: [UInt64] = []
    /// How many members the set has.
    private(set) var count = 0

    @inline(__always)
    func contains(_ bit: Int32) -> Bool {
        let word = Int(bit) >> 6
        return word < words.count && words[word] & (1 << UInt64(bit & 63)) != 0
    }

    @inline(__always)
    mutating func insert(_ bit: Int32) {
        let word = Int(bit) >> 6
        if word >= words.count {
            words.append(contentsOf: repeatElement(0, count: max(word + 1, words.count * 2, 256) - words.count))
        }
        let mask: UInt64 = 1 << UInt64(bit & 63)
        if words[word] & mask == 0 {
            words[word] |= mask
            count += 1
        }
    }

    @inline(__always)
    mutating func remove(_ bit: Int32) {
        let word = Int(bit) >> 6
        let mask: UInt64 = 1 << UInt64(bit & 63)
        if word < words.count, words[word] & mask != 0 {
            words[word] &= ~mask
            count -= 1
        }
    }

    /// Calls `body` with each member below `limit`, ascending.
    func forEach(below limit: Int, _ body: (Int32) throws -> Void) rethrows {
        let wordCount = min(words.count, (limit + 63) >> 6)
        for index in 0..<wordCount {
            var word = words[index]
            while word != 0 {
                let bit = index << 6 | word.trailingZeroBitCount
                if bit >= limit { return }
                try body(Int32(bit))
                word &= word - 1
            }
        }
    }

    init(words: [UInt64] = []) {
        self.words = words
        count = words.reduce(0) { $0 + $1.nonzeroBitCount }
    }
}

/// The stored values of one column for every document (row) of a table, in document order.
///
/// Storage by type: strings as dictionary codes (−1 is null), longs and doubles in flat arrays, booleans as
/// bytes (2 is null), points as longitude and latitude arrays; a null flag for the numeric and point
/// types; multi-value columns as arrays of values.
final class Column {
    // `@exclusivity(unchecked)` here: owned by a LiveTable, written only under its write lock and read under its
    // read lock, never re-entrantly; the checks are per-row cost on the ingest path.
    let definition: ColumnDefinition
    let type: ColumnType
    let isMultiValue: Bool
    @exclusivity(unchecked) var codes: [Int32] = []
    /// Its strings (replaced in place, so the ingest path can use it without retaining it).
    let dictionary = StringDictionary()
    @exclusivity(unchecked) var longs: [Int64] = []
    @exclusivity(unchecked) var doubles: [Double] = []
    @exclusivity(unchecked) var latitudes: [Double] = []
    @exclusivity(unchecked) var bytes: [UInt8] = []
    @exclusivity(unchecked) var nulls: [Bool] = []
    @exclusivity(unchecked) var lists: [[SQLValue]] = []
    /// The list staged for the row being ingested (multi-value columns).
    @exclusivity(unchecked) var pendingList: [SQLValue] = []

    init(_ definition: ColumnDefinition) {
        self.definition = definition
        type = definition.type
        isMultiValue = definition.multiValue == true
    }

    var name: String { definition.name }

    /// The value of document `doc`.
    func value(_ doc: Int32) -> SQLValue {
        let i = Int(doc)
        if isMultiValue { return .array(lists[i]) }
        switch type {
        case .string:
            let code = codes[i]
            return code < 0 ? .null : .string(dictionary.strings[Int(code)])
        case .long: return nulls[i] ? .null : .long(longs[i])
        case .double: return nulls[i] ? .null : .double(doubles[i])
        case .boolean: return bytes[i] == 2 ? .null : .bool(bytes[i] == 1)
        case .point: return nulls[i] ? .null : .point(GeoPoint(unchecked: doubles[i], latitudes[i]))
        }
    }

    /// How many documents the arrays hold room for.
    var capacityHint: Int {
        if isMultiValue { return lists.capacity }
        switch type {
        case .string: return codes.capacity
        case .long: return longs.capacity
        case .boolean: return bytes.capacity
        default: return doubles.capacity
        }
    }

    /// Makes room for `rows` documents in total, so a bulk load does not regrow the arrays.
    func reserveCapacity(_ rows: Int) {
        if isMultiValue {
            lists.reserveCapacity(rows)
            return
        }
        switch type {
        case .string: codes.reserveCapacity(rows)
        case .long:
            longs.reserveCapacity(rows)
            nulls.reserveCapacity(rows)
        case .double:
            doubles.reserveCapacity(rows)
            nulls.reserveCapacity(rows)
        case .boolean: bytes.reserveCapacity(rows)
        case .point:
            doubles.reserveCapacity(rows)
            latitudes.reserveCapacity(rows)
            nulls.reserveCapacity(rows)
        }
    }

    /// Drops documents from `count` on (undoes a partly appended row).
    func truncate(to count: Int) {
        if isMultiValue {
            lists.removeLast(lists.count - count)
            return
        }
        switch type {
        case .string: codes.removeLast(codes.count - count)
        case .long:
            longs.removeLast(longs.count - count)
            nulls.removeLast(nulls.count - count)
        case .double:
            doubles.removeLast(doubles.count - count)
            nulls.removeLast(nulls.count - count)
        case .boolean: bytes.removeLast(bytes.count - count)
        case .point:
            doubles.removeLast(doubles.count - count)
            latitudes.removeLast(latitudes.count - count)
            nulls.removeLast(nulls.count - count)
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A key's newest document, its comparison value, and whether that record was a delete.
struct KeyEntry {
    var doc: Int32
    var comparison: Int64
    var deleted: Bool
}

/// Primary key → the key's newest document. With a single string key column the key is its dictionary
/// code, a dense integer, so entries live in an array indexed by it (no hashing on the ingest path);
/// other keys use a hash map.
struct KeyMap {
    let dense: Bool
    private var slots: [KeyEntry] = []
    private var others: [PrimaryKey: KeyEntry] = [:]
    private(set) var count = 0

    static let empty = KeyEntry(doc: -1, comparison: 0, deleted: false)

    init(dense: Bool) { self.dense = dense }

    @inline(__always)
    private func denseIndex(_ key: PrimaryKey) -> Int? {
        dense && key.parts.0 >= 0 && key.parts.0 <= Int64(Int32.max) ? Int(key.parts.0) : nil
    }

    subscript(key: PrimaryKey) -> KeyEntry? {
        get {
            guard let index = denseIndex(key) else { return others[key] }
            guard index < slots.count, slots[index].doc >= 0 else { return nil }
            return slots[index]
        }
        set {
            guard let index = denseIndex(key) else {
                let had = others[key] != nil
                others[key] = newValue
                count += (newValue != nil ? 1 : 0) - (had ? 1 : 0)
                return
            }
            if index >= slots.count {
                guard newValue != nil else { return }
                slots.append(
                    contentsOf: repeatElement(Self.empty, count: max(index + 1, slots.count * 2, 1024) - slots.count))
            }
            let had = slots[index].doc >= 0
            slots[index] = newValue ?? Self.empty
            count += (newValue != nil ? 1 : 0) - (had ? 1 : 0)
        }
    }

    /// Every (key, entry).
    func forEach(_ body: (PrimaryKey, KeyEntry) -> Void) {
        for (index, entry) in slots.enumerated() where entry.doc >= 0 {
            var key = PrimaryKey()
            key[0] = Int64(index)
            body(key, entry)
        }
        for (key, entry) in others { body(key, entry) }
    }
}

/// The next offset per partition, in an array indexed by partition (the ingest path updates it for every
/// record; a `Dictionary` hashed twice per record showed in profiles). −1 marks a partition not seen.
struct OffsetTable {
    /// The most partitions a table follows (partition numbers are indexes into a dense array).
    static let maximumPartitions = 1 << 16
    private var next: [Int64] = []

    subscript(partition: Int) -> Int64? {
        get { partition >= 0 && partition < next.count && next[partition] >= 0 ? next[partition] : nil }
        set {
            guard partition >= 0 else { return }
            if partition >= next.count {
                guard newValue != nil else { return }
                next.append(contentsOf: repeatElement(-1, count: partition + 1 - next.count))
            }
            next[partition] = newValue ?? -1
        }
    }

    /// Raises the next offset of `partition` to at least `offset`.
    @inline(__always)
    mutating func advance(_ partition: Int, past offset: Int64) {
        if partition >= 0, partition < next.count {
            if next[partition] <= offset { next[partition] = offset + 1 }
        } else {
            self[partition] = offset + 1
        }
    }

    /// Partition → next offset, for snapshots and callers.
    var dictionary: [Int: Int64] {
        var result: [Int: Int64] = [:]
        for (partition, offset) in next.enumerated() where offset >= 0 { result[partition] = offset }
        return result
    }

    init(_ dictionary: [Int: Int64] = [:]) {
        for (partition, offset) in dictionary { self[partition] = offset }
    }
}

/// An inverted index of one dictionary-encoded column over the valid documents: code → documents, with
/// O(1) removal (each document remembers its place in its list). The planner drives a query from it when
/// an equality or IN on the column selects few rows (`status = 'ORDER_PREPARED'`).
final class PostingLists {
    // `@exclusivity(unchecked)` here: owned by a LiveTable, written only under its write lock and read under its
    // read lock, never re-entrantly; the checks are per-row cost on the ingest path.
    @exclusivity(unchecked) private(set) var lists: [[Int32]] = []
    @exclusivity(unchecked) private var position: [Int32] = []

    func insert(_ doc: Int32, code: Int32) {
        guard code >= 0 else { return }
        let c = Int(code), d = Int(doc)
        if c >= lists.count { lists.append(contentsOf: repeatElement([], count: c + 1 - lists.count)) }
        if d >= position.count {
            position.append(contentsOf: repeatElement(-1, count: max(d + 1, position.count * 2, 1024) - position.count))
        }
        position[d] = Int32(lists[c].count)
        lists[c].append(doc)
    }

    /// Whether `doc` is listed.
    func contains(_ doc: Int32) -> Bool { Int(doc) < position.count && position[Int(doc)] >= 0 }

    func remove(_ doc: Int32, code: Int32) {
        let c = Int(code), d = Int(doc)
        guard code >= 0, c < lists.count, d < position.count, position[d] >= 0 else { return }
        let at = Int(position[d])
        let last = lists[c].removeLast()
        if last != doc {
            lists[c][at] = last
            position[Int(last)] = Int32(at)
        }
        position[d] = -1
    }

    /// The documents with `code` (empty when none).
    func documents(_ code: Int32) -> [Int32] { code >= 0 && Int(code) < lists.count ? lists[Int(code)] : [] }

    func removeAll() {
        lists.removeAll()
        position.removeAll()
    }
}
