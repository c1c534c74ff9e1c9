import CSQLite
import EventLogFoundation
import Foundation
import Testing

@testable import LiveViews

/// An in-memory SQLite database: the independent oracle for LiveViews' SQL.
final class SQLiteDatabase {
    private var db: OpaquePointer?

    init() throws {
        guard sqlite3_open(":memory:", &db) == SQLITE_OK else { throw OracleError("cannot open SQLite") }
        // Pinot's LIKE is case-sensitive; SQLite's is not unless told.
        try execute("PRAGMA case_sensitive_like = ON")
    }
    deinit { sqlite3_close(db) }

    struct OracleError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &message) == SQLITE_OK else {
            defer { sqlite3_free(message) }
            throw OracleError(message.map { String(cString: $0) } ?? "SQLite error")
        }
    }

    /// Inserts rows into `table`, binding each value by its type.
    func insert(_ table: String, columns: [String], rows: [[SQLValue]]) throws {
        let sql =
            "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK else { throw OracleError(sql) }
        defer { sqlite3_finalize(statement) }
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for row in rows {
            sqlite3_reset(statement)
            for (index, value) in row.enumerated() {
                let i = Int32(index + 1)
                switch value {
                case .null: sqlite3_bind_null(statement, i)
                case .long(let v): sqlite3_bind_int64(statement, i, v)
                case .double(let v): sqlite3_bind_double(statement, i, v)
                case .bool(let b): sqlite3_bind_int64(statement, i, b ? 1 : 0)
                case .string(let s): sqlite3_bind_text(statement, i, s, -1, transient)
                default: throw OracleError("cannot bind \(value)")
                }
            }
            guard sqlite3_step(statement) == SQLITE_DONE else { throw OracleError("insert failed") }
        }
    }

    func query(_ sql: String) throws -> [[SQLValue]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK else {
            throw OracleError(String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(statement) }
        var rows: [[SQLValue]] = []
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else { throw OracleError(String(cString: sqlite3_errmsg(db))) }
            rows.append(
                (0..<sqlite3_column_count(statement)).map { i in
                    switch sqlite3_column_type(statement, i) {
                    case SQLITE_INTEGER: return .long(sqlite3_column_int64(statement, i))
                    case SQLITE_FLOAT: return .double(sqlite3_column_double(statement, i))
                    case SQLITE_TEXT: return .string(String(cString: sqlite3_column_text(statement, i)))
                    default: return .null
                    }
                })
        }
        return rows
    }
}

/// Differential testing of LiveViews' SQL against SQLite: seeded data with repeating ids, ties, NULLs and
/// missing fields, quotes, `%`, `_`, canonically equivalent strings, emoji, longs at ±2^63 and beyond 2^53;
/// seeded queries (filters with AND/OR/NOT, comparisons, IN, BETWEEN, LIKE, IS NULL with NULLs in lists and
/// bounds; arithmetic; GROUP BY with the aggregates; HAVING; DISTINCT; ORDER BY; LIMIT/OFFSET) over an
/// append-only table, a FULL upsert table (against the latest row per key by the table's rule) and the
/// upsert table with skipUpsert. Every answer must match SQLite's.
///
/// The documented Pinot-style differences are translated, never tolerated: division is always a double
/// (SQLite gets `CAST(a AS REAL) / b`), NULLs sort last ascending and first descending (SQLite gets `NULLS
/// LAST` / `NULLS FIRST`), booleans come back as true/false (SQLite's 1/0), SUM of longs goes on in a double
/// where SQLite stops with "integer overflow" (such a query is not compared; regression tests cover it), and
/// LIKE is case-sensitive (`PRAGMA case_sensitive_like`).
///
/// `EVENTLOG_SQL_ORACLE_QUERIES=20000` runs the long mode; `EVENTLOG_TEST_SEED` replays a seed.
@Suite("SQL against SQLite")
struct SQLiteOracleTests {
    static let strings = [
        "Café", "Cafe\u{301}", "C", "Ca", "Cb", "", "abc", "ABC", "b", "it's", "100%", "x_y", "emoji 😀", "Z", "é",
        "\u{1F600}", "a%b", "zz",
    ]
    static let longs: [Int64] = [
        0, 1, -1, 2, 7, 100, -100, 9_007_199_254_740_993, -9_007_199_254_740_993, Int64.max, Int64.min,
        Int64.max - 1, 1 << 53, 42,
    ]
    static let doubles: [Double] = [0, 1.5, -1.5, 2, 0.1, 1e10, -3.25, 9_007_199_254_740_992, 1e-5, 1e19, 123.456]

