import EventLogFoundation
import Foundation
import Testing

@testable import LiveViews

/// Random queries against a small table: any answer or a `ViewError` is fine; a trap (overflow, index out
/// of range, infinite recursion) kills the test process and fails the run. Seeded; the seed is printed.
@Suite("Query fuzzing")
struct QueryFuzzTests {
    static let columns = [
        "orderId", "status", "lat", "lon", "lastModified", "restaurantCity", "location_st_point", "nope", "x",
    ]
    static let functions = [
        "ST_Point", "ST_Distance", "toSphericalGeography", "ST_GeomFromText", "ST_Contains", "ST_Within", "ST_X", "now",
        "ago", "DATETRUNC", "ToDateTime", "toEpochMinutes", "abs", "ceil", "floor", "round", "sqrt", "lower", "upper",
        "length", "concat", "substr", "coalesce", "COUNT", "SUM", "AVG", "MIN", "MAX", "DISTINCTCOUNT", "frob",
    ]
    static let literals = [
        "0", "1", "-1", "9223372036854775807", "-9223372036854775808", "1e308", "-1e308", "1e-320", "0.5", "'a'", "''",
        "'ORDER_PREPARED'", "'PT5M'", "'P1D'", "'MINUTE'", "'yyyy-MM-dd HH:mm:ss.SSS'", "'POINT (1 2)'",
        "'POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))'", "'POLYGON ((0 0'", "NULL", "true", "false", "180", "-90", "91",
    ]
    static let operators = ["+", "-", "*", "/", "%", "=", "!=", "<", "<=", ">", ">=", "AND", "OR"]

    struct Generator {
        var random: SeededGenerator
        mutating func pick(_ options: [String]) -> String { options.randomElement(using: &random)! }
        mutating func chance(_ n: Int) -> Bool { Int.random(in: 0..<n, using: &random) == 0 }

        mutating func expression(_ depth: Int = 0) -> String {
            if depth > 4 || chance(3) {
                return chance(2) ? pick(QueryFuzzTests.columns) : pick(QueryFuzzTests.literals)
            }
            switch Int.random(in: 0..<9, using: &random) {
            case 0, 1:
                return "\(expression(depth + 1)) \(pick(QueryFuzzTests.operators)) \(expression(depth + 1))"
            case 2:
                let count = Int.random(in: 0...3, using: &random)
                let arguments = (0..<count).map { _ in expression(depth + 1) }.joined(separator: ", ")
                return "\(pick(QueryFuzzTests.functions))(\(chance(6) ? "*" : arguments))"
            case 3: return "NOT \(expression(depth + 1))"
            case 4: return "\(expression(depth + 1)) IN (\(expression(depth + 1)), \(expression(depth + 1)))"
            case 5: return "\(expression(depth + 1)) BETWEEN \(expression(depth + 1)) AND \(expression(depth + 1))"
            case 6:
                return
                    "\(expression(depth + 1)) \(chance(2) ? "NOT " : "")LIKE \(pick(["'%a%'", "'_'", "'%'", "''", "'a%b_c'"]))"
            case 7: return "\(expression(depth + 1)) IS \(chance(2) ? "NOT " : "")NULL"
            default: return "(\(expression(depth + 1)))"
            }
        }

        mutating func query() -> String {
            var items = (0..<Int.random(in: 1...3, using: &random)).map { i in
                expression() + (chance(2) ? " AS \(pick(["a", "b", "x", "lat", "distance"]))" : "")
            }
            if chance(8) { items = ["*"] }
            var sql =
                (chance(6) ? "SET skipUpsert = true; " : "")
                + "SELECT \(chance(8) ? "DISTINCT " : "")\(items.joined(separator: ", ")) FROM orders"
            if chance(2) { sql += " WHERE \(expression())" }
            if chance(3) { sql += " GROUP BY \(expression())" }
            if chance(5) { sql += " HAVING \(expression())" }
            if chance(3) { sql += " ORDER BY \(expression()) \(pick(["ASC", "DESC", ""]))" }
            if chance(2) { sql += " LIMIT \(pick(["0", "1", "5", "9223372036854775807"]))" }
            if chance(4) { sql += " OFFSET \(pick(["0", "2", "9223372036854775807"]))" }
            if chance(4) { sql += " option(skipUpsert=\(pick(["true", "false", "1"])))" }
            return sql
        }

        /// A valid query with a random token dropped, doubled or swapped.
        mutating func mutate(_ sql: String) -> String {
            var tokens = sql.split(separator: " ").map(String.init)
            guard tokens.count > 2 else { return sql }
            let at = Int.random(in: 0..<tokens.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: tokens.remove(at: at)
            case 1: tokens.insert(tokens[at], at: at)
            case 2: tokens.swapAt(at, Int.random(in: 0..<tokens.count, using: &random))
            default: tokens[at] = pick(QueryFuzzTests.operators + ["(", ")", ",", "'", "\"", "SELECT", "FROM"])
            }
            return tokens.joined(separator: " ")
        }
    }

    @Test("random and mutated queries give answers or errors, never a crash")
    func randomQueries() throws {
        let seed = testSeed("query.fuzz")
        let table = try LiveTable(config: ordersConfig())
        for i in 0..<200 {
            table.ingest(
                json: orderJSON(
                    "o\(i % 50)", status: ["ORDER_CREATED", "ORDER_PREPARED", "ORDER_DELIVERED"][i % 3],
                    lat: 37 + Double(i) / 100,
                    lon: -122 + Double(i % 7) / 10, time: Int64(i)))
        }
        table.ingest(json: #"{"orderId":"extreme","lat":90,"lon":180,"lastModified":9223372036854775807}"#)
        table.ingest(json: #"{"orderId":"nulls"}"#)
        var generator = Generator(random: SeededGenerator(seed: seed))
        let demo = [
            "SELECT orderId as id, lat as point_latitude_2, lon as point_longitude_2, lastModified as start_time, status FROM orders WHERE ST_DISTANCE(location_st_point, ST_Point(-122.44469, 37.75680, 1)) < 6500 LIMIT 100000 option(skipUpsert=true)",
            "SELECT orderId, lastModified as preparedAt, ST_DISTANCE(location_st_point, ST_Point(-122.4, 37.7, 1)) as distance FROM orders WHERE distance < 15000.0 AND status = 'ORDER_PREPARED' ORDER BY distance ASC LIMIT 10",
            "SELECT restaurantCity, COUNT(*) AS n FROM orders WHERE status IN ('ORDER_PREPARED', 'ORDER_CREATED') GROUP BY restaurantCity HAVING COUNT(*) > 1 ORDER BY n DESC",
        ]
        var answered = 0, rejected = 0
        let trace = ProcessInfo.processInfo.environment["EVENTLOG_FUZZ_TRACE"] != nil
        for round in 0..<6000 {
            let sql = round % 3 == 0 ? generator.mutate(demo[round % demo.count]) : generator.query()
            if trace { print("query \(round): \(sql)") }  // EVENTLOG_FUZZ_TRACE=1 names the query that crashed
            do {
                _ = try table.query(sql, now: 1_700_000_000_000)
                answered += 1
            } catch {
                rejected += 1
            }
        }
        print("query fuzz seed \(seed): \(answered) answered, \(rejected) rejected")
        #expect(answered > 500, "seed \(seed): the generator should produce many valid queries")
    }
}
