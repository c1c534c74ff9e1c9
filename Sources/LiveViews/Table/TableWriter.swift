import EventLogFoundation
import HeapModule

/// Ingest of one live table: decodes records into rows and stores them in the table's ``TableStorage``,
/// appended and, in an upsert table, made the key's current row.
///
/// Invariants (upsert tables):
/// - For every key in the key map, `entry.doc` is the document holding the key's newest record (largest
///   comparison value; ties to the later record); it is valid unless the record was a delete.
/// - A document is valid only if it is some key's `entry.doc`, is not a delete, and has not expired.
/// - Out-of-order records (comparison value below the key's) are stored invalid (or not at all with
///   `dropOutOfOrder`); with `outOfOrderColumn` their row says so.
/// - A PARTIAL upsert stores the merged row, so the newest document alone answers queries.
/// - Each TTL heap holds one item per record stored while its key had a TTL; an item whose key has moved
///   to another document is stale and skipped.
///
/// Index maintenance is deferred to the queries that need it: ingest only appends and flips valid bits
/// (noting them for ``TableIndexes``), so a bulk load or catch-up pays one index build instead of an insert
/// and a remove per record.
///
/// Batches of `DecodeRing.parallelThreshold` records or more are decoded on helper threads and applied in
/// order by the writer (see `DecodeRing` for its own invariants); everything below is then done by
/// the writer alone, exactly as for a record ingested on its own.
///
/// Used only under the table's write lock, by one thread at a time.
final class TableWriter {
    // `@exclusivity(unchecked)` here: used by one thread at a time under the table's write lock, never
    // re-entrantly; the runtime checks cost a measurable share of per-row ingest.
    let storage: TableStorage
    /// The storage's columns (the same objects; kept here so the ingest path reads them without a hop).
    let columns: [Column]
    let config: TableConfig
    let decoder: RowDecoder
    /// Unretained views of `columns` for the ingest path (the storage's strong references keep them alive).
    private let columnRefs: [Unmanaged<Column>]
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

    struct ExpiryItem: Comparable {
        let comparison: Int64
        let key: PrimaryKey
        let doc: Int32
        static func < (a: Self, b: Self) -> Bool { a.comparison < b.comparison }
        static func == (a: Self, b: Self) -> Bool { a.comparison == b.comparison }
    }

    init(_ storage: TableStorage) throws(ViewError) {
        self.storage = storage
        config = storage.config
        columns = storage.columns
        decoder = try RowDecoder(storage.config)
        let width = max(1, columns.count)
        scratch = .allocate(capacity: width)
        scratch.initialize(repeating: StagedValue(), count: width)
        staged = scratch
        deferredRows = .allocate(capacity: DecodeRing.chunkRows)
        isUpsert = storage.isUpsert
        rules = UpsertRules(storage.config, columnIndex: storage.columnIndex)
        columnRefs = columns.map { Unmanaged.passUnretained($0) }
    }

    deinit {
        scratch.deinitialize(count: max(1, columns.count))
        scratch.deallocate()
        deferredRows.deallocate()
    }

    /// Ingests many records given by `body` (see ``LiveTable/ingestBatch(_:)``) in partition 0.
    func ingestBatch(
        _ body: (
            _ ingest: (_ value: UnsafeRawBufferPointer, _ key: UnsafeRawBufferPointer?, _ timestamp: Int64) -> Void
        ) -> Void
    ) {
        // The records are copied, so that a large batch can be decoded on several threads; a long batch
        // is applied in parts.
        var next = storage.offsets[0] ?? 0
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

    /// Ingests a record.
    func ingest(
        value: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, timestamp: Int64, offset: Int64, partition: Int
    ) {
        storage.offsets.advance(partition, past: offset)
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
            indexValid(doc)
            return
        }
        upsertStaged()
    }

    private func upsertStaged() {
        let key = primaryKey()
        let comparison = rules.comparisonColumn.map { comparisonValue(staged[$0], columns[$0].type) } ?? Int64.min
        let isDelete = rules.deleteColumn.map { staged[$0].present && staged[$0].bool == 1 } ?? false
        let existing = storage.keys[key]
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
        storage.keys[key] = KeyEntry(doc: doc, comparison: comparison, deleted: isDelete)
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
            guard let entry = storage.keys[first.key], entry.doc == first.doc, entry.deleted == deleted else {
                continue
            }
            if !deleted { unindexValid(entry.doc) }
            storage.keys[first.key] = nil
        }
    }

    private func setBool(_ column: Int, _ value: Bool) {
        staged[column].present = true
        staged[column].isNull = false
        staged[column].bool = value ? 1 : 0
    }

    private func indexValid(_ doc: Int32) {
        storage.valid.insert(doc)
        noteValidChange(doc)
    }

    private func unindexValid(_ doc: Int32) {
        storage.valid.remove(doc)
        noteValidChange(doc)
    }

    @inline(__always)
    private func noteValidChange(_ doc: Int32) {
        storage.indexes.noteValidChange(doc, validCount: storage.valid.count)
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
        let doc = Int32(storage.documentCount)
        deferredRows[deferredCount] = staged
        deferredCount += 1
        storage.documentCount += 1
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

    /// After a snapshot restore (the storage installed): the largest comparison value and the TTL heaps.
    func restored(largest: Int64) {
        largestComparisonSeen = largest
        expiry = Heap()
        deletedExpiry = Heap()
        if rules.keyTTL != nil || rules.deletedKeyTTL != nil {
            storage.keys.forEach { key, entry in
                let item = ExpiryItem(comparison: entry.comparison, key: key, doc: entry.doc)
                if entry.deleted { deletedExpiry.insert(item) } else { expiry.insert(item) }
            }
        }
    }

    /// Forgets the upsert state (the storage was emptied).
    func reset() {
        largestComparisonSeen = Int64.min
        expiry = Heap()
        deletedExpiry = Heap()
    }
}
