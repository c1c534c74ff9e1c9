import EventLog
import Foundation
import Simulator
import TestSupport
import Testing

/// Collects the simulator's events in the order it writes them (both topics).
private final class RecordingSink: SimulationSink {
    var events: [(topic: SimulationTopic, key: String, json: [String: Any])] = []
    func emit(_ topic: SimulationTopic, key: String, value: UnsafeRawBufferPointer, timestamp: Int64) throws {
        let json = try JSONSerialization.jsonObject(with: Data(value)) as! [String: Any]
        events.append((topic, key, json))
    }
    func tick(_ now: Int64) throws {}
}

/// The order-delivery HAL API of `eventlog serve --http`, from outside with curl. The oracle for a
/// delivery driven through HTTP is the simulator: the test replays one simulated delivery command by
/// command and expects the log to hold the same event sequence.
@Suite("Order-delivery HAL API", .serialized)
struct OrderAPITests {
    struct Answer {
        var status: Int
        var body: [String: Any]
        var headers: String
    }

    /// One request; the status comes from curl's `%{http_code}` on the last line.
    static func request(
        _ method: String, _ url: String, body: String? = nil, headers: [String] = []
    ) async throws -> Answer {
        var arguments = ["-s", "-X", method, "-D", "/dev/stderr", "-w", "\n%{http_code}", url]
        for header in headers { arguments += ["-H", header] }
        var bodyFile: String?
        if let body {
            // Large bodies go through a file (an argument list is limited).
            var data = body
            if body.utf8.count > 32 << 10 {
                let path = NSTemporaryDirectory() + "body-\(UUID().uuidString)"
                try body.write(toFile: path, atomically: true, encoding: .utf8)
                bodyFile = path
                data = "@" + path
            }
            arguments += ["-H", "content-type: application/json", "--data-binary", data]
        }
        defer { if let bodyFile { try? FileManager.default.removeItem(atPath: bodyFile) } }
        let result = try await runTool("curl", ["--max-time", "30"] + arguments, timeout: 40)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? -1
        let text = lines.dropLast().joined(separator: "\n")
        let json = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        return Answer(status: status, body: json, headers: result.stderr)
    }

    static func command(_ http: String, _ resource: String, _ name: String, _ query: String = "") async throws
        -> Answer
    {
        try await request("POST", "\(http)\(resource)/commands/\(name)\(query.isEmpty ? "" : "?" + query)")
    }

    static func events(_ http: String, _ resource: String) async throws -> [[String: Any]] {
        let answer = try await request("GET", "\(http)\(resource)/events?size=1000")
        let embedded = answer.body["_embedded"] as? [String: Any]
        return (embedded?["orderEvents"] ?? embedded?["driverEvents"]) as? [[String: Any]] ?? []
    }

