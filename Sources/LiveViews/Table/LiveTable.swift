public import EventLog
import EventLogFoundation
import Synchronization

/// A live, queryable table fed from a topic: Pinot's real-time table in one process.
///
/// ```
///  records ──► TableWriter ──► TableStorage ◄── TableView ◄── SQL (QueryExecutor)
///              decode, upsert   columns (append-only, doc = row number)
///                               valid docs bitmap (latest row per key), key map, offsets
///                               lazy indexes: spatial grids, inverted indexes
/// ```
///
/// Every ingested record that is stored becomes a *document*: documents are never changed or removed,
/// which makes the skipUpsert view (every ingested row) trivial and lets queries read columns without
/// copying. Upsert only moves the *valid* bit. The three parts each state their invariants:
/// ``TableWriter`` (ingest and upsert), ``TableStorage`` (what is stored) and ``TableView`` (what a query
/// may read — nothing it could write with).
///
/// Concurrency: one writer (ingest) and any number of readers (queries) share a read-write lock; a query
/// holds the read lock for its whole run, so it sees one consistent state (no torn counts) while ingest
/// waits. Queries never write under the read lock: a query that finds index work pending runs under the
/// write lock instead, syncing the indexes first.
public final class LiveTable: @unchecked Sendable {
    public let config: TableConfig
    let storage: TableStorage
    let writer: TableWriter
    let lock = ReadWriteLock()
    /// Serializes ``catchUp(from:batch:)``: two catch-ups reading from the same saved offsets would ingest the
    /// same records twice.
    let catchUpLock = ConditionLock()
    /// Parsed statements by query text (see `statement(_:)`).
    let statements = Locked<[String: SelectStatement]>([:])
    /// What SQL `now()` reads when a query does not pass `now` (tests and simulations inject a manual clock).
    let clock: any WallClock

    /// An empty table for `config`; SQL `now()` reads `clock`.
    ///
    /// - Throws: ``ViewError`` with code `invalidConfig` when the definition is inconsistent.
    public init(config: TableConfig, clock: any WallClock = SystemClock()) throws(ViewError) {
        self.clock = clock
        try config.validate()
        self.config = config
        storage = TableStorage(config: config)
        writer = try TableWriter(storage)
    }

    /// The table's name.
    public var name: String { config.name }

    /// Rows visible to ordinary queries (the latest row of each live key; every row of an append table).
    public var rowCount: Int { lock.read { storage.visibleCount } }

    /// Every stored row: what a `skipUpsert` query sees.
    public var storedRowCount: Int { lock.read { storage.documentCount } }

    /// The next offset to ingest per partition (what a restart resumes from).
    public var nextOffsets: [Int: Int64] { lock.read { storage.offsets.dictionary } }

    /// How many records were skipped as not being JSON objects, and where the last one was.
    public var skippedRecords: (count: Int, last: String?) { lock.read { (writer.badRecords, writer.lastBadRecord) } }

    /// How many batches were decoded on helper threads (tests check the path is taken).
    var parallelBatches: Int { lock.read { writer.parallelBatches } }

    /// The first invariant of the storage (``TableStorage``) or of the upsert state (``TableWriter``) that does
    /// not hold, or nil: the valid documents are exactly the current documents of the live (not deleted) keys
    /// of an upsert table, or every document of an append table. Tests check it after their models' steps.
    func invariantViolation() -> String? {
        lock.read {
            if let violation = storage.invariantViolation() { return violation }
            guard storage.isUpsert else {
                let valid = storage.valid.count
                return valid == storage.documentCount ? nil : "\(valid) valid of \(storage.documentCount) appended rows"
            }
            var live = 0
            var missing: Int32?
            storage.keys.forEach { _, entry in
                guard !entry.deleted else { return }
                live += 1
                if !storage.valid.contains(entry.doc) { missing = entry.doc }
            }
            if let missing { return "document \(missing) is a live key's current row but not valid" }
            return live == storage.valid.count ? nil : "\(storage.valid.count) valid documents for \(live) live keys"
        }
    }

    // MARK: Ingest

    /// Ingests one record read from `partition` of the table's topic.
    public func ingest(_ record: RecordView, partition: Int) {
        lock.write {
            writer.ingest(
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
            let next = offset ?? storage.offsets[partition] ?? 0
            json.withUTF8 { value in
                if var keyText = key {
                    keyText.withUTF8 { k in
                        writer.ingest(
                            value: UnsafeRawBufferPointer(value), key: UnsafeRawBufferPointer(k), timestamp: timestamp,
                            offset: next, partition: partition)
                    }
                } else {
                    writer.ingest(
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
        lock.write { writer.ingestBatch(body) }
    }

    /// Makes room for `additionalRows` more documents (a bulk load or a catch-up that knows how many
    /// records are coming), so the column arrays do not regrow on the way.
    public func reserveCapacity(additionalRows: Int) {
        lock.write { storage.reserveCapacity(additionalRows: additionalRows) }
    }

    /// The current row of a primary key (upsert tables), or nil when the key is absent, deleted or
    /// expired: stream-to-view enrichment from a pipeline stage, e.g.
    /// `.map { event in (event, drivers.lookup(.string(event.driverId))?["driverLat"]) }`.
    ///
    /// - Parameter key: One value per primary-key column, in order.
    /// - Returns: Column name → value for every column.
    public func lookup(_ key: SQLValue...) -> [String: SQLValue]? {
        lock.read { storage.currentDocument(key: key).map(storage.row) }
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
