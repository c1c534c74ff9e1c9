import ArgumentParser
import EventLog
import Foundation
import LiveViews
import Simulator

/// `eventlog tables create|list|describe|drop`: live tables over topics.
struct Tables: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, describe and drop live tables (Pinot-style views over topics).",
        discussion: """
            A table maps a topic's JSON records to columns and may upsert by primary key. Definitions live in
            <data-dir>/views/<name>.json, so every process on the directory sees them.

            Examples:
              eventlog tables create --preset orders      (the order-delivery tables: orders, drivers)
              eventlog tables create --config mytable.json
              eventlog tables describe orders
            """,
        subcommands: [List.self, Create.self, Describe.self, Drop.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tables.")
        @OptionGroup var options: GlobalOptions
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            let catalog = ViewCatalog(log: try options.openLogForReading(), logger: options.logger())
            let tables = try catalog.list()
            if json {
                printJSON(tables.map { ["name": $0.name, "topic": $0.topic, "upsert": $0.upsert != nil] })
            } else {
                for table in tables {
                    print("\(table.name)\ttopic \(table.topic)\t\(table.upsert == nil ? "append" : "upsert")")
                }
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a table from a JSON definition or a preset.",
            discussion: "Presets: orders, drivers (the order-delivery demo's tables over the simulator's topics).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "A table definition in JSON (see README: Live views).") var config: String?
        @Option(help: "A built-in definition: orders or drivers.") var preset: String?
        @Option(help: "Apache Pinot's schema JSON (with --pinot-table): imported, and what is not used is listed.")
        var pinotSchema: String?
        @Option(help: "Apache Pinot's table-config JSON (with --pinot-schema).") var pinotTable: String?

        func validate() throws {
            guard (pinotSchema == nil) == (pinotTable == nil) else {
                throw ValidationError("--pinot-schema and --pinot-table go together")
            }
            guard [config != nil, preset != nil, pinotSchema != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --config, --preset and --pinot-schema/--pinot-table")
            }
            if let preset, OrderDeliveryTables.all[preset] == nil {
                throw ValidationError("unknown preset '\(preset)'; expected orders or drivers")
            }
        }

        func run() throws {
            let definition: TableConfig
            if let preset {
                definition = OrderDeliveryTables.all[preset]!
            } else if let pinotSchema, let pinotTable {
                func read(_ path: String) throws -> Data {
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw ValidationError("cannot read '\(path)'")
                    }
                    return data
                }
                let imported: PinotImport
                do {
                    imported = try PinotImport(schema: try read(pinotSchema), table: try read(pinotTable))
                } catch let error as ViewError {
                    throw ValidationError("\(pinotSchema), \(pinotTable): \(error.message)")
                }
                for line in imported.ignored { print("not used: \(line)") }
                definition = imported.config
            } else {
                guard let data = FileManager.default.contents(atPath: config!) else {
                    throw ValidationError("cannot read '\(config!)'")
                }
                do {
                    definition = try JSONDecoder().decode(TableConfig.self, from: data)
                } catch {
                    throw ValidationError("'\(config!)' is not a table definition: \(error)")
                }
            }
            let catalog = ViewCatalog(log: try options.openLogForReading(), logger: options.logger())
            try catalog.create(definition)
            print("created table \(definition.name) over topic \(definition.topic)")
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a table's definition and row counts.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Table name.") var name: String
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            let catalog = ViewCatalog(log: try options.openLogForReading(), logger: options.logger())
            let config = try catalog.config(name)
            let table = try catalog.open(name)  // a read command: no snapshot written into the log directory
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let definition = try JSONSerialization.jsonObject(with: encoder.encode(config))
                printJSON(["definition": definition, "rows": table.rowCount, "storedRows": table.storedRowCount])
                return
            }
            print("table \(config.name) over topic \(config.topic)")
            if let upsert = config.upsert {
                print(
                    "upsert \(upsert.mode.rawValue) by \(upsert.primaryKey.joined(separator: ", "))"
                        + (upsert.comparisonColumn.map { ", newest by \($0)" } ?? ", newest by arrival"))
            }
            for column in config.columns {
                var source = column.transform ?? (column.source ?? .value).rawValue
                if column.source ?? .value == .value, column.transform == nil {
                    source = "value." + (column.path ?? column.name)
                }
                print("  \(column.name)\t\(column.type.rawValue)\(column.multiValue == true ? "[]" : "")\t\(source)")
            }
            print("rows \(table.rowCount) (stored \(table.storedRowCount), skipped \(table.skippedRecords.count))")
        }
    }

    struct Drop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop a table (its topic is kept).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "Table name.") var name: String
        func run() throws {
            try ViewCatalog(log: try options.openLogForReading(), logger: options.logger()).drop(name)
            print("dropped table \(name)")
        }
    }
}

