import EventLogFoundation

/// What a live table holds: one value per document in each column, which documents are valid, an upsert
/// table's key map, the next offset per partition, and the lazy indexes.
///
/// Invariants (whenever the table's write lock is free):
/// - Every column holds exactly `documentCount` values; a string column's codes are −1 (null) or inside its
///   dictionary; a point's coordinates are in range.
/// - Every valid bit, and every key entry's document, is below `documentCount`.
/// - A stored document never changes and is never removed; only valid bits move (upsert) — so a query
///   reads columns in place, without copying.
/// - `indexes` keeps ``TableIndexes``' invariants over these columns and this valid set.
///
/// Written under the table's write lock only: by its ``TableWriter`` (ingest), by snapshot restore
/// (``install(count:offsets:valid:keys:)``, which checks the invariants first) and by a query syncing the
/// indexes. Queries read it through a ``TableView``, which has no way to write.
final class TableStorage {
    // `@exclusivity(unchecked)` here: written by one thread under the table's write lock, read under either
    // lock, never re-entrantly; the runtime checks cost a measurable share of per-row ingest.
    let config: TableConfig
    let columns: [Column]
    /// Lower-cased column name → column number.
    let columnIndex: [String: Int]
    /// Whether the table keeps the latest row per key.
    let isUpsert: Bool
    /// Documents stored (every row, including superseded ones).
    @exclusivity(unchecked) var documentCount = 0
    @exclusivity(unchecked) var valid = Bitmap()
    @exclusivity(unchecked) var keys: KeyMap
    /// Next offset to ingest, per partition of the topic.
    @exclusivity(unchecked) var offsets = OffsetTable()
    /// The spatial grids and inverted indexes, brought up to date by queries.
    let indexes: TableIndexes
    /// The primary key's column numbers (upsert tables).
    let keyColumns: [Int]

    init(config: TableConfig) {
        self.config = config
        columns = config.columns.map(Column.init)
        var index: [String: Int] = [:]
        for (i, column) in config.columns.enumerated() { index[column.name.lowercased()] = i }
        columnIndex = index
        var denseKey = false
        if let key = config.upsert?.primaryKey, key.count == 1 {
            denseKey = config.columns.first { $0.name == key[0] }?.type == .string
        }
        keys = KeyMap(dense: denseKey)
        isUpsert = config.upsert != nil
        keyColumns = (config.upsert?.primaryKey ?? []).compactMap { index[$0.lowercased()] }
        indexes = TableIndexes(config: config, columnIndex: index)
    }

    /// Rows visible to ordinary queries (the latest row of each live key; every row of an append table).
    var visibleCount: Int { isUpsert ? valid.count : documentCount }

    /// Makes room for `additionalRows` more documents.
    func reserveCapacity(additionalRows: Int) {
        let total = documentCount + max(0, additionalRows)
        guard total > (columns.first.map { $0.capacityHint } ?? 0) else { return }
        for column in columns { column.reserveCapacity(total) }
    }

    // MARK: Indexes

    /// Whether a query must first bring the indexes it reads up to date, which it then does under the write
    /// lock (``syncIndexes(allDocuments:)``); `allDocuments`: whether it reads the grids of every document (an
    /// append table's, or a `skipUpsert` query's). Read under either lock.
    func indexesPending(allDocuments: Bool) -> Bool {
        indexes.isPending(documentCount: documentCount, allDocuments: allDocuments)
    }

    /// Brings the indexes a query reads up to date; the caller holds the write lock.
    func syncIndexes(allDocuments: Bool) {
        indexes.sync(columns: columns, valid: valid, documentCount: documentCount, allDocuments: allDocuments)
    }

    // MARK: Rows by key

    /// The valid document holding `key`'s current row (one value per primary-key column), or nil when the key
    /// is absent, deleted or expired.
    func currentDocument(key: [SQLValue]) -> Int32? {
        guard isUpsert, key.count == keyColumns.count else { return nil }
        var primary = PrimaryKey()
        for (position, (value, index)) in zip(key, keyColumns).enumerated() {
            let column = columns[index]
            switch (column.type, value) {
            case (_, .null): primary[position] = Int64.min
            case (.string, .string(let s)):
                guard let code = column.dictionary.find(s) else { return nil }
                primary[position] = Int64(code)
            case (.long, .long(let v)): primary[position] = v
            case (.double, _):
                guard let v = value.number else { return nil }
                primary[position] = Int64(bitPattern: v.bitPattern)
            case (.boolean, .bool(let b)): primary[position] = b ? 1 : 0
            default: return nil
            }
        }
        guard let entry = keys[primary], !entry.deleted, valid.contains(entry.doc) else { return nil }
        return entry.doc
    }

