import EventLog
import StreamJet

/// One column's value for the row being ingested, before it is stored.
struct StagedValue {
    var present = false
    var long: Int64 = 0
    var double: Double = 0
    var latitude: Double = 0
    var code: Int32 = -1
    var bool: UInt8 = 2
    var isNull = true
    /// A string whose dictionary code is still to be looked up (its bytes and hash), while the record's
    /// bytes are alive: see `RowDecoder.decode`.
    var pending: UnsafeRawBufferPointer? = nil
    var pendingHash: UInt64 = 0
}

/// Turns records into staged row values: a matcher over the JSON keys the columns need (nested paths
/// too), typed conversion without allocation for strings already in a column's dictionary, and the point
/// transforms.
///
/// Written by hand: this is the ingest hot path (one pass over each record's bytes).
struct RowDecoder {
    /// A JSON object level: the keys wanted at this level, bucketed by (length, first byte). Flat arrays
    /// (names in one byte buffer, first column per key) so a lookup retains nothing.
    final class Level {
        @exclusivity(unchecked) var names: [UInt8] = []
        @exclusivity(unchecked) var nameStarts: [Int] = [0]
        /// Per key: its first column (−1: none), further columns, and the nested level.
        @exclusivity(unchecked) var firstColumn: [Int] = []
        @exclusivity(unchecked) var moreColumns: [[Int]] = []
        @exclusivity(unchecked) var children: [Level?] = []
        @exclusivity(unchecked) var buckets: [[Int]] = Array(repeating: [], count: 512)

        var count: Int { firstColumn.count }

        static func bucket(_ count: Int, _ first: UInt8) -> Int { (count & 15) << 5 | Int(first & 31) }

        func entry(_ name: String) -> Int {
            let bytes = Array(name.utf8)
            for index in 0..<count where Array(names[nameStarts[index]..<nameStarts[index + 1]]) == bytes {
                return index
            }
            names.append(contentsOf: bytes)
            nameStarts.append(names.count)
            firstColumn.append(-1)
            moreColumns.append([])
            children.append(nil)
            buckets[Self.bucket(bytes.count, bytes.first ?? 0)].append(count - 1)
            return count - 1
        }

        func addColumn(_ column: Int, to entry: Int) {
            if firstColumn[entry] < 0 { firstColumn[entry] = column } else { moreColumns[entry].append(column) }
        }

        @inline(__always)
        func find(_ key: UnsafeRawBufferPointer) -> Int? {
            guard let base = key.baseAddress, !key.isEmpty else { return nil }
            return buckets[Self.bucket(key.count, base.load(as: UInt8.self))].withUnsafeBufferPointer { candidates in
                names.withUnsafeBytes { all in
                    for index in candidates {
                        let start = nameStarts[index]
                        if nameStarts[index + 1] - start == key.count,
                            bytesEqual(all.baseAddress! + start, base, key.count)
                        {
                            return index
                        }
                    }
                    return nil
                }
            }
        }
    }

    let root = Level()
    let keyColumns: [Int]
    let timestampColumns: [Int]
    let offsetColumns: [Int]
    let partitionColumns: [Int]
    /// (point column, longitude column, latitude column).
    let points: [(Int, Int, Int)]
    /// How many values the root level needs before the scan can stop early.
    let wantedAtRoot: Int
    /// Single-value string columns (their codes are looked up after the scan).
    let stringColumns: [Int]

    init(_ config: TableConfig) throws(ViewError) {
        var key: [Int] = [], timestamp: [Int] = [], offset: [Int] = [], partition: [Int] = []
        var points: [(Int, Int, Int)] = []
        for (index, column) in config.columns.enumerated() {
            if column.type == .point, let transform = column.transform {
                let (lon, lat) = try PointTransform.parse(transform, column: column.name, table: config.name)
                let lonIndex = config.columns.firstIndex { $0.name == lon }!
                let latIndex = config.columns.firstIndex { $0.name == lat }!
                points.append((index, lonIndex, latIndex))
                continue
            }
            switch column.source ?? .value {
            case .key: key.append(index)
            case .timestamp: timestamp.append(index)
            case .offset: offset.append(index)
            case .partition: partition.append(index)
            case .value:
                let path = (column.path ?? column.name).split(separator: ".").map(String.init)
                var level = root
                for (depth, part) in path.enumerated() {
                    let entry = level.entry(part)
                    if depth == path.count - 1 {
                        level.addColumn(index, to: entry)
                    } else {
                        if level.children[entry] == nil { level.children[entry] = Level() }
                        level = level.children[entry]!
                    }
                }
            }
        }
        keyColumns = key
        timestampColumns = timestamp
        offsetColumns = offset
        partitionColumns = partition
        self.points = points
        wantedAtRoot = root.count
        stringColumns = config.columns.indices.filter { config.columns[$0].type == .string }
    }

