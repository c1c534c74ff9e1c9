public import EventLog
import EventLogFoundation
import HeapModule
import Synchronization

/// A live, queryable table fed from a topic: Pinot's real-time table in one process.
///
/// ```
///  records ──► RowDecoder ──► upsert decision ──► columns (append-only, doc = row number)
///                                   │                 ├─ valid docs bitmap  (latest row per key)
///                                   └─ key map        ├─ spatial grid of every doc   (skipUpsert)
///                                      key → (doc, comparison, deleted)  └─ spatial grid of valid docs
/// ```
///
/// Every ingested record that is stored becomes a *document*: documents are never changed or removed,
/// which makes the skipUpsert view (every ingested row) trivial and lets queries read columns without
/// copying. Upsert only moves the *valid* bit.
///
/// Invariants (upsert tables):
/// - For every key in the key map, `entry.doc` is the document holding the key's newest record (largest
///   comparison value; ties to the later record); it is valid unless the record was a delete.
/// - A document is valid only if it is some key's `entry.doc`, is not a delete, and has not expired.
/// - Out-of-order records (comparison value below the key's) are stored invalid (or not at all with
///   `dropOutOfOrder`); with `outOfOrderColumn` their row says so.
/// - A PARTIAL upsert stores the merged row, so the newest document alone answers queries.
///
/// Index maintenance is deferred to the queries that need it (``TableIndexes`` has its invariants): ingest
/// only appends and flips valid bits, so a bulk load or catch-up pays one index build instead of an insert
/// and a remove per record. Queries never write under the read lock: a query that finds index work pending
/// runs under the write lock instead, syncing first; every other query shares the read lock.
///
/// Batches of `DecodeRing.parallelThreshold` records or more are decoded on helper threads and applied in
/// order by the writer (see `DecodeRing` for its own invariants); everything below is then done by
/// the writer alone, exactly as for a record ingested on its own.
///
/// Concurrency: one writer (ingest) and any number of readers (queries) share a read-write lock; a query
/// holds the read lock for its whole run, so it sees one consistent state (no torn counts) while ingest
/// waits.
public final class LiveTable: @unchecked Sendable {
    // `@exclusivity(unchecked)` here: the storage properties are written by the one ingesting thread under the
    // write lock and read by queries under the read lock (see the invariants above), never re-entrantly; the
    // runtime checks cost a measurable share of per-row ingest.
    public let config: TableConfig
    let columns: [Column]
    let columnIndex: [String: Int]
    let decoder: RowDecoder
    let lock = ReadWriteLock()
    /// Serializes ``catchUp(from:batch:)``: two catch-ups reading from the same saved offsets would ingest the
    /// same records twice.
    let catchUpLock = ConditionLock()
    /// Parsed statements by query text (see `parsed(_:)`).
    let statements = Locked<[String: SelectStatement]>([:])

    /// Documents stored (every row, including superseded ones).
    @exclusivity(unchecked) private(set) var documentCount = 0
    @exclusivity(unchecked) var valid = Bitmap()
    @exclusivity(unchecked) var keys: KeyMap
    /// Next offset to ingest, per partition of the topic.
    @exclusivity(unchecked) var offsets = OffsetTable()
    /// Unretained views of `columns` for the ingest path (the strong references above keep them alive for
    /// the table's lifetime).
    private var columnRefs: [Unmanaged<Column>] = []
    /// The spatial grids and inverted indexes, brought up to date by queries.
    let indexes: TableIndexes
    /// Records skipped because their value is not a JSON object, and the last one's location.
    private(set) var badRecords = 0
    private(set) var lastBadRecord: String?

    /// The row being applied: `scratch`, or a row of a batch decoded in parallel (see `ingestBuffered`).
    @exclusivity(unchecked) var staged: UnsafeMutablePointer<StagedValue>
    let scratch: UnsafeMutablePointer<StagedValue>
    /// Chunks of rows decoded by helper threads (made on the first parallel batch).
    var decodeRing: DecodeRing?
    /// While a decoded chunk is applied (`deferringAppends`), the rows stored so far: their documents are
    /// numbered at once and their values appended column by column at the end of the chunk
    /// (`appendDeferred`), one array append per column instead of one per value. Nothing reads column
    /// values in between (PARTIAL upserts, which merge the previous row, do not defer).
    @exclusivity(unchecked) var deferringAppends = false
    @exclusivity(unchecked) var deferredCount = 0
    let deferredRows: UnsafeMutablePointer<UnsafeMutablePointer<StagedValue>>
    /// How many batches were decoded on helper threads (tests check the path is taken).
    var parallelBatches = 0
    /// `ingestBatch`'s copies of the records (kept, so its pages are not faulted in again every batch).
    @exclusivity(unchecked) private var batchBuffer = RecordBuffer()
    /// Whether the table keeps the latest row per key.
    let isUpsert: Bool
    /// The upsert options, resolved to column numbers.
    let rules: UpsertRules
    @exclusivity(unchecked) private(set) var largestComparisonSeen = Int64.min
    private var expiry = Heap<ExpiryItem>()
    private var deletedExpiry = Heap<ExpiryItem>()

