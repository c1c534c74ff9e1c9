import EventLog
import EventLogFoundation

/// One column's value for the row being ingested, before it is stored.
struct StagedValue {
    var present = false
    var long: Int64 = 0
    var double: Double = 0
    var latitude: Double = 0
    var code: Int32 = -1
    var bool: UInt8 = 2
    var isNull = true
    /// A string whose dictionary code is still to be looked up (`RowDecoder.resolveStrings`), while the
    /// record's bytes are alive: decoding never touches a dictionary, so records can be decoded on other
    /// threads while one thread codes and applies them in order.
    var pendingKind = PendingKind.none
    var pending: UnsafeRawBufferPointer? = nil
    /// `pending`'s dictionary hash (`.text` only).
    var pendingHash: UInt64 = 0

    enum PendingKind: UInt8 {
        case none
        /// `pending` is the text.
        case text
        /// `pending` is a JSON string's contents with backslash escapes still to decode.
        case escaped
        /// The text is `long` in decimal (a timestamp, offset or partition stored in a string column).
        case decimal
    }
}

/// Turns records into staged row values: a matcher over the JSON keys the columns need (nested paths
/// too), typed conversion without allocation, and the point transforms.
///
/// Written by hand: this is the ingest hot path (one pass over each record's bytes). Everything the decode
/// reads is frozen at `init` into one block of integers (`Plan`), so decoding touches no reference counts:
/// it runs on several threads at once in a parallel ingest, where shared counts would bounce between cores.
struct RowDecoder {
    /// A JSON object level while the plan is built: its keys, the columns each feeds and nested levels.
    final class Level {
        var names: [[UInt8]] = []
        var columns: [[Int]] = []
        var children: [Level?] = []

        func entry(_ name: String) -> Int {
            let bytes = Array(name.utf8)
            if let index = names.firstIndex(of: bytes) { return index }
            names.append(bytes)
            columns.append([])
            children.append(nil)
            return names.count - 1
        }
    }

    /// The frozen decode tables: integer lists addressed by `Plan.List`, all in `words`.
    ///
    /// Layout: per level `1 + 2 × 512` words (its key count, then per (length, first byte) bucket the
    /// start and count of its candidate entries); per entry 5 words (name offset, name length, start and
    /// count of its columns, child level or −1).
    struct Plan {
        struct List {
            var start = 0
            var count = 0
        }

        static let buckets = 512
        static let levelWords = 1 + 2 * buckets
        static let entryWords = 5

        let words: UnsafePointer<Int32>
        let names: UnsafePointer<UInt8>
        let types: UnsafePointer<ColumnType>
        let multiValue: UnsafePointer<Bool>
        let width: Int
        let levels: Int
        let keyColumns: List
        let timestampColumns: List
        let offsetColumns: List
        let partitionColumns: List
        let stringColumns: List
        /// Triples (point column, longitude column, latitude column).
        let points: List

        @inline(__always)
        static func bucket(_ count: Int, _ first: UInt8) -> Int { (count & 15) << 5 | Int(first & 31) }

        @inline(__always)
        func word(_ index: Int) -> Int { Int(words[index]) }

        @inline(__always)
        func keyCount(level: Int) -> Int { word(level * Self.levelWords) }

        @inline(__always)
        func entryBase(_ entry: Int) -> Int { levels * Self.levelWords + entry * Self.entryWords }

        /// The entry of `level` named `key`, if the columns need it.
        @inline(__always)
        func find(_ key: UnsafeRawBufferPointer, level: Int) -> Int? {
            guard let base = key.baseAddress, !key.isEmpty else { return nil }
            let bucket = level * Self.levelWords + 1 + 2 * Self.bucket(key.count, base.load(as: UInt8.self))
            let start = word(bucket), count = word(bucket + 1)
            for i in start..<start + count {
                let entry = word(i), e = entryBase(entry)
                if word(e + 1) == key.count, bytesEqual(names + word(e), base, key.count) { return entry }
            }
            return nil
        }
    }

    /// Owns the plan's memory.
    private final class Storage: @unchecked Sendable {
        let words: UnsafeMutableBufferPointer<Int32>
        let names: UnsafeMutableBufferPointer<UInt8>
        let types: UnsafeMutableBufferPointer<ColumnType>
        let multiValue: UnsafeMutableBufferPointer<Bool>

        init(words: [Int32], names: [UInt8], types: [ColumnType], multiValue: [Bool]) {
            func copy<T>(_ array: [T], _ filler: T) -> UnsafeMutableBufferPointer<T> {
                let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: max(1, array.count))
                _ = buffer.initialize(from: array.isEmpty ? [filler] : array)
                return buffer
            }
            self.words = copy(words, 0)
            self.names = copy(names, 0)
            self.types = copy(types, .long)
            self.multiValue = copy(multiValue, false)
        }

