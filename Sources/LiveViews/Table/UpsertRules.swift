/// A table's upsert options resolved to column numbers once, so the ingest path reads plain values for
/// every record (reading `UpsertConfig` there would retain its strings and arrays).
struct UpsertRules {
    /// PARTIAL mode: a new row is merged into the key's previous one, column by column.
    let partialUpsert: Bool
    /// Out-of-order records are not stored at all.
    let dropsOutOfOrder: Bool
    /// How far a live key's comparison value may fall behind the largest seen before the key expires.
    let keyTTL: Int64?
    /// `deletedKeysTTL`, or `keyTTL` when it is not set.
    let deletedKeyTTL: Int64?
    /// The primary-key columns.
    let keyColumns: [Int]
    let comparisonColumn: Int?
    let deleteColumn: Int?
    let outOfOrderColumn: Int?
    /// PARTIAL mode: each column's merge strategy (nil for key columns and in FULL mode).
    let strategies: [PartialStrategy?]

    init(_ config: TableConfig, columnIndex: [String: Int]) {
        let upsert = config.upsert
        partialUpsert = upsert?.mode == .partial
        dropsOutOfOrder = upsert?.dropOutOfOrder == true
        keyTTL = upsert?.keyTTL
        deletedKeyTTL = upsert?.deletedKeysTTL ?? upsert?.keyTTL
        let find = { (name: String?) in name.flatMap { columnIndex[$0.lowercased()] } }
        keyColumns = (upsert?.primaryKey ?? []).compactMap { find($0) }
        comparisonColumn = find(upsert?.comparisonColumn)
        deleteColumn = find(upsert?.deleteColumn)
        outOfOrderColumn = find(upsert?.outOfOrderColumn)
        strategies = config.columns.map { column in
            guard let upsert, upsert.mode == .partial, !upsert.primaryKey.contains(column.name) else { return nil }
            return upsert.partialStrategies?[column.name] ?? upsert.defaultPartialStrategy ?? .overwrite
        }
    }
}