    struct KeyEntry {
        var doc: Int32
        var comparison: Int64
        var deleted: Bool
    }

    struct ExpiryItem: Comparable {
        let comparison: Int64
        let key: PrimaryKey
        let doc: Int32
        static func < (a: Self, b: Self) -> Bool { a.comparison < b.comparison }
        static func == (a: Self, b: Self) -> Bool { a.comparison == b.comparison }
    }

    /// What SQL `now()` reads when a query does not pass `now` (tests and simulations inject a manual clock).
    let clock: any WallClock

    /// An empty table for `config`; SQL `now()` reads `clock`.
    ///
    /// - Throws: ``ViewError`` with code `invalidConfig` when the definition is inconsistent.
    public init(config: TableConfig, clock: any WallClock = SystemClock()) throws(ViewError) {
        self.clock = clock
        try config.validate()
        self.config = config
        columns = config.columns.map(Column.init)
        var index: [String: Int] = [:]
        for (i, column) in config.columns.enumerated() { index[column.name.lowercased()] = i }
        columnIndex = index
        decoder = try RowDecoder(config)
        scratch = .allocate(capacity: max(1, config.columns.count))
        scratch.initialize(repeating: StagedValue(), count: max(1, config.columns.count))
        staged = scratch
        deferredRows = .allocate(capacity: DecodeRing.chunkRows)
        var denseKey = false
        if let key = config.upsert?.primaryKey, key.count == 1 {
            denseKey = config.columns.first { $0.name == key[0] }?.type == .string
        }
        keys = KeyMap(dense: denseKey)
        isUpsert = config.upsert != nil
        rules = UpsertRules(config, columnIndex: index)
        indexes = TableIndexes(config: config, columnIndex: index)
        columnRefs = columns.map { Unmanaged.passUnretained($0) }
    }

    deinit {
        scratch.deinitialize(count: max(1, columns.count))
        scratch.deallocate()
        deferredRows.deallocate()
    }

    /// The table's name.
    public var name: String { config.name }

    /// Rows visible to ordinary queries (the latest row of each live key; every row of an append table).
    public var rowCount: Int { lock.read { isUpsert ? valid.count : documentCount } }

    /// Every stored row: what a `skipUpsert` query sees.
    public var storedRowCount: Int { lock.read { documentCount } }

    /// The next offset to ingest per partition (what a restart resumes from).
    public var nextOffsets: [Int: Int64] { lock.read { offsets.dictionary } }

    /// How many records were skipped as not being JSON objects, and where the last one was.
    public var skippedRecords: (count: Int, last: String?) { lock.read { (badRecords, lastBadRecord) } }

    // MARK: Ingest

    /// Ingests one record read from `partition` of the table's topic.
    public func ingest(_ record: RecordView, partition: Int) {
        lock.write {
            ingestLocked(
                value: record.value, key: record.key, timestamp: record.timestamp, offset: record.offset,
                partition: partition)
        }
    }

    /// Ingests a JSON document (tests, the StreamJet sink, tools).
    public func ingest(json: String, key: String? = nil, timestamp: Int64 = 0, partition: Int = 0, offset: Int64? = nil)
    {
        var json = json
        var key = key
        lock.write {
            let next = offset ?? offsets[partition] ?? 0
            json.withUTF8 { value in
                if var keyText = key {
                    keyText.withUTF8 { k in
                        ingestLocked(
                            value: UnsafeRawBufferPointer(value), key: UnsafeRawBufferPointer(k), timestamp: timestamp,
                            offset: next, partition: partition)
                    }
                } else {
                    ingestLocked(
                        value: UnsafeRawBufferPointer(value), key: nil, timestamp: timestamp, offset: next,
                        partition: partition)
                }
            }
            key = nil
        }
    }

