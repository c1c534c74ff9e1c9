import EventLog
import EventLogFoundation
import Foundation

/// The answer to a query: column names (aliases where given) and rows.
public struct QueryResult: Sendable, Equatable {
    public var columns: [String]
    public var rows: [[SQLValue]]
    /// How the query ran.
    public var stats: QueryStats
}

/// How a query ran: rows considered, rows matching the filter, whether the spatial index was used.
public struct QueryStats: Sendable, Equatable {
    public var documentsScanned = 0
    public var documentsMatched = 0
    public var usedSpatialIndex = false
    public var usedInvertedIndex = false
    public var skipUpsert = false
    /// Rows stored in the table when the query ran (every row, superseded upserts included: Pinot's
    /// `totalDocs`).
    public var totalDocuments = 0
}

/// A compiled per-document expression. Per-row failures (a bad coordinate in one row) are recorded in
/// the ``Failure`` box and end the query with a clear error.
typealias Evaluator = (Int32) -> SQLValue
typealias Predicate = (Int32) -> Bool

final class Failure {
    var error: ViewError?
    func fail(_ message: String, _ at: Expression) {
        if error == nil { error = ViewError(.query, message, line: at.line, column: at.column) }
    }
}

extension LiveTable {
    /// Runs a query against this table (its `FROM` must name the table).
    ///
    /// - Parameters:
    ///   - sql: The query text, e.g. `SELECT count(*) FROM orders WHERE status = 'ORDER_PREPARED'`.
    ///   - now: What `now()` returns, in epoch milliseconds (default: the table's clock).
    /// - Throws: ``ViewError`` with code `syntax` (line, column, what was expected) or `query` (unknown
    ///   column, wrong types, coordinates out of range).
    public func query(_ sql: String, now: Int64? = nil) throws(ViewError) -> QueryResult {
        try run(try statement(sql), now: now)
    }

    /// The statement for `sql` (from a small cache: dashboards and services repeat the same text), which
    /// must query this table.
    func statement(_ sql: String) throws(ViewError) -> SelectStatement {
        let statement: SelectStatement
        if let cached = statements.withLock({ $0[sql] }) {
            statement = cached
        } else {
            statement = try Parser.parse(sql)
            statements.withLock { cache in
                if cache.count >= 256 { cache.removeAll(keepingCapacity: true) }
                cache[sql] = statement
            }
        }
        guard statement.table.caseInsensitiveCompare(name) else {
            throw ViewError(
                .noSuchTable, "no table '\(statement.table)' (this is table '\(name)')", line: statement.tableLine,
                column: statement.tableColumn)
        }
        return statement
    }

    /// Runs a parsed statement; `now` defaults to the table's clock.
    func run(_ statement: SelectStatement, now: Int64?) throws(ViewError) -> QueryResult {
        let now = now ?? clock.milliseconds()
        func execute() -> Result<QueryResult, ViewError> {
            do throws(ViewError) {
                let executor = try QueryExecutor(table: TableView(storage), statement: statement, now: now)
                var result = try executor.execute()
                result.stats.totalDocuments = storage.documentCount
                return .success(result)
            } catch {
                return .failure(error)
            }
        }
        // Shared with other queries when the indexes are up to date; otherwise exclusive, to sync them first
        // (queries never write under the read lock).
        let allDocuments = !storage.isUpsert || QueryExecutor.skipsUpsert(statement)
        let shared: Result<QueryResult, ViewError>? = lock.read {
            storage.indexesPending(allDocuments: allDocuments) ? nil : execute()
        }
        let result =
            shared
            ?? lock.write {
                storage.syncIndexes(allDocuments: allDocuments)
                return execute()
            }
        return try result.get()
    }
}

/// Plans and runs one SELECT over a table whose read lock is held. A class, so the many closures a
/// query compiles capture one reference rather than copying the executor's state.
final class QueryExecutor {
    let table: TableView
    let statement: SelectStatement
    let now: Int64
    let skipUpsert: Bool
    let failure = Failure()
    /// Lower-cased alias → its expression (for WHERE, GROUP BY, HAVING, ORDER BY).
    var aliases: [String: Expression] = [:]
    /// The select list with `*` expanded: (name, expression).
    var items: [(String, Expression)] = []
    var stats = QueryStats()
    /// Set while compiling a group-level template: the values of its `$n` placeholders.
    var templateSlots: TemplateSlots? = nil

    /// Pinot's default row limit when a query has none.
    static let defaultLimit = 10