    /// The rows of the test's tables, as SQL values: id, seq, v (the comparison column), d, s, n, b.
    static let columns = ["id", "seq", "v", "d", "s", "n", "b"]

    struct Data {
        var rows: [[SQLValue]] = []
        var json: [String] = []
    }

    static func makeData(_ random: inout SeededGenerator, count: Int) -> Data {
        var data = Data()
        func maybe(_ value: SQLValue) -> SQLValue {
            Int.random(in: 0..<6, using: &random) == 0 ? .null : value
        }
        for seq in 0..<count {
            let id = SQLValue.string("id\(Int.random(in: 0..<max(1, count / 3), using: &random))")
            // The comparison column: small, so ties and out-of-order records are common; sometimes missing.
            let v = maybe(.long(Int64.random(in: 0..<8, using: &random)))
            let d = maybe(
                Bool.random(using: &random)
                    ? .double(doubles.randomElement(using: &random)!)
                    : .double(Double(Int.random(in: -1000...1000, using: &random)) / 8))
            let s = maybe(.string(strings.randomElement(using: &random)!))
            let n = maybe(
                Int.random(in: 0..<8, using: &random) == 0
                    ? .long(longs.randomElement(using: &random)!) : .long(Int64.random(in: -50...50, using: &random)))
            let b = maybe(.bool(Bool.random(using: &random)))
            let row: [SQLValue] = [id, .long(Int64(seq)), v, d, s, n, b]
            data.rows.append(row)
            var fields: [String] = []
            for (name, value) in zip(columns, row) {
                // A NULL is written as null or left out.
                if value.isNull, Bool.random(using: &random) { continue }
                fields.append("\"\(name)\":\(jsonLiteral(value))")
            }
            data.json.append("{" + fields.joined(separator: ",") + "}")
        }
        return data
    }

    static func jsonLiteral(_ value: SQLValue) -> String {
        switch value {
        case .null: return "null"
        case .long(let v): return String(v)
        case .double(let v): return String(v)
        case .bool(let b): return b ? "true" : "false"
        case .string(let s):
            var out = "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        default: fatalError("no JSON for \(value)")
        }
    }

    /// The latest row per id by the upsert rule: the largest comparison value (NULL or missing counts as
    /// the smallest), the later record on a tie.
    /// The latest row per id, in the order LiveViews stores them (by the winning row's position in the input):
    /// SQLite sums doubles in scan order, so a different order (a dictionary's, which changes from process to
    /// process) gave totals that differ in the last bit and flipped ORDER BY ties now and then.
    static func latest(_ rows: [[SQLValue]]) -> [[SQLValue]] {
        var winner: [String: (index: Int, row: [SQLValue])] = [:]
        for (index, row) in rows.enumerated() {
            guard case .string(let id) = row[0] else { continue }
            func comparison(_ r: [SQLValue]) -> Int64 { if case .long(let v) = r[2] { v } else { Int64.min } }
            if let current = winner[id], comparison(row) < comparison(current.row) { continue }
            winner[id] = (index, row)
        }
        return winner.values.sorted { $0.index < $1.index }.map(\.row)
    }

    static func config(_ name: String, upsert: Bool) -> TableConfig {
        TableConfig(
            name: name, topic: name,
            columns: [
                ColumnDefinition("id", .string), ColumnDefinition("seq", .long), ColumnDefinition("v", .long),
                ColumnDefinition("d", .double), ColumnDefinition("s", .string), ColumnDefinition("n", .long),
                ColumnDefinition("b", .boolean),
            ],
            upsert: upsert ? UpsertConfig(mode: .full, primaryKey: ["id"], comparisonColumn: "v") : nil)
    }

    /// The tables of one run: LiveViews' `m` (append-only) and `u` (FULL upsert), SQLite's `m` (every row)
    /// and `u` (the latest per id).
    struct Fixture {
        let m: LiveTable
        let u: LiveTable
        let sqlite: SQLiteDatabase

        init(_ data: Data) throws {
            m = try LiveTable(config: SQLiteOracleTests.config("m", upsert: false))
            u = try LiveTable(config: SQLiteOracleTests.config("u", upsert: true))
            for json in data.json {
                m.ingest(json: json)
                u.ingest(json: json)
            }
            sqlite = try SQLiteDatabase()
            for table in ["m", "u"] {
                try sqlite.execute(
                    "CREATE TABLE \(table) (id TEXT, seq INTEGER, v INTEGER, d REAL, s TEXT, n INTEGER, b INTEGER)")
            }
            try sqlite.insert("m", columns: SQLiteOracleTests.columns, rows: data.rows)
            try sqlite.insert("u", columns: SQLiteOracleTests.columns, rows: SQLiteOracleTests.latest(data.rows))
        }