    /// Ingests many JSON values under one round of the write lock (queries wait for the whole batch, so
    /// they see all of it or none). `body` gets a function taking a value, an optional key and a timestamp;
    /// the bytes need to live only for that call. Offsets count up in partition 0.
    public func ingestBatch(
        _ body: (
            _ ingest: (_ value: UnsafeRawBufferPointer, _ key: UnsafeRawBufferPointer?, _ timestamp: Int64) -> Void
        ) -> Void
    ) {
        // The records are copied, so that a large batch can be decoded on several threads; a long batch
        // is applied in parts (still under the one lock round).
        lock.write {
            var next = offsets[0] ?? 0
            body { value, key, timestamp in
                batchBuffer.append(value: value, key: key, timestamp: timestamp, offset: next, partition: 0)
                next += 1
                if batchBuffer.isFull {
                    ingestBuffered(batchBuffer)
                    batchBuffer.removeAll()
                }
            }
            ingestBuffered(batchBuffer)
            batchBuffer.removeAll()
        }
    }

    /// Makes room for `additionalRows` more documents (a bulk load or a catch-up that knows how many
    /// records are coming), so the column arrays do not regrow on the way.
    public func reserveCapacity(additionalRows: Int) {
        lock.write {
            let total = documentCount + max(0, additionalRows)
            guard total > (columns.first.map { $0.capacityHint } ?? 0) else { return }
            for column in columns { column.reserveCapacity(total) }
        }
    }

    /// Ingests a record; the caller holds the write lock.
    func ingestLocked(
        value: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, timestamp: Int64, offset: Int64, partition: Int
    ) {
        offsets.advance(partition, past: offset)
        staged = scratch
        guard
            decoder.plan.decode(
                value: value, key: key, timestamp: timestamp, offset: offset, partition: partition, columns: columns,
                into: scratch)
        else {
            noteBadRecord(partition: partition, offset: offset)
            return
        }
        decoder.plan.resolveStrings(scratch, columns)
        applyStaged()
    }

    func noteBadRecord(partition: Int, offset: Int64) {
        badRecords += 1
        lastBadRecord =
            "topic '\(config.topic)' partition \(partition) offset \(offset): the value is not a JSON object"
    }

    /// Stores the decoded row `staged` (its strings coded): appended, and upserted by its key.
    @inline(__always)
    func applyStaged() {
        guard isUpsert else {
            let doc = appendStaged()
            valid.insert(doc)
            indexValid(doc)
            return
        }
        upsertStaged()
    }

    private func upsertStaged() {
        let key = primaryKey()
        let comparison = rules.comparisonColumn.map { comparisonValue(staged[$0], columns[$0].type) } ?? Int64.min
        let isDelete = rules.deleteColumn.map { staged[$0].present && staged[$0].bool == 1 } ?? false
        let existing = keys[key]
        if let existing, rules.comparisonColumn != nil, comparison < existing.comparison {
            // Out of order: the key's row stays; the record is kept only for skipUpsert queries.
            if rules.dropsOutOfOrder { return }
            if let flag = rules.outOfOrderColumn { setBool(flag, true) }
            _ = appendStaged()
            return
        }
        if let flag = rules.outOfOrderColumn { setBool(flag, false) }
        if rules.partialUpsert, let existing, !existing.deleted, !isDelete { merge(from: existing.doc) }
        let doc = appendStaged()
        if let existing, !existing.deleted { unindexValid(existing.doc) }
        keys[key] = KeyEntry(doc: doc, comparison: comparison, deleted: isDelete)
        if !isDelete { indexValid(doc) }
        if rules.comparisonColumn != nil {
            largestComparisonSeen = max(largestComparisonSeen, comparison)
            let item = ExpiryItem(comparison: comparison, key: key, doc: doc)
            if isDelete, rules.deletedKeyTTL != nil {
                deletedExpiry.insert(item)
            } else if !isDelete, rules.keyTTL != nil {
                expiry.insert(item)
            }
            if rules.keyTTL != nil || rules.deletedKeyTTL != nil { expireKeys() }
        }
    }

