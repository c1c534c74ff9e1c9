import EventLog
import EventLogFoundation
import Foundation
import HeapModule
import LiveViews
import TestSupport
import Testing

@testable import Simulator

/// Collects every event in memory.
final class MemorySink: SimulationSink {
    struct Event {
        var topic: SimulationTopic
        var key: String
        var json: [String: Any]
        var timestamp: Int64
        var value: Data
    }
    var events: [Event] = []
    var ticks = 0
    func emit(_ topic: SimulationTopic, key: String, value: UnsafeRawBufferPointer, timestamp: Int64) throws {
        let json = try JSONSerialization.jsonObject(with: Data(value)) as! [String: Any]
        events.append(Event(topic: topic, key: key, json: json, timestamp: timestamp, value: Data(value)))
    }
    func tick(_ now: Int64) throws { ticks += 1 }
}

func point(_ json: [String: Any], _ lat: String, _ lon: String) -> GeoPoint {
    GeoPoint(unchecked: json[lon] as! Double, json[lat] as! Double)
}

func seed(_ name: String) -> UInt64 { testSeed(name) }

@Suite("Simulator")
struct SimulatorTests {
    static func run(
        seed: UInt64, hours: Double = 2, stores: Int = 12, dispatch: DispatchMode = .grid,
        restaurants: [Restaurant]? = nil
    ) throws -> (MemorySink, World) {
        let sink = MemorySink()
        var config = SimulationConfiguration()
        config.seed = seed
        config.dispatch = dispatch
        config.driversPerRestaurant = 2
        config.shiftHours = 0.75
        config.shiftBreakMinutes = 10
        let restaurants = restaurants ?? Array(RestaurantCatalog.builtIn(perCity: 3).prefix(stores))
        let world = try World(restaurants: restaurants, configuration: config, sink: sink)
        try world.run(until: config.startMilliseconds + Int64(hours * 3_600_000))
        return (sink, world)
    }