        /// LiveViews' answer and SQLite's for one query; nil from SQLite when it refuses the query.
        func answers(_ query: OracleQuery) throws -> (ours: [[SQLValue]], theirs: [[SQLValue]]?) {
            let table = query.table == "m" ? m : u
            let ours = try table.query(query.liveViews, now: 0).rows
            let theirs = try? sqlite.query(query.sqlite)
            return (ours, theirs)
        }
    }

    // MARK: Queries

    /// One query in both dialects.
    struct OracleQuery: CustomStringConvertible {
        var table: String
        var liveViews: String
        var sqlite: String
        /// Whether ORDER BY fixes the order of every row (else rows are compared as a multiset).
        var ordered: Bool
        var description: String { "LiveViews: \(liveViews)\n    SQLite:    \(sqlite)" }
    }

    /// A fragment written once per dialect.
    struct Both {
        var ours: String
        var theirs: String
        init(_ ours: String, _ theirs: String) {
            self.ours = ours
            self.theirs = theirs
        }
        init(_ same: String) { self.init(same, same) }
    }

    struct QueryGenerator {
        var random: SeededGenerator
        mutating func pick<T>(_ options: [T]) -> T { options.randomElement(using: &random)! }
        mutating func chance(_ n: Int) -> Bool { Int.random(in: 0..<n, using: &random) == 0 }

        mutating func stringLiteral() -> String {
            let s = pick(SQLiteOracleTests.strings)
            return "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
        }
        mutating func numberLiteral() -> String {
            switch Int.random(in: 0..<4, using: &random) {
            case 0: return String(pick(SQLiteOracleTests.longs))
            case 1: return String(pick(SQLiteOracleTests.doubles))
            case 2: return "9007199254740993.0"
            default: return String(Int.random(in: -60...60, using: &random))
            }
        }
        mutating func literal(for column: String) -> String {
            if chance(12) { return "NULL" }
            switch column {
            case "s", "id": return stringLiteral()
            case "b": return pick(["true", "false"])
            default: return numberLiteral()
            }
        }

        mutating func predicate(_ depth: Int = 0) -> Both {
            if depth < 3, chance(3) {
                let a = predicate(depth + 1), b = predicate(depth + 1)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: return Both("(\(a.ours) AND \(b.ours))", "(\(a.theirs) AND \(b.theirs))")
                case 1: return Both("(\(a.ours) OR \(b.ours))", "(\(a.theirs) OR \(b.theirs))")
                default: return Both("NOT (\(a.ours))", "NOT (\(a.theirs))")
                }
            }
            let column = pick(["v", "d", "s", "n", "b", "seq", "s", "d"])
            let not = chance(3) ? "NOT " : ""
            switch Int.random(in: 0..<6, using: &random) {
            case 0:
                let op = column == "b" ? pick(["=", "!="]) : pick(["=", "!=", "<", "<=", ">", ">="])
                return Both("\(column) \(op) \(literal(for: column))")
            case 1:
                let list = (0..<Int.random(in: 1...4, using: &random)).map { _ in literal(for: column) }
                return Both("\(column) \(not)IN (\(list.joined(separator: ", ")))")
            case 2 where column != "b":
                return Both("\(column) \(not)BETWEEN \(literal(for: column)) AND \(literal(for: column))")
            case 3:
                let pattern = pick(["'C%'", "'%a%'", "'_'", "'Caf_'", "'%'", "''", "'%😀'", "'C_f%'", "'%b'", "'x%y'"])
                return Both("s \(not)LIKE \(pattern)")
            case 4:
                return Both("\(column) IS \(not)NULL")
            default:
                // An arithmetic comparison: overflow goes to a double in both.
                let op = pick(["+", "-", "*"])
                return Both("n \(op) \(pick(["1", "2", "-1", "9223372036854775807"])) > \(numberLiteral())")
            }
        }

        /// A value expression for SELECT.
        mutating func value() -> Both {
            switch Int.random(in: 0..<12, using: &random) {
            case 0: return Both("n + 1")
            case 1: return Both("n - \(pick(["1", "-1", "9223372036854775807"]))")
            case 2: return Both("n * \(pick(["2", "-3", "4294967296"]))")
            case 3: return Both("d * 2")
            case 4: return Both("d - (d - 1)")
            case 5: return Both("-n")
            case 6: return Both("v / 2", "CAST(v AS REAL) / 2")
            case 7: return Both("n / d", "CAST(n AS REAL) / d")
            case 8:
                let p = predicate(2)
                return Both(p.ours, p.theirs)
            default: return Both(pick(SQLiteOracleTests.columns))
            }
        }