    /// Drops keys whose comparison value fell more than their TTL behind the largest seen: live keys after
    /// `keyTTL`, deleted keys after `deletedKeysTTL` (or `keyTTL`). Each heap holds one item per record;
    /// an item whose key has moved on (another document) is stale and skipped.
    private func expireKeys() {
        if let ttl = rules.keyTTL { expire(&expiry, ttl: ttl, deleted: false) }
        if let ttl = rules.deletedKeyTTL { expire(&deletedExpiry, ttl: ttl, deleted: true) }
    }

    private func expire(_ heap: inout Heap<ExpiryItem>, ttl: Int64, deleted: Bool) {
        let limit = largestComparisonSeen &- ttl
        while let first = heap.min, first.comparison < limit {
            _ = heap.removeMin()
            guard let entry = keys[first.key], entry.doc == first.doc, entry.deleted == deleted else { continue }
            if !deleted { unindexValid(entry.doc) }
            keys[first.key] = nil
        }
    }

    private func setBool(_ column: Int, _ value: Bool) {
        staged[column].present = true
        staged[column].isNull = false
        staged[column].bool = value ? 1 : 0
    }

    private func indexValid(_ doc: Int32) {
        valid.insert(doc)
        noteValidChange(doc)
    }

    private func unindexValid(_ doc: Int32) {
        valid.remove(doc)
        noteValidChange(doc)
    }

    @inline(__always)
    private func noteValidChange(_ doc: Int32) { indexes.noteValidChange(doc, validCount: valid.count) }

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

    /// The grid of every document of point column `column` (up to date: queries sync before they run).
    func allDocumentsGrid(_ column: Int) -> SpatialGrid? {
        assert(indexes.allDocumentsIndexed(documentCount: documentCount), "the query synced without allDocuments")
        return indexes.allDocuments[column]
    }

    private func primaryKey() -> PrimaryKey {
        var key = PrimaryKey()
        for (position, index) in rules.keyColumns.enumerated() {
            let slot = staged[index]
            let part: Int64
            if !slot.present || slot.isNull {
                part = Int64.min
            } else {
                switch columns[index].type {
                case .string: part = Int64(slot.code)
                case .long: part = slot.long
                case .double: part = Int64(bitPattern: slot.double.bitPattern)
                case .boolean: part = Int64(slot.bool)
                case .point: part = 0
                }
            }
            key[position] = part
        }
        return key
    }

    /// An Int64 with the same order as the column's values (doubles by their ordered bit pattern).
    private func comparisonValue(_ slot: StagedValue, _ type: ColumnType) -> Int64 {
        guard slot.present, !slot.isNull else { return Int64.min }
        if type == .long { return slot.long }
        let bits = slot.double.bitPattern
        let ordered = bits >> 63 == 1 ? ~bits : bits | (1 << 63)
        return Int64(bitPattern: ordered ^ (1 << 63))
    }

    /// PARTIAL upsert: folds the previous row into the staged one, column by column.
    private func merge(from previous: Int32) {
        for (index, strategy) in rules.strategies.enumerated() {
            guard let strategy, columns[index].definition.transform == nil else { continue }
            let column = columns[index]
            let old = column.value(previous)
            let new = stagedValue(index)
            let merged: SQLValue
            if !staged[index].present || staged[index].isNull {
                merged = old
            } else {
                switch strategy {
                case .overwrite: merged = new
                case .ignore: merged = old.isNull ? new : old
                case .increment:
                    if case .long(let a) = old, case .long(let b) = new {
                        merged = .long(a &+ b)
                    } else if let a = old.number, let b = new.number {
                        merged = .double(a + b)
                    } else {
                        merged = new
                    }
                case .max: merged = (SQLValue.compare(old, new) ?? -1) >= 0 ? old : new
                case .min: merged = (SQLValue.compare(old, new) ?? 1) <= 0 ? old : new
                case .append:
                    if case .array(let a) = old, case .array(let b) = new {
                        merged = .array(a + b)
                    } else {
                        merged = new
                    }
                case .union:
                    if case .array(let a) = old, case .array(let b) = new {
                        var seen = Set(a)
                        merged = .array(a + b.filter { seen.insert($0).inserted })
                    } else {
                        merged = new
                    }
                }
            }
            setStaged(index, merged)
        }
        // Points follow their (merged) coordinates.
        for (point, lonIndex, latIndex) in decoder.points {
            let lon = stagedValue(lonIndex).number, lat = stagedValue(latIndex).number
            var slot = StagedValue()
            slot.present = true
            if let lon, let lat, (-180...180).contains(lon), (-90...90).contains(lat) {
                slot.double = lon
                slot.latitude = lat
                slot.isNull = false
            }
            staged[point] = slot
        }
    }

