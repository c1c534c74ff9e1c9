import EventLog

/// Debezium's outbox event router: rows inserted into an outbox table become events on the topic of their
/// aggregate type instead of change events.
///
/// For an inserted (or snapshot-read) outbox row: topic = `routePrefix` + the route column's value, key = the
/// key column's text, value = the payload column's text byte for byte (a `json`/`jsonb` payload is the JSON
/// document itself — what Debezium emits with `table.expand.json.payload` or a string converter), header `id` =
/// the id column, more columns as headers when configured, timestamp = the commit time. Updates and deletes
/// of outbox rows are not events (Debezium ignores them too), so a service may delete its outbox row in the same
/// transaction that inserted it: the insert is still routed.
public struct OutboxRouter: Sendable {
    public struct Configuration: Sendable {
        /// Outbox tables, `schema.table`.
        public var tables: Set<String>
        public var idColumn = "id"
        public var keyColumn = "aggregateid"
        public var routeColumn = "aggregatetype"
        public var payloadColumn = "payload"
        /// The column that orders the events when the initial snapshot reads the table (a `bigserial`, say);
        /// without one the snapshot reads oldest transaction first, then by position in the table, which is
        /// insertion order only while rows fit where they are appended.
        public var orderColumn: String?
        /// Debezium's default `route.topic.replacement` is `outbox.event.${routedByValue}`.
        public var routePrefix = "outbox.event."
        /// Column → header name, for columns carried as headers (Debezium's `table.fields.additional.placement`
        /// with `header`).
        public var headers: [String: String] = [:]
        /// Column names for one table (`schema.table`) that differ from the defaults above: outbox tables of
        /// different aggregates may name their columns differently (the original's `order_event.order_payload`
        /// and `driver_event.driver_payload`).
        public var tableColumns: [String: [Role: String]] = [:]

        public init(tables: Set<String>) { self.tables = tables }

        /// The column that plays `role` in `table` (nil: no `order` column).
        public func column(_ role: Role, in table: String) -> String? {
            if let name = tableColumns[table]?[role] { return name }
            switch role {
            case .id: return idColumn
            case .key: return keyColumn
            case .route: return routeColumn
            case .payload: return payloadColumn
            case .order: return orderColumn
            }
        }
    }

    /// What a column is to the router.
    public enum Role: String, Sendable, CaseIterable {
        case id, key, route, payload
        /// Orders the events in the initial snapshot.
        case order
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration) { self.configuration = configuration }

    func routes(_ relation: PgRelation) -> Bool { configuration.tables.contains(relation.qualifiedName) }

    /// The event for one change; nil when the change is not an event (an update or delete) or its route column
    /// is null (capture checks at start that the columns exist).
    func record(for change: CapturedChange, timestamp: Int64) -> PendingRecord? {
        guard change.operation == .create || change.operation == .read, let row = change.after else { return nil }
        func text(_ column: String?) -> [UInt8]? {
            guard let column, let index = change.relation.columns.firstIndex(where: { $0.name == column }),
                index < row.count,
                case .text(let bytes) = row[index]
            else { return nil }
            return bytes
        }
        let table = change.relation.qualifiedName
        guard let route = text(configuration.column(.route, in: table)) else { return nil }
        var headers: [Header] = []
        if let id = text(configuration.column(.id, in: table)) { headers.append(Header(key: "id", value: id)) }
        for (column, header) in configuration.headers.sorted(by: { $0.key < $1.key }) {
            headers.append(Header(key: header, value: text(column)))
        }
        return PendingRecord(
            topic: configuration.routePrefix + String(decoding: route, as: UTF8.self),
            key: text(configuration.column(.key, in: table)),
            value: text(configuration.column(.payload, in: table)), headers: headers, timestamp: timestamp)
    }

    /// The columns routed table `table` must have: checked when capture starts.
    func missingColumns(of columns: [String], in table: String) -> [String] {
        [Role.route, .payload, .key, .order].compactMap { configuration.column($0, in: table) }.filter {
            !columns.contains($0)
        }
    }
}