        mutating func order(_ expression: String) -> Both {
            let ascending = Bool.random(using: &random)
            return ascending
                ? Both("\(expression) ASC", "\(expression) ASC NULLS LAST")
                : Both("\(expression) DESC", "\(expression) DESC NULLS FIRST")
        }

        mutating func tableAndOption() -> (table: String, ours: String, theirs: String) {
            switch Int.random(in: 0..<3, using: &random) {
            case 0: return ("m", "m", "m")
            case 1: return ("u", "u", "u")
            default: return ("u", "u", "m")  // skipUpsert sees every record
            }
        }

        mutating func limit() -> Both {
            if chance(3) {
                let l = pick(["0", "1", "3", "10", "1000"])
                let o = chance(2) ? " OFFSET \(pick(["0", "1", "5"]))" : ""
                return Both(" LIMIT \(l)\(o)")
            }
            return Both(" LIMIT 100000")
        }

        mutating func selection() -> OracleQuery {
            let (table, ours, theirs) = tableAndOption()
            let skip = table == "u" && theirs == "m" ? " option(skipUpsert=true)" : ""
            if chance(5) {
                // DISTINCT over one or two columns, ordered by all of them.
                let columns = Array(
                    ["s", "b", "v", "n"].shuffled(using: &random).prefix(Int.random(in: 1...2, using: &random)))
                let orders = columns.map { order($0) }
                let filter = chance(2) ? predicate() : nil
                let limit = limit()
                return OracleQuery(
                    table: table,
                    liveViews:
                        "SELECT DISTINCT \(columns.joined(separator: ", ")) FROM \(ours)\(filter.map { " WHERE \($0.ours)" } ?? "") ORDER BY \(orders.map(\.ours).joined(separator: ", "))\(limit.ours)\(skip)",
                    sqlite:
                        "SELECT DISTINCT \(columns.joined(separator: ", ")) FROM \(theirs)\(filter.map { " WHERE \($0.theirs)" } ?? "") ORDER BY \(orders.map(\.theirs).joined(separator: ", "))\(limit.theirs)",
                    ordered: true)
            }
            let items = (0..<Int.random(in: 1...3, using: &random)).map { _ in value() } + [Both("seq")]
            let filter = predicate()
            var orders: [Both] = []
            if chance(2) { orders.append(order(pick(["d", "s", "n", "v", "b"]))) }
            orders.append(order("seq"))  // a unique column ends every ORDER BY: the order is total
            let limit = limit()
            return OracleQuery(
                table: table,
                liveViews:
                    "SELECT \(items.map(\.ours).joined(separator: ", ")) FROM \(ours) WHERE \(filter.ours) ORDER BY \(orders.map(\.ours).joined(separator: ", "))\(limit.ours)\(skip)",
                sqlite:
                    "SELECT \(items.map(\.theirs).joined(separator: ", ")) FROM \(theirs) WHERE \(filter.theirs) ORDER BY \(orders.map(\.theirs).joined(separator: ", "))\(limit.theirs)",
                ordered: true)
        }

        mutating func aggregate() -> Both {
            switch Int.random(in: 0..<14, using: &random) {
            case 0: return Both("COUNT(*)")
            case 1: return Both("COUNT(\(pick(["s", "d", "n", "b"])))")
            case 2: return Both("SUM(d)")
            case 3:
                let c = pick(["n", "v"])
                return Both("SUM(\(c))", "SUMLONG(\(c))")
            case 4: return Both("MIN(\(pick(["s", "d", "n"])))")
            case 5: return Both("MAX(\(pick(["s", "d", "n"])))")
            case 6: return Both("AVG(\(pick(["d", "v"])))")
            case 7: return Both("COUNT(DISTINCT \(pick(["s", "n", "d"])))")
            case 8:
                let c = pick(["s", "n"])
                return Both("DISTINCTCOUNT(\(c))", "COUNT(DISTINCT \(c))")
            case 9: return Both("SUM(d - (d - 1))")
            case 10: return Both("SUM(d - d - 1)")
            case 11: return Both("MAX(d) - MIN(d)")
            case 12: return Both("COUNT(*) * 2")
            default: return Both("MIN(v)")
            }
        }