    /// Fills `staged` from the record. Returns false when the value is not a JSON object.
    func decode(
        value: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, timestamp: Int64, offset: Int64, partition: Int,
        columns: [Column], into staged: inout [StagedValue]
    ) -> Bool {
        for index in staged.indices {
            staged[index].present = false
            staged[index].pending = nil
        }
        if let key {
            for index in keyColumns {
                Self.stage(JSONFields.Token(bytes: key, isString: true), columns[index], &staged[index])
            }
        }
        for index in timestampColumns { Self.stage(long: timestamp, columns[index], &staged[index]) }
        for index in offsetColumns { Self.stage(long: offset, columns[index], &staged[index]) }
        for index in partitionColumns { Self.stage(long: Int64(partition), columns[index], &staged[index]) }
        if root.count > 0 {
            guard let value, decodeLevel(root, value, columns, &staged) else { return false }
        }
        // Strings are coded only now: each one's dictionary slot was prefetched when it was parsed, so the
        // cache misses of large dictionaries overlap the parsing of the rest of the record.
        for index in stringColumns where staged[index].pending != nil {
            staged[index].code = columns[index].dictionary.code(staged[index].pending!, hash: staged[index].pendingHash)
            staged[index].pending = nil
        }
        for (point, lonIndex, latIndex) in points {
            let lon = staged[lonIndex], lat = staged[latIndex]
            var slot = StagedValue()
            slot.present = true
            if lon.present, lat.present, !lon.isNull, !lat.isNull {
                let x = columns[lonIndex].type == .long ? Double(lon.long) : lon.double
                let y = columns[latIndex].type == .long ? Double(lat.long) : lat.double
                if x >= -180, x <= 180, y >= -90, y <= 90 {
                    slot.double = x
                    slot.latitude = y
                    slot.isNull = false
                }
            }
            staged[point] = slot
        }
        return true
    }

    private func decodeLevel(
        _ level: Level, _ bytes: UnsafeRawBufferPointer, _ columns: [Column], _ staged: inout [StagedValue]
    ) -> Bool {
        var remaining = level.count
        return JSONFields.scan(bytes) { key, value in
            guard let found = level.find(key.bytes) else { return true }
            let first = level.firstColumn[found]
            if first >= 0 {
                Self.stage(value, columns[first], &staged[first])
                if !level.moreColumns[found].isEmpty {
                    for index in level.moreColumns[found] { Self.stage(value, columns[index], &staged[index]) }
                }
            }
            if !value.isString, value.bytes.first == UInt8(ascii: "{"), let child = level.children[found] {
                _ = decodeLevel(child, value.bytes, columns, &staged)
            }
            remaining -= 1
            return remaining > 0
        }
    }

    static func stage(long: Int64, _ column: Column, _ slot: inout StagedValue) {
        slot.present = true
        slot.isNull = false
        slot.long = long
        slot.double = Double(long)
        slot.bool = long != 0 ? 1 : 0
        if column.type == .string {
            var text = String(long)
            slot.code = text.withUTF8 { column.dictionary.code(UnsafeRawBufferPointer($0)) }
        }
    }

