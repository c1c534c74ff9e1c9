import EventLog
import Foundation
import LiveViews
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `eventlog serve --http` from outside: curl (a real HTTP client) against the running binary, records
/// produced by kcat through the Kafka listener of the same process, answers checked against a model of
/// what was produced.
@Suite("HTTP API of eventlog serve", .serialized)
struct HTTPTests {
    static let statuses = ["NEW", "PAID", "SHIPPED", "CANCELLED"]

    /// A server with topic `orders` (2 partitions) and a table over it, and `count` orders produced through
    /// Kafka: order i has status statuses[i % 4] and amount i.
    static func server(orders count: Int, arguments: [String] = []) async throws -> KafkaHarness {
        let server = try await KafkaHarness(
            topics: ["orders": 2], arguments: ["--http", "127.0.0.1:0"] + arguments
        ) { log in
            try ViewCatalog(log: log).create(
                TableConfig(
                    name: "orders", topic: "orders",
                    columns: [
                        ColumnDefinition("orderId", .string), ColumnDefinition("status", .string),
                        ColumnDefinition("amount", .long),
                    ]))
        }
        if count > 0 {
            let lines = (0..<count).map {
                #"{"orderId":"o\#($0)","status":"\#(statuses[$0 % 4])","amount":\#($0)}"# + "\n"
            }
            let produced = try await runTool(
                "kcat", ["-b", server.bootstrap, "-P", "-t", "orders"], input: lines.joined())
            #expect(produced.status == 0, "\(produced.stderr)")
        }
        return server
    }

    static func curl(_ arguments: [String], timeout: Double = 30) async throws -> ToolResult {
        try await runTool("curl", ["-s", "--max-time", "\(Int(timeout))"] + arguments, timeout: timeout + 10)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    @Test("POST /query/sql answers in Pinot's broker shape with the model's numbers; bad requests are Pinot exceptions")
    func pinotQuery() async throws {
        let server = try await Self.server(orders: 400)
        let http = try #require(server.http)
        let result = try await Self.curl([
            "\(http)/query/sql", "-d",
            #"{"sql": "SELECT status, COUNT(*), SUM(amount) FROM orders GROUP BY status ORDER BY status"}"#,
        ])
        let body = try Self.json(result.stdout)
        let table = try #require(body["resultTable"] as? [String: Any])
        let schema = try #require(table["dataSchema"] as? [String: Any])
        #expect(schema["columnNames"] as? [String] == ["status", "count(*)", "sum(amount)"])
        #expect(schema["columnDataTypes"] as? [String] == ["STRING", "LONG", "LONG"])
        let rows = try #require(table["rows"] as? [[Any]])
        let model = Dictionary(grouping: 0..<400) { Self.statuses[$0 % 4] }
        #expect(rows.count == 4)
        for row in rows {
            let status = try #require(row[0] as? String)
            #expect((row[1] as? NSNumber)?.intValue == model[status]?.count, "\(status)")
            #expect((row[2] as? NSNumber)?.intValue == model[status]?.reduce(0, +), "\(status)")
        }
        #expect(rows.map { $0[0] as? String } == Self.statuses.sorted())
        #expect((body["exceptions"] as? [Any])?.isEmpty == true)
        #expect((body["totalDocs"] as? NSNumber)?.intValue == 400)
        #expect((body["numDocsScanned"] as? NSNumber)?.intValue == 400)

        // Pinot's failures: HTTP 200 with an exception (code, message), never a 500.
        for (request, code, fragment) in [
            (#"{"sql": "SELEC status FROM orders"}"#, 150, "line 1, column 1"),
            (#"{"sql": "SELECT * FROM missing"}"#, 190, "no table 'missing'"),
            (#"{"sql": "SELECT nosuch FROM orders"}"#, 200, "nosuch"),
            ("not json", 700, "\"sql\""),
        ] {
            let failed = try await Self.curl(["-w", "\n%{http_code}", "\(http)/query/sql", "-d", request])
            let lines = failed.stdout.split(separator: "\n")
            #expect(lines.last == "200", "\(request): \(failed.stdout)")
            let answer = try Self.json(lines.dropLast().joined(separator: "\n"))
            let exception = try #require((answer["exceptions"] as? [[String: Any]])?.first, "\(request)")
            #expect((exception["errorCode"] as? NSNumber)?.intValue == code, "\(request): \(exception)")
            #expect((exception["message"] as? String)?.contains(fragment) == true, "\(request): \(exception)")
        }
        try await server.stop()
    }

    @Test("GET /v1/stream replays from an offset, then delivers what Kafka clients produce, each record once, in order")
    func serverSentEvents() async throws {
        let server = try await Self.server(orders: 0)
        let http = try #require(server.http)
        // Partition 0 only, so the order of events is the order of offsets.
        let before = (0..<5).map { #"{"orderId":"early-\#($0)"}"# + "\n" }.joined()
        #expect(
            try await runTool("kcat", ["-b", server.bootstrap, "-P", "-t", "orders", "-p", "0"], input: before).status
                == 0)
        let output =
            FileManager.default.temporaryDirectory.path + "/sse-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let stream = try BackgroundTool(
            "/usr/bin/curl", ["-sN", "--max-time", "60", "-o", output, "\(http)/v1/stream/orders?from=2"])
        // Wait until the replay has arrived, then produce live records.
        func events() -> [[String: Any]] {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            return text.components(separatedBy: "\n\n").compactMap { block in
                guard let data = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }) else {
                    return nil
                }
                return try? JSONSerialization.jsonObject(with: Data(data.dropFirst(6).utf8)) as? [String: Any]
            }
        }
        var waited = 0
        while events().count < 3 && waited < 600 {
            try await Task.sleep(for: .milliseconds(50))
            waited += 1
        }
        let live = (0..<4).map { #"{"orderId":"live-\#($0)"}"# + "\n" }.joined()
        #expect(
            try await runTool("kcat", ["-b", server.bootstrap, "-P", "-t", "orders", "-p", "0"], input: live).status
                == 0)
        waited = 0
        while events().count < 7 && waited < 600 {
            try await Task.sleep(for: .milliseconds(50))
            waited += 1
        }
        let received = events()
        #expect(received.map { ($0["offset"] as? NSNumber)?.intValue } == Array(2..<9))
        #expect(
            received.compactMap { ($0["value"] as? String).flatMap { try? Self.json($0)["orderId"] as? String } }
                == ["early-2", "early-3", "early-4", "live-0", "live-1", "live-2", "live-3"])
        // A shutdown ends the open stream and the server exits cleanly (checked by stop()).
        try await server.stop()
        await stream.waitForExit(timeout: 30)
        #expect(!stream.isRunning, "the stream did not end when the server shut down")
    }