    /// Column name → value of document `doc`.
    func row(_ doc: Int32) -> [String: SQLValue] {
        var row: [String: SQLValue] = [:]
        for column in columns { row[column.name] = column.value(doc) }
        return row
    }

    // MARK: Restore

    /// Installs restored contents (the columns already hold their values) after checking the invariants
    /// above; the indexes are left to the first query.
    func install(count: Int, offsets: [Int: Int64], valid: Bitmap, keys: KeyMap) throws(BinaryReader.Failure) {
        if let violation = Self.violation(columns: columns, count: count, valid: valid, keys: keys) {
            throw .init(violation)
        }
        documentCount = count
        self.offsets = OffsetTable(offsets)
        self.valid = valid
        self.keys = keys
        indexes.reset(rebuildValid: true)
    }

    /// The first invariant above that does not hold, or nil (tests check it after every step of their
    /// models; a restore checks it before installing).
    func invariantViolation() -> String? {
        Self.violation(columns: columns, count: documentCount, valid: valid, keys: keys)
    }

    private static func violation(columns: [Column], count: Int, valid: Bitmap, keys: KeyMap) -> String? {
        for column in columns {
            var lengths: [Int] = [column.lists.count]
            if !column.isMultiValue {
                lengths =
                    switch column.type {
                    case .string: [column.codes.count]
                    case .long: [column.longs.count, column.nulls.count]
                    case .double: [column.doubles.count, column.nulls.count]
                    case .boolean: [column.bytes.count]
                    case .point: [column.doubles.count, column.latitudes.count, column.nulls.count]
                    }
            }
            guard lengths.allSatisfy({ $0 == count }) else {
                return "column '\(column.name)' has \(lengths) values for \(count) rows"
            }
            if column.type == .string, !column.isMultiValue,
                column.codes.contains(where: { $0 < -1 || Int($0) >= column.dictionary.count })
            {
                return "column '\(column.name)' refers to strings outside its dictionary"
            }
            if column.type == .point, !column.isMultiValue {
                for doc in 0..<count where !column.nulls[doc] {
                    let lon = column.doubles[doc], lat = column.latitudes[doc]
                    guard lon >= -180, lon <= 180, lat >= -90, lat <= 90 else {
                        return "point column '\(column.name)' row \(doc) has coordinates out of range"
                    }
                }
            }
        }
        for (word, bits) in valid.words.enumerated()
        where bits != 0 && (word << 6) + (63 - bits.leadingZeroBitCount) >= count {
            return "valid bit \((word << 6) + (63 - bits.leadingZeroBitCount)) is beyond the \(count) rows"
        }
        var inRange = true
        keys.forEach { _, entry in inRange = inRange && entry.doc >= 0 && Int(entry.doc) < count }
        return inRange ? nil : "the key map refers to rows beyond the \(count) stored"
    }

    /// Empties the storage (a snapshot that failed to load half-way).
    func reset() {
        for column in columns {
            column.truncate(to: 0)
            column.dictionary.replace(with: [])
        }
        documentCount = 0
        offsets = OffsetTable()
        valid = Bitmap()
        keys = KeyMap(dense: keys.dense)
        indexes.reset(rebuildValid: false)
    }
}

/// The read-only side of a live table, which SQL executes against (under the table's read lock, or its write
/// lock once the indexes are synced): everything a query reads, nothing it could write with.
struct TableView {
    private let storage: TableStorage

    init(_ storage: TableStorage) { self.storage = storage }

    var config: TableConfig { storage.config }
    var name: String { storage.config.name }
    var columns: [Column] { storage.columns }
    var columnIndex: [String: Int] { storage.columnIndex }
    var isUpsert: Bool { storage.isUpsert }
    var documentCount: Int { storage.documentCount }
    var valid: Bitmap { storage.valid }

    /// The inverted index of column `column`, when it has one.
    func postings(_ column: Int) -> PostingLists? { storage.indexes.postings[column] }

    /// The grid of the valid documents of point column `column` (upsert tables).
    func validDocumentsGrid(_ column: Int) -> SpatialGrid? { storage.indexes.validDocuments[column] }

    /// The grid of every document of point column `column` (up to date: queries sync before they run).
    func allDocumentsGrid(_ column: Int) -> SpatialGrid? {
        assert(
            storage.indexes.allDocumentsIndexed(documentCount: storage.documentCount),
            "the query synced without allDocuments")
        return storage.indexes.allDocuments[column]
    }
}