        mutating func grouping() -> OracleQuery {
            let (table, ours, theirs) = tableAndOption()
            let skip = table == "u" && theirs == "m" ? " option(skipUpsert=true)" : ""
            let keys =
                chance(4)
                ? [] : Array(["s", "b", "v"].shuffled(using: &random).prefix(Int.random(in: 1...2, using: &random)))
            let aggregates = (0..<Int.random(in: 1...3, using: &random)).map { _ in aggregate() }
            let items = keys.map { Both($0) } + aggregates
            let filter = chance(2) ? predicate() : nil
            var having: Both? = nil
            if !keys.isEmpty, chance(3) {
                having = pick([
                    Both("COUNT(*) > 1"), Both("SUM(d) > 0"), Both("MIN(s) < 'C'"), Both("COUNT(s) >= 2"),
                ])
            }
            var orders: [Both] = []
            if !aggregates.isEmpty, chance(2) {
                orders.append(order(aggregates[0].ours == aggregates[0].theirs ? aggregates[0].ours : "COUNT(*)"))
            }
            orders += keys.map { order($0) }  // the keys make the order total
            let limit = keys.isEmpty ? Both("") : limit()
            let groupBy = keys.isEmpty ? "" : " GROUP BY \(keys.joined(separator: ", "))"
            let orderBy = { (side: KeyPath<Both, String>) in
                orders.isEmpty ? "" : " ORDER BY " + orders.map { $0[keyPath: side] }.joined(separator: ", ")
            }
            return OracleQuery(
                table: table,
                liveViews:
                    "SELECT \(items.map(\.ours).joined(separator: ", ")) FROM \(ours)\(filter.map { " WHERE \($0.ours)" } ?? "")\(groupBy)\(having.map { " HAVING \($0.ours)" } ?? "")\(orderBy(\.ours))\(limit.ours)\(skip)",
                sqlite:
                    "SELECT \(items.map(\.theirs).joined(separator: ", ")) FROM \(theirs)\(filter.map { " WHERE \($0.theirs)" } ?? "")\(groupBy)\(having.map { " HAVING \($0.theirs)" } ?? "")\(orderBy(\.theirs))\(limit.theirs)",
                ordered: true)
        }
    }

    // MARK: Comparing

    /// Equal as SQL answers: booleans as 1/0, numbers of either type within a relative 1e-9, strings by bytes.
    static func same(_ a: SQLValue, _ b: SQLValue) -> Bool {
        func normalized(_ v: SQLValue) -> SQLValue { if case .bool(let x) = v { .long(x ? 1 : 0) } else { v } }
        let (x, y) = (normalized(a), normalized(b))
        if case .long(let p) = x, case .long(let q) = y { return p == q }
        if let p = x.number, let q = y.number {
            return p == q || abs(p - q) <= 1e-9 * max(abs(p), abs(q))
        }
        return x == y
    }

    static func sameRows(_ a: [[SQLValue]], _ b: [[SQLValue]]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { r, s in r.count == s.count && zip(r, s).allSatisfy(same) }
    }

    /// Runs `count` random queries; returns the mismatches (and how many SQLite refused).
    static func run(seed: UInt64, rows: Int, queries: Int) throws -> (mismatches: [String], refused: Int) {
        var random = SeededGenerator(seed: seed)
        let fixture = try Fixture(makeData(&random, count: rows))
        var generator = QueryGenerator(random: random)
        var mismatches: [String] = []
        var refused = 0
        for _ in 0..<queries {
            let query = Bool.random(using: &generator.random) ? generator.selection() : generator.grouping()
            let ours: [[SQLValue]]
            do {
                ours = try (query.table == "m" ? fixture.m : fixture.u).query(query.liveViews, now: 0).rows
            } catch {
                mismatches.append("\(query)\n    LiveViews failed: \(error)")
                continue
            }
            // SUM of longs: SQLite's SUM is exact but refuses a query where it overflows, where LiveViews goes
            // on in a double (its regression tests cover that); such queries count as refused.
            guard
                let theirs = try? fixture.sqlite.query(query.sqlite.replacingOccurrences(of: "SUMLONG(", with: "SUM("))
            else {
                refused += 1
                continue
            }
            if !sameRows(ours, theirs) {
                let at =
                    (0..<min(ours.count, theirs.count)).first { !sameRows([ours[$0]], [theirs[$0]]) }
                    ?? min(ours.count, theirs.count)
                mismatches.append(
                    "\(query)\n    \(ours.count) rows vs \(theirs.count); first difference at row \(at): "
                        + "LiveViews \(at < ours.count ? "\(ours[at])" : "-"), SQLite \(at < theirs.count ? "\(theirs[at])" : "-")"
                )
            }
        }
        return (mismatches, refused)
    }

    @Test("random queries answer as SQLite does (seeded; EVENTLOG_SQL_ORACLE_QUERIES sets the count)")
    func differential() throws {
        let seed = testSeed("sql-oracle")
        let queries = ProcessInfo.processInfo.environment["EVENTLOG_SQL_ORACLE_QUERIES"].flatMap(Int.init) ?? 400
        let result = try Self.run(seed: seed, rows: 300, queries: queries)
        print(
            "[sql-oracle] seed \(seed): \(queries) queries, \(result.mismatches.count) mismatches, \(result.refused) refused by SQLite"
        )
        for mismatch in result.mismatches.prefix(10) { print("  mismatch: \(mismatch)") }
        #expect(result.mismatches.isEmpty, "seed \(seed): \(result.mismatches.count) answers differ from SQLite's")
        #expect(result.refused < queries / 5, "seed \(seed): SQLite should accept most queries")
    }

    // MARK: Regressions (each failed before its fix)

    /// A small table `m` (and the same rows in SQLite) whose nullable double `d`, string `s`, long `n` and
    /// boolean `b` have a few NULLs, canonically equivalent strings and longs at the ends of Int64.
    static func regressionFixture() throws -> Fixture {
        var data = Data()
        let rows: [[SQLValue]] = [
            [.string("a"), .long(0), .long(1), .double(1.5), .string("Café"), .long(Int64.max), .bool(true)],
            [.string("b"), .long(1), .long(1), .double(-2), .string("Cafe\u{301}"), .long(Int64.min), .bool(false)],
            [.string("c"), .long(2), .long(1), .null, .null, .null, .null],
            [.string("d"), .long(3), .long(1), .double(4), .string("Cb"), .long(9_007_199_254_740_993), .bool(true)],
            [.string("e"), .long(4), .long(1), .double(9), .string("b"), .long(-5), .null],
            [.string("f"), .long(5), .long(1), .double(0.25), .string("C"), .long(2), .bool(false)],
        ]
        for row in rows {
            data.rows.append(row)
            data.json.append(
                "{" + zip(columns, row).map { "\"\($0)\":\(jsonLiteral($1))" }.joined(separator: ",") + "}")
        }
        return try Fixture(data)
    }

    /// LiveViews' answer equals SQLite's for each pair (the same text when only one is given).
    static func expectAgree(
        _ fixture: Fixture, _ pairs: [(String, String?)], sourceLocation: SourceLocation = #_sourceLocation
    )
        throws
    {
        for (ours, theirs) in pairs {
            let query = OracleQuery(table: "m", liveViews: ours, sqlite: theirs ?? ours, ordered: true)
            let (a, b) = try fixture.answers(query)
            let expected = try #require(b, "SQLite refused \(theirs ?? ours)", sourceLocation: sourceLocation)
            #expect(
                sameRows(a, expected), "\(query)\n    LiveViews \(a)\n    SQLite \(expected)",
                sourceLocation: sourceLocation)
        }
    }

    @Test("NOT of IN, BETWEEN and LIKE keeps unknown unknown; NULL in an IN list or a BETWEEN bound")
    func notKeepsUnknown() throws {
        let f = try Self.regressionFixture()
        try Self.expectAgree(
            f,
            [
                ("SELECT COUNT(*) FROM m WHERE NOT (s LIKE 'C%')", nil),
                ("SELECT COUNT(*) FROM m WHERE NOT (s IN ('C', 'Cb'))", nil),
                ("SELECT COUNT(*) FROM m WHERE NOT (d BETWEEN 0 AND 2)", nil),
                ("SELECT COUNT(*) FROM m WHERE d NOT IN (1.5, NULL)", nil),
                ("SELECT COUNT(*) FROM m WHERE d IN (1.5, NULL)", nil),
                ("SELECT COUNT(*) FROM m WHERE NOT (d NOT IN (1.5, NULL))", nil),
                ("SELECT COUNT(*) FROM m WHERE d NOT BETWEEN NULL AND 2", nil),
                ("SELECT COUNT(*) FROM m WHERE NOT (d BETWEEN NULL AND 2)", nil),
                (
                    "SELECT seq, s LIKE 'C%', d > 1, d IN (1.5, NULL), NOT (b), s IS NULL FROM m ORDER BY seq LIMIT 10",
                    nil
                ),
            ])
        // Without SQLite: the answers themselves.
        #expect(try f.m.query("SELECT COUNT(*) FROM m WHERE NOT (s LIKE 'C%')").scalar == .long(1))  // 'b'
        #expect(try f.m.query("SELECT COUNT(*) FROM m WHERE d NOT IN (1.5, NULL)").scalar == .long(0))
        #expect(try f.m.query("SELECT s LIKE 'C%' FROM m WHERE seq = 2").scalar == .null)
    }

    @Test("LIMIT 0 returns no rows with ORDER BY and DISTINCT too")
    func limitZero() throws {
        let f = try Self.regressionFixture()
        for sql in [
            "SELECT s FROM m ORDER BY s LIMIT 0", "SELECT DISTINCT s FROM m LIMIT 0",
            "SELECT DISTINCT s FROM m ORDER BY s LIMIT 0", "SELECT s FROM m LIMIT 0",
            "SELECT s, COUNT(*) FROM m GROUP BY s LIMIT 0",
        ] {
            #expect(try f.m.query(sql).rows.isEmpty, "\(sql)")
        }
    }

    @Test("the columns * stands for are reported at the *, never at line 0")
    func starPosition() throws {
        let f = try Self.regressionFixture()
        for sql in ["SELECT * FROM m GROUP BY s", "SELECT *, COUNT(*) FROM m", "SELECT s,\n  * FROM m GROUP BY s"] {
            let error = #expect(throws: ViewError.self) { try f.m.query(sql) }
            #expect(error?.line != nil && error!.line! >= 1, "\(sql): \(String(describing: error))")
            #expect(error?.message.contains("must be in GROUP BY") == true)
        }
        let second = #expect(throws: ViewError.self) { try f.m.query("SELECT s,\n  * FROM m GROUP BY s") }
        #expect(second?.line == 2 && second?.column == 3)
    }

    @Test("Int64.min from JSON and SQL text is a long, not NULL or a double")
    func int64Minimum() throws {
        let f = try Self.regressionFixture()
        #expect(try f.m.query("SELECT n FROM m WHERE seq = 1").scalar == .long(Int64.min))
        #expect(try f.m.query("SELECT COUNT(*) FROM m WHERE n = -9223372036854775808").scalar == .long(1))
        #expect(try f.m.query("SELECT -9223372036854775808 FROM m LIMIT 1").scalar == .long(Int64.min))
    }

    @Test("64-bit arithmetic that overflows gives the double result, as SUM does and SQLite does")
    func overflowToDouble() throws {
        let f = try Self.regressionFixture()
        try Self.expectAgree(
            f,
            [
                ("SELECT seq, n + 1, n - 1, n * 2, -n, n - -1 FROM m ORDER BY seq LIMIT 10", nil),
                ("SELECT COUNT(*) FROM m WHERE n + 1 > 9223372036854775807", nil),
            ])
        #expect(try f.m.query("SELECT n + 1 FROM m WHERE seq = 0").scalar == .double(9_223_372_036_854_775_808.0))
        #expect(try f.m.query("SELECT -n FROM m WHERE seq = 1").scalar == .double(9_223_372_036_854_775_808.0))
        // SUM of Int64.max and Int64.min does not overflow in the end, but the running sum never wraps either.
        #expect(try f.m.query("SELECT SUM(n) FROM m WHERE seq < 2").scalar == .long(-1))
        #expect(
            try f.m.query("SELECT DATETRUNC('day', n) FROM m WHERE seq = 1").scalar
                == .double(Double(Int64.min) - Double((Int64.min % 86_400_000) + 86_400_000)))
        #expect(
            try f.m.query("SELECT DATETRUNC('day', n) FROM m WHERE seq = 0").scalar
                == .long(Int64.max - Int64.max % 86_400_000))
    }

    @Test("SUM of longs is exact in any row order: an overflow midway does not turn a total that fits into a double")
    func longSumIsOrderIndependent() throws {
        let table = try LiveTable(config: Self.config("t", upsert: false))
        for n in [Int64.max, 1, -2] { table.ingest(json: #"{"id":"x","n":\#(n)}"#) }
        // Summed in this order a 64-bit running total overflows at the second row; the exact total fits.
        #expect(
            try table.query("SELECT SUM(n), AVG(n) FROM t").rows == [
                [.long(Int64.max - 1), .double(Double(Int64.max - 1) / 3)]
            ])
        let beyond = try LiveTable(config: Self.config("b", upsert: false))
        for n in [Int64.max, Int64.max] { beyond.ingest(json: #"{"id":"x","n":\#(n)}"#) }
        #expect(try beyond.query("SELECT SUM(n) FROM b").rows == [[.double(Double(Int64.max) * 2)]])
    }

    @Test("different aggregate expressions stay apart: the key keeps the parentheses")
    func aggregateKeys() throws {
        let f = try Self.regressionFixture()
        try Self.expectAgree(f, [("SELECT SUM(d - (d - 1)), SUM(d - d - 1) FROM m", nil)])
        let result = try f.m.query("SELECT SUM(d - (d - 1)), SUM(d - d - 1), SUM(d) * 2 - (SUM(d) - 1) FROM m")
        #expect(result.rows == [[.double(5), .double(-5), .double(2 * 12.75 - (12.75 - 1))]])
        #expect(result.columns == ["sum(d - (d - 1))", "sum(d - d - 1)", "sum(d) * 2 - (sum(d) - 1)"])
    }

    @Test("strings compare by bytes everywhere: =, <, IN, BETWEEN, LIKE, DISTINCT, GROUP BY, COUNT(DISTINCT), ORDER BY")
    func bytesEverywhere() throws {
        let f = try Self.regressionFixture()
        try Self.expectAgree(
            f,
            [
                ("SELECT COUNT(*) FROM m WHERE s = 'Café'", nil),
                ("SELECT COUNT(*) FROM m WHERE s < 'Café'", nil),
                ("SELECT COUNT(*) FROM m WHERE s IN ('Cafe\u{301}')", nil),
                ("SELECT COUNT(*) FROM m WHERE s BETWEEN 'Café' AND 'Café'", nil),
                ("SELECT COUNT(*) FROM m WHERE s LIKE 'Caf_'", nil),
                ("SELECT COUNT(*) FROM m WHERE s LIKE 'Cafe_'", nil),
                ("SELECT DISTINCT s FROM m ORDER BY s LIMIT 100", "SELECT DISTINCT s FROM m ORDER BY s NULLS LAST"),
                (
                    "SELECT s, COUNT(*) FROM m GROUP BY s ORDER BY s LIMIT 100",
                    "SELECT s, COUNT(*) FROM m GROUP BY s ORDER BY s NULLS LAST"
                ),
                ("SELECT COUNT(DISTINCT s) FROM m", nil),
                ("SELECT s FROM m ORDER BY s DESC, seq LIMIT 100", "SELECT s FROM m ORDER BY s DESC NULLS FIRST, seq"),
                ("SELECT MIN(s), MAX(s) FROM m", nil),
            ])
        #expect(try f.m.query("SELECT COUNT(DISTINCT s) FROM m").scalar == .long(5))
    }

    @Test("NaN never leaves a function: SQRT of a negative is NULL, and sorting and grouping stay total")
    func noNaN() throws {
        let f = try Self.regressionFixture()
        #expect(try f.m.query("SELECT sqrt(d) FROM m WHERE seq = 1").scalar == .null)
        let ordered = try f.m.query("SELECT d FROM m ORDER BY sqrt(d), seq LIMIT 10").rows.map { $0[0] }
        #expect(ordered == [.double(0.25), .double(1.5), .double(4), .double(9), .double(-2), .null])
        #expect(try f.m.query("SELECT COUNT(DISTINCT sqrt(d)) FROM m").scalar == .long(4))
        let groups = try f.m.query("SELECT sqrt(d), COUNT(*) FROM m WHERE d < 0 OR d IS NULL GROUP BY sqrt(d)")
        #expect(groups.rows == [[.null, .long(2)]])
    }

    @Test("GROUP BY keys match SELECT columns whatever their case")
    func groupByCase() throws {
        let f = try Self.regressionFixture()
        let result = try f.m.query("SELECT S, COUNT(*) FROM m GROUP BY s ORDER BY s LIMIT 100")
        #expect(result.rows.count == 6)
        #expect(try f.m.query("SELECT ID, COUNT(*) FROM m GROUP BY id LIMIT 100").rows.count == 6)
    }

    @Test("longs and doubles compare exactly beyond 2^53")
    func exactNumericComparison() throws {
        let f = try Self.regressionFixture()
        try Self.expectAgree(
            f,
            [
                ("SELECT COUNT(*) FROM m WHERE n = 9007199254740992.0", nil),
                ("SELECT COUNT(*) FROM m WHERE n > 9007199254740992.0", nil),
                ("SELECT COUNT(*) FROM m WHERE n < 9223372036854775807.0", nil),
                ("SELECT COUNT(*) FROM m WHERE n IN (9007199254740992.0)", nil),
                ("SELECT COUNT(*) FROM m WHERE d < 9223372036854775807", nil),
            ])
        #expect(try f.m.query("SELECT COUNT(*) FROM m WHERE n = 9007199254740992.0").scalar == .long(0))
    }

    @Test("NOT IN over 10,000 literals gives the right answer")
    func hugeInList() throws {
        let f = try Self.regressionFixture()
        let list = (0..<10_000).map { String($0 * 3) }.joined(separator: ", ")
        let sql = "SELECT COUNT(*) FROM m WHERE n NOT IN (\(list))"
        try Self.expectAgree(f, [(sql, nil), ("SELECT COUNT(*) FROM m WHERE n IN (\(list), 2)", nil)])
    }
}