    /// Converts one JSON token to the column's type.
    static func stage(_ token: JSONFields.Token, _ column: Column, _ slot: inout StagedValue) {
        slot.present = true
        slot.pending = nil
        if token.isNull {
            slot.isNull = true
            slot.code = -1
            slot.bool = 2
            if column.isMultiValue { column.pendingList = [] }
            return
        }
        slot.isNull = false
        if column.isMultiValue {
            column.pendingList = listValues(token, column.type)
            return
        }
        switch column.type {
        case .string:
            if token.isString, !token.hasEscapes {
                let hash = StringDictionary.hash(token.bytes)
                column.dictionary.prefetch(hash: hash)
                slot.pending = token.bytes
                slot.pendingHash = hash
            } else {
                var text = token.isString ? (token.string ?? "") : String(decoding: token.bytes, as: UTF8.self)
                slot.code = text.withUTF8 { column.dictionary.code(UnsafeRawBufferPointer($0)) }
            }
        case .long:
            if let v = token.int64 {
                slot.long = v
            } else if let d = NumberParser.double(token.bytes), d.isFinite, abs(d) < 9.2e18 {
                slot.long = Int64(d)
            } else {
                slot.isNull = true
            }
        case .double:
            if let d = NumberParser.double(token.bytes) { slot.double = d } else { slot.isNull = true }
        case .boolean:
            let text = token.bytes
            if text.count == 4, text[0] | 0x20 == UInt8(ascii: "t") {
                slot.bool = 1
            } else if text.count == 5, text[0] | 0x20 == UInt8(ascii: "f") {
                slot.bool = 0
            } else if let v = token.int64 {
                slot.bool = v != 0 ? 1 : 0
            } else {
                slot.bool = 2
                slot.isNull = true
            }
        case .point:
            slot.isNull = true
        }
    }

    /// A JSON array (or a single value) as a list of values of the column's type.
    static func listValues(_ token: JSONFields.Token, _ type: ColumnType) -> [SQLValue] {
        func scalar(_ token: JSONFields.Token) -> SQLValue {
            if token.isNull { return .null }
            switch type {
            case .string: return .string(token.string ?? String(decoding: token.bytes, as: UTF8.self))
            case .long: return token.int64.map(SQLValue.long) ?? .null
            case .double: return NumberParser.double(token.bytes).map(SQLValue.double) ?? .null
            case .boolean: return .bool(token.bytes.first.map { $0 | 0x20 == UInt8(ascii: "t") } ?? false)
            case .point: return .null
            }
        }
        guard !token.isString, token.bytes.first == UInt8(ascii: "[") else { return [scalar(token)] }
        var values: [SQLValue] = []
        JSONFields.elements(token.bytes) { values.append(scalar($0)) }
        return values
    }
}

/// Decimal text to `Double`, exactly as `strtod` would round it.
///
/// Fast path (Clinger): up to 15 significant digits and a power of ten up to 22 are exact doubles, so one
/// multiplication or division rounds correctly; anything else falls back to the standard parser.
enum NumberParser {
    static let powers: [Double] = (0...22).map { pow(10, Double($0)) }

    static func double(_ bytes: UnsafeRawBufferPointer) -> Double? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
        var index = 0
        let end = bytes.count
        let negative = base.load(as: UInt8.self) == UInt8(ascii: "-")
        if negative { index = 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var scale = 0
        var sawDigit = false
        var sawPoint = false
        // Digits before and after one decimal point; each digit after it lowers the scale.
        while index < end {
            let byte = base.load(fromByteOffset: index, as: UInt8.self)
            if byte == UInt8(ascii: "."), !sawPoint {
                sawPoint = true
                index += 1
                continue
            }
            let d = byte &- UInt8(ascii: "0")
            guard d < 10 else { break }
            sawDigit = true
            if mantissa != 0 || d != 0 { digits += 1 }
            mantissa = mantissa &* 10 &+ UInt64(d)
            if sawPoint { scale -= 1 }
            index += 1
        }
        guard sawDigit else { return nil }
        if index < end {
            let e = base.load(fromByteOffset: index, as: UInt8.self)
            guard e | 0x20 == UInt8(ascii: "e") else { return nil }
            return slow(bytes)
        }
        guard digits <= 15, scale >= -22 else { return slow(bytes) }
        var value = Double(mantissa)
        if scale < 0 { value /= powers[-scale] }
        return negative ? -value : value
    }

    static func slow(_ bytes: UnsafeRawBufferPointer) -> Double? {
        Double(String(decoding: bytes, as: UTF8.self))
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
