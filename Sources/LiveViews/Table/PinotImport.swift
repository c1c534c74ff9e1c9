public import Foundation

/// A table definition read from Apache Pinot's own schema and table-config JSON (what a Pinot user already
/// has), with the list of what was not carried over.
///
/// Mapped: the schema's dimension, metric and date-time fields (and the legacy time field) with their data
/// types and single/multi value; `primaryKeyColumns`; the stream's topic (`stream.kafka.topic.name`, in
/// `tableIndexConfig.streamConfigs` or `ingestionConfig.streamIngestionConfig.streamConfigMaps`); transforms
/// (`ingestionConfig.transformConfigs`, or a field's legacy `transformFunction`): `JSONPATH`,
/// `JSONPATHSTRING`, `JSONPATHLONG`, `JSONPATHDOUBLE` with a `$.a.b` path become a field path,
/// `toSphericalGeography(stPoint(x, y))`, `stPoint` and `ST_Point` become a point column; `upsertConfig`
/// (mode, comparison column, delete and out-of-order columns, TTLs, partial strategies); inverted indexes;
/// and H3 indexes, which become the exact spatial grid (it returns exactly a full scan's rows).
///
/// Everything else is listed in `ignored` with the reason: segment, tenant, routing, query and quota
/// settings, other index types, and transforms this engine does not evaluate (such a column is read from
/// the record's field of the same name instead).
public struct PinotImport: Sendable {
    /// The definition to create.
    public var config: TableConfig
    /// What was not carried over, one line each.
    public var ignored: [String]

