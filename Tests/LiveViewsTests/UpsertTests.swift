import EventLogFoundation
import Testing

@testable import LiveViews

@Suite("Upsert tables")
struct UpsertTests {
    func statuses(_ table: LiveTable, skip: Bool = false) throws -> [[SQLValue]] {
        try table.query(
            "SELECT orderId, status FROM orders ORDER BY orderId, lastModified LIMIT 100"
                + (skip ? " option(skipUpsert=true)" : "")
        ).rows
    }

    @Test("FULL: the larger comparison value wins, ties go to the later record, older records are kept for skipUpsert")
    func full() throws {
        let table = try LiveTable(config: ordersConfig())
        table.ingest(json: orderJSON("a", status: "ORDER_CREATED", lat: 1, lon: 1, time: 10))
        table.ingest(json: orderJSON("a", status: "ORDER_ASSIGNED", lat: 1, lon: 1, time: 20))
        table.ingest(json: orderJSON("a", status: "ORDER_PREPARING", lat: 1, lon: 1, time: 20))  // tie: later wins
        table.ingest(json: orderJSON("a", status: "ORDER_CREATED", lat: 1, lon: 1, time: 5))  // out of order
        table.ingest(json: orderJSON("b", status: "ORDER_CREATED", lat: 1, lon: 1, time: 1))
        #expect(
            try statuses(table) == [
                [.string("a"), .string("ORDER_PREPARING")], [.string("b"), .string("ORDER_CREATED")],
            ])
        #expect(table.rowCount == 2)
        #expect(table.storedRowCount == 5)
        #expect(try table.query("SELECT COUNT(*) FROM orders option(skipUpsert=true)").scalar == .long(5))
        #expect(try table.query("SET skipUpsert = true; SELECT COUNT(*) FROM orders").scalar == .long(5))
    }

    @Test("dropOutOfOrder stores nothing; outOfOrderColumn marks stored late rows")
    func outOfOrder() throws {
        var config = ordersConfig()
        config.upsert!.dropOutOfOrder = true
        let dropping = try LiveTable(config: config)
        dropping.ingest(json: orderJSON("a", status: "ORDER_ASSIGNED", lat: 1, lon: 1, time: 20))
        dropping.ingest(json: orderJSON("a", status: "ORDER_CREATED", lat: 1, lon: 1, time: 10))
        #expect(dropping.storedRowCount == 1)

        config = ordersConfig()
        config.columns.append(ColumnDefinition("late", .boolean))
        config.upsert!.outOfOrderColumn = "late"
        let marking = try LiveTable(config: config)
        marking.ingest(json: orderJSON("a", status: "ORDER_ASSIGNED", lat: 1, lon: 1, time: 20))
        marking.ingest(json: orderJSON("a", status: "ORDER_CREATED", lat: 1, lon: 1, time: 10))
        let rows = try marking.query("SELECT status, late FROM orders ORDER BY lastModified option(skipUpsert=true)")
            .rows
        #expect(rows == [[.string("ORDER_CREATED"), .bool(true)], [.string("ORDER_ASSIGNED"), .bool(false)]])
    }

    @Test("a delete record hides the key until a newer record revives it")
    func deletes() throws {
        var config = ordersConfig()
        config.columns.append(ColumnDefinition("deleted", .boolean))
        config.upsert!.deleteColumn = "deleted"
        let table = try LiveTable(config: config)
        table.ingest(json: orderJSON("a", status: "ORDER_CREATED", lat: 1, lon: 1, time: 10))
        table.ingest(json: #"{"orderId":"a","status":"GONE","lastModified":20,"deleted":true}"#)
        #expect(table.rowCount == 0)
        table.ingest(json: orderJSON("a", status: "ORDER_ASSIGNED", lat: 1, lon: 1, time: 15))  // older than the delete
        #expect(table.rowCount == 0)
        table.ingest(json: orderJSON("a", status: "ORDER_PREPARING", lat: 1, lon: 1, time: 30))
        #expect(try statuses(table) == [[.string("a"), .string("ORDER_PREPARING")]])
        #expect(
            try table.query("SELECT COUNT(*) FROM orders WHERE deleted = true option(skipUpsert=true)").scalar
                == .long(1))
    }

    @Test("PARTIAL upsert merges column by column; nulls keep the old value")
    func partial() throws {
        let config = TableConfig(
            name: "stats", topic: "stats",
            columns: [
                ColumnDefinition("id", .string), ColumnDefinition("clicks", .long), ColumnDefinition("name", .string),
                ColumnDefinition("first", .string), ColumnDefinition("best", .double), ColumnDefinition("low", .double),
                ColumnDefinition("tags", .string, multiValue: true),
                ColumnDefinition("seen", .string, multiValue: true),
                ColumnDefinition("ts", .long),
            ],
            upsert: UpsertConfig(
                mode: .partial, primaryKey: ["id"], comparisonColumn: "ts",
                partialStrategies: [
                    "clicks": .increment, "first": .ignore, "best": .max, "low": .min, "tags": .append, "seen": .union,
                ]))
        let table = try LiveTable(config: config)
        table.ingest(
            json:
                #"{"id":"k","clicks":1,"name":"a","first":"x","best":1.5,"low":3,"tags":["p"],"seen":["u","v"],"ts":1}"#
        )
        table.ingest(
            json:
                #"{"id":"k","clicks":2,"name":null,"first":"y","best":0.5,"low":2,"tags":["q"],"seen":["v","w"],"ts":2}"#
        )
        table.ingest(json: #"{"id":"k","clicks":4,"name":"c","ts":3}"#)
        let row = try table.query("SELECT clicks, name, first, best, low, tags, seen FROM stats").rows
        #expect(
            row == [
                [
                    .long(7), .string("c"), .string("x"), .double(1.5), .double(2),
                    .array([.string("p"), .string("q")]), .array([.string("u"), .string("v"), .string("w")]),
                ]
            ])
    }

    @Test("key TTL expires keys that fall behind; deleted keys are forgotten after deletedKeysTTL")
    func ttl() throws {
        var config = ordersConfig()
        config.upsert!.keyTTL = 100
        let table = try LiveTable(config: config)
        table.ingest(json: orderJSON("old", status: "ORDER_CREATED", lat: 1, lon: 1, time: 10))
        table.ingest(json: orderJSON("new", status: "ORDER_CREATED", lat: 1, lon: 1, time: 100))
        #expect(table.rowCount == 2)
        table.ingest(json: orderJSON("newer", status: "ORDER_CREATED", lat: 1, lon: 1, time: 150))
        #expect(try statuses(table).map { $0[0] } == [.string("new"), .string("newer")])
        #expect(table.storedRowCount == 3)

        var deleting = ordersConfig()
        deleting.columns.append(ColumnDefinition("deleted", .boolean))
        deleting.upsert!.deleteColumn = "deleted"
        deleting.upsert!.deletedKeysTTL = 50
        let table2 = try LiveTable(config: deleting)
        table2.ingest(json: #"{"orderId":"a","status":"GONE","lastModified":100,"deleted":true}"#)
        table2.ingest(json: orderJSON("b", status: "ORDER_CREATED", lat: 1, lon: 1, time: 200))
        // The delete of "a" was forgotten, so an older record for "a" is accepted as new.
        table2.ingest(json: orderJSON("a", status: "ORDER_CREATED", lat: 1, lon: 1, time: 90))
        #expect(table2.rowCount == 2)
        #expect(table.invariantViolation() == nil && table2.invariantViolation() == nil)
    }

    @Test("randomized upserts agree with a model of Pinot's rules (seeded)")
    func randomized() throws {
        let seed = testSeed("upsert.randomized")
        var random = SeededGenerator(seed: seed)
        var config = ordersConfig()
        config.columns.append(ColumnDefinition("deleted", .boolean))
        config.upsert!.deleteColumn = "deleted"
        let table = try LiveTable(config: config)
        var model: [String: (time: Int64, status: String, deleted: Bool)] = [:]
        var stored = 0
        for i in 0..<5000 {
            let key = "k\(Int.random(in: 0..<200, using: &random))"
            let time = Int64.random(in: 0..<1000, using: &random)
            let deleted = Int.random(in: 0..<10, using: &random) == 0
            let status = "S\(i)"
            table.ingest(
                json: #"{"orderId":"\#(key)","status":"\#(status)","lastModified":\#(time),"deleted":\#(deleted)}"#)
            stored += 1
            if i % 97 == 0, let violation = table.invariantViolation() {
                Issue.record("seed \(seed), record \(i): \(violation)")
            }
            if let current = model[key], time < current.time { continue }
            model[key] = (time, status, deleted)
        }
        let expected = model.filter { !$0.value.deleted }.map { [SQLValue.string($0.key), .string($0.value.status)] }
            .sorted { $0[0].description < $1[0].description }
        let actual = try table.query("SELECT orderId, status FROM orders ORDER BY orderId LIMIT 1000").rows
        #expect(actual == expected, "seed \(seed)")
        #expect(table.storedRowCount == stored, "seed \(seed)")
        #expect(table.invariantViolation() == nil, "seed \(seed)")
    }

    @Test("records that are not JSON objects are skipped and reported with their location")
    func badRecords() throws {
        let table = try LiveTable(config: ordersConfig())
        table.ingest(json: "not json", partition: 2, offset: 41)
        table.ingest(json: orderJSON("a", status: "ORDER_CREATED", lat: 1, lon: 1, time: 1), partition: 2, offset: 42)
        #expect(table.rowCount == 1)
        #expect(table.skippedRecords.count == 1)
        #expect(table.skippedRecords.last == "topic 'orders' partition 2 offset 41: the value is not a JSON object")
    }

    @Test("inconsistent definitions are rejected naming the column")
    func invalidConfigs() {
        var config = ordersConfig()
        config.upsert!.primaryKey = ["nope"]
        #expect(throws: ViewError(.invalidConfig, "table 'orders': the primary-key column 'nope' is not a column")) {
            try LiveTable(config: config)
        }
        config = ordersConfig()
        config.columns[10].transform = "stPoint(lon, missing)"
        #expect(throws: ViewError.self) { try LiveTable(config: config) }
        config = ordersConfig()
        config.upsert!.comparisonColumn = "status"
        #expect(throws: ViewError(.invalidConfig, "table 'orders': comparison column 'status' must be long or double"))
        {
            try LiveTable(config: config)
        }
    }

    @Test("the string dictionary: one code per distinct string, lengths 0–40 with shared prefixes and zero bytes")
    func stringDictionary() {
        let seed = testSeed("stringDictionary")
        var random = SeededGenerator(seed: seed)
        let dictionary = StringDictionary()
        var expected: [String: Int32] = [:]
        for _ in 0..<20_000 {
            // Short alphabets and a common prefix make near-misses: same length, same first 8 or 16 bytes.
            let length = Int(random.next() % 41)
            let prefix = random.next() % 2 == 0 ? "order-00" : ""
            let body = String((0..<max(0, length - prefix.count)).map { _ in Array("ab\0é")[Int(random.next() % 4)] })
            let text = prefix + body
            let code = dictionary.code(text)
            if let known = expected[text] {
                #expect(code == known, "seed \(seed): \(text.debugDescription) got \(code), had \(known)")
            } else {
                #expect(Int(code) == expected.count, "seed \(seed): a new string gets the next code")
                expected[text] = code
            }
        }
        #expect(dictionary.count == expected.count)
        for (text, code) in expected {
            #expect(dictionary.find(text) == code && dictionary.strings[Int(code)] == text, "seed \(seed)")
        }
        #expect(dictionary.find("never added") == nil)
        let restored = StringDictionary(strings: dictionary.strings)
        #expect(expected.allSatisfy { restored.find($0.key) == $0.value }, "seed \(seed): restore keeps the codes")
    }
}
