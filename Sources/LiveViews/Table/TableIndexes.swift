/// The indexes of one live table, maintained lazily: ingest only records what changed, and a query brings
/// them up to date (under the table's write lock) before it runs.
///
/// Invariants, for a table of `documentCount` documents with valid set `valid`:
/// - `allDocuments[c]` (point column `c`) holds exactly the documents below `allIndexed` whose point is not
///   null; ``sync(columns:valid:documentCount:)`` indexes the documents from `allIndexed` to `documentCount`.
/// - `validDocuments[c]` (grids, upsert tables only) and `postings[c]` (inverted indexes) hold exactly the
///   valid documents, except those listed in `validChanges` (documents whose valid bit changed since the last
///   sync, each listed at least once) — or, when `stale`, except all of them. Syncing checks each listed
///   document against its valid bit, or rebuilds from the bitmap. The list is cut off (stale) once it outgrows
///   the valid set and 4,096 entries, so its memory stays bounded.
/// - After `sync(…, allDocuments: true)`, ``isPending(documentCount:allDocuments:)`` is false and every index is
///   exact; with `allDocuments: false` the grids of every document may still lag (upsert tables build them
///   only for the `skipUpsert` queries that use them).
///
/// Owned by its `LiveTable`: written only under the table's write lock, read under either lock.
final class TableIndexes {
    // `@exclusivity(unchecked)` here: written only under the table's write lock (ingest notes changes, a query
    // syncs), read under either lock, never re-entrantly; the checks cost a share of per-row ingest.
    /// Point column → grid over every document (what `skipUpsert` queries and append tables use).
    let allDocuments: [Int: SpatialGrid]
    /// Point column → grid over valid documents (upsert tables).
    let validDocuments: [Int: SpatialGrid]
    /// Column → inverted index over valid documents.
    let postings: [Int: PostingLists]
    @exclusivity(unchecked) private var allIndexed = 0
    @exclusivity(unchecked) private var validChanges: [Int32] = []
    @exclusivity(unchecked) private var stale = false

    init(config: TableConfig, columnIndex: [String: Int]) {
        var all: [Int: SpatialGrid] = [:]
        var latest: [Int: SpatialGrid] = [:]
        for (i, column) in config.columns.enumerated() where column.type == .point {
            let cell = config.spatialCellDegrees ?? 0.02
            all[i] = SpatialGrid(cellDegrees: cell)
            if config.upsert != nil { latest[i] = SpatialGrid(cellDegrees: cell) }
        }
        var lists: [Int: PostingLists] = [:]
        for name in config.invertedIndexColumns ?? [] {
            if let i = columnIndex[name.lowercased()] { lists[i] = PostingLists() }
        }
        allDocuments = all
        validDocuments = latest
        postings = lists
    }

    /// Whether a query must ``sync(columns:valid:documentCount:allDocuments:)`` first; `allDocuments`: whether
    /// it reads the grids of every document.
    func isPending(documentCount: Int, allDocuments all: Bool) -> Bool {
        stale || !validChanges.isEmpty || (all && !allDocuments.isEmpty && allIndexed < documentCount)
    }

    /// Whether the grids of every document hold every document.
    func allDocumentsIndexed(documentCount: Int) -> Bool { allIndexed == documentCount }

    /// Notes that `doc`'s valid bit changed (`validCount` documents are valid now).
    @inline(__always)
    func noteValidChange(_ doc: Int32, validCount: Int) {
        guard !stale, !(validDocuments.isEmpty && postings.isEmpty) else { return }
        if validChanges.count < max(validCount, 4096) {
            validChanges.append(doc)
        } else {
            stale = true  // a rebuild from the bitmap is cheaper than replaying the list
            validChanges = []
        }
    }

    /// Brings every index up to date with the table's columns and valid set.
    func sync(columns: [Column], valid: Bitmap, documentCount: Int, allDocuments all: Bool) {
        if stale {
            for grid in validDocuments.values { grid.removeAll() }
            for lists in postings.values { lists.removeAll() }
            valid.forEach(below: documentCount) { update($0, isValid: true, columns) }
            stale = false
        } else {
            for doc in validChanges { update(doc, isValid: valid.contains(doc), columns) }
        }
        validChanges.removeAll(keepingCapacity: true)
        if all && allIndexed < documentCount {
            for (index, grid) in allDocuments {
                let points = columns[index]
                for doc in allIndexed..<documentCount where !points.nulls[doc] {
                    grid.insert(Int32(doc), longitude: points.doubles[doc], latitude: points.latitudes[doc])
                }
            }
            allIndexed = documentCount
        }
    }

    /// Forgets everything indexed: the next sync rebuilds from the columns (`rebuildValid`) or, for an empty
    /// table, finds nothing to do.
    func reset(rebuildValid: Bool) {
        for grid in allDocuments.values { grid.removeAll() }
        for grid in validDocuments.values { grid.removeAll() }
        for lists in postings.values { lists.removeAll() }
        allIndexed = 0
        validChanges = []
        stale = rebuildValid
    }

    /// Puts `doc` into (or takes it out of) each index of valid documents where it is not as it should be.
    private func update(_ doc: Int32, isValid: Bool, _ columns: [Column]) {
        let d = Int(doc)
        for (column, grid) in validDocuments where isValid != grid.contains(doc) {
            let points = columns[column]
            guard !points.nulls[d] else { continue }
            if isValid {
                grid.insert(doc, longitude: points.doubles[d], latitude: points.latitudes[d])
            } else {
                grid.remove(doc, longitude: points.doubles[d], latitude: points.latitudes[d])
            }
        }
        for (column, lists) in postings where isValid != lists.contains(doc) {
            let code = columns[column].codes[d]
            if isValid { lists.insert(doc, code: code) } else { lists.remove(doc, code: code) }
        }
    }
}