    static func server() async throws -> (KafkaHarness, String) {
        let server = try await KafkaHarness(arguments: ["--http", "127.0.0.1:0"])
        return (server, try #require(server.http))
    }

    @Test("a delivery driven through HTTP alone leaves the simulator's event sequence in the log")
    func deliveryMatchesSimulator() async throws {
        // The oracle: one delivery of a seeded simulation.
        let seed = testSeed("orderAPI.delivery")
        let sink = RecordingSink()
        var configuration = SimulationConfiguration()
        configuration.seed = seed
        let world = try World(
            restaurants: RestaurantCatalog.builtIn(perCity: 5), configuration: configuration, sink: sink)
        try world.run(until: configuration.startMilliseconds + 3_600_000)
        let delivered = try #require(
            sink.events.first { $0.topic == .orders && $0.json["type"] as? String == "ORDER_DELIVERED" }?.key,
            "seed \(seed): no delivery in an hour")
        let orderEvents = sink.events.filter { $0.topic == .orders && $0.key == delivered }
        let accepted = try #require(
            sink.events.firstIndex {
                $0.topic == .drivers && $0.json["orderId"] as? String == delivered
                    && $0.json["type"] as? String == "ACCEPTED_ORDER_REQUEST"
            })
        let driverKey = sink.events[accepted].key
        // The driver's position before it accepted: its last event before.
        let before = try #require(sink.events[..<accepted].last { $0.topic == .drivers && $0.key == driverKey })
        let finished = try #require(
            sink.events.firstIndex {
                $0.topic == .drivers && $0.key == driverKey && $0.json["type"] as? String == "ORDER_DELIVERED"
            })
        // Every event of this order and its driver from the acceptance to the delivery, in writing order.
        let trip = sink.events[accepted...finished].filter {
            ($0.topic == .orders && $0.key == delivered) || ($0.topic == .drivers && $0.key == driverKey)
        }

        let (server, http) = try await Self.server()
        let created = try await Self.request(
            "POST", "\(http)/v1/orders",
            body:
                #"{"accountId":"\#(orderEvents[0].json["payload"].flatMap { ($0 as? [String: Any])?["accountId"] } as? String ?? "a")"}"#
        )
        #expect(created.status == 201, "\(created.body)")
        #expect(created.headers.lowercased().contains("content-type: application/hal+json"))
        let order = try #require(
            (created.body["_links"] as? [String: Any]).flatMap { ($0["self"] as? [String: Any])?["href"] as? String })
        let restaurantId = try #require(orderEvents[1].json["restaurantId"] as? String)
        for (name, query) in [
            ("assignOrder", "restaurantId=\(restaurantId)"), ("prepareOrder", ""), ("orderReady", ""),
        ] {
            let answer = try await Self.command(http, order, name, query)
            #expect(answer.status == 200, "\(name): \(answer.body)")
        }
        let lat = try #require(before.json["driverLocationLat"] as? Double)
        let lon = try #require(before.json["driverLocationLon"] as? Double)
        let newDriver = try await Self.request("POST", "\(http)/v1/drivers", body: #"{"lat":\#(lat),"lon":\#(lon)}"#)
        #expect(newDriver.status == 201, "\(newDriver.body)")
        let driverId = try #require(newDriver.body["driverId"] as? String)
        let driver = "/v1/drivers/\(driverId)"
        for name in ["activateAccount", "driverOnline"] {
            let answer = try await Self.command(http, driver, name)
            #expect(answer.status == 200, "\(name): \(answer.body)")
        }
        #expect(trip.count > 6, "seed \(seed): a trip has location updates")
        // Replay the trip: each simulated event becomes the command that causes it (a command on an order
        // and its driver causes both events, so the driver's twin is skipped).
        for event in trip {
            let type = event.json["type"] as! String
            let answer: Answer
            switch (event.topic, type) {
            case (.drivers, "ACCEPTED_ORDER_REQUEST"):
                answer = try await Self.command(http, order, "assignDriver", "driverId=\(driverId)")
            case (.drivers, "LOCATION_UPDATED"):
                answer = try await Self.command(
                    http, driver, "updateDriverLocation",
                    "lat=\(event.json["driverLocationLat"]!)&lon=\(event.json["driverLocationLon"]!)")
            case (.orders, "ORDER_LOCATION_UPDATED"):
                answer = try await Self.command(
                    http, order, "updateOrderLocation",
                    "lat=\(event.json["orderLocationLat"]!)&lon=\(event.json["orderLocationLon"]!)")
            case (.orders, "ORDER_PICKED_UP"): answer = try await Self.command(http, order, "orderPickedUp")
            case (.orders, "ORDER_DELIVERING"): answer = try await Self.command(http, order, "deliverOrder")
            case (.orders, "ORDER_DELIVERED"): answer = try await Self.command(http, order, "orderDelivered")
            case (.orders, "DRIVER_ASSIGNED"), (.drivers, "ORDER_PICKED_UP"), (.drivers, "ORDER_DELIVERED"): continue
            default:
                Issue.record("seed \(seed): no command for \(event.topic) \(type)")
                continue
            }
            #expect(answer.status == 200, "seed \(seed): \(type): \(answer.body)")
        }

        // The log, read back through the API: the same types, statuses and positions as the simulator's.
        let apiOrder = try await Self.events(http, order)
        #expect(
            apiOrder.map { $0["type"] as? String } == orderEvents.map { $0.json["type"] as? String }, "seed \(seed)")
        #expect(
            apiOrder.map { $0["orderStatus"] as? String } == orderEvents.map { $0.json["orderStatus"] as? String },
            "seed \(seed)")
        let tail = orderEvents.drop { $0.json["type"] as? String != "ORDER_PICKED_UP" }
        #expect(
            apiOrder.suffix(tail.count).map { $0["orderLocationLat"] as? Double }
                == tail.map { $0.json["orderLocationLat"] as? Double }, "seed \(seed)")
        let simulatedDriver = sink.events[accepted...finished].filter { $0.topic == .drivers && $0.key == driverKey }
        let apiDriver = try await Self.events(http, driver)
        let replayed = Array(apiDriver.suffix(simulatedDriver.count))
        #expect(
            replayed.map { $0["type"] as? String } == simulatedDriver.map { $0.json["type"] as? String }, "seed \(seed)"
        )
        #expect(
            replayed.map { $0["activityStatus"] as? String }
                == simulatedDriver.map { $0.json["activityStatus"] as? String }, "seed \(seed)")
        #expect(
            replayed.map { $0["driverLocationLon"] as? Double }
                == simulatedDriver.map { $0.json["driverLocationLon"] as? Double }, "seed \(seed)")
        #expect(
            apiDriver.prefix(3).map { $0["type"] as? String } == [
                "DRIVER_CREATED", "ACCOUNT_ACTIVATED", "DRIVER_WENT_ONLINE",
            ])
        // Links: an event names its aggregate; the order names its driver once assigned.
        let links = try #require(apiOrder.last?["_links"] as? [String: Any])
        #expect((links["order"] as? [String: Any])?["href"] as? String == order)
        #expect((links["driver"] as? [String: Any])?["href"] as? String == driver)
        let one = try await Self.request("GET", "\(http)\((links["self"] as! [String: Any])["href"] as! String)")
        #expect(one.status == 200 && one.body["type"] as? String == "ORDER_DELIVERED")
        try await server.stop()
    }

    @Test("fetchOrderRequest runs the dispatch query over the live view and prices the nearest prepared order")
    func fetchOrderRequest() async throws {
        let (server, http) = try await Self.server()
        let restaurant = RestaurantCatalog.builtIn(perCity: 5).first { $0.city == "San Francisco" }!
        let created = try await Self.request("POST", "\(http)/v1/orders", body: #"{"accountId":"acct-7"}"#)
        let order = "/v1/orders/\(try #require(created.body["orderId"] as? String))"
        for (name, query) in [
            ("assignOrder", "restaurantId=\(restaurant.storeId)"), ("prepareOrder", ""), ("orderReady", ""),
        ] {
            #expect(try await Self.command(http, order, name, query).status == 200)
        }
        let lat = restaurant.location.latitude + 0.01, lon = restaurant.location.longitude
        let near = try await Self.request("POST", "\(http)/v1/drivers", body: #"{"lat":\#(lat),"lon":\#(lon)}"#)
        let driver = "/v1/drivers/\(try #require(near.body["driverId"] as? String))"
        let answer = try await Self.command(http, driver, "fetchOrderRequest")
        #expect(answer.status == 200, "\(answer.body)")
        #expect("/v1/orders/\(answer.body["orderId"] as? String ?? "")" == order)
        let pickup = try #require(answer.body["pickupMeters"] as? Double)
        let expectedPickup = Geo.distance(
            lon1: lon, lat1: lat, lon2: restaurant.location.longitude, lat2: restaurant.location.latitude)
        #expect(abs(pickup - expectedPickup) < 1, "the order is at its restaurant: \(pickup) vs \(expectedPickup)")
        let delivery = try #require(answer.body["deliveryMeters"] as? Double)
        let payment = try #require(answer.body["estimatedPayment"] as? Double)
        #expect(abs(payment - ((3 + 1.2 * pickup / 1000 + 1.5 * delivery / 1000) * 100).rounded() / 100) < 0.001)
        #expect((answer.body["preparedAge"] as? Int).map { $0 >= 0 } == true, "\(answer.body)")
        // Reads only: the driver's stream did not change. Far away, there is nothing to fetch.
        #expect(try await Self.events(http, driver).count == 1)
        let far = try await Self.request("POST", "\(http)/v1/drivers", body: #"{"lat":10,"lon":10}"#)
        let farDriver = "/v1/drivers/\(far.body["driverId"] as? String ?? "")"
        #expect(try await Self.command(http, farDriver, "fetchOrderRequest").status == 404)
        try await server.stop()
    }

    @Test(
        "reads answered on the event loop match the router's, follow every change, and keep pipelined responses in order"
    )
    func cachedReads() async throws {
        let (server, http) = try await Self.server()
        let created = try await Self.request("POST", "\(http)/v1/orders", body: #"{"accountId":"acct-3"}"#)
        let id = try #require(created.body["orderId"] as? String)
        let order = "/v1/orders/\(id)"
        func metric() async throws -> Int {
            let text = try await runTool("curl", ["-s", "http://\(http)/metrics"]).stdout
            let line = text.split(separator: "\n").first { $0.hasPrefix("eventlog_http_cached_reads_total ") }
            return line.flatMap { Int($0.split(separator: " ").last!) } ?? 0
        }
        let restaurant = RestaurantCatalog.builtIn(perCity: 5)[0].storeId
        for (step, (name, query)) in [("assignOrder", "restaurantId=\(restaurant)"), ("prepareOrder", "")].enumerated()
        {
            let command = try await Self.command(http, order, name, query)
            let before = try await metric()
            let first = try await Self.request("GET", "\(http)\(order)")
            let second = try await Self.request("GET", "\(http)\(order)")
            #expect(try await metric() == before + 2, "both reads answered from the cache")
            for read in [first, second] {
                #expect(read.status == 200)
                #expect(NSDictionary(dictionary: read.body) == NSDictionary(dictionary: command.body), "step \(step)")
                #expect(read.headers.lowercased().contains("etag: \"\(step + 1)\""), "\(read.headers)")
                #expect(read.headers.lowercased().contains("date: "), "\(read.headers)")
            }
        }
        // Pipelined: a request the router answers, then one the cache could answer; they come back in order.
        let host = http.split(separator: ":")[0], port = http.split(separator: ":")[1]
        let script = """
            import socket, sys
            s = socket.create_connection(("\(host)", \(port)))
            s.sendall(b"GET /v1/orders?size=50 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET \(order) HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            data = b""
            s.settimeout(10)
            while data.count(b"HTTP/1.1 200") < 2 or not data.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk: break
                data += chunk
            text = data.decode()
            split = text.find("HTTP/1.1 200", 1)
            ok = split > 0 and '"_embedded"' in text[:split] and '"_embedded"' not in text[split:]
            print("ordered" if ok else "out of order: " + text[:2000])
            """
        let pipelined = try await runTool("python3", ["-c", script], timeout: 30)
        #expect(pipelined.stdout.contains("ordered"), "\(pipelined.stdout)\(pipelined.stderr)")
        try await server.stop()
    }

    @Test("bodies over the limit, unknown routes and garbage leave the log as it was")
    func oversized() async throws {
        let (server, http) = try await Self.server()
        _ = try await Self.request("POST", "\(http)/v1/orders", body: #"{"accountId":"acct-1"}"#)
        let before = try await runTool("curl", ["-s", "http://\(http)/v1/topics"]).stdout
        let huge = String(repeating: "x", count: 200 << 10)
        let big = try await Self.request("POST", "\(http)/v1/orders", body: #"{"accountId":"\#(huge)"}"#)
        #expect(big.status == 413, "\(big.status)")
        let bigQuery = try await Self.request("POST", "\(http)/query/sql", body: String(repeating: " ", count: 2 << 20))
        #expect(bigQuery.status == 413, "\(bigQuery.status)")
        #expect(try await Self.request("GET", "\(http)/v1/nothing/here").status == 404)
        #expect(try await Self.request("POST", "\(http)/v1/drivers", body: "garbage{").status == 400)
        let after = try await runTool("curl", ["-s", "http://\(http)/v1/topics"]).stdout
        #expect(before == after, "the log changed: \(before) → \(after)")
        try await server.stop()
    }

    @Test(
        "bad input is a problem, never a half-applied command: 404, 400 (rule, parameters, JSON), 409 (If-Match, races)"
    )
    func problems() async throws {
        let (server, http) = try await Self.server()
        #expect(try await Self.request("GET", "\(http)/v1/orders/nope").status == 404)
        #expect(try await Self.command(http, "/v1/orders/nope", "prepareOrder").status == 404)
        #expect(try await Self.request("POST", "\(http)/v1/orders", body: "{not json").status == 400)
        #expect(try await Self.request("POST", "\(http)/v1/orders", body: #"{"accountId": 5}"#).status == 400)
        #expect(try await Self.request("POST", "\(http)/v1/drivers", body: #"{"lat": 95, "lon": 0}"#).status == 400)
        let created = try await Self.request("POST", "\(http)/v1/orders", body: #"{"accountId":"acct-9"}"#)
        let id = try #require(created.body["orderId"] as? String)
        let order = "/v1/orders/\(id)"
        let wrongState = try await Self.command(http, order, "orderReady")
        #expect(wrongState.status == 400)
        #expect((wrongState.body["detail"] as? String)?.contains("ORDER_CREATED") == true, "\(wrongState.body)")
        #expect(try await Self.command(http, order, "assignOrder").status == 400, "missing restaurantId")
        #expect(try await Self.command(http, order, "assignOrder", "restaurantId=999999999").status == 400)
        #expect(try await Self.command(http, order, "noSuchCommand").status == 404)
        #expect(try await Self.command(http, order, "updateOrderLocation", "lat=91&lon=0").status == 400)
        // Nothing above was appended.
        #expect(try await Self.events(http, order).count == 1)

        // If-Match: a stale version is refused; two commands racing with the same version: one applies.
        let restaurant = RestaurantCatalog.builtIn(perCity: 5)[0].storeId
        let assigned = try await Self.request(
            "POST", "\(http)\(order)/commands/assignOrder?restaurantId=\(restaurant)", headers: [#"If-Match: "0""#])
        #expect(assigned.status == 200, "\(assigned.body)")
        #expect(assigned.headers.contains(#"ETag: "1""#) || assigned.headers.lowercased().contains(#"etag: "1""#))
        let stale = try await Self.request(
            "POST", "\(http)\(order)/commands/prepareOrder", headers: [#"If-Match: "0""#])
        #expect(stale.status == 409, "\(stale.body)")
        async let first = Self.request("POST", "\(http)\(order)/commands/prepareOrder", headers: [#"If-Match: "1""#])
        async let second = Self.request("POST", "\(http)\(order)/commands/prepareOrder", headers: [#"If-Match: "1""#])
        let statuses = try await [first.status, second.status].sorted()
        #expect(statuses == [200, 409])
        let events = try await Self.events(http, order)
        #expect(events.map { $0["type"] as? String } == ["ORDER_CREATED", "ORDER_ASSIGNED", "ORDER_PREPARING"])

        // Paging over the collection, and the search by account.
        for n in 0..<4 {
            _ = try await Self.request("POST", "\(http)/v1/orders", body: #"{"accountId":"acct-\#(n % 2)"}"#)
        }
        let page = try await Self.request("GET", "\(http)/v1/orders?page=1&size=2")
        #expect(((page.body["_embedded"] as? [String: Any])?["orders"] as? [Any])?.count == 2)
        let pageInfo = page.body["page"] as? [String: Any]
        #expect(pageInfo?["totalElements"] as? Int == 5 && pageInfo?["totalPages"] as? Int == 3)
        let links = page.body["_links"] as? [String: Any]
        #expect(links?["next"] != nil && links?["prev"] != nil)
        #expect(try await Self.request("GET", "\(http)/v1/orders?size=0").status == 400)
        // Page numbers whose offset does not fit an Int (schemathesis found the server trapping on one).
        for path in ["/v1/restaurants", "/v1/orders", "/v1/orders/\(id)/events"] {
            let far = try await Self.request("GET", "\(http)\(path)?size=243&page=47626291410339736")
            #expect(far.status == 200, "\(path): \(far.status)")
            let last = try await Self.request("GET", "\(http)\(path)?page=\(Int.max)&size=1000")
            #expect(last.status == 200 && (last.body["_links"] as? [String: Any])?["next"] == nil, "\(path)")
        }
        let search = try await Self.request("GET", "\(http)/v1/orders/search/findOrdersByAccountId?accountId=acct-1")
        #expect(((search.body["_embedded"] as? [String: Any])?["orders"] as? [Any])?.count == 2)
        try await server.stop()
    }
}
