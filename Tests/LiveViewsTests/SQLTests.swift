import EventLogFoundation
import Testing

@testable import LiveViews

@Suite("SQL")
struct SQLTests {
    /// Six orders around San Francisco and one in Oakland, several versions each.
    func table() throws -> LiveTable {
        let table = try LiveTable(config: ordersConfig())
        let rows: [(String, String, Double, Double, Int64, String, String)] = [
            ("o1", "ORDER_CREATED", 37.7568, -122.4447, 1, "rest-1", "San Francisco"),
            ("o1", "ORDER_PREPARED", 37.7568, -122.4447, 2, "rest-1", "San Francisco"),
            ("o2", "ORDER_PREPARED", 37.7600, -122.4500, 3, "rest-1", "San Francisco"),
            ("o3", "ORDER_PREPARED", 37.8044, -122.2712, 4, "rest-2", "Oakland"),  // ~16 km away
            ("o4", "ORDER_PICKED_UP", 37.7700, -122.4200, 5, "rest-2", "Oakland"),
            ("o5", "ORDER_DELIVERING", 37.7500, -122.4300, 6, "rest-3", "San Francisco"),
            ("o5", "ORDER_DELIVERED", 37.7400, -122.4300, 7, "rest-3", "San Francisco"),
            ("o6", "DRIVER_ASSIGNED", 37.7450, -122.4100, 8, "rest-3", "San Francisco"),
        ]
        for (id, status, lat, lon, time, restaurant, city) in rows {
            table.ingest(
                json: orderJSON(id, status: status, lat: lat, lon: lon, time: time, restaurant: restaurant, city: city))
        }
        return table
    }