    @Test(
        "over a long seeded run every order and driver follows its state machine, routes are traced, deliveries stay within 48 km"
    )
    func legality() throws {
        let (sink, world) = try Self.run(seed: seed("legality"))
        let orderEvents = Dictionary(grouping: sink.events.filter { $0.topic == .orders }, by: \.key)
        let driverEvents = Dictionary(grouping: sink.events.filter { $0.topic == .drivers }, by: \.key)
        let statuses = OrderStatus.allCases.map(\.rawValue)
        var delivered = 0
        let stepMeters = world.configuration.speedMetersPerSecond * world.configuration.stepSeconds
        for (id, events) in orderEvents {
            #expect(
                events.allSatisfy { $0.json["aggregateId"] as? String == id && $0.json["orderId"] as? String == id })
            #expect(events.map(\.timestamp) == events.map(\.timestamp).sorted())
            let transitions = events.filter { $0.json["type"] as? String != "ORDER_LOCATION_UPDATED" }.map {
                $0.json["type"] as! String
            }
            #expect(transitions == Array(statuses.prefix(transitions.count)), "order \(id): \(transitions)")
            guard transitions.count == 8 else { continue }
            delivered += 1
            let assigned = events.first { $0.json["type"] as? String == "ORDER_ASSIGNED" }!.json
            let payload = assigned["payload"] as! [String: Any]
            let restaurant = point(assigned, "restaurantLat", "restaurantLon")
            let drop = point(payload, "deliveryLat", "deliveryLon")
            #expect(Geo.distance(restaurant, drop) <= 48_000)
            // Location updates only between pickup and delivery, each step within one step's distance, ending at the drop.
            let pickedUp = events.firstIndex { $0.json["type"] as? String == "ORDER_PICKED_UP" }!
            let done = events.firstIndex { $0.json["type"] as? String == "ORDER_DELIVERED" }!
            let route = events.enumerated().filter { $0.element.json["type"] as? String == "ORDER_LOCATION_UPDATED" }
            #expect(route.allSatisfy { $0.offset > pickedUp && $0.offset < done })
            let points = route.map { point($0.element.json, "orderLocationLat", "orderLocationLon") }
            #expect(points.first.map { Geo.distance($0, restaurant) < 1 } == true)
            for (a, b) in zip(points, points.dropFirst()) { #expect(Geo.distance(a, b) <= stepMeters + 1) }
            #expect(points.last.map { Geo.distance($0, drop) < 1 } == true)
        }
        #expect(delivered > 50)
        #expect(world.statistics.delivered == Int64(delivered))
        for (id, events) in driverEvents {
            #expect(
                events.allSatisfy { $0.json["driverId"] as? String == id && $0.json["aggregateId"] as? String == id })
            let types = events.map { $0.json["type"] as! String }
            #expect(
                Array(types.prefix(4)) == [
                    "DRIVER_CREATED", "ACCOUNT_ACTIVATED", "DRIVER_WENT_ONLINE", "LOCATION_UPDATED",
                ])
            // Deliveries alternate strictly: accepted → picked up → delivered, never overlapping.
            let lifecycle = types.filter {
                ["ACCEPTED_ORDER_REQUEST", "ORDER_PICKED_UP", "ORDER_DELIVERED"].contains($0)
            }
            for (i, type) in lifecycle.enumerated() {
                #expect(
                    type == ["ACCEPTED_ORDER_REQUEST", "ORDER_PICKED_UP", "ORDER_DELIVERED"][i % 3], "driver \(id)")
            }
            // Offline and online alternate, and a driver never goes offline mid-delivery.
            var online = false
            var delivering = false
            for type in types {
                switch type {
                case "DRIVER_WENT_ONLINE": #expect(!online); online = true
                case "DRIVER_WENT_OFFLINE": #expect(online && !delivering); online = false
                case "ACCEPTED_ORDER_REQUEST": #expect(online); delivering = true
                case "ORDER_DELIVERED": delivering = false
                default: break
                }
            }
        }
        #expect(sink.events.contains { $0.json["type"] as? String == "DRIVER_WENT_OFFLINE" })
    }

    @Test(
        "dispatch gives a waiting driver the nearest prepared, unclaimed order within 15 km",
        arguments: DispatchMode.allCases)
    func nearestDispatch(mode: DispatchMode) throws {
        let (sink, _) = try Self.run(seed: seed("nearestDispatch"), hours: 1.5, dispatch: mode)
        var prepared: [String: GeoPoint] = [:]  // prepared and unclaimed, at the restaurant
        var driverAt: [String: GeoPoint] = [:]
        var checked = 0
        for event in sink.events {
            let json = event.json
            if event.topic == .drivers {
                driverAt[event.key] = point(json, "driverLocationLat", "driverLocationLon")
                continue
            }
            switch json["type"] as! String {
            case "ORDER_PREPARED": prepared[event.key] = point(json, "orderLocationLat", "orderLocationLon")
            case "DRIVER_ASSIGNED":
                let payload = json["payload"] as! [String: Any]
                let driver = payload["driverId"] as! String
                let from = driverAt[driver]!
                let chosen = Geo.distance(from, prepared[event.key]!)
                let best = prepared.values.map { Geo.distance(from, $0) }.min()!
                #expect(chosen < 15_000)
                #expect(
                    abs(chosen - best) < 0.001, "driver \(driver) took an order \(chosen) m away; nearest was \(best) m"
                )
                prepared[event.key] = nil
                checked += 1
            default: break
            }
        }
        #expect(checked > 50)
    }

    @Test("dispatch through the live view (the reference's query) and through the grid write the same events")
    func viewDispatchMatchesGrid() throws {
        let s = seed("viewDispatch")
        let (view, _) = try Self.run(seed: s, hours: 1.5, dispatch: .view)
        let (grid, _) = try Self.run(seed: s, hours: 1.5, dispatch: .grid)
        let assigned = view.events.filter { $0.json["type"] as? String == "DRIVER_ASSIGNED" }.count
        #expect(assigned > 50)
        let same =
            view.events.count == grid.events.count
            && zip(view.events, grid.events).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        #expect(same, "seed \(s): the two dispatch modes chose differently")
    }

    @Test("the dispatch grid finds exactly the brute-force nearest, near the poles and the antimeridian too")
    func dispatchIndex() {
        var random = SplitMix64(seed: seed("dispatchIndex"))
        for centre in [
            GeoPoint(unchecked: -122.42, 37.77), GeoPoint(unchecked: 10, 89.9),
            GeoPoint(unchecked: 179.99, 10),
        ] {
            var index = DispatchIndex()
            var points: [GeoPoint] = []
            for i in 0..<1_500 {
                // Every tenth order shares an earlier one's point: ties go to the order inserted first.
                let p =
                    i % 10 == 9
                    ? points[Int(random.nextDouble() * Double(points.count))]
                    : Geo.destination(
                        from: centre, meters: random.nextDouble() * 30_000, bearing: random.nextDouble() * 360)
                points.append(p)
                index.insert(i, at: p)
            }
            for _ in 0..<200 {
                let q = Geo.destination(
                    from: centre, meters: random.nextDouble() * 20_000, bearing: random.nextDouble() * 360)
                let brute = index.all(within: 15_000, of: q).min { ($0.distance, $0.order) < ($1.distance, $1.order) }?
                    .order
                #expect(index.nearest(to: q, within: 15_000) == brute)
            }
        }
    }

    @Test("ORDER_CREATED carries neither a restaurant nor a location; every later order event carries both")
    func createdCarriesNeither() throws {
        let (sink, _) = try Self.run(seed: seed("createdCarriesNeither"), hours: 0.5)
        let fields = ["restaurantId", "restaurantLat", "restaurantLon", "orderLocationLat", "orderLocationLon"]
        var created = 0
        for event in sink.events where event.topic == .orders {
            let payload = event.json["payload"] as! [String: Any]
            if event.json["type"] as? String == "ORDER_CREATED" {
                created += 1
                #expect(fields.allSatisfy { event.json[$0] is NSNull }, "\(event.json)")
                #expect(payload["restaurant"] is NSNull && payload["lat"] is NSNull && payload["lon"] is NSNull)
            } else {
                #expect(fields.allSatisfy { !(event.json[$0] is NSNull) && event.json[$0] != nil }, "\(event.json)")
                #expect(payload["restaurant"] is [String: Any] && payload["lat"] is Double)
            }
        }
        #expect(created > 10)
    }

    @Test("every driver event about an order names it, ORDER_DELIVERED included")
    func driverEventsNameTheOrder() throws {
        let (sink, _) = try Self.run(seed: seed("driverEventsNameTheOrder"), hours: 1)
        var current: [String: String] = [:]  // driver → order it accepted
        var delivered = 0
        for event in sink.events where event.topic == .drivers {
            let type = event.json["type"] as! String
            let order = event.json["orderId"] as? String
            switch type {
            case "ACCEPTED_ORDER_REQUEST":
                #expect(order != nil)
                current[event.key] = order
            case "ORDER_PICKED_UP":
                #expect(order != nil && order == current[event.key])
            case "ORDER_DELIVERED":
                #expect(order != nil && order == current[event.key], "\(event.json)")
                // The snapshot is the driver after the delivery: free again.
                #expect((event.json["payload"] as! [String: Any])["orderId"] is NSNull)
                current[event.key] = nil
                delivered += 1
            default: break
            }
        }
        #expect(delivered > 20)
    }

    @Test("no order is delivered to its own restaurant's point, even when stores share coordinates")
    func deliveriesGoSomewhere() throws {
        // Store lists round coordinates: here every store of the city has a twin at the same point.
        var restaurants: [Restaurant] = []
        for (i, store) in RestaurantCatalog.builtIn(perCity: 3).prefix(6).enumerated() {
            restaurants.append(store)
            var twin = store
            twin.storeId = 900_000 + Int64(i)
            twin.name += " (twin)"
            restaurants.append(twin)
        }
        let (sink, _) = try Self.run(seed: seed("deliveriesGoSomewhere"), restaurants: restaurants)
        try Self.expectDeliveriesGoSomewhere(sink)
    }

    @Test(
        "with the real Seattle stores (78 points for 156 stores) no delivery ends at the restaurant",
        .enabled(if: FileManager.default.fileExists(atPath: StoreListTests.kaggle)))
    func seattleDeliveriesGoSomewhere() throws {
        var filter = StoreFilter()
        filter.city = "Seattle"
        let seattle = try RestaurantCatalog.load(path: StoreListTests.kaggle, filter: filter).restaurants
        let (sink, _) = try Self.run(
            seed: seed("seattleDeliveriesGoSomewhere"), hours: 1, restaurants: Array(seattle.prefix(60)))
        try Self.expectDeliveriesGoSomewhere(sink)
    }

    static func expectDeliveriesGoSomewhere(_ sink: MemorySink) throws {
        var checked = 0
        for event in sink.events where event.topic == .orders && event.json["type"] as? String == "ORDER_ASSIGNED" {
            let payload = event.json["payload"] as! [String: Any]
            let meters = Geo.distance(
                point(event.json, "restaurantLat", "restaurantLon"), point(payload, "deliveryLat", "deliveryLon"))
            #expect(meters >= World.minimumDeliveryMeters, "order \(event.key) goes \(meters) m")
            checked += 1
        }
        #expect(checked > 20)
    }

    @Test("the same seed writes a byte-identical log")
    func determinism() throws {
        let s = seed("determinism")
        var files: [[String: Data]] = []
        for _ in 0..<2 {
            let dir = NSTemporaryDirectory() + "sim-det-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let log = try Log(directory: dir)
            let sink = try LogSink(log: log, partitions: 3, compression: .lz4)
            var config = SimulationConfiguration()
            config.seed = s
            let world = try World(restaurants: RestaurantCatalog.builtIn(perCity: 2), configuration: config, sink: sink)
            try world.run(until: config.startMilliseconds + 40 * 60_000)
            try sink.flush()
            try log.close()
            var contents: [String: Data] = [:]
            for topic in ["orders", "drivers"] {
                for p in 0..<3 {
                    let path = "\(dir)/\(topic)-\(p)/00000000000000000000.log"
                    contents["\(topic)-\(p)"] = FileManager.default.contents(atPath: path)
                }
            }
            files.append(contents)
        }
        #expect(files[0].values.allSatisfy { ($0.count) > 1000 })
        #expect(files[0] == files[1])
    }

    @Test(
        "--topics debezium writes what the outbox router did: value = the event's payload, key = the aggregate id, header id"
    )
    func debeziumLayout() throws {
        let s = seed("debezium")
        var logs: [String: Log] = [:]
        for layout in LogSink.TopicLayout.allCases {
            let dir = NSTemporaryDirectory() + "sim-\(layout)-\(UUID().uuidString)"
            let log = try Log(directory: dir)
            let sink = try LogSink(log: log, partitions: 2, compression: .lz4, layout: layout)
            var config = SimulationConfiguration()
            config.seed = s
            let world = try World(restaurants: RestaurantCatalog.builtIn(perCity: 2), configuration: config, sink: sink)
            try world.run(until: config.startMilliseconds + 30 * 60_000)
            try sink.flush()
            logs[layout.rawValue] = log
        }
        defer {
            for log in logs.values {
                try? log.close()
                try? FileManager.default.removeItem(atPath: log.directory)
            }
        }
        let events = logs["events"]!, outbox = logs["debezium"]!
        #expect(outbox.topicNames().sorted() == ["debezium.Driver", "debezium.Order"])
        var compared = 0
        for (from, to) in [("orders", "debezium.Order"), ("drivers", "debezium.Driver")] {
            for p in 0..<2 {
                let original = try events.read(topic: from, partition: p, from: 0, maxRecords: 1_000_000)
                let routed = try outbox.read(topic: to, partition: p, from: 0, maxRecords: 1_000_000)
                #expect(original.count == routed.count, "seed \(s): \(to)-\(p)")
                for (event, record) in zip(original, routed) {
                    let json = try #require(
                        try JSONSerialization.jsonObject(with: Data(event.value ?? [])) as? [String: Any])
                    let payload = try #require(json["payload"] as? NSDictionary)
                    let value = try JSONSerialization.jsonObject(with: Data(record.value ?? [])) as? NSDictionary
                    #expect(record.key == event.key && record.timestamp == event.timestamp)
                    #expect(value == payload, "seed \(s): \(to)-\(p) offset \(record.offset)")
                    #expect(record.headers == [Header(key: "id", string: json["eventId"] as! String)])
                    compared += 1
                }
            }
        }
        #expect(compared > 1000, "seed \(s)")
    }

    @Test(
        "the original profile: one driver per store, a fixed interval per store, placed at the store on assignment, 200 m per 2 s"
    )
    func originalProfile() throws {
        let s = seed("original")
        let sink = MemorySink()
        var config = SimulationConfiguration.original
        config.seed = s
        let restaurants = Array(RestaurantCatalog.builtIn(perCity: 5).prefix(12))
        let world = try World(restaurants: restaurants, configuration: config, sink: sink)
        try world.run(until: config.startMilliseconds + 2 * 3_600_000)
        let drivers = Set(sink.events.filter { $0.topic == .drivers }.map(\.key))
        #expect(drivers.count == restaurants.count, "seed \(s): one driver per store")
        // Per restaurant, the gaps between its orders are one fixed whole number of seconds in 60…95.
        let created = sink.events.filter { $0.topic == .orders && $0.json["type"] as? String == "ORDER_CREATED" }
        let assigned = Dictionary(
            sink.events.filter { $0.topic == .orders && $0.json["type"] as? String == "ORDER_ASSIGNED" }
                .map { ($0.key, $0.json["restaurantId"] as! String) }, uniquingKeysWith: { a, _ in a })
        let restaurantLat = Dictionary(
            sink.events.filter { $0.topic == .orders && $0.json["type"] as? String == "ORDER_ASSIGNED" }
                .map { ($0.key, $0.json["restaurantLat"] as? Double) }, uniquingKeysWith: { a, _ in a })
        var times: [String: [Int64]] = [:]
        for event in created { if let r = assigned[event.key] { times[r, default: []].append(event.timestamp) } }
        #expect(times.count == restaurants.count, "seed \(s)")
        for (restaurant, list) in times {
            let gaps = Set(zip(list.dropFirst(), list).map { $0 - $1 })
            #expect(gaps.count == 1, "seed \(s): restaurant \(restaurant) gaps \(gaps)")
            if let gap = gaps.first { #expect(gap % 1000 == 0 && (60_000...95_000).contains(gap), "seed \(s): \(gap)") }
        }
        // After accepting, the driver's next event is a location update at the order's restaurant; then it
        // moves about 200 m every 2 s.
        let byDriver = Dictionary(grouping: sink.events.filter { $0.topic == .drivers }, by: \.key)
        var checked = 0
        for events in byDriver.values {
            for (i, event) in events.enumerated() where event.json["type"] as? String == "ACCEPTED_ORDER_REQUEST" {
                guard i + 1 < events.count else { continue }
                let next = events[i + 1]
                let order = event.json["orderId"] as! String
                #expect(next.json["type"] as? String == "LOCATION_UPDATED" && next.timestamp == event.timestamp)
                #expect(next.json["driverLocationLat"] as? Double == restaurantLat[order] ?? nil)
                checked += 1
            }
            let moves = zip(events, events.dropFirst()).filter {
                $0.json["type"] as? String == "LOCATION_UPDATED" && $1.json["type"] as? String == "LOCATION_UPDATED"
                    && $1.timestamp - $0.timestamp == 2000
            }
            for (a, b) in moves {
                let meters = Geo.distance(
                    point(a.json, "driverLocationLat", "driverLocationLon"),
                    point(b.json, "driverLocationLat", "driverLocationLon"))
                #expect(meters <= 200.5, "seed \(s): \(meters) m in 2 s")
            }
        }
        #expect(checked > 10, "seed \(s)")
    }

    @Test("aggregates reject commands in the wrong state")
    func illegalTransitions() throws {
        let r = RestaurantCatalog.builtIn(perCity: 1)[0]
        var order = Order.create(id: "o", accountId: "a", at: r.location, now: 0)
        #expect(throws: IllegalTransition.self) { try order.prepare(now: 1) }
        try order.assign(restaurant: r, delivery: r.location, now: 1)
        #expect(throws: IllegalTransition.self) { try order.assign(restaurant: r, delivery: r.location, now: 2) }
        var driver = Driver.create(id: "d", at: r.location, now: 0)
        #expect(throws: IllegalTransition.self) { try driver.goOnline(now: 1) }
        #expect(throws: IllegalTransition.self) { try driver.accept(order: "o", now: 1) }
        try driver.activate(now: 1)
        try driver.goOnline(now: 2)
        try driver.accept(order: "o", now: 3)
        #expect(throws: IllegalTransition.self) { try driver.goOffline(now: 4) }
    }
}