/// `eventlog query "<SQL>"`.
struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a SQL query against a live table.",
        discussion: """
            Pinot-flavoured SQL: SELECT … FROM table [WHERE] [GROUP BY] [HAVING] [ORDER BY] [LIMIT/OFFSET]
            [option(skipUpsert=true)], or SET skipUpsert = true; SELECT …. Without LIMIT at most 10 rows.

            Examples:
              eventlog query "SELECT status, COUNT(*) FROM orders GROUP BY status"
              eventlog query --format csv "SELECT orderId AS id, lat AS point_latitude_2 FROM orders LIMIT 100000"
            """)
    @OptionGroup var options: GlobalOptions
    @Option(help: "Output: table, json or csv.") var format: OutputFormat = .table
    @Argument(help: "The query.") var sql: String

    enum OutputFormat: String, ExpressibleByArgument { case table, json, csv }

    func run() throws {
        let catalog = ViewCatalog(log: try options.openLogForReading(), logger: options.logger())
        let result: QueryResult
        do {
            result = try catalog.query(sql)  // a read command: no snapshot written into the log directory
        } catch let error as ViewError {
            if let line = error.line, let column = error.column {
                let text = sql.split(separator: "\n", omittingEmptySubsequences: false)
                if line >= 1, line <= text.count {
                    printError(String(text[line - 1]))
                    printError(String(repeating: " ", count: max(0, column - 1)) + "^")
                }
            }
            throw error
        }
        switch format {
        case .table: print(QueryOutput.table(result))
        case .csv: print(QueryOutput.csv(result), terminator: "")
        case .json: print(QueryOutput.json(result))
        }
    }
}

/// Renders query results as an aligned table, CSV (RFC 4180) or JSON.
enum QueryOutput {
    static func text(_ value: SQLValue) -> String { value.isNullValue ? "null" : value.description }

    static func table(_ result: QueryResult) -> String {
        let cells = [result.columns] + result.rows.map { $0.map(text) }
        var widths = result.columns.map { _ in 0 }
        for row in cells { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ row: [String]) -> String {
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                separator: "  ")
        }
        var lines = [line(result.columns), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        lines += result.rows.map { line($0.map(text)) }
        lines.append("(\(result.rows.count) row\(result.rows.count == 1 ? "" : "s"))")
        return lines.joined(separator: "\n")
    }

    static func csv(_ result: QueryResult) -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var out = result.columns.map(field).joined(separator: ",") + "\r\n"
        for row in result.rows {
            out += row.map { $0.isNullValue ? "" : field($0.description) }.joined(separator: ",") + "\r\n"
        }
        return out
    }

    static func jsonValue(_ value: SQLValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let b): return b
        case .long(let v): return v
        case .double(let v): return v.isFinite ? v : String(v)
        case .string(let s): return s
        case .array(let values): return values.map(jsonValue)
        default: return value.description
        }
    }

    static func json(_ result: QueryResult) -> String {
        let object: [String: Any] = [
            "columns": result.columns, "rows": result.rows.map { $0.map(jsonValue) },
            "stats": [
                "documentsScanned": result.stats.documentsScanned, "documentsMatched": result.stats.documentsMatched,
                "usedSpatialIndex": result.stats.usedSpatialIndex, "skipUpsert": result.stats.skipUpsert,
            ],
        ]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
