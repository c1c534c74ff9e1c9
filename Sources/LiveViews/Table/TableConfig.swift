/// The definition of a live table: which topic feeds it, how each record becomes a row, and whether rows
/// upsert by primary key. Stored as JSON in `<log>/views/<name>.json` so the CLI and other processes can
/// open the same table (the shape follows Pinot's schema and table config, flattened into one document).
///
/// ```json
/// { "name": "orders", "topic": "orders",
///   "columns": [
///     { "name": "orderId", "type": "string" },
///     { "name": "lat", "type": "double", "path": "payload.lat" },
///     { "name": "location_st_point", "type": "point", "transform": "toSphericalGeography(stPoint(lon, lat))" } ],
///   "upsert": { "mode": "FULL", "primaryKey": ["orderId"], "comparisonColumn": "lastModified" } }
/// ```
public struct TableConfig: Codable, Sendable, Hashable {
    /// The table's name in `FROM`; letters, digits, `_` and `-`.
    public var name: String
    /// The topic whose records become rows.
    public var topic: String
    /// The columns, in `SELECT *` order.
    public var columns: [ColumnDefinition]
    /// Upsert by primary key; nil for an append-only table.
    public var upsert: UpsertConfig?
    /// Side of the spatial index's grid cells in degrees (default 0.02, about 2.2 km of latitude).
    public var spatialCellDegrees: Double?
    /// String columns with an inverted index over the rows ordinary queries see, used when an equality or
    /// IN on the column selects few rows.
    public var invertedIndexColumns: [String]?

    public init(
        name: String, topic: String, columns: [ColumnDefinition], upsert: UpsertConfig? = nil,
        spatialCellDegrees: Double? = nil, invertedIndexColumns: [String]? = nil
    ) {
        self.name = name
        self.topic = topic
        self.columns = columns
        self.upsert = upsert
        self.spatialCellDegrees = spatialCellDegrees
        self.invertedIndexColumns = invertedIndexColumns
    }
}

/// One column: its type and where its value comes from.
public struct ColumnDefinition: Codable, Sendable, Hashable {
    public var name: String
    public var type: ColumnType
    /// Which part of the record holds the value (default: the JSON value).
    public var source: ColumnSource?
    /// For `source: value`, the dotted path of the field (`payload.restaurant.city`); default: the name.
    public var path: String?
    /// A derived column: a point built from two other columns, e.g.
    /// `toSphericalGeography(stPoint(lon, lat))` or `ST_Point(lon, lat, 1)`.
    public var transform: String?
    /// Whether the column holds a list of values (JSON arrays; APPEND and UNION partial upserts).
    public var multiValue: Bool?

    public init(
        _ name: String, _ type: ColumnType, source: ColumnSource? = nil, path: String? = nil,
        transform: String? = nil, multiValue: Bool? = nil
    ) {
        self.name = name
        self.type = type
        self.source = source
        self.path = path
        self.transform = transform
        self.multiValue = multiValue
    }
}

/// The type of a column's values.
public enum ColumnType: String, Codable, Sendable, Hashable, CaseIterable {
    case string, long, double, boolean
    /// A geography point (longitude, latitude).
    case point
}

/// Where a column's value comes from.
public enum ColumnSource: String, Codable, Sendable, Hashable {
    /// A field of the record's JSON value (see ``ColumnDefinition/path``).
    case value
    /// The record key as a string (or number, for numeric columns).
    case key
    /// The record's timestamp in epoch milliseconds.
    case timestamp
    /// The record's offset in its partition.
    case offset
    /// The record's partition.
    case partition
}