        deinit {
            words.deallocate()
            names.deallocate()
            types.deallocate()
            multiValue.deallocate()
        }
    }

    private let storage: Storage
    let plan: Plan
    /// (point column, longitude column, latitude column), for PARTIAL merges.
    let points: [(Int, Int, Int)]
    /// Whether any column holds a list of values (their lists are staged in the column, so such tables
    /// are decoded on the applying thread).
    let hasMultiValue: Bool

    init(_ config: TableConfig) throws(ViewError) {
        var key: [Int] = [], timestamp: [Int] = [], offset: [Int] = [], partition: [Int] = []
        var points: [(Int, Int, Int)] = []
        let root = Level()
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
                        level.columns[entry].append(index)
                    } else {
                        if level.children[entry] == nil { level.children[entry] = Level() }
                        level = level.children[entry]!
                    }
                }
            }
        }
        self.points = points
        let types = config.columns.map(\.type), multiValue = config.columns.map { $0.multiValue == true }
        hasMultiValue = multiValue.contains(true)

        // Levels in breadth-first order (root = 0), entries numbered level by level.
        var levels = [root]
        var next = 0
        while next < levels.count {
            for child in levels[next].children { if let child { levels.append(child) } }
            next += 1
        }
        let entryCount = levels.reduce(0) { $0 + $1.names.count }
        var words = [Int32](repeating: 0, count: levels.count * Plan.levelWords + entryCount * Plan.entryWords)
        var names: [UInt8] = []
        var tail: [Int32] = []
        let tailStart = words.count
        func list(_ values: [Int]) -> Plan.List {
            defer { tail.append(contentsOf: values.map { Int32($0) }) }
            return Plan.List(start: tailStart + tail.count, count: values.count)
        }
        var entry = 0
        var childLevel = 1
        for (levelIndex, level) in levels.enumerated() {
            let base = levelIndex * Plan.levelWords
            words[base] = Int32(level.names.count)
            var buckets = [[Int]](repeating: [], count: Plan.buckets)
            for (i, name) in level.names.enumerated() {
                let e = levels.count * Plan.levelWords + (entry + i) * Plan.entryWords
                buckets[Plan.bucket(name.count, name.first ?? 0)].append(entry + i)
                words[e] = Int32(names.count)
                words[e + 1] = Int32(name.count)
                names.append(contentsOf: name)
                let columns = list(level.columns[i])
                words[e + 2] = Int32(columns.start)
                words[e + 3] = Int32(columns.count)
                if level.children[i] != nil {
                    words[e + 4] = Int32(childLevel)
                    childLevel += 1
                } else {
                    words[e + 4] = -1
                }
            }
            for (b, candidates) in buckets.enumerated() {
                let candidateList = list(candidates)
                words[base + 1 + 2 * b] = Int32(candidateList.start)
                words[base + 2 + 2 * b] = Int32(candidateList.count)
            }
            entry += level.names.count
        }
        let keyList = list(key), timestampList = list(timestamp), offsetList = list(offset)
        let partitionList = list(partition)
        let stringList = list(types.indices.filter { types[$0] == .string && !multiValue[$0] })
        let pointList = list(points.flatMap { [$0.0, $0.1, $0.2] })
        storage = Storage(words: words + tail, names: names, types: types, multiValue: multiValue)
        plan = Plan(
            words: UnsafePointer(storage.words.baseAddress!), names: UnsafePointer(storage.names.baseAddress!),
            types: UnsafePointer(storage.types.baseAddress!),
            multiValue: UnsafePointer(storage.multiValue.baseAddress!), width: types.count, levels: levels.count,
            keyColumns: keyList, timestampColumns: timestampList, offsetColumns: offsetList,
            partitionColumns: partitionList, stringColumns: stringList, points: pointList)
    }

}

extension RowDecoder.Plan {
    @inline(__always)
    func forEach(_ list: List, _ body: (Int) -> Void) {
        for i in list.start..<list.start + list.count { body(word(i)) }
    }

    /// Fills `row` (one slot per column) from the record; strings are left pending (see `StagedValue`).
    /// Returns false when the value is not a JSON object.
    ///
    /// With `columns` (the single-threaded path) each string's dictionary slot is prefetched as it is
    /// seen, so the cache misses of large dictionaries overlap the parsing of the rest of the record, and
    /// multi-value columns stage their lists in their column. Without it the decode reads nothing but the
    /// record and the plan, and may run on any thread (a table without multi-value columns).
    func decode(
        value: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, timestamp: Int64, offset: Int64, partition: Int,
        columns: [Column]?, into row: UnsafeMutablePointer<StagedValue>
    ) -> Bool {
        for index in 0..<width {
            row[index].present = false
            row[index].pendingKind = .none
        }
        if let key {
            forEach(keyColumns) { index in
                if types[index] == .string, !multiValue[index] {
                    RowDecoder.stage(text: key, &row[index])  // raw bytes, not JSON: no escapes to decode
                    prefetch(index, row, columns)
                } else {
                    stage(JSONFields.Token(bytes: key, isString: true), index, columns, row)
                }
            }
        }
        forEach(timestampColumns) { RowDecoder.stage(long: timestamp, types[$0], &row[$0]) }
        forEach(offsetColumns) { RowDecoder.stage(long: offset, types[$0], &row[$0]) }
        forEach(partitionColumns) { RowDecoder.stage(long: Int64(partition), types[$0], &row[$0]) }
        if keyCount(level: 0) > 0 {
            guard let value, decodeLevel(0, value, columns, row) else { return false }
        }
        var i = points.start
        while i < points.start + points.count {
            let point = word(i), lonIndex = word(i + 1), latIndex = word(i + 2)
            i += 3
            let lon = row[lonIndex], lat = row[latIndex]
            var slot = StagedValue()
            slot.present = true
            if lon.present, lat.present, !lon.isNull, !lat.isNull {
                let x = types[lonIndex] == .long ? Double(lon.long) : lon.double
                let y = types[latIndex] == .long ? Double(lat.long) : lat.double
                if x >= -180, x <= 180, y >= -90, y <= 90 {
                    slot.double = x
                    slot.latitude = y
                    slot.isNull = false
                }
            }
            row[point] = slot
        }
        return true
    }