    /// Whether the statement asks for every stored row (`OPTION(skipUpsert=true)`).
    static func skipsUpsert(_ statement: SelectStatement) -> Bool {
        let option = statement.options["skipupsert"]
        return option == .bool(true) || option == .string("true") || option == .long(1)
    }

    init(table: TableView, statement: SelectStatement, now: Int64) throws(ViewError) {
        self.table = table
        self.statement = statement
        self.now = now
        skipUpsert = Self.skipsUpsert(statement)
        stats.skipUpsert = skipUpsert
        for item in statement.items {
            guard let expression = item.expression else {
                for column in table.config.columns {
                    items.append(
                        (column.name, Expression(kind: .column(column.name), line: item.line, column: item.column)))
                }
                continue
            }
            items.append((item.alias ?? expression.display, expression))
            if let alias = item.alias { aliases[alias.lowercased()] = expression }
        }
    }

    // MARK: Running

    func execute() throws(ViewError) -> QueryResult {
        let isAggregate =
            !statement.groupBy.isEmpty || items.contains { $0.1.hasAggregate } || statement.having?.hasAggregate == true
        if statement.having != nil, !isAggregate {
            throw ViewError(
                .query, "HAVING needs GROUP BY or an aggregate", line: statement.having!.line,
                column: statement.having!.column)
        }
        let result = isAggregate ? try aggregateQuery() : try selectionQuery()
        if let error = failure.error { throw error }
        return result
    }

    /// How the filter narrows the documents: through the spatial index or by scanning.
    struct Scan {
        var spatial: SpatialFilter?
        /// Posting lists to drive the scan from (an inverted index), instead of the spatial index or
        /// every row.
        var postings: [[Int32]]?
        var rest: Predicate?
    }

    struct SpatialFilter {
        let grid: SpatialGrid
        /// The exact test on a point (longitude, latitude).
        let check: (Double, Double) -> Bool
        let search: (SpatialGrid, (_ cell: SpatialGrid.Cell, _ certain: Bool) -> Void) -> Void
    }

    func plan() throws(ViewError) -> Scan {
        guard let filter = statement.filter else { return Scan() }
        var conjuncts: [Expression] = []
        func split(_ e: Expression) {
            if case .binary(.and, let a, let b) = e.kind {
                split(a)
                split(b)
            } else {
                conjuncts.append(e)
            }
        }
        split(resolveAliases(filter))
        var spatial: SpatialFilter? = nil
        var spatialConjunct: Expression? = nil
        for (at, conjunct) in conjuncts.enumerated() {
            if let found = spatialFilter(conjunct) {
                spatial = found
                spatialConjunct = conjunct
                conjuncts.remove(at: at)
                break
            }
        }
        // An equality or IN on a column with an inverted index drives the scan when it selects few rows
        // (fewer than 1/64 of them next to a spatial filter, 1/8 otherwise); the spatial test then runs
        // per row.
        var postings: [[Int32]]? = nil
        if skipUpsert ? !table.isUpsert : true {
            let visible = skipUpsert || !table.isUpsert ? table.documentCount : table.valid.count
            for (at, conjunct) in conjuncts.enumerated() {
                guard let lists = postingLists(conjunct) else { continue }
                let total = lists.reduce(0) { $0 + $1.count }
                guard total * (spatial == nil ? 8 : 64) <= visible else { continue }
                postings = lists
                conjuncts.remove(at: at)
                if let spatialConjunct {
                    conjuncts.append(spatialConjunct)
                    spatial = nil
                }
                break
            }
        }
        var rest: Predicate? = nil
        if !conjuncts.isEmpty {
            let predicates = try conjuncts.map { (e) throws(ViewError) in try compilePredicate(e) }
            rest = predicates.count == 1 ? predicates[0] : { doc in predicates.allSatisfy { $0(doc) } }
        }
        return Scan(spatial: spatial, postings: postings, rest: rest)
    }

    /// The posting lists answering `column = 'literal'` or `column IN ('a', 'b', …)` on a column with an
    /// inverted index, or nil.
    func postingLists(_ e: Expression) -> [[Int32]]? {
        var name: String
        var literals: [Expression]
        switch e.kind {
        case .binary(.equal, let a, let b):
            if case .column(let n) = a.kind {
                (name, literals) = (n, [b])
            } else if case .column(let n) = b.kind {
                (name, literals) = (n, [a])
            } else {
                return nil
            }
        case .inList(let x, let list, negated: false):
            guard case .column(let n) = x.kind else { return nil }
            (name, literals) = (n, list)
        default: return nil
        }
        guard let index = table.columnIndex[name.lowercased()], let lists = table.postings(index) else {
            return nil
        }
        var result: [[Int32]] = []
        var seen = Set<Int32>()
        for literal in literals {
            guard case .literal(.string(let value)) = literal.kind else { return nil }
            if let code = table.columns[index].dictionary.find(value), seen.insert(code).inserted {
                result.append(lists.documents(code))
            }
        }
        return result
    }