    @Test("the kepler.gl export query runs verbatim with the kepler column names")
    func kepler() throws {
        let result = try table().query(
            """
            SELECT orderId as id, lat as point_latitude_2, lon as point_longitude_2,
                   restaurantLat as point_latitude_1, restaurantLon as point_longitude_1,
                   lastModified as start_time, status, restaurantId, accountId
            FROM orders
            WHERE ST_DISTANCE(location_st_point, ST_Point(-122.44469, 37.75680, 1)) < 6500
            LIMIT 100000
            option(skipUpsert=true)
            """)
        #expect(
            result.columns == [
                "id", "point_latitude_2", "point_longitude_2", "point_latitude_1", "point_longitude_1", "start_time",
                "status",
                "restaurantId", "accountId",
            ])
        #expect(result.rows.count == 7)  // every stored row but Oakland's
        #expect(result.rows.map { $0[0] }.contains(.string("o3")) == false)
        #expect(result.stats.usedSpatialIndex)
    }

    @Test("the driver dispatch query orders prepared orders by distance through its alias")
    func dispatch() throws {
        let result = try table().query(
            """
            SELECT orderId, lastModified as preparedAt,
                   ST_DISTANCE(location_st_point, ST_Point(-122.4447, 37.7568, 1)) as distance
            FROM orders WHERE distance < 15000.0 AND status = 'ORDER_PREPARED'
            ORDER BY distance ASC LIMIT 10
            """)
        #expect(result.columns == ["orderId", "preparedAt", "distance"])
        #expect(result.rows.map { $0[0] } == [.string("o1"), .string("o2")])
        #expect(result.rows[0][2] == .double(0))
        guard case .double(let d) = result.rows[1][2] else { Issue.record("distance is not a double"); return }
        let expected = Geo.distance(lon1: -122.4500, lat1: 37.7600, lon2: -122.4447, lat2: 37.7568)
        #expect(d == expected)
    }

    @Test("the driver tracks query over a drivers table")
    func driverTracks() throws {
        let config = TableConfig(
            name: "drivers", topic: "drivers",
            columns: [
                ColumnDefinition("driverId", .string), ColumnDefinition("driverLat", .double),
                ColumnDefinition("driverLon", .double),
                ColumnDefinition("lastModified", .long), ColumnDefinition("eventType", .string),
                ColumnDefinition(
                    "location_st_point", .point, transform: "toSphericalGeography(stPoint(driverLon, driverLat))"),
            ],
            upsert: UpsertConfig(primaryKey: ["driverId"], comparisonColumn: "lastModified"))
        let drivers = try LiveTable(config: config)
        for t in 0..<3 {
            drivers.ingest(
                json:
                    #"{"driverId":"d1","driverLat":37.\#(t),"driverLon":-122.4,"lastModified":\#(t),"eventType":"LOCATION_UPDATED"}"#
            )
        }
        let result = try drivers.query(
            "SELECT driverId as id, driverLat as lat, driverLon as lon, lastModified as start_time, eventType FROM drivers LIMIT 100000 option(skipUpsert=true)"
        )
        #expect(result.columns == ["id", "lat", "lon", "start_time", "eventType"])
        #expect(result.rows.count == 3)
        #expect(try drivers.query("SELECT COUNT(*) FROM drivers").scalar == .long(1))
    }

    @Test("current deliveries by restaurant id and by restaurant city")
    func dashboards() throws {
        let t = try table()
        let inFlight = "status IN ('DRIVER_ASSIGNED', 'ORDER_PICKED_UP', 'ORDER_DELIVERING')"
        let byId = try t.query(
            "SELECT restaurantId, COUNT(*) AS deliveries FROM orders WHERE \(inFlight) GROUP BY restaurantId ORDER BY deliveries DESC, restaurantId"
        )
        #expect(byId.rows == [[.string("rest-2"), .long(1)], [.string("rest-3"), .long(1)]])
        let byCity = try t.query(
            "SELECT restaurantCity AS city, COUNT(*) AS deliveries FROM orders WHERE \(inFlight) GROUP BY restaurantCity ORDER BY city"
        )
        #expect(byCity.rows == [[.string("Oakland"), .long(1)], [.string("San Francisco"), .long(1)]])
        let all = try t.query("SELECT status, COUNT(*) FROM orders GROUP BY status HAVING COUNT(*) > 1 ORDER BY status")
        #expect(all.rows == [[.string("ORDER_PREPARED"), .long(3)]])
    }

    @Test("filters: AND/OR/NOT, comparisons, IN, BETWEEN, LIKE, IS NULL, arithmetic, functions")
    func filters() throws {
        let t = try table()
        func ids(_ whereClause: String) throws -> [String] {
            try t.query("SELECT orderId FROM orders WHERE \(whereClause) ORDER BY orderId LIMIT 100").rows.map {
                $0[0].description
            }
        }
        #expect(try ids("lastModified BETWEEN 3 AND 5") == ["o2", "o3", "o4"])
        #expect(try ids("lastModified NOT BETWEEN 3 AND 7") == ["o1", "o6"])
        #expect(try ids("restaurantCity LIKE 'Oak%'") == ["o3", "o4"])
        #expect(
            try ids("orderId LIKE 'o_'  AND NOT (status = 'ORDER_PREPARED' OR status = 'DRIVER_ASSIGNED')") == [
                "o4", "o5",
            ])
        #expect(try ids("status NOT IN ('ORDER_PREPARED')") == ["o4", "o5", "o6"])
        #expect(try ids("lastModified * 2 - 1 >= 13") == ["o5", "o6"])
        #expect(try ids("lower(status) = 'order_delivered'") == ["o5"])
        #expect(try ids("accountId IS NULL") == [])
        #expect(try ids("accountId IS NOT NULL AND lastModified > 7") == ["o6"])
        #expect(
            try ids(
                "ST_Contains(ST_GeomFromText('POLYGON ((-122.3 37.7, -122.2 37.7, -122.2 37.9, -122.3 37.9, -122.3 37.7))'), location_st_point)"
            ) == ["o3"])
        #expect(
            try ids(
                "ST_Within(location_st_point, ST_GeomFromText('POLYGON ((-122.3 37.7, -122.2 37.7, -122.2 37.9, -122.3 37.9, -122.3 37.7))'))"
            ) == ["o3"])
    }

    @Test("aggregates, DISTINCT, ORDER BY, LIMIT and OFFSET, Pinot's default LIMIT 10, SELECT *")
    func aggregates() throws {
        let t = try table()
        let r = try t.query(
            "SELECT COUNT(*), SUM(lastModified), AVG(lastModified), MIN(lat), MAX(orderId), DISTINCTCOUNT(restaurantId), COUNT(DISTINCT restaurantCity) FROM orders"
        )
        #expect(
            r.rows == [[.long(6), .long(29), .double(29.0 / 6), .double(37.74), .string("o6"), .long(3), .long(2)]])
        #expect(try t.query("SELECT COUNT(*) FROM orders WHERE lastModified > 100").scalar == .long(0))
        #expect(try t.query("SELECT SUM(lat) FROM orders WHERE lastModified > 100").scalar == .null)
        let paged = try t.query("SELECT orderId FROM orders ORDER BY lastModified DESC LIMIT 2 OFFSET 1")
        #expect(paged.rows == [[.string("o5")], [.string("o4")]])
        #expect(
            try t.query("SELECT orderId FROM orders ORDER BY orderId LIMIT 1, 2").rows == [
                [.string("o2")], [.string("o3")],
            ])
        #expect(try t.query("SELECT DISTINCT restaurantCity FROM orders ORDER BY restaurantCity").rows.count == 2)
        #expect(try t.query("SELECT * FROM orders WHERE orderId = 'o1'").columns.count == 11)
        let many = try LiveTable(config: ordersConfig(upsert: nil))
        for i in 0..<25 { many.ingest(json: orderJSON("x\(i)", status: "S", lat: 0, lon: 0, time: Int64(i))) }
        #expect(try many.query("SELECT orderId FROM orders").rows.count == 10)
        #expect(
            try many.query(
                "SELECT status, COUNT(*) * 2 AS twice, MAX(lastModified) - MIN(lastModified) FROM orders GROUP BY status"
            ).rows
                == [[.string("S"), .long(50), .long(24)]])
        let perMinute = try many.query(
            "SELECT DATETRUNC('MINUTE', lastModified * 10000) AS minute, COUNT(*) FROM orders GROUP BY DATETRUNC('MINUTE', lastModified * 10000) ORDER BY minute LIMIT 3"
        )
        #expect(perMinute.rows == [[.long(0), .long(6)], [.long(60000), .long(6)], [.long(120000), .long(6)]])
        let formatted = try many.query(
            "SELECT ToDateTime(lastModified * 86400000 + 1704067200000 + 3723004, 'yyyy-MM-dd HH:mm:ss.SSS') AS t FROM orders ORDER BY t DESC LIMIT 1"
        )
        #expect(formatted.rows == [[.string("2024-01-25 01:02:03.004")]])
    }

    @Test(
        "syntax errors name the line, the column and what was expected",
        arguments: [
            ("SELECT FROM orders", 1, 8, "expected a column, literal or function, found FROM"),
            (
                "SELECT a\nFROM orders\nWHERE a = ", 3, 11,
                "expected a column, literal, function or '(', found the end of the query"
            ),
            ("SELECT a FROM orders LIMIT x", 1, 28, "expected a row count after LIMIT, found x"),
            ("SELECT 'abc FROM orders", 1, 8, "unterminated string literal"),
            ("SELECT a FROM orders WHERE a NOT 5", 1, 34, "expected IN, BETWEEN or LIKE after NOT, found 5"),
            ("SELECT a FROM orders option(skipUpsert=true", 1, 44, "expected ')', found the end of the query"),
            ("SELECT a FROM orders ; SELECT", 1, 24, "expected the end of the query, found SELECT"),
            ("SELECT a # b FROM orders", 1, 10, "unexpected character '#'"),
        ])
    func syntaxErrors(query: String, line: Int, column: Int, message: String) throws {
        #expect(throws: ViewError(.syntax, message, line: line, column: column)) { try table().query(query) }
    }

    @Test("query errors: unknown columns, functions, types and coordinates, with positions")
    func queryErrors() throws {
        let t = try table()
        let cases: [(String, Int, Int, String)] = [
            ("SELECT nope FROM orders", 1, 8, "unknown column 'nope'"),
            ("SELECT orderId FROM orders WHERE status = 5", 1, 34, "cannot compare status (string) with 5 (number)"),
            ("SELECT frob(lat) FROM orders", 1, 8, "unknown function 'frob'"),
            (
                "SELECT ST_Distance(location_st_point, ST_Point(-122, 95, 1)) FROM orders", 1, 39,
                "latitude 95.0 is outside [-90, 90]"
            ),
            ("SELECT orderId, COUNT(*) FROM orders", 1, 8, "column 'orderId' must be in GROUP BY"),
            ("SELECT orderId FROM orders WHERE COUNT(*) > 1", 1, 34, "aggregate COUNT"),
        ]
        for (query, line, column, fragment) in cases {
            do {
                _ = try t.query(query)
                Issue.record("no error for \(query)")
            } catch {
                #expect(error.line == line && error.column == column, "\(query): \(error)")
                #expect(error.message.contains(fragment), "\(query): \(error)")
            }
        }
        #expect(throws: ViewError.self) { try t.query("SELECT * FROM drivers") }
    }

    @Test("hostile queries get errors, not crashes: deep nesting, huge chains")
    func hostile() throws {
        let t = try table()
        let deep =
            "SELECT " + String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000)
            + " FROM orders"
        #expect(throws: ViewError.self) { try t.query(deep) }
        let nots = "SELECT orderId FROM orders WHERE " + String(repeating: "NOT ", count: 10_000) + "lat > 0"
        #expect(throws: ViewError.self) { try t.query(nots) }
        let sum = "SELECT " + Array(repeating: "1", count: 5000).joined(separator: " + ") + " FROM orders"
        #expect(throws: ViewError.self) { try t.query(sum) }
        // Arithmetic chains build left-deep trees: they count toward the depth limit, so a 150-term chain is
        // an error (a fuzzer's 1,000-operator mix of chains and signs overflowed the compiler's stack) and a
        // 90-term one works.
        let chain = "SELECT " + Array(repeating: "1", count: 150).joined(separator: " - ") + " FROM orders"
        let error = #expect(throws: ViewError.self) { try t.query(chain) }
        #expect(error?.message.contains("nested or chained more than 100 levels deep") == true)
        let products = "SELECT " + Array(repeating: "2", count: 150).joined(separator: " * ") + " FROM orders"
        #expect(throws: ViewError.self) { try t.query(products) }
        let fine = "SELECT " + Array(repeating: "1", count: 90).joined(separator: " + ") + " FROM orders LIMIT 1"
        #expect(try t.query(fine).rows.first?.first == .long(90))
        // Long AND/OR chains are balanced, so they work.
        let ors =
            "SELECT COUNT(*) FROM orders WHERE " + (0..<5000).map { "lastModified = \($0)" }.joined(separator: " OR ")
        #expect(try t.query(ors).scalar == .long(6))
    }

    @Test("prepared queries bind ? placeholders in order; wrong counts and unbound placeholders are errors")
    func prepared() throws {
        let t = try table()
        let dispatch = try t.prepare(
            """
            SELECT orderId, ST_DISTANCE(location_st_point, ST_Point(?, ?, 1)) AS distance FROM orders
            WHERE distance < ? AND status = ? ORDER BY distance LIMIT 10
            """)
        #expect(dispatch.parameterCount == 4)
        let near = try dispatch.run([.double(-122.4447), .double(37.7568), .double(15_000), .string("ORDER_PREPARED")])
        #expect(near.rows.map { $0[0] } == [.string("o1"), .string("o2")])
        let oakland = try dispatch.run([.double(-122.2712), .double(37.8044), .long(1000), .string("ORDER_PREPARED")])
        #expect(oakland.rows.map { $0[0] } == [.string("o3")])
        // The same answers as the literal query.
        let literal = try t.query(
            "SELECT orderId, ST_DISTANCE(location_st_point, ST_Point(-122.4447, 37.7568, 1)) AS distance FROM orders WHERE distance < 15000 AND status = 'ORDER_PREPARED' ORDER BY distance LIMIT 10"
        )
        #expect(literal.rows == near.rows)
        #expect(throws: ViewError.self) { try dispatch.run([.double(1)]) }
        #expect(throws: ViewError.self) { try t.query("SELECT orderId FROM orders WHERE lat > ?") }
        // A latitude out of range.
        #expect(throws: ViewError.self) { try dispatch.run([.double(-122), .double(95), .long(1), .string("x")]) }
    }

    @Test("an inverted index drives selective equality and IN filters and returns what a scan returns (seeded)")
    func invertedIndex() throws {
        let seed = testSeed("invertedIndex")
        var random = SeededGenerator(seed: seed)
        var indexed = ordersConfig()
        indexed.invertedIndexColumns = ["status", "restaurantCity"]
        let a = try LiveTable(config: indexed)
        let b = try LiveTable(config: ordersConfig())
        let statuses = ["ORDER_CREATED", "ORDER_PREPARED", "ORDER_DELIVERED", "RARE"]
        for i in 0..<20_000 {
            let status =
                Int.random(in: 0..<100, using: &random) == 0 ? "RARE" : statuses[Int.random(in: 0..<3, using: &random)]
            let json = orderJSON(
                "o\(Int.random(in: 0..<3000, using: &random))", status: status,
                lat: 37.7 + Double.random(in: 0..<0.2, using: &random),
                lon: -122.5 + Double.random(in: 0..<0.2, using: &random), time: Int64(i), city: "c\(i % 40)")
            a.ingest(json: json)
            b.ingest(json: json)
        }
        let queries = [
            "SELECT orderId, status FROM orders WHERE status = 'RARE' LIMIT 1000",
            "SELECT COUNT(*) FROM orders WHERE status = 'RARE'",
            "SELECT COUNT(*) FROM orders WHERE status IN ('RARE', 'nothing') AND lat > 37.8",
            "SELECT orderId, ST_DISTANCE(location_st_point, ST_Point(-122.4, 37.8, 1)) AS distance FROM orders WHERE distance < 5000 AND status = 'RARE' ORDER BY distance LIMIT 10",
            "SELECT restaurantCity, COUNT(*) FROM orders WHERE restaurantCity = 'c7' GROUP BY restaurantCity",
            "SELECT orderId FROM orders WHERE 'c3' = restaurantCity ORDER BY orderId LIMIT 5 OFFSET 2",
            "SELECT COUNT(*) FROM orders WHERE status = 'ORDER_PREPARED'",
            "SELECT COUNT(*) FROM orders WHERE status = 'RARE' option(skipUpsert=true)",
        ]
        for query in queries {
            let x = try a.query(query), y = try b.query(query)
            #expect(x.rows == y.rows, "seed \(seed): \(query)")
            #expect(!y.stats.usedInvertedIndex)
        }
        #expect(try a.query(queries[0]).stats.usedInvertedIndex)
        #expect(try a.query(queries[3]).stats.usedInvertedIndex)
        #expect(try !a.query(queries[7]).stats.usedInvertedIndex)  // skipUpsert sees rows the index does not
        // A restored snapshot rebuilds the index.
        let restored = try LiveTable(config: indexed)
        try restored.restore(a.snapshotBytes(), source: "test")
        #expect(try restored.query(queries[0]).rows == a.query(queries[0]).rows)
    }
}
