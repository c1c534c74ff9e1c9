/// Distinct strings of a column, each with a dense code (0, 1, 2, … in order of first appearance).
///
/// Written by hand because it is on the ingest hot path: codes are found straight from the record's
/// bytes (FNV-1a hash, open addressing, `memcmp`), so a string already seen costs no allocation.
final class StringDictionary {
    private(set) var strings: [String] = []
    private var bytes: [UInt8] = []
    private var starts: [Int] = [0]
    private var table: [Int32] = Array(repeating: -1, count: 64)
    private var mask = 63

    var count: Int { strings.count }

    static func hash(_ data: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return h ^ (h >> 29)
    }

    private func matches(_ code: Int32, _ data: UnsafeRawBufferPointer) -> Bool {
        let start = starts[Int(code)], end = starts[Int(code) + 1]
        guard end - start == data.count else { return false }
        return bytes.withUnsafeBytes { all in
            data.isEmpty || memcmp(all.baseAddress! + start, data.baseAddress!, data.count) == 0
        }
    }

    /// The code of these UTF-8 bytes, if seen.
    func find(_ data: UnsafeRawBufferPointer) -> Int32? {
        var slot = Int(truncatingIfNeeded: Self.hash(data)) & mask
        while true {
            let code = table[slot]
            if code < 0 { return nil }
            if matches(code, data) { return code }
            slot = (slot + 1) & mask
        }
    }

    func find(_ string: String) -> Int32? {
        var copy = string
        return copy.withUTF8 { find(UnsafeRawBufferPointer($0)) }
    }

    /// The code of these UTF-8 bytes, adding them when new.
    func code(_ data: UnsafeRawBufferPointer) -> Int32 {
        var slot = Int(truncatingIfNeeded: Self.hash(data)) & mask
        while true {
            let code = table[slot]
            if code < 0 { break }
            if matches(code, data) { return code }
            slot = (slot + 1) & mask
        }
        let code = Int32(strings.count)
        strings.append(String(decoding: data, as: UTF8.self))
        bytes.append(contentsOf: data)
        starts.append(bytes.count)
        table[slot] = code
        if strings.count * 2 > table.count { grow() }
        return code
    }

    func code(_ string: String) -> Int32 {
        var copy = string
        return copy.withUTF8 { code(UnsafeRawBufferPointer($0)) }
    }

    private func grow() {
        table = Array(repeating: -1, count: table.count * 2)
        mask = table.count - 1
        for code in 0..<strings.count {
            let start = starts[code], end = starts[code + 1]
            var slot =
                bytes.withUnsafeBytes {
                    Int(truncatingIfNeeded: Self.hash(UnsafeRawBufferPointer(rebasing: $0[start..<end])))
                } & mask
            while table[slot] >= 0 { slot = (slot + 1) & mask }
            table[slot] = Int32(code)
        }
    }

    /// Rebuilds from strings in code order (snapshot restore).
    init(strings: [String] = []) {
        for string in strings { _ = code(string) }
    }
}

/// A growable set of document numbers.
struct Bitmap {
    private(set) var words: [UInt64] = []

    @inline(__always)
    func contains(_ bit: Int32) -> Bool {
        let word = Int(bit) >> 6
        return word < words.count && words[word] & (1 << UInt64(bit & 63)) != 0
    }

    @inline(__always)
    mutating func insert(_ bit: Int32) {
        let word = Int(bit) >> 6
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word + 1 - words.count + 256)) }
        words[word] |= 1 << UInt64(bit & 63)
    }

    @inline(__always)
    mutating func remove(_ bit: Int32) {
        let word = Int(bit) >> 6
        if word < words.count { words[word] &= ~(1 << UInt64(bit & 63)) }
    }

    var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

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

    init(words: [UInt64] = []) { self.words = words }
}

/// The stored values of one column for every document (row) of a table, in document order.
///
/// Storage by type: strings as dictionary codes (−1 is null), longs and doubles in flat arrays, booleans as
/// bytes (2 is null), points as longitude and latitude arrays; a null flag for the numeric and point
/// types; multi-value columns as arrays of values.
final class Column {
    let definition: ColumnDefinition
    let type: ColumnType
    let isMultiValue: Bool
    var codes: [Int32] = []
    var dictionary = StringDictionary()
    var longs: [Int64] = []
    var doubles: [Double] = []
    var latitudes: [Double] = []
    var bytes: [UInt8] = []
    var nulls: [Bool] = []
    var lists: [[SQLValue]] = []

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

    /// Appends a value (converted to the column's type; nil when it cannot be).
    func append(_ value: SQLValue) {
        if isMultiValue {
            if case .array(let values) = value {
                lists.append(values)
            } else if value.isNull {
                lists.append([])
            } else {
                lists.append([value])
            }
            return
        }
        switch type {
        case .string:
            switch value {
            case .null: codes.append(-1)
            case .string(let s): codes.append(dictionary.code(s))
            default: codes.append(dictionary.code(value.description))
            }
        case .long:
            let v: Int64? =
                switch value {
                case .long(let v): v
                case .double(let d): d.isFinite && abs(d) < 9.2e18 ? Int64(d) : nil
                case .bool(let b): b ? 1 : 0
                case .string(let s): Int64(s)
                default: nil
                }
            longs.append(v ?? 0)
            nulls.append(v == nil)
        case .double:
            let v: Double? =
                switch value {
                case .string(let s): Double(s)
                default: value.number
                }
            doubles.append(v ?? 0)
            nulls.append(v == nil)
        case .boolean:
            switch value {
            case .bool(let b): bytes.append(b ? 1 : 0)
            case .long(let v): bytes.append(v != 0 ? 1 : 0)
            case .string(let s): bytes.append(s.lowercased() == "true" ? 1 : 0)
            default: bytes.append(2)
            }
        case .point:
            if case .point(let p) = value {
                doubles.append(p.longitude)
                latitudes.append(p.latitude)
                nulls.append(false)
            } else {
                doubles.append(0)
                latitudes.append(0)
                nulls.append(true)
            }
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