    /// Codes the row's pending strings in their columns' dictionaries (on the one thread that applies rows).
    @inline(__always)
    func resolveStrings(_ row: UnsafeMutablePointer<StagedValue>, _ columns: [Column]) {
        forEach(stringColumns) { index in
            guard row[index].pendingKind != .none else { return }
            let dictionary = columns[index].dictionary
            switch row[index].pendingKind {
            case .text: row[index].code = dictionary.code(row[index].pending!, hash: row[index].pendingHash)
            case .escaped:
                var text = JSONFields.Token(bytes: row[index].pending!, isString: true).string ?? ""
                row[index].code = text.withUTF8 { dictionary.code(UnsafeRawBufferPointer($0)) }
            case .decimal:
                var text = String(row[index].long)
                row[index].code = text.withUTF8 { dictionary.code(UnsafeRawBufferPointer($0)) }
            case .none: break
            }
            row[index].pendingKind = .none
            row[index].pending = nil
        }
    }

    /// Starts loading the dictionary slots of the row's pending strings (ahead of `resolveStrings`).
    @inline(__always)
    func prefetchStrings(_ row: UnsafeMutablePointer<StagedValue>, _ columns: [Column]) {
        forEach(stringColumns) { index in
            if row[index].pendingKind == .text { columns[index].dictionary.prefetch(hash: row[index].pendingHash) }
        }
    }

    @inline(__always)
    private func prefetch(_ index: Int, _ row: UnsafeMutablePointer<StagedValue>, _ columns: [Column]?) {
        if let columns, row[index].pendingKind == .text {
            columns[index].dictionary.prefetch(hash: row[index].pendingHash)
        }
    }

    private func decodeLevel(
        _ level: Int, _ bytes: UnsafeRawBufferPointer, _ columns: [Column]?, _ row: UnsafeMutablePointer<StagedValue>
    ) -> Bool {
        var remaining = keyCount(level: level)
        return JSONFields.scan(bytes) { key, value in
            guard let found = find(key.bytes, level: level) else { return true }
            let e = entryBase(found)
            let start = word(e + 2)
            for i in start..<start + word(e + 3) { stage(value, word(i), columns, row) }
            let child = word(e + 4)
            if child >= 0, !value.isString, value.bytes.first == UInt8(ascii: "{") {
                _ = decodeLevel(child, value.bytes, columns, row)
            }
            remaining -= 1
            return remaining > 0
        }
    }

    @inline(__always)
    private func stage(
        _ token: JSONFields.Token, _ index: Int, _ columns: [Column]?, _ row: UnsafeMutablePointer<StagedValue>
    ) {
        if multiValue[index] {
            // Only on the single-threaded path (tables with multi-value columns are decoded there).
            row[index].present = true
            row[index].isNull = token.isNull
            columns![index].pendingList = token.isNull ? [] : RowDecoder.listValues(token, types[index])
            return
        }
        RowDecoder.stage(token, types[index], &row[index])
        prefetch(index, row, columns)
    }
}

extension RowDecoder {
    static func stage(long: Int64, _ type: ColumnType, _ slot: inout StagedValue) {
        slot.present = true
        slot.isNull = false
        slot.long = long
        slot.double = Double(long)
        slot.bool = long != 0 ? 1 : 0
        if type == .string { slot.pendingKind = .decimal }
    }

    /// Stages raw bytes (a record key) as the text of a string column.
    static func stage(text: UnsafeRawBufferPointer, _ slot: inout StagedValue) {
        slot.present = true
        slot.isNull = false
        slot.pendingKind = .text
        slot.pending = text
        slot.pendingHash = StringDictionary.hash(text)
    }

    /// Converts one JSON token to the column's type.
    static func stage(_ token: JSONFields.Token, _ type: ColumnType, _ slot: inout StagedValue) {
        slot.present = true
        if token.isNull {
            slot.isNull = true
            slot.code = -1
            slot.bool = 2
            return
        }
        slot.isNull = false
        switch type {
        case .string:
            if token.isString, token.hasEscapes {
                slot.pendingKind = .escaped
                slot.pending = token.bytes
            } else {
                stage(text: token.bytes, &slot)
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