    /// Visits every document that passes the filter (ascending order unless the spatial index is used and
    /// `ordered` is false).
    func forEachMatch(_ scan: Scan, ordered: Bool, _ body: (Int32) -> Bool) {
        var scanned = 0, matched = 0
        defer {
            stats.documentsScanned += scanned
            stats.documentsMatched += matched
        }
        if let postings = scan.postings {
            stats.usedInvertedIndex = true
            var hits: [Int32] = []
            for list in postings {
                scanned += list.count
                for doc in list {
                    if let rest = scan.rest, !rest(doc) { continue }
                    matched += 1
                    if ordered {
                        hits.append(doc)
                    } else if !body(doc) {
                        return
                    }
                }
            }
            if ordered {
                hits.sort()
                for doc in hits where !body(doc) { return }
            }
            return
        }
        if let spatial = scan.spatial {
            stats.usedSpatialIndex = true
            var hits: [Int32] = []
            var stop = false
            spatial.search(spatial.grid) { cell, certain in
                guard !stop else { return }
                scanned += cell.docs.count
                for (k, doc) in cell.docs.enumerated() {
                    if !certain, !spatial.check(cell.longitudes[k], cell.latitudes[k]) { continue }
                    if let rest = scan.rest, !rest(doc) { continue }
                    matched += 1
                    if ordered {
                        hits.append(doc)
                    } else if !body(doc) {
                        stop = true
                        return
                    }
                }
            }
            if ordered {
                hits.sort()
                for doc in hits where !body(doc) { return }
            }
            return
        }
        func visit(_ doc: Int32) -> Bool {
            scanned += 1
            if let rest = scan.rest, !rest(doc) { return true }
            matched += 1
            return body(doc)
        }
        if skipUpsert || !table.isUpsert {
            for doc in 0..<Int32(table.documentCount) where !visit(doc) { return }
        } else {
            var stopped = false
            table.valid.forEach(below: table.documentCount) { doc in
                if !stopped, !visit(doc) { stopped = true }
            }
        }
    }

    /// How many documents pass the filter, without visiting documents that need no check: a spatial cell
    /// entirely within the radius adds its size, and a query without a filter reads the counts.
    func countMatches(_ scan: Scan) -> Int {
        if let spatial = scan.spatial {
            stats.usedSpatialIndex = true
            var matched = 0, scanned = 0
            spatial.search(spatial.grid) { cell, certain in
                scanned += cell.docs.count
                if certain, scan.rest == nil {
                    matched += cell.docs.count
                    return
                }
                for k in cell.docs.indices {
                    if !certain, !spatial.check(cell.longitudes[k], cell.latitudes[k]) { continue }
                    if let rest = scan.rest, !rest(cell.docs[k]) { continue }
                    matched += 1
                }
            }
            stats.documentsScanned += scanned
            stats.documentsMatched += matched
            return matched
        }
        if let postings = scan.postings, scan.rest == nil {
            stats.usedInvertedIndex = true
            let count = postings.reduce(0) { $0 + $1.count }
            stats.documentsMatched += count
            return count
        }
        if scan.spatial == nil, scan.postings == nil, scan.rest == nil {
            let count = skipUpsert || !table.isUpsert ? table.documentCount : table.valid.count
            stats.documentsMatched += count
            return count
        }
        var count = 0
        forEachMatch(scan, ordered: false) { _ in
            count += 1
            return true
        }
        return count
    }