/// Pinot-style upsert: rows with the same primary key replace each other.
public struct UpsertConfig: Codable, Sendable, Hashable {
    /// FULL replaces the whole row; PARTIAL merges column by column.
    public var mode: UpsertMode
    /// The primary-key columns (1 to 4).
    public var primaryKey: [String]
    /// The column deciding which record is newer (larger wins; on a tie the later record wins). Without
    /// one, every record is newer than the last.
    public var comparisonColumn: String?
    /// A boolean column: a true record hides the key until a newer record revives it.
    public var deleteColumn: String?
    /// A boolean column the table sets to true on rows that arrived out of order.
    public var outOfOrderColumn: String?
    /// Store nothing for out-of-order records (default false: stored, visible with skipUpsert).
    public var dropOutOfOrder: Bool?
    /// PARTIAL: the strategy per column (default ``defaultPartialStrategy``).
    public var partialStrategies: [String: PartialStrategy]?
    /// PARTIAL: the strategy of columns not in ``partialStrategies`` (default OVERWRITE).
    public var defaultPartialStrategy: PartialStrategy?
    /// A key whose comparison value falls this far behind the largest seen expires: it leaves the key map
    /// and its row is no longer visible without skipUpsert (the row stays in the log view).
    public var keyTTL: Int64?
    /// A deleted key is forgotten this far behind the largest comparison value (bounds the key map).
    public var deletedKeysTTL: Int64?

    public init(
        mode: UpsertMode = .full, primaryKey: [String], comparisonColumn: String? = nil,
        deleteColumn: String? = nil, outOfOrderColumn: String? = nil, dropOutOfOrder: Bool? = nil,
        partialStrategies: [String: PartialStrategy]? = nil, defaultPartialStrategy: PartialStrategy? = nil,
        keyTTL: Int64? = nil, deletedKeysTTL: Int64? = nil
    ) {
        self.mode = mode
        self.primaryKey = primaryKey
        self.comparisonColumn = comparisonColumn
        self.deleteColumn = deleteColumn
        self.outOfOrderColumn = outOfOrderColumn
        self.dropOutOfOrder = dropOutOfOrder
        self.partialStrategies = partialStrategies
        self.defaultPartialStrategy = defaultPartialStrategy
        self.keyTTL = keyTTL
        self.deletedKeysTTL = deletedKeysTTL
    }
}

public enum UpsertMode: String, Codable, Sendable, Hashable {
    case full = "FULL"
    case partial = "PARTIAL"
}

/// How a PARTIAL upsert merges a column; a null new value always keeps the old one.
public enum PartialStrategy: String, Codable, Sendable, Hashable {
    case overwrite = "OVERWRITE"
    /// Adds the new value to the old (numbers).
    case increment = "INCREMENT"
    /// Appends the new values to the old list (multi-value columns).
    case append = "APPEND"
    /// The set union of old and new values (multi-value columns).
    case union = "UNION"
    /// Keeps the first non-null value.
    case ignore = "IGNORE"
    case max = "MAX"
    case min = "MIN"
}