@Suite("Store lists")
struct StoreListTests {
    static let kaggle = "../shared/data/directory.csv"
    static let socrata = "../shared/data/All_Starbucks_Locations_in_the_US.csv"

    @Test(
        "the Kaggle directory.csv: US rows, numeric ids, filters",
        .enabled(if: FileManager.default.fileExists(atPath: kaggle)))
    func kaggleFormat() throws {
        let list = try RestaurantCatalog.load(path: Self.kaggle)
        let all = list.restaurants
        #expect(all.count + list.skippedWithoutCoordinates <= 13_608)
        #expect(all.count > 13_000)
        #expect(all.allSatisfy { $0.country == "US" })
        var filter = StoreFilter()
        filter.city = "Seattle"
        let seattle = try RestaurantCatalog.load(path: Self.kaggle, filter: filter).restaurants
        #expect(!seattle.isEmpty && seattle.allSatisfy { $0.state == "WA" })
        filter.limit = 3
        #expect(try RestaurantCatalog.load(path: Self.kaggle, filter: filter).restaurants.count == 3)
    }

    @Test(
        "the Socrata US export with its multi-line quoted field",
        .enabled(if: FileManager.default.fileExists(atPath: socrata)))
    func socrataFormat() throws {
        let all = try RestaurantCatalog.load(path: Self.socrata).restaurants
        #expect(all.count > 10_000 && all.count <= 10_843)
        let epping = all.first { $0.storeId == 11854 }
        #expect(epping?.name == "Epping Main St")
        #expect(epping?.city == "Epping")
        var filter = StoreFilter()
        filter.boundingBox = (37.70, -122.52, 37.82, -122.35)
        let sf = try RestaurantCatalog.load(path: Self.socrata, filter: filter).restaurants
        #expect(sf.count > 20)
        #expect(
            sf.allSatisfy {
                (37.70...37.82).contains($0.location.latitude) && (-122.52 ... -122.35).contains($0.location.longitude)
            })
        #expect(sf.contains { $0.city == "San Francisco" })
    }

    @Test("small fixtures of both shapes parse, and malformed rows get errors naming the record")
    func fixtures() throws {
        let kaggle = """
            Brand,Store Number,Store Name,Ownership Type,Street Address,City,State/Province,Country,Postcode,Phone Number,Timezone,Longitude,Latitude
            Starbucks,1-23,"Cafe, One",Licensed,1 Main St,Springfield,IL,US,62701,,GMT-6,-89.65,39.78
            Starbucks,4-56,Two,Licensed,2 Main St,Paris,75,FR,75001,,GMT+1,2.35,48.85
            """
        let parsed = try RestaurantCatalog.parse(kaggle, path: "k.csv")
        #expect(parsed.map(\.name) == ["Cafe, One"])
        #expect(parsed[0].storeId == 123)
        let socrata = """
            Brand,Store Number,Name,City,State,Zip,Country,Location,Latitude,Longitude
            Starbucks,77,"Multi","Town",CA,90000,US,"1 Road
            Town, CA",34.1,-118.2
            """
        #expect(try RestaurantCatalog.parse(socrata).map(\.city) == ["Town"])
        let badLatitude = kaggle + "\nStarbucks,7-8,Bad,Licensed,x,Nowhere,ZZ,US,0,,GMT,-90.0,north\n"
        let error = #expect(throws: StoreListError.self) { try RestaurantCatalog.parse(badLatitude, path: "bad.csv") }
        #expect(error?.record == 3)
        #expect(error?.description.contains("bad.csv, record 3") == true)
        let outOfRange = kaggle + "\nStarbucks,7-8,Far,Licensed,x,Nowhere,ZZ,US,0,,GMT,-200,40\n"
        #expect(
            (#expect(throws: StoreListError.self) { try RestaurantCatalog.parse(outOfRange) })?.message.contains(
                "out of range") == true)
        let unknown = "a,b,c\n1,2,3\n"
        #expect(
            (#expect(throws: StoreListError.self) { try RestaurantCatalog.parse(unknown) })?.message.contains(
                "unknown store-list format") == true)
        // A short row: SwiftCSV pads it, so it lacks its coordinates and is counted as skipped.
        var any = StoreFilter()
        any.country = nil
        #expect(try RestaurantCatalog.parseList(kaggle + "\nStarbucks,9\n", filter: any).skippedWithoutCoordinates == 1)
        // Rows with no coordinates at all are skipped and counted, not fatal.
        let empty = kaggle + "\nStarbucks,9-9,Nowhere,Licensed,x,Springfield,IL,US,0,,GMT,,\n"
        let list = try RestaurantCatalog.parseList(empty)
        #expect(list.restaurants.count == 1)
        #expect(list.skippedWithoutCoordinates == 1)
    }

    @Test("the JSON writer escapes exactly what JSON needs and writes integers as String(_:) does")
    func jsonWriter() throws {
        let s = seed("jsonWriter")
        var random = SplitMix64(seed: s)
        let alphabet: [Character] = [
            "a", "Z", "0", " ", "\"", "\\", "\n", "\t", "\u{01}", "\u{1F}", "é", "€", "😀", "/", "~",
        ]
        var writer = JSONWriter()
        for _ in 0..<2_000 {
            let length = Int(random.nextDouble() * 40)
            // Mostly plain text (the fast path) with the occasional character that needs escaping.
            let text = String(
                (0..<length).map { _ in
                    random.nextDouble() < 0.9 ? "x" : alphabet[Int(random.nextDouble() * Double(alphabet.count))]
                })
            writer.reset()
            writer.begin()
            writer.field("s", text)
            writer.end()
            let parsed = try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String: String]
            #expect(parsed?["s"] == text, "seed \(s): \(text.debugDescription) came back as \(parsed?["s"] ?? "nil")")
        }
        var values: [UInt64] = [0, 1, 9, 10, 99, 100, 999_999, 1_000_000, UInt64.max, UInt64.max / 10]
        for power in 1...19 {
            let p = (0..<power).reduce(UInt64(1)) { product, _ in product * 10 }
            values += [p - 1, p, p + 1]
        }
        for _ in 0..<1_000 { values.append(random.next() >> UInt64(random.next() % 64)) }
        for value in values {
            for minimum in [1, 6] {
                writer.reset()
                writer.appendDigits(value, minimumDigits: minimum)
                let expected = String(repeating: "0", count: max(0, minimum - String(value).count)) + String(value)
                #expect(String(decoding: writer.bytes, as: UTF8.self) == expected, "seed \(s)")
            }
        }
    }

    @Test("the calendar queue pops in exactly a heap's order: same-bucket, ring and far-future actions, gaps")
    func calendarQueue() {
        let s = seed("calendarQueue")
        var random = SplitMix64(seed: s)
        var calendar = CalendarQueue()
        var heap = Heap<World.Scheduled>()
        var now: UInt64 = 0  // ms
        var sequence: UInt64 = 0
        var popped = 0
        for round in 0..<200_000 {
            if random.nextDouble() < 0.52 {
                // Mostly a few seconds ahead; some in the same millisecond or bucket; some beyond the ring
                // (17 minutes) or hours ahead.
                let r = random.nextDouble()
                let delay: UInt64 =
                    r < 0.1
                    ? 0
                    : r < 0.2
                        ? UInt64(random.nextDouble() * 64)
                        : r < 0.9
                            ? UInt64(random.nextDouble() * 20_000)
                            : r < 0.97
                                ? UInt64(random.nextDouble() * 3_000_000) : UInt64(random.nextDouble() * 40_000_000)
                sequence += 1
                let item = World.Scheduled(key: (now + delay) << 24 | (sequence & 0xFF_FFFF), action: UInt32(round))
                calendar.insert(item)
                heap.insert(item)
            } else {
                let expected = heap.popMin()
                let peeked = calendar.min()
                let actual = calendar.popMin()
                #expect(peeked?.key == expected?.key && actual?.key == expected?.key, "seed \(s), round \(round)")
                guard actual?.key == expected?.key else { return }
                if let actual {
                    now = actual.key >> 24
                    popped += 1
                }
            }
            #expect(calendar.count == heap.count)
        }
        while let expected = heap.popMin() {
            let actual = calendar.popMin()
            #expect(actual?.key == expected.key, "seed \(s), draining")
            guard actual?.key == expected.key else { return }
        }
        #expect(calendar.popMin() == nil && calendar.count == 0)
        #expect(popped > 50_000)
    }
}