    /// Recognises `ST_DISTANCE(point column, constant point) < r` (either order, `<`, `<=`, `>`, `>=` with
    /// the constant radius on either side) and `ST_Contains(constant polygon, column)` /
    /// `ST_Within(column, constant polygon)`.
    func spatialFilter(_ e: Expression) -> SpatialFilter? {
        let (skipUpsert, table) = (self.skipUpsert, self.table)
        // The grid of every document for skipUpsert (and append tables), else the grid of valid ones:
        // either holds exactly the documents the query may see.
        let grids = { (column: Int) -> SpatialGrid? in
            skipUpsert || !table.isUpsert ? table.allDocumentsGrid(column) : table.validDocumentsGrid(column)
        }
        if case .binary(let op, let a, let b) = e.kind, [.less, .lessOrEqual, .greater, .greaterOrEqual].contains(op) {
            var call = a, bound = b, strict = op == .less
            if op == .greater || op == .greaterOrEqual {
                call = b
                bound = a
                strict = op == .greater
            }
            guard case .call(let name, let arguments, _) = call.kind, name.lowercased() == "st_distance",
                arguments.count == 2,
                let radius = constant(bound)?.number
            else { return nil }
            let columnFirst = pointColumn(arguments[0]) != nil
            guard let column = pointColumn(arguments[columnFirst ? 0 : 1]),
                let center = constant(arguments[columnFirst ? 1 : 0]).flatMap(ScalarFunctions.asPoint),
                let grid = grids(column)
            else { return nil }
            let near = NearTest(center: center, radius: radius)
            let check = { (lon: Double, lat: Double) -> Bool in
                switch near.classify(longitude: lon, latitude: lat) {
                case .inside: return true
                case .outside: return false
                case .unsure: break
                }
                let d =
                    columnFirst
                    ? Geo.distance(lon1: lon, lat1: lat, lon2: center.longitude, lat2: center.latitude)
                    : Geo.distance(lon1: center.longitude, lat1: center.latitude, lon2: lon, lat2: lat)
                return strict ? d < radius : d <= radius
            }
            return SpatialFilter(
                grid: grid, check: check, search: { grid, body in grid.candidates(near: center, within: radius, body) })
        }
        if case .call(let name, let arguments, _) = e.kind, arguments.count == 2,
            ["st_contains", "st_within"].contains(name.lowercased())
        {
            let (polygonArgument, pointArgument) =
                name.lowercased() == "st_contains" ? (arguments[0], arguments[1]) : (arguments[1], arguments[0])
            guard case .geometry(.polygon(let rings)) = constant(polygonArgument),
                let column = pointColumn(pointArgument),
                let grid = grids(column)
            else { return nil }
            let box = Geo.bounds(rings)
            return SpatialFilter(
                grid: grid,
                check: { lon, lat in Geo.contains(rings, GeoPoint(unchecked: lon, lat)) },
                search: { grid, body in
                    grid.candidates(inBox: box.minLon, box.minLat, box.maxLon, box.maxLat) { body($0, false) }
                })
        }
        return nil
    }

    /// The index of a point column named directly or through `toSphericalGeography(col)`, single-value.
    func pointColumn(_ e: Expression) -> Int? {
        switch e.kind {
        case .column(let name):
            guard let index = table.columnIndex[name.lowercased()], table.columns[index].type == .point else {
                return nil
            }
            return index
        case .call(let name, let arguments, _)
        where ["tosphericalgeography", "togeometry"].contains(name.lowercased()) && arguments.count == 1:
            return pointColumn(arguments[0])
        default: return nil
        }
    }

    /// The value of an expression without columns (literals and functions of literals), if it is one.
    func constant(_ e: Expression) -> SQLValue? {
        guard !references(e) else { return nil }
        guard let evaluator = try? compile(e) else { return nil }
        let value = evaluator(0)
        return failure.error == nil ? value : nil
    }

    func references(_ e: Expression) -> Bool {
        switch e.kind {
        case .literal: return false
        case .column, .star: return true
        case .call(let name, let arguments, _):
            return Aggregate.Kind(name: name) != nil || arguments.contains(where: references)
        case .negate(let x), .not(let x), .isNull(let x, _): return references(x)
        case .binary(_, let a, let b), .like(let a, let b, _): return references(a) || references(b)
        case .inList(let x, let list, _): return references(x) || list.contains(where: references)
        case .between(let x, let a, let b, _): return references(x) || references(a) || references(b)
        }
    }

    /// Replaces names that are select aliases (and not columns) by the aliased expression. An alias that
    /// refers to itself, directly or through others, is left as a name (and then reported unknown).
    func resolveAliases(_ e: Expression, expanding: Set<String> = []) -> Expression {
        e.mapColumns { name in
            let key = name.lowercased()
            guard table.columnIndex[key] == nil, let aliased = aliases[key], !expanding.contains(key) else {
                return nil
            }
            return resolveAliases(aliased, expanding: expanding.union([key])).kind
        }
    }

    // MARK: Selection