    /// Reads Pinot's schema JSON and table-config JSON.
    ///
    /// - Throws: ``ViewError`` with code `invalidConfig` naming the file and the field that is missing or
    ///   malformed.
    public init(schema: Data, table: Data) throws(ViewError) {
        func object(_ data: Data, _ what: String) throws(ViewError) -> [String: Any] {
            guard let value = try? JSONSerialization.jsonObject(with: data), let object = value as? [String: Any] else {
                throw ViewError(.invalidConfig, "the Pinot \(what) is not a JSON object")
            }
            return object
        }
        let schema = try object(schema, "schema"), table = try object(table, "table config")
        var ignored: [String] = []

        guard let schemaName = schema["schemaName"] as? String else {
            throw ViewError(.invalidConfig, "the Pinot schema has no \"schemaName\"")
        }
        var name = (table["tableName"] as? String) ?? schemaName
        for suffix in ["_REALTIME", "_OFFLINE"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
        if let type = table["tableType"] as? String, type.uppercased() != "REALTIME" {
            ignored.append("tableType \(type): the table follows its topic as a REALTIME table does")
        }

        let indexConfig = table["tableIndexConfig"] as? [String: Any] ?? [:]
        let ingestion = table["ingestionConfig"] as? [String: Any] ?? [:]
        var streams: [[String: Any]] = []
        if let legacy = indexConfig["streamConfigs"] as? [String: Any] { streams.append(legacy) }
        if let maps = (ingestion["streamIngestionConfig"] as? [String: Any])?["streamConfigMaps"] as? [[String: Any]] {
            streams += maps
        }
        let topic = streams.lazy.compactMap { $0["stream.kafka.topic.name"] as? String }.first ?? schemaName
        if streams.isEmpty { ignored.append("no stream config: the topic is the schema's name, '\(schemaName)'") }
        if let decoder = streams.lazy.compactMap({ $0["stream.kafka.decoder.class.name"] as? String }).first,
            !decoder.lowercased().contains("json")
        {
            ignored.append("decoder \(decoder): records are read as JSON")
        }

        // Transforms by column.
        var transforms: [String: String] = [:]
        for entry in ingestion["transformConfigs"] as? [[String: Any]] ?? [] {
            if let column = entry["columnName"] as? String, let function = entry["transformFunction"] as? String {
                transforms[column] = function
            }
        }
        if ingestion["filterConfig"] != nil { ignored.append("ingestionConfig.filterConfig: every record is ingested") }

        var columns: [ColumnDefinition] = []
        let groups: [(String, [[String: Any]])] = [
            ("dimensionFieldSpecs", schema["dimensionFieldSpecs"] as? [[String: Any]] ?? []),
            ("metricFieldSpecs", schema["metricFieldSpecs"] as? [[String: Any]] ?? []),
            ("dateTimeFieldSpecs", schema["dateTimeFieldSpecs"] as? [[String: Any]] ?? []),
            (
                "timeFieldSpec",
                ((schema["timeFieldSpec"] as? [String: Any])?["incomingGranularitySpec"] as? [String: Any]).map { [$0] }
                    ?? []
            ),
        ]
        for (group, fields) in groups {
            for (index, field) in fields.enumerated() {
                guard let fieldName = field["name"] as? String, let dataType = field["dataType"] as? String else {
                    throw ViewError(
                        .invalidConfig, "the Pinot schema's \(group)[\(index)] needs \"name\" and \"dataType\"")
                }
                let transform = transforms[fieldName] ?? field["transformFunction"] as? String
                var column = ColumnDefinition(fieldName, .string)
                if let transform, let point = Self.pointTransform(transform) {
                    column.type = .point
                    column.transform = point
                } else {
                    guard let type = Self.type(dataType) else {
                        ignored.append(
                            "column \(fieldName): data type \(dataType) is not supported; the column is skipped")
                        continue
                    }
                    column.type = type
                    if let transform {
                        if let path = Self.jsonPath(transform) {
                            column.path = path
                        } else {
                            ignored.append(
                                "column \(fieldName): transform \(transform) is not evaluated; the column reads the field '\(fieldName)'"
                            )
                        }
                    }
                }
                if field["singleValueField"] as? Bool == false { column.multiValue = true }
                columns.append(column)
            }
        }
        guard !columns.isEmpty else { throw ViewError(.invalidConfig, "the Pinot schema defines no fields") }

        var upsert: UpsertConfig? = nil
        if let config = table["upsertConfig"] as? [String: Any], (config["mode"] as? String)?.uppercased() != "NONE" {
            guard let key = schema["primaryKeyColumns"] as? [String], !key.isEmpty else {
                throw ViewError(.invalidConfig, "upsertConfig needs the schema's \"primaryKeyColumns\"")
            }
            let mode: UpsertMode = (config["mode"] as? String)?.uppercased() == "PARTIAL" ? .partial : .full
            var rules = UpsertConfig(mode: mode, primaryKey: key)
            rules.comparisonColumn =
                config["comparisonColumn"] as? String ?? (config["comparisonColumns"] as? [String])?.first
            if let several = config["comparisonColumns"] as? [String], several.count > 1 {
                ignored.append("comparisonColumns beyond the first (\(several.dropFirst().joined(separator: ", ")))")
            }
            rules.deleteColumn = config["deleteRecordColumn"] as? String
            rules.outOfOrderColumn = config["outOfOrderRecordColumn"] as? String
            if config["dropOutOfOrderRecord"] as? Bool == true { rules.dropOutOfOrder = true }
            if let ttl = config["metadataTTL"] as? NSNumber, ttl.doubleValue > 0 { rules.keyTTL = ttl.int64Value }
            if let ttl = config["deletedKeysTTL"] as? NSNumber, ttl.doubleValue > 0 {
                rules.deletedKeysTTL = ttl.int64Value
            }
            if let strategies = config["partialUpsertStrategies"] as? [String: String] {
                var mapped: [String: PartialStrategy] = [:]
                for (column, strategy) in strategies {
                    guard let value = PartialStrategy(rawValue: strategy.uppercased()) else {
                        throw ViewError(
                            .invalidConfig, "partial upsert strategy '\(strategy)' of column \(column) is unknown")
                    }
                    mapped[column] = value
                }
                rules.partialStrategies = mapped
            }
            if let strategy = config["defaultPartialUpsertStrategy"] as? String {
                rules.defaultPartialStrategy = PartialStrategy(rawValue: strategy.uppercased())
            }
            for key in config.keys.sorted()
            where ![
                "mode", "comparisonColumn", "comparisonColumns", "deleteRecordColumn", "outOfOrderRecordColumn",
                "dropOutOfOrderRecord", "metadataTTL", "deletedKeysTTL", "partialUpsertStrategies",
                "defaultPartialUpsertStrategy",
            ].contains(key) {
                ignored.append("upsertConfig.\(key)")
            }
            upsert = rules
        }

        var inverted = (indexConfig["invertedIndexColumns"] as? [String] ?? []).filter { column in
            columns.contains { $0.name == column && $0.type == .string }
        }
        for fieldConfig in table["fieldConfigList"] as? [[String: Any]] ?? [] {
            let column = fieldConfig["name"] as? String ?? "?"
            var types = (fieldConfig["indexTypes"] as? [String]) ?? []
            if let type = fieldConfig["indexType"] as? String { types.append(type) }
            if let indexes = fieldConfig["indexes"] as? [String: Any] { types += indexes.keys.map { $0.uppercased() } }
            for type in types {
                switch type.uppercased() {
                case "H3":
                    let resolutions = (fieldConfig["properties"] as? [String: Any])?["resolutions"] ?? "?"
                    ignored.append(
                        "column \(column): H3 index (resolutions \(resolutions)) → the exact spatial grid (every query returns exactly a full scan's rows)"
                    )
                case "INVERTED":
                    if columns.contains(where: { $0.name == column && $0.type == .string }) { inverted.append(column) }
                default: ignored.append("column \(column): \(type) index")
                }
            }
        }
        for key in indexConfig.keys.sorted()
        where !["streamConfigs", "invertedIndexColumns"].contains(key) && !Self.emptyValue(indexConfig[key]) {
            ignored.append("tableIndexConfig.\(key)")
        }
        for key in ["segmentsConfig", "tenants", "routing", "query", "quota", "metadata", "task", "tierConfigs"]
        where table[key] != nil {
            ignored.append("\(key): not applicable to a table in one process")
        }
        var seen = Set<String>()
        config = TableConfig(
            name: name, topic: topic, columns: columns, upsert: upsert,
            invertedIndexColumns: inverted.isEmpty ? nil : inverted.filter { seen.insert($0).inserted })
        self.ignored = ignored
        try config.validate()
    }

    static func type(_ pinot: String) -> ColumnType? {
        switch pinot.uppercased() {
        case "INT", "LONG", "TIMESTAMP": .long
        case "FLOAT", "DOUBLE", "BIG_DECIMAL": .double
        case "STRING", "JSON": .string
        case "BOOLEAN": .boolean
        default: nil
        }
    }

    /// `JSONPATH[STRING|LONG|DOUBLE](field, '$.a.b'[, default])` → `field.a.b`.
    static func jsonPath(_ function: String) -> String? {
        let text = function.trimmingCharacters(in: .whitespaces)
        guard let open = text.firstIndex(of: "("), text.hasSuffix(")") else { return nil }
        let callee = text[..<open].trimmingCharacters(in: .whitespaces).uppercased()
        guard ["JSONPATH", "JSONPATHSTRING", "JSONPATHLONG", "JSONPATHDOUBLE"].contains(callee) else { return nil }
        let arguments = text[text.index(after: open)..<text.index(before: text.endIndex)].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard arguments.count >= 2 else { return nil }
        let field = arguments[0].trimmingCharacters(in: CharacterSet(charactersIn: "\"`"))
        var path = arguments[1].trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        guard path.hasPrefix("$.") else { return nil }
        path.removeFirst(2)
        guard !field.isEmpty, !path.isEmpty, path.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." })
        else { return nil }
        return "\(field).\(path)"
    }

    /// A geography point transform, in the form this engine evaluates, or nil.
    static func pointTransform(_ function: String) -> String? {
        let compact = function.filter { !$0.isWhitespace }
        let lower = compact.lowercased()
        guard
            lower.hasPrefix("tosphericalgeography(stpoint(") || lower.hasPrefix("stpoint(")
                || lower.hasPrefix("st_point(")
        else { return nil }
        return function
    }

    private static func emptyValue(_ value: Any?) -> Bool {
        switch value {
        case nil: true
        case let list as [Any]: list.isEmpty
        case let map as [String: Any]: map.isEmpty
        case is NSNull: true
        default: false
        }
    }
}