extension TableConfig {
    /// Checks names, types, keys and transforms.
    ///
    /// - Throws: ``ViewError`` naming the table and the column at fault.
    public func validate() throws(ViewError) {
        let where_ = "table '\(name)'"
        guard !name.isEmpty,
            name.utf8.allSatisfy({
                $0 == 0x5F || $0 == 0x2D || ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A)
            })
        else { throw ViewError(.invalidConfig, "\(where_): the name may contain only letters, digits, '_' and '-'") }
        guard !columns.isEmpty else { throw ViewError(.invalidConfig, "\(where_) has no columns") }
        var seen = Set<String>()
        for column in columns {
            guard seen.insert(column.name.lowercased()).inserted else {
                throw ViewError(.invalidConfig, "\(where_): column '\(column.name)' is defined twice")
            }
        }
        for column in columns {
            if column.type == .point {
                guard let transform = column.transform else {
                    throw ViewError(
                        .invalidConfig,
                        "\(where_): point column '\(column.name)' needs a transform such as toSphericalGeography(stPoint(lon, lat))"
                    )
                }
                let (lon, lat) = try PointTransform.parse(transform, column: column.name, table: name)
                for source in [lon, lat] {
                    guard let other = columns.first(where: { $0.name == source }),
                        other.type == .double || other.type == .long
                    else {
                        throw ViewError(
                            .invalidConfig,
                            "\(where_): point column '\(column.name)' refers to '\(source)', which is not a numeric column"
                        )
                    }
                }
            } else if column.transform != nil {
                throw ViewError(
                    .invalidConfig, "\(where_): column '\(column.name)': only point columns can have a transform")
            }
            if column.multiValue == true, column.type == .point {
                throw ViewError(.invalidConfig, "\(where_): point column '\(column.name)' cannot be multi-value")
            }
        }
        for name in invertedIndexColumns ?? [] {
            guard let column = columns.first(where: { $0.name == name }), column.type == .string,
                column.multiValue != true
            else {
                throw ViewError(
                    .invalidConfig, "\(where_): inverted index column '\(name)' must be a single-value string column")
            }
        }
        guard let upsert else { return }
        guard (1...4).contains(upsert.primaryKey.count) else {
            throw ViewError(.invalidConfig, "\(where_): the primary key needs 1 to 4 columns")
        }
        func column(_ name: String, _ role: String) throws(ViewError) -> ColumnDefinition {
            guard let found = columns.first(where: { $0.name == name }) else {
                throw ViewError(.invalidConfig, "\(where_): the \(role) '\(name)' is not a column")
            }
            return found
        }
        for key in upsert.primaryKey {
            let found = try column(key, "primary-key column")
            guard found.type != .point, found.multiValue != true else {
                throw ViewError(
                    .invalidConfig,
                    "\(where_): primary-key column '\(key)' must be a single string, long, double or boolean")
            }
        }
        if let name = upsert.comparisonColumn {
            let found = try column(name, "comparison column")
            guard found.type == .long || found.type == .double, found.multiValue != true else {
                throw ViewError(.invalidConfig, "\(where_): comparison column '\(name)' must be long or double")
            }
        }
        for (name, role) in [(upsert.deleteColumn, "delete column"), (upsert.outOfOrderColumn, "out-of-order column")] {
            if let name, try column(name, role).type != .boolean {
                throw ViewError(.invalidConfig, "\(where_): the \(role) '\(name)' must be boolean")
            }
        }
        for (name, strategy) in upsert.partialStrategies ?? [:] {
            let found = try column(name, "partial-upsert column")
            switch strategy {
            case .increment where !(found.type == .long || found.type == .double),
                .max where !(found.type == .long || found.type == .double),
                .min where !(found.type == .long || found.type == .double):
                throw ViewError(
                    .invalidConfig, "\(where_): \(strategy.rawValue) needs a numeric column, '\(name)' is \(found.type)"
                )
            case .append where found.multiValue != true, .union where found.multiValue != true:
                throw ViewError(
                    .invalidConfig,
                    "\(where_): \(strategy.rawValue) needs a multi-value column, '\(name)' is single-value")
            default: break
            }
        }
    }
}

/// Recognises the point transforms: any nesting of `toSphericalGeography`, `stPoint` and `ST_Point` around
/// two column names (`ST_Point(lon, lat, 1)` too).
enum PointTransform {
    static func parse(_ text: String, column: String, table: String) throws(ViewError) -> (String, String) {
        let expression: Expression
        do {
            expression = try Parser.parseExpression(text)
        } catch {
            throw ViewError(.invalidConfig, "table '\(table)': transform of '\(column)': \(error)")
        }
        var node = expression
        while true {
            guard case .call(let name, let arguments, _) = node.kind else { break }
            let lower = name.lowercased()
            if lower == "tosphericalgeography" || lower == "st_geogfromwkb", arguments.count == 1 {
                node = arguments[0]
                continue
            }
            if lower == "stpoint" || lower == "st_point", arguments.count == 2 || arguments.count == 3,
                case .column(let lon) = arguments[0].kind, case .column(let lat) = arguments[1].kind
            {
                return (lon, lat)
            }
            break
        }
        throw ViewError(
            .invalidConfig,
            "table '\(table)': transform of '\(column)' must be toSphericalGeography(stPoint(<lon column>, <lat column>)), found '\(text)'"
        )
    }
}