    func selectionQuery() throws(ViewError) -> QueryResult {
        let scan = try plan()
        let limit = statement.limit ?? Self.defaultLimit
        let wanted = statement.offset.addingReportingOverflow(limit).overflow ? Int.max : statement.offset + limit
        let projections = try items.map { (item) throws(ViewError) in try compile(resolveAliases(item.1)) }
        var rows: [[SQLValue]] = []
        if statement.orderBy.isEmpty, !statement.distinct {
            if wanted > 0 {
                forEachMatch(scan, ordered: true) { doc in
                    rows.append(projections.map { $0(doc) })
                    return rows.count < wanted
                }
            }
            rows.removeFirst(min(statement.offset, rows.count))
            return QueryResult(columns: items.map(\.0), rows: rows, stats: stats)
        }
        let keys = try statement.orderBy.map { (order) throws(ViewError) in
            try compile(resolveAliases(order.expression))
        }
        var matches: [(keys: [SQLValue], doc: Int32)] = []
        forEachMatch(scan, ordered: true) { doc in
            matches.append((keys.map { $0(doc) }, doc))
            return true
        }
        let orders = statement.orderBy
        let precedes = { (a: (keys: [SQLValue], doc: Int32), b: (keys: [SQLValue], doc: Int32)) -> Bool in
            for (index, order) in orders.enumerated() {
                let c = SQLValue.orderedBefore(a.keys[index], b.keys[index])
                if c != 0 { return order.ascending ? c < 0 : c > 0 }
            }
            return a.doc < b.doc
        }
        if !orders.isEmpty { matches.sort(by: precedes) }
        var seen = Set<[SQLValue]>()
        for match in matches {
            if rows.count >= wanted { break }
            let row = projections.map { $0(match.doc) }
            if statement.distinct, !seen.insert(row).inserted { continue }
            rows.append(row)
        }
        rows.removeFirst(min(statement.offset, rows.count))
        return QueryResult(columns: items.map(\.0), rows: rows, stats: stats)
    }
}

/// A query parsed once and run many times with different values for its `?` placeholders — what a
/// service asking the same question at a high rate (the dispatch query, per driver) should use.
///
/// ```swift
/// let dispatch = try orders.prepare("""
///     SELECT orderId, ST_DISTANCE(location_st_point, ST_Point(?, ?, 1)) AS distance FROM orders
///     WHERE distance < ? AND status = 'ORDER_PREPARED' ORDER BY distance LIMIT 10
///     """)
/// let nearest = try dispatch.run([.double(lon), .double(lat), .double(15_000)])
/// ```
public struct PreparedQuery: Sendable {
    /// The table it runs against.
    public let table: LiveTable
    let statement: SelectStatement
    /// How many values ``run(_:now:)`` takes.
    public var parameterCount: Int { statement.parameterCount }

    /// Runs the query with `parameters` in place of its placeholders, in order.
    ///
    /// - Throws: ``ViewError`` with code `query` when the number of values is wrong, or any error the
    ///   query with those values gives.
    public func run(_ parameters: [SQLValue], now: Int64? = nil) throws(ViewError) -> QueryResult {
        guard parameters.count == statement.parameterCount else {
            throw ViewError(
                .query,
                "the query has \(statement.parameterCount) placeholders but \(parameters.count) values were given")
        }
        var bound = statement
        if !parameters.isEmpty {
            let bind = { (e: Expression) in
                e.mapColumns { name in
                    guard name.hasPrefix("?"), let index = Int(name.dropFirst()), index < parameters.count else {
                        return nil
                    }
                    return .literal(parameters[index])
                }
            }
            bound.items = bound.items.map { SelectStatement.Item(expression: $0.expression.map(bind), alias: $0.alias) }
            bound.filter = bound.filter.map(bind)
            bound.groupBy = bound.groupBy.map(bind)
            bound.having = bound.having.map(bind)
            bound.orderBy = bound.orderBy.map {
                SelectStatement.Order(expression: bind($0.expression), ascending: $0.ascending)
            }
        }
        return try table.run(bound, now: now)
    }
}

extension LiveTable {
    /// Parses a query with `?` placeholders for values, to run many times (see ``PreparedQuery``).
    ///
    /// - Throws: ``ViewError`` with code `syntax`, or `noSuchTable` when `FROM` names another table.
    public func prepare(_ sql: String) throws(ViewError) -> PreparedQuery {
        PreparedQuery(table: self, statement: try statement(sql))
    }
}