    @Test("a client that stops reading is dropped with a last `dropped` event; the server reads no further for it")
    func slowClientDropped() async throws {
        let server = try await Self.server(
            orders: 0, arguments: ["--stream-buffer", "4", "--slow-client-seconds", "1"])
        let http = try #require(server.http)
        let port = Int32(http.split(separator: ":").last!)!
        // Enough data to fill the socket buffers many times over: 3,000 records of 10 KB.
        let big = String(repeating: "x", count: 10_000)
        let lines = (0..<3_000).map { #"{"orderId":"o\#($0)","pad":"\#(big)"}"# + "\n" }.joined()
        #expect(
            try await runTool("kcat", ["-b", server.bootstrap, "-P", "-t", "orders", "-p", "0"], input: lines).status
                == 0)
        let client = try WireTests.Connection(port: port)
        client.send(Array("GET /v1/stream/orders?from=earliest HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        // Do not read until the server has given up on this client (its counter says so; at most 2 minutes).
        var dropped = false
        for _ in 0..<600 where !dropped {
            let metrics = try await Self.curl(["\(http)/metrics"])
            dropped = metrics.stdout.contains("eventlog_http_streams_dropped_total 1")
            if !dropped { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(dropped, "the server never dropped the client that does not read")
        var received: [UInt8] = []
        while let chunk = client.receive(1, timeout: 3_000) {
            received += chunk
            var more = [UInt8](repeating: 0, count: 1 << 16)
            let n = recv(client.fd, &more, more.count, Int32(MSG_DONTWAIT))
            if n > 0 { received += more[..<n] }
            if received.count > 64 << 20 { break }
        }
        let text = String(decoding: received, as: UTF8.self)
        let recordEvents = text.components(separatedBy: "event: record").count - 1
        #expect(text.contains("event: dropped"), "no dropped event in \(received.count) bytes")
        #expect(text.contains("\"reason\":\"slow client\""))
        #expect(recordEvents < 3_000, "the whole topic was sent: the client was never dropped")
        print("[slow-client] \(recordEvents) events before the drop, \(received.count) bytes")
        // The server still serves others.
        let health = try await Self.curl(["\(http)/health"])
        #expect(health.stdout == "ok\n")
        try await server.stop()
    }

    @Test("serve --simulate writes live: the stream shows new order events, the orders table fills, shutdown is clean")
    func simulateInsideServe() async throws {
        let server = try await KafkaHarness(arguments: ["--http", "127.0.0.1:0", "--simulate", "--speed", "600"])
        let http = try #require(server.http)
        // Events arrive on the stream of the orders topic (from now on: the simulator is writing live).
        var waited = 0
        var topics: [[String: Any]] = []
        while !topics.contains(where: { $0["name"] as? String == "orders" }) && waited < 300 {
            try await Task.sleep(for: .milliseconds(100))
            waited += 1
            topics =
                (try? JSONSerialization.jsonObject(with: Data(try await Self.curl(["\(http)/v1/topics"]).stdout.utf8))
                    as? [[String: Any]]) ?? []
        }
        let stream = try await Self.curl(["-N", "--max-time", "5", "\(http)/v1/stream/orders"], timeout: 5)
        let events = stream.stdout.components(separatedBy: "event: record").count - 1
        #expect(events > 0, "no live order events in 5 s at 600× speed: \(stream.stdout.prefix(300))")
        // The demo's table answers over the simulated orders, and the count grows.
        func count() async throws -> Int {
            let answer = try Self.json(
                try await Self.curl(["\(http)/query/sql", "-d", #"{"sql": "SELECT COUNT(*) FROM orders"}"#]).stdout)
            let rows = (answer["resultTable"] as? [String: Any])?["rows"] as? [[Any]]
            return (rows?.first?.first as? NSNumber)?.intValue ?? -1
        }
        let first = try await count()
        try await Task.sleep(for: .seconds(2))
        let second = try await count()
        #expect(first > 0 && second > first, "orders \(first) then \(second)")
        try await server.stop()
    }

    @Test("GET /openapi.json is OpenAPI 3.1, and every path it lists is served (none answers 404)")
    func openAPI() async throws {
        let server = try await Self.server(orders: 3)
        let http = try #require(server.http)
        let document = try Self.json(try await Self.curl(["\(http)/openapi.json"]).stdout)
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var expected: Set<String> = [
            "/health", "/v1/topics", "/v1/stream/{topic}", "/query/sql", "/metrics", "/openapi.json",
            "/v1/orders/search/findOrdersByAccountId", "/v1/restaurants", "/",
        ]
        for kind in ["orders", "drivers"] {
            for tail in [
                "", "/{id}", "/{id}/events", "/{id}/events/{eventId}", "/{id}/commands", "/{id}/commands/{command}",
            ] {
                expected.insert("/v1/\(kind)\(tail)")
            }
        }
        #expect(Set(paths.keys) == expected)
        for (path, operations) in paths {
            let concrete = path.replacingOccurrences(of: "{topic}", with: "orders")
                .replacingOccurrences(of: "{id}", with: "x").replacingOccurrences(of: "{eventId}", with: "e")
                .replacingOccurrences(
                    of: "{command}", with: path.hasPrefix("/v1/orders") ? "prepareOrder" : "driverOnline")
            for method in operations.keys {
                var arguments = ["-o", "/dev/null", "-w", "%{http_code}", "-X", method.uppercased()]
                if method == "post" { arguments += ["-d", #"{"sql": "SELECT COUNT(*) FROM orders"}"#] }
                if path.contains("stream") { arguments += ["--max-time", "2"] }
                let status = try await Self.curl(arguments + ["\(http)\(concrete)"], timeout: 5).stdout
                if path.hasPrefix("/v1/orders") || path.hasPrefix("/v1/drivers"), path != "/v1/restaurants" {
                    // This log's `orders` topic has two partitions: the order API answers that it cannot serve
                    // (or, first, that the request is incomplete) — never that the route is missing.
                    #expect(["503", "400"].contains(status), "\(method) \(path) answered \(status)")
                } else {
                    #expect(status == "200", "\(method) \(path) answered \(status)")
                }
            }
        }
        try await server.stop()
    }

    @Test(
        "GET /metrics is Prometheus text: end offsets, appended records, view lag, HTTP request durations, the Kafka listener's counters"
    )
    func metrics() async throws {
        let server = try await Self.server(orders: 10)
        let http = try #require(server.http)
        _ = try await Self.curl(["\(http)/v1/topics"])
        let result = try await Self.curl(["\(http)/metrics"])
        let samples = result.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        for line in samples {
            #expect(line.wholeMatch(of: /[a-z_]+(\{[^}]*\})? -?[0-9.e+]+/) != nil, "not a Prometheus sample: \(line)")
        }
        let ends = samples.filter { $0.hasPrefix("eventlog_topic_end_offset{topic=\"orders\"") }
            .compactMap { Int($0.split(separator: " ").last!) }
        #expect(ends.count == 2 && ends.reduce(0, +) == 10, "\(ends)")
        #expect(samples.contains { $0.hasPrefix("eventlog_http_requests_total{route=\"topics\"} 1") })
        #expect(result.stdout.contains("kafka"), "the Kafka listener's counters are missing")
        func values(_ prefix: String) -> [Double] {
            samples.filter { $0.hasPrefix(prefix) }.compactMap { Double($0.split(separator: " ").last!) }
        }
        // Appended through Kafka since the server opened the log: the 10 produced.
        #expect(values("eventlog_appended_records_total{topic=\"orders\"").reduce(0, +) == 10)
        // The live table follows its topic: its lag is a count between 0 and what was produced.
        let lag = values("eventlog_view_lag_records{table=\"orders\"}")
        #expect(lag.count == 1 && (0...10).contains(lag[0]), "\(lag)")
        // Request durations per route (swift-metrics through swift-prometheus): the GET /v1/topics above.
        #expect(values("http_server_request_duration_count{http_route=\"/v1/topics\"").reduce(0, +) == 1)
        #expect(samples.contains { $0.hasPrefix("http_server_request_duration_bucket{") })
        let topics = try #require(
            try JSONSerialization.jsonObject(with: Data(try await Self.curl(["\(http)/v1/topics"]).stdout.utf8))
                as? [[String: Any]])
        #expect(topics.contains { $0["name"] as? String == "orders" })
        try await server.stop()
    }
}