    private func stagedValue(_ index: Int) -> SQLValue {
        let slot = staged[index]
        let column = columns[index]
        guard slot.present, !slot.isNull else { return column.isMultiValue ? .array([]) : .null }
        if column.isMultiValue { return .array(column.pendingList) }
        switch column.type {
        case .string: return slot.code < 0 ? .null : .string(column.dictionary.strings[Int(slot.code)])
        case .long: return .long(slot.long)
        case .double: return .double(slot.double)
        case .boolean: return slot.bool == 2 ? .null : .bool(slot.bool == 1)
        case .point: return .point(GeoPoint(unchecked: slot.double, slot.latitude))
        }
    }

    private func setStaged(_ index: Int, _ value: SQLValue) {
        let column = columns[index]
        var slot = StagedValue()
        slot.present = true
        slot.isNull = value.isNull
        if column.isMultiValue {
            if case .array(let values) = value { column.pendingList = values }
            slot.isNull = false
        } else {
            switch (column.type, value) {
            case (.string, .string(let s)): slot.code = column.dictionary.code(s)
            case (.long, .long(let v)): slot.long = v
            case (.long, .double(let d)):
                if let v = SQLValue.exactLong(d) { slot.long = v } else { slot.isNull = true }
            case (.double, _): slot.double = value.number ?? 0
            case (.boolean, .bool(let b)): slot.bool = b ? 1 : 0
            default: slot.isNull = true
            }
        }
        staged[index] = slot
    }

    /// Appends the staged row as a new document: numbered at once, its values copied now or, while a
    /// decoded chunk is applied, with the chunk's other rows (see `deferredRows`).
    private func appendStaged() -> Int32 {
        let doc = Int32(documentCount)
        deferredRows[deferredCount] = staged
        deferredCount += 1
        documentCount += 1
        if !deferringAppends { appendDeferred() }
        return doc
    }

    /// Appends the deferred rows' values, column by column. (A multi-value column stages its list in the
    /// column, so such tables never defer more than one row.)
    func appendDeferred() {
        let n = deferredCount, rows = deferredRows
        deferredCount = 0
        guard n > 0 else { return }
        @inline(__always)
        func append<T>(_ array: inout [T], _ value: (UnsafeMutablePointer<StagedValue>) -> T) {
            withUnsafeTemporaryAllocation(of: T.self, capacity: n) { buffer in
                for k in 0..<n { buffer.initializeElement(at: k, to: value(rows[k])) }
                array.append(contentsOf: UnsafeBufferPointer(buffer))
            }
        }
        for index in 0..<columnRefs.count {
            columnRefs[index]._withUnsafeGuaranteedRef { column in
                @inline(__always)
                func isNull(_ row: UnsafeMutablePointer<StagedValue>) -> Bool {
                    !row[index].present || row[index].isNull
                }
                if column.isMultiValue {
                    for k in 0..<n { column.lists.append(isNull(rows[k]) ? [] : column.pendingList) }
                    return
                }
                switch column.type {
                case .string: append(&column.codes) { isNull($0) ? -1 : $0[index].code }
                case .long:
                    append(&column.longs) { isNull($0) ? 0 : $0[index].long }
                    append(&column.nulls) { isNull($0) }
                case .double:
                    append(&column.doubles) { isNull($0) ? 0 : $0[index].double }
                    append(&column.nulls) { isNull($0) }
                case .boolean: append(&column.bytes) { isNull($0) ? 2 : $0[index].bool }
                case .point:
                    append(&column.doubles) { isNull($0) ? 0 : $0[index].double }
                    append(&column.latitudes) { isNull($0) ? 0 : $0[index].latitude }
                    append(&column.nulls) { isNull($0) }
                }
            }
        }
    }