@Suite("Order-delivery tables")
struct OrderDeliveryTablesTests {
    @Test(
        "the presets read the simulator's events under the original's names; the dispatch query's preparedAge follows the injected clock"
    )
    func presets() throws {
        let (sink, world) = try SimulatorTests.run(seed: seed("presets"), hours: 0.5)
        let orders = try LiveTable(config: OrderDeliveryTables.orders)
        let drivers = try LiveTable(config: OrderDeliveryTables.drivers)
        for event in sink.events {
            let table = event.topic == .orders ? orders : drivers
            table.ingest(json: String(decoding: event.value, as: UTF8.self), key: event.key)
        }
        // Every driver event carries `type` and `driverLocationLat/Lon` (not `eventType`, `driverLat/Lon`).
        let driverEvent = try #require(sink.events.first { $0.topic == .drivers }?.json)
        #expect(driverEvent["type"] != nil && driverEvent["driverLocationLat"] != nil)
        #expect(driverEvent["eventType"] == nil && driverEvent["driverLat"] == nil)
        let tracks = try drivers.query(
            "SELECT driverId as id, driverLat as lat, driverLon as lon, lastModified as start_time, eventType FROM drivers LIMIT 100000 option(skipUpsert=true)"
        )
        #expect(tracks.rows.count == sink.events.filter { $0.topic == .drivers }.count)
        let complete = tracks.rows.filter { row in row[1] != SQLValue.null && row[2] != .null && row[4] != .null }
        #expect(complete.count == tracks.rows.count)
        // The Superset dataset's columns hold what the events say.
        let last = try #require(sink.events.last { $0.topic == .orders }?.json)
        let id = last["orderId"] as! String
        let row = try #require(orders.lookup(.string(id)))
        #expect(row["orderStatus"] == .string(last["orderStatus"] as! String))
        #expect(row["type"] == .string(last["type"] as! String))
        #expect(row["eventId"] == .string(last["eventId"] as! String))
        #expect(row["aggregateId"] == .string(id))
        #expect(row["orderLocationLat"] == row["lat"])
        // The dispatch query: preparedAge = now() − lastModified at the simulated time passed in.
        let prepared = try orders.query("SELECT orderId, lastModified FROM orders WHERE status = 'ORDER_PREPARED'")
        #expect(!prepared.rows.isEmpty, "the run ends with orders waiting for a driver")
        let dispatch = try orders.prepare(OrderDeliveryTables.dispatchQuery)
        for row in prepared.rows {
            let lookup = try #require(orders.lookup(row[0]))
            guard case .double(let lat)? = lookup["lat"], case .double(let lon)? = lookup["lon"] else { continue }
            let result = try dispatch.run([.double(lon), .double(lat), .double(15_000)], now: world.now)
            #expect(result.columns == ["orderId", "preparedAt", "preparedAge", "distance"])
            let mine = try #require(result.rows.first { $0[0] == row[0] })
            guard case .long(let at) = row[1] else { continue }
            #expect(mine[2] == .long(world.now - at))
        }
    }
}