    /// Installs restored storage after checking it is consistent; rebuilds the TTL heaps and leaves the
    /// indexes to the first query.
    func installRestored(
        count: Int, offsets: [Int: Int64], valid: Bitmap, keys: KeyMap, largest: Int64
    ) throws(BinaryReader.Failure) {
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
                throw .init("column '\(column.name)' has \(lengths) values for \(count) rows")
            }
            if column.type == .string, !column.isMultiValue,
                column.codes.contains(where: { $0 < -1 || Int($0) >= column.dictionary.count })
            {
                throw .init("column '\(column.name)' refers to strings outside its dictionary")
            }
        }
        for (index, column) in columns.enumerated() where column.type == .point && !column.isMultiValue {
            for doc in 0..<count where !column.nulls[doc] {
                let lon = column.doubles[doc], lat = column.latitudes[doc]
                guard lon >= -180, lon <= 180, lat >= -90, lat <= 90 else {
                    throw .init("point column '\(config.columns[index].name)' row \(doc) has coordinates out of range")
                }
            }
        }
        for (word, bits) in valid.words.enumerated()
        where bits != 0 && (word << 6) + (63 - bits.leadingZeroBitCount) >= count {
            throw .init("valid bit \((word << 6) + (63 - bits.leadingZeroBitCount)) is beyond the \(count) rows")
        }
        var inRange = true
        keys.forEach { _, entry in inRange = inRange && entry.doc >= 0 && Int(entry.doc) < count }
        guard inRange else {
            throw .init("the key map refers to rows beyond the \(count) stored")
        }
        documentCount = count
        self.offsets = OffsetTable(offsets)
        self.valid = valid
        self.keys = keys
        largestComparisonSeen = largest
        // The indexes are rebuilt by the first query that needs them.
        indexes.reset(rebuildValid: true)
        expiry = Heap()
        deletedExpiry = Heap()
        if rules.keyTTL != nil || rules.deletedKeyTTL != nil {
            keys.forEach { key, entry in
                let item = ExpiryItem(comparison: entry.comparison, key: key, doc: entry.doc)
                if entry.deleted { deletedExpiry.insert(item) } else { expiry.insert(item) }
            }
        }
    }

    /// Empties the table (a snapshot that failed to load half-way).
    func resetStorage() {
        for column in columns {
            column.truncate(to: 0)
            column.dictionary.replace(with: [])
        }
        documentCount = 0
        offsets = OffsetTable()
        valid = Bitmap()
        keys = KeyMap(dense: keys.dense)
        largestComparisonSeen = Int64.min
        indexes.reset(rebuildValid: false)
        expiry = Heap()
        deletedExpiry = Heap()
    }

}

/// Up to four primary-key parts, each a column's code (string dictionary code, long value, double bits).
struct PrimaryKey: Hashable {
    var parts: (Int64, Int64, Int64, Int64) = (0, 0, 0, 0)

    subscript(index: Int) -> Int64 {
        get {
            switch index {
            case 0: parts.0
            case 1: parts.1
            case 2: parts.2
            default: parts.3
            }
        }
        set {
            switch index {
            case 0: parts.0 = newValue
            case 1: parts.1 = newValue
            case 2: parts.2 = newValue
            default: parts.3 = newValue
            }
        }
    }

    static func == (a: Self, b: Self) -> Bool {
        a.parts.0 == b.parts.0 && a.parts.1 == b.parts.1 && a.parts.2 == b.parts.2 && a.parts.3 == b.parts.3
    }

    func hash(into hasher: inout Hasher) {
        // One combine of a multiplicative mix: the parts are small dense codes, so this spreads them well
        // and costs a quarter of combining each.
        var h = UInt64(bitPattern: parts.0) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ UInt64(bitPattern: parts.1)) &* 0xFF51_AFD7_ED55_8CCD
        h = (h ^ UInt64(bitPattern: parts.2)) &* 0xC4CE_B9FE_1A85_EC53
        h ^= UInt64(bitPattern: parts.3)
        hasher.combine(h)
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension LiveTable {
    /// The current row of a primary key (upsert tables), or nil when the key is absent, deleted or
    /// expired: stream-to-view enrichment from a pipeline stage, e.g.
    /// `.map { event in (event, drivers.lookup(.string(event.driverId))?["driverLat"]) }`.
    ///
    /// - Parameter key: One value per primary-key column, in order.
    /// - Returns: Column name → value for every column.
    public func lookup(_ key: SQLValue...) -> [String: SQLValue]? {
        lock.read {
            guard isUpsert, key.count == rules.keyColumns.count else { return nil }
            var primary = PrimaryKey()
            for (position, (value, index)) in zip(key, rules.keyColumns).enumerated() {
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
            var row: [String: SQLValue] = [:]
            for column in columns { row[column.name] = column.value(entry.doc) }
            return row
        }
    }
}
