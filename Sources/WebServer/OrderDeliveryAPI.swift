import EventLog
import EventLogFoundation
import Foundation
import Hummingbird
import LiveViews
import Simulator

/// The original order-delivery system's hypermedia API (its `order-web`), on the log: orders and drivers
/// as HAL resources (`application/hal+json`), their events, and their commands.
///
/// | route | answers |
/// |---|---|
/// | `GET /v1/orders?page=&size=`, `GET /v1/drivers?page=&size=` | the collection, paged (`first`/`prev`/`next`/`last`) |
/// | `POST /v1/orders` `{"accountId": …}`, `POST /v1/drivers` `{"lat": …, "lon": …}` | 201 and the new resource |
/// | `GET /v1/orders/{id}` | the order folded from its events, with `self`, `commands`, `events` links and an `ETag` |
/// | `GET /v1/orders/{id}/events[/{eventId}]` | its events (each with `self` and `order`/`driver` links) |
/// | `GET /v1/orders/{id}/commands` | one link per command, templated with its query parameters |
/// | `POST /v1/orders/{id}/commands/{command}?…` | runs the command: 200 and the resource; 400, 404, 409 |
/// | `GET /v1/orders/search/findOrdersByAccountId?accountId=` | the account's orders |
///
/// Storage and invariants:
/// - Each order (driver) is one `EventStreams` stream of the `orders` (`drivers`) topic, which has one
///   partition; the simulator writes the same topics. Every event carries the whole aggregate after the
///   change (`payload`), so reading an aggregate folds its stream to the last snapshot, and the
///   aggregate's version is its stream's (the `ETag`).
/// - A command runs in this process one at a time: fold, check `If-Match` against the version, run the
///   aggregate's rule, append with the folded version expected. A broken rule appends nothing (400, the
///   problem names the state); a stale `If-Match`, or a stream another writer (the simulator) changed since
///   the fold, appends nothing (409).
/// - A command on an order and its driver (`assignDriver`, `orderPickedUp`, `orderDelivered`) checks both
///   rules before appending either, then appends the order's event and the driver's, each expecting the
///   version folded. Only an I/O failure (or kill -9) between the two appends can leave the first without
///   the second; each stream is still a legal history of its aggregate.
final class OrderDeliveryAPI: Sendable {
    private let log: Log
    private let catalog: ViewCatalog
    private let restaurants: [Int64: Restaurant]
    private let byCity: [String: [Restaurant]]
    private let clock: any WallClock
    private let commandLock = ConditionLock()
    /// The streams, or why the API cannot serve (a topic with several partitions, from an older log).
    private let streams: Result<(orders: EventStreams, drivers: EventStreams), ProblemError>
    /// "kind/id" → the aggregate's representation as last rendered, and its version (bounded: emptied
    /// when it reaches `cacheLimit` entries).
    private let rendered = Locked<[String: (version: Int64, body: ByteBuffer)]>([:])
    /// "kind/id" → the aggregate folded at a version (commands put what they append here); bounded alike.
    private let folded = Locked<[String: (version: Int64, aggregate: Aggregate)]>([:])
    private static let cacheLimit = 100_000

    init(log: Log, catalog: ViewCatalog, restaurants: [Restaurant], clock: any WallClock) {
        self.log = log
        self.catalog = catalog
        self.clock = clock
        self.restaurants = Dictionary(restaurants.map { ($0.storeId, $0) }, uniquingKeysWith: { a, _ in a })
        byCity = Dictionary(grouping: restaurants) { "\($0.country)|\($0.city)" }
        do {
            streams = .success(
                (try EventStreams(log: log, topic: "orders"), try EventStreams(log: log, topic: "drivers")))
        } catch {
            streams = .failure(
                ProblemError(
                    .serviceUnavailable,
                    "the order API keeps each aggregate as a stream of a one-partition topic: \(error) (start from a fresh log directory, or write it with `eventlog simulate --partitions 1`)"
                ))
        }
    }

    // MARK: Routes

    func register(on router: Router<BasicRequestContext>, count: @escaping @Sendable (String) -> Void) {
        for kind in Kind.allCases {
            let base = "/v1/\(kind.collection)"
            router.get(RouterPath(base)) { request, _ in
                count(kind.collection)
                let query = Self.query(request)
                return try await self.answer { try self.collection(kind, query) }
            }
            router.post(RouterPath(base)) { request, _ in
                count("\(kind.collection).create")
                let body = try await request.body.collect(upTo: 64 << 10)
                let bytes = Array(body.readableBytesView)
                return try await self.answer { try self.create(kind, body: bytes) }
            }
            router.get(RouterPath("\(base)/:id")) { _, context in
                count(kind.collection)
                let id = try context.parameters.require("id")
                // The hot read: answered from the rendered cache without leaving the event loop when the
                // aggregate has not changed (a version lookup in memory); otherwise read off the loop.
                if let cached = self.cachedResource(kind, id: id) { return cached }
                return try await self.answer { try self.resource(kind, id: id) }
            }
            router.get(RouterPath("\(base)/:id/events")) { request, context in
                count("\(kind.collection).events")
                let id = try context.parameters.require("id")
                let query = Self.query(request)
                return try await self.answer { try self.events(kind, id: id, query) }
            }
            router.get(RouterPath("\(base)/:id/events/:eventId")) { _, context in
                count("\(kind.collection).events")
                let id = try context.parameters.require("id"), eventId = try context.parameters.require("eventId")
                return try await self.answer { try self.event(kind, id: id, eventId: eventId) }
            }
            router.get(RouterPath("\(base)/:id/commands")) { _, context in
                count("\(kind.collection).commands")
                let id = try context.parameters.require("id")
                return try await self.answer { try self.commands(kind, id: id) }
            }
            router.post(RouterPath("\(base)/:id/commands/:command")) { request, context in
                count("\(kind.collection).command")
                let id = try context.parameters.require("id"), command = try context.parameters.require("command")
                let parameters = Self.query(request)
                let ifMatch = request.headers[.ifMatch]
                return try await self.answer {
                    try self.command(kind, id: id, name: command, parameters: parameters, ifMatch: ifMatch)
                }
            }
        }
        router.get("/v1/restaurants") { request, _ in
            count("restaurants")
            let query = Self.query(request)
            return try await self.answer { try self.restaurantList(query) }
        }
        router.get("/v1/orders/search/findOrdersByAccountId") { request, _ in
            count("orders.search")
            let account = request.uri.queryParameters.get("accountId")
            return try await self.answer { try self.ordersOf(account: account) }
        }
    }

    /// The request's query parameters (the last value of a repeated one).
    private static func query(_ request: Request) -> [String: String] {
        var parameters: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { parameters[String(name)] = String(value) }
        return parameters
    }

    /// Runs a handler off the event loop (it reads the log), turning its problems into problem responses.
    private func answer(_ body: @escaping @Sendable () throws -> Response) async throws -> Response {
        try await WebServer.offload {
            do {
                return try body()
            } catch let problem as ProblemError {
                return WebServer.problem(problem.status, problem.detail)
            } catch let error as EventLogError where error.code == .wrongExpectedVersion {
                return WebServer.problem(.conflict, error.message)
            } catch {
                return WebServer.problem(.internalServerError, "\(error)")
            }
        }
    }

    // MARK: Aggregates

    enum Kind: String, CaseIterable, Sendable {
        case order, driver
        var collection: String { self == .order ? "orders" : "drivers" }
        var embedded: String { self == .order ? "orders" : "drivers" }
        var eventsName: String { self == .order ? "orderEvents" : "driverEvents" }
        var idField: String { self == .order ? "orderId" : "driverId" }
    }

    private func streams(_ kind: Kind) throws -> EventStreams {
        let both = try streams.get()
        return kind == .order ? both.orders : both.drivers
    }

    /// The aggregate's last event (its snapshot) and version, or 404.
    private func last(_ kind: Kind, _ id: String) throws -> (event: EventStreams.RecordedEvent, version: Int64) {
        let streams = try streams(kind)
        guard let version = try streams.version(of: id), let event = try streams.read(id, fromVersion: version).last
        else {
            throw ProblemError(.notFound, "no \(kind.rawValue) '\(id)'")
        }
        return (event, version)
    }

    /// An aggregate folded from its stream.
    enum Aggregate {
        case order(Order)
        case driver(Driver)
    }

    /// The aggregate at its stream's current version: from `folded` when the version is the one cached
    /// (commands put what they append there), else decoded from the stream's last event.
    private func fold(_ kind: Kind, _ id: String) throws -> (Aggregate, Int64) {
        let streams = try streams(kind)
        guard let version = try streams.version(of: id) else {
            throw ProblemError(.notFound, "no \(kind.rawValue) '\(id)'")
        }
        if let cached = folded.withLock({ $0["\(kind.rawValue)/\(id)"] }), cached.version == version {
            return (cached.aggregate, version)
        }
        guard let event = try streams.read(id, fromVersion: version).last else {
            throw ProblemError(.notFound, "no \(kind.rawValue) '\(id)'")
        }
        do {
            let aggregate: Aggregate =
                kind == .order
                ? .order(try OrderDeliveryEvents.order(fromEvent: event.data))
                : .driver(try OrderDeliveryEvents.driver(fromEvent: event.data))
            remember(kind, id, aggregate, version: version)
            return (aggregate, version)
        } catch {
            throw ProblemError(.internalServerError, "\(kind.rawValue) '\(id)' version \(version): \(error)")
        }
    }

    private func remember(_ kind: Kind, _ id: String, _ aggregate: Aggregate, version: Int64) {
        folded.withLock { cache in
            if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache["\(kind.rawValue)/\(id)"] = (version, aggregate)
        }
    }

    private func order(_ id: String) throws -> (Order, Int64) {
        guard case (.order(let order), let version) = try fold(.order, id) else { fatalError("an order stream") }
        return (order, version)
    }

    private func driver(_ id: String) throws -> (Driver, Int64) {
        guard case (.driver(let driver), let version) = try fold(.driver, id) else { fatalError("a driver stream") }
        return (driver, version)
    }

    // MARK: Representations

    private static func link(_ href: String, templated: Bool = false) -> [String: Any] {
        templated ? ["href": href, "templated": true] : ["href": href]
    }

    private static func object(_ bytes: [UInt8]) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
    }

    /// The aggregate's HAL representation as JSON bytes, built from the event's bytes: its snapshot
    /// (`payload`, spliced as it is stored), `version` and `_links` (the hot path of reads and commands, so no
    /// JSON object model in between).
    private static func representationBytes(_ kind: Kind, id: String, event: [UInt8], version: Int64) -> ByteBuffer {
        var payload: [UInt8] = []
        _ = event.withUnsafeBytes { bytes in
            JSONFields.scan(bytes) { name, value in
                guard name.equals("payload") else { return true }
                payload = Array(value.bytes)
                return false
            }
        }
        var json = JSONText()
        json.raw("{\"_links\":{\"self\":{\"href\":")
        let base = "/v1/\(kind.collection)/\(escaped(id))"
        json.string(base)
        json.raw("},\"commands\":{\"href\":")
        json.string(base + "/commands")
        json.raw("},\"events\":{\"href\":")
        json.string(base + "/events")
        json.raw("}},\"version\":\(version)")
        var buffer = ByteBuffer()
        buffer.writeString(json.text)
        // The snapshot's fields follow (an object `{…}`: its opening brace dropped).
        if payload.count > 2, payload.first == UInt8(ascii: "{") {
            buffer.writeString(",")
            buffer.writeBytes(payload[1...])
        } else {
            buffer.writeString("}")
        }
        return buffer
    }

    /// The aggregate's HAL representation: its snapshot, its version and its links.
    private func representation(_ kind: Kind, id: String, event: EventStreams.RecordedEvent, version: Int64)
        -> [String: Any]
    {
        var body = (Self.object(event.data)["payload"] as? [String: Any]) ?? [:]
        let base = "/v1/\(kind.collection)/\(Self.escaped(id))"
        body["version"] = version
        body["_links"] = [
            "self": Self.link(base), "commands": Self.link("\(base)/commands"), "events": Self.link("\(base)/events"),
        ]
        return body
    }

    private func eventRepresentation(_ kind: Kind, id: String, _ event: EventStreams.RecordedEvent) -> [String: Any] {
        var body = Self.object(event.data)
        let eventId = body["eventId"] as? String ?? event.id
        let base = "/v1/\(kind.collection)/\(Self.escaped(id))"
        var links: [String: Any] = [
            "self": Self.link("\(base)/events/\(Self.escaped(eventId))"), kind.rawValue: Self.link(base),
        ]
        if kind == .driver, let order = body["orderId"] as? String {
            links["order"] = Self.link("/v1/orders/\(Self.escaped(order))")
        }
        if kind == .order, let driver = (body["payload"] as? [String: Any])?["driverId"] as? String {
            links["driver"] = Self.link("/v1/drivers/\(Self.escaped(driver))")
        }
        body["version"] = event.version
        body["_links"] = links
        return body
    }

    private static func escaped(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(.init(charactersIn: "/"))) ?? id
    }

    static func hal(
        _ body: [String: Any], status: HTTPResponse.Status = .ok, etag: Int64? = nil, location: String? = nil
    )
        -> Response
    {
        response(halBytes(body), status: status, etag: etag, location: location)
    }

    static func halBytes(_ body: [String: Any]) -> ByteBuffer {
        let data =
            (try? JSONSerialization.data(withJSONObject: body, options: [.withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        return ByteBuffer(bytes: data)
    }

    static func response(_ body: ByteBuffer, status: HTTPResponse.Status, etag: Int64?, location: String?) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/hal+json"
        if let etag { headers[.eTag] = "\"\(etag)\"" }
        if let location { headers[.location] = location }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }

    // MARK: Reads

    private func resource(_ kind: Kind, id: String) throws -> Response {
        let (event, version) = try last(kind, id)
        return rendering(kind, id: id, event: event.data, version: version, status: .ok)
    }

    /// The representation of `kind`/`id` at `version` (whose last event is `event`), remembered for reads.
    private func rendering(
        _ kind: Kind, id: String, event: [UInt8], version: Int64, status: HTTPResponse.Status, location: String? = nil
    ) -> Response {
        let body = Self.representationBytes(kind, id: id, event: event, version: version)
        rendered.withLock { cache in
            if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache["\(kind.rawValue)/\(id)"] = (version, body)
        }
        return Self.response(body, status: status, etag: version, location: location)
    }

    /// The resource as last rendered, when its version is still the stream's; nil otherwise (or when the
    /// stream has news to index, which means reading the log). Never reads the log.
    private func cachedResource(_ kind: Kind, id: String) -> Response? {
        current(kind, id).map { Self.response($0.body, status: .ok, etag: $0.version, location: nil) }
    }

    /// The rendered representation and its version, when the stream is still at that version (asked of
    /// the index without reading the log).
    private func current(_ kind: Kind, _ id: String) -> (body: ByteBuffer, version: Int64)? {
        guard case .success(let both) = streams,
            let (version, body) = rendered.withLock({ $0["\(kind.rawValue)/\(id)"] })
        else { return nil }
        let streams = kind == .order ? both.orders : both.drivers
        guard streams.indexedVersion(of: id) == version else { return nil }
        return (body, version)
    }

    /// For ``CachedReadHandler``: the current representation for a request path `/v1/orders/{id}` or
    /// `/v1/drivers/{id}`, when it is rendered and current; nil for any other path or a miss. No I/O.
    func cachedRepresentation(path: Substring) -> (body: ByteBuffer, version: Int64)? {
        let kind: Kind
        let id: Substring
        if path.hasPrefix("/v1/orders/") {
            (kind, id) = (.order, path.dropFirst(11))
        } else if path.hasPrefix("/v1/drivers/") {
            (kind, id) = (.driver, path.dropFirst(12))
        } else {
            return nil
        }
        guard !id.isEmpty, !id.contains("/") else { return nil }
        return current(kind, String(id))
    }

    private static func paging(_ query: [String: String]) throws -> (page: Int, size: Int) {
        let page =
            try query["page"].map { text in
                guard let n = Int(text), n >= 0 else {
                    throw ProblemError(.badRequest, "page must be 0 or more, not '\(text)'")
                }
                return n
            } ?? 0
        let size =
            try query["size"].map { text in
                guard let n = Int(text), (1...1000).contains(n) else {
                    throw ProblemError(.badRequest, "size must be 1…1000, not '\(text)'")
                }
                return n
            } ?? 20
        return (page, size)
    }

    /// Where page `page` of `size` starts; past any collection when the product does not fit an `Int` (a
    /// client may send any page number: schemathesis found the overflow).
    static func offset(_ page: Int, _ size: Int) -> Int {
        let (product, overflow) = page.multipliedReportingOverflow(by: size)
        return overflow || product < 0 ? Int.max : product
    }

    /// A page of `items` of a collection at `base`, with HAL paging links and a `page` object.
    private static func page(
        _ items: [[String: Any]], total: Int, page: Int, size: Int, base: String, name: String
    ) -> [String: Any] {
        let pages = max(1, (total + size - 1) / size)
        func href(_ n: Int) -> [String: Any] { link("\(base)?page=\(n)&size=\(size)") }
        var links: [String: Any] = ["self": href(page), "first": href(0), "last": href(pages - 1)]
        if page > 0 { links["prev"] = href(min(page - 1, pages - 1)) }
        if page < pages - 1 { links["next"] = href(page + 1) }
        return [
            "_embedded": [name: items], "_links": links,
            "page": ["size": size, "number": page, "totalElements": total, "totalPages": pages],
        ]
    }

    private func collection(_ kind: Kind, _ query: [String: String]) throws -> Response {
        let (page, size) = try Self.paging(query)
        let streams = try streams(kind)
        let names = try streams.streamNames()
        let slice = names.dropFirst(min(names.count, Self.offset(page, size))).prefix(
            size)
        let items = try slice.map { id in
            let (event, version) = try last(kind, id)
            return representation(kind, id: id, event: event, version: version)
        }
        return Self.hal(
            Self.page(
                items, total: names.count, page: page, size: size, base: "/v1/\(kind.collection)", name: kind.embedded))
    }

    /// The restaurants orders can be assigned to (`assignOrder?restaurantId=`), by store id.
    private func restaurantList(_ query: [String: String]) throws -> Response {
        let (page, size) = try Self.paging(query)
        let all = restaurants.values.sorted { $0.storeId < $1.storeId }
        let items: [[String: Any]] = all.dropFirst(
            min(all.count, Self.offset(page, size))
        )
        .prefix(size).map { r in
            [
                "storeId": String(r.storeId), "name": r.name, "city": r.city, "state": r.state, "country": r.country,
                "lat": r.location.latitude, "lon": r.location.longitude,
            ]
        }
        return Self.hal(
            Self.page(items, total: all.count, page: page, size: size, base: "/v1/restaurants", name: "restaurants"))
    }

    private func events(_ kind: Kind, id: String, _ query: [String: String]) throws -> Response {
        let (page, size) = try Self.paging(query)
        let streams = try streams(kind)
        guard let version = try streams.version(of: id) else {
            throw ProblemError(.notFound, "no \(kind.rawValue) '\(id)'")
        }
        let total = Int(version + 1)
        let first = min(total, Self.offset(page, size))
        let events = first < total ? try streams.read(id, fromVersion: Int64(first), maxCount: size) : []
        let base = "/v1/\(kind.collection)/\(Self.escaped(id))"
        var body = Self.page(
            events.map { eventRepresentation(kind, id: id, $0) }, total: total, page: page, size: size,
            base: "\(base)/events", name: kind.eventsName)
        var links = body["_links"] as? [String: Any] ?? [:]
        links[kind.rawValue] = Self.link(base)
        body["_links"] = links
        return Self.hal(body)
    }

    private func event(_ kind: Kind, id: String, eventId: String) throws -> Response {
        let streams = try streams(kind)
        let events = try streams.read(id)
        guard !events.isEmpty else { throw ProblemError(.notFound, "no \(kind.rawValue) '\(id)'") }
        // The simulator's events carry their id in the JSON only; the API's also in a header.
        guard
            let event = events.first(where: {
                $0.id == eventId || (Self.object($0.data)["eventId"] as? String) == eventId
            })
        else { throw ProblemError(.notFound, "\(kind.rawValue) '\(id)' has no event '\(eventId)'") }
        return Self.hal(eventRepresentation(kind, id: id, event))
    }

    private func ordersOf(account: String?) throws -> Response {
        guard let account, !account.isEmpty else { throw ProblemError(.badRequest, "accountId is required") }
        let streams = try streams(.order)
        var items: [[String: Any]] = []
        for id in try streams.streamNames() {
            let (event, version) = try last(.order, id)
            let body = representation(.order, id: id, event: event, version: version)
            if body["accountId"] as? String == account { items.append(body) }
        }
        return Self.hal([
            "_embedded": ["orders": items],
            "_links": [
                "self": Self.link(
                    "/v1/orders/search/findOrdersByAccountId?accountId=\(Self.escaped(account))")
            ],
        ])
    }

    // MARK: Creation

    private func create(_ kind: Kind, body: [UInt8]) throws -> Response {
        guard
            let json = (try? JSONSerialization.jsonObject(with: Data(body.isEmpty ? Array("{}".utf8) : body)))
                as? [String: Any]
        else { throw ProblemError(.badRequest, "the body must be a JSON object") }
        let now = clock.milliseconds()
        let id = "\(kind.rawValue)-\(UUID().uuidString.lowercased())"
        let data: [UInt8]
        switch kind {
        case .order:
            guard let account = json["accountId"] as? String, !account.isEmpty else {
                throw ProblemError(.badRequest, "an order needs \"accountId\" (a string)")
            }
            let order = Order.create(id: id, accountId: account, at: GeoPoint(unchecked: 0, 0), now: now)
            data = OrderDeliveryEvents.order(order, type: .created, eventId: Self.eventId())
        case .driver:
            let point = try Self.point(json["lat"], json["lon"])
            let driver = Driver.create(id: id, at: point, now: now)
            data = OrderDeliveryEvents.driver(driver, type: .created, eventId: Self.eventId())
        }
        let event = EventStreams.EventData(
            id: Self.object(data)["eventId"] as? String, type: "\(kind)Created", data: data)
        try commandLock.withLock {
            _ = try streams(kind).append(to: id, events: [event], expecting: .noStream)
        }
        return rendering(
            kind, id: id, event: data, version: 0, status: .created, location: "/v1/\(kind.collection)/\(id)")
    }

    private static func eventId() -> String { "evt-\(UUID().uuidString.lowercased())" }

    private static func point(_ lat: Any?, _ lon: Any?) throws -> GeoPoint {
        func number(_ value: Any?) -> Double? {
            if let n = value as? NSNumber { return n.doubleValue }
            if let s = value as? String { return Double(s) }
            return nil
        }
        guard let latitude = number(lat), let longitude = number(lon) else {
            throw ProblemError(.badRequest, "lat and lon must be numbers")
        }
        do {
            return try GeoPoint(longitude: longitude, latitude: latitude)
        } catch {
            throw ProblemError(.badRequest, "\(error)")
        }
    }

    // MARK: Commands

    /// Every command: its name and its query parameters.
    static let orderCommands: [(String, [String])] = [
        ("assignOrder", ["restaurantId"]), ("prepareOrder", []), ("orderReady", []), ("assignDriver", ["driverId"]),
        ("orderPickedUp", []), ("deliverOrder", []), ("orderDelivered", []), ("updateOrderLocation", ["lat", "lon"]),
        ("updateOrderStatus", ["status"]),
    ]
    static let driverCommands: [(String, [String])] = [
        ("activateAccount", []), ("driverOnline", []), ("driverOffline", []), ("updateDriverLocation", ["lat", "lon"]),
        ("fetchOrderRequest", []), ("suspendDriver", []), ("updateDriverStatus", ["status"]),
    ]

    private func commands(_ kind: Kind, id: String) throws -> Response {
        _ = try last(kind, id)
        let base = "/v1/\(kind.collection)/\(Self.escaped(id))"
        var links: [String: Any] = ["self": Self.link("\(base)/commands"), kind.rawValue: Self.link(base)]
        for (name, parameters) in kind == .order ? Self.orderCommands : Self.driverCommands {
            links[name] =
                parameters.isEmpty
                ? Self.link("\(base)/commands/\(name)")
                : Self.link("\(base)/commands/\(name){?\(parameters.joined(separator: ","))}", templated: true)
        }
        return Self.hal(["_links": links])
    }

    private func command(
        _ kind: Kind, id: String, name: String, parameters: [String: String], ifMatch: String?
    ) throws -> Response {
        let known = kind == .order ? Self.orderCommands : Self.driverCommands
        guard let (_, needed) = known.first(where: { $0.0 == name }) else {
            throw ProblemError(
                .notFound,
                "\(kind.rawValue)s have no command '\(name)' (commands: \(known.map(\.0).joined(separator: ", ")))")
        }
        for parameter in needed where parameters[parameter]?.isEmpty ?? true {
            throw ProblemError(.badRequest, "\(name) needs the query parameter '\(parameter)'")
        }
        let expected: Int64?
        if let ifMatch {
            guard let version = Int64(ifMatch.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))) else {
                throw ProblemError(.badRequest, "If-Match must be a version the API gave as ETag, not '\(ifMatch)'")
            }
            expected = version
        } else {
            expected = nil
        }
        if kind == .driver && name == "fetchOrderRequest" { return try fetchOrderRequest(driver: id) }
        return try commandLock.withLock {
            do {
                return kind == .order
                    ? try orderCommand(id, name, parameters, expected)
                    : try driverCommand(id, name, parameters, expected)
            } catch let illegal as IllegalTransition {
                throw ProblemError(.badRequest, illegal.description)
            }
        }
    }

    private static func checkVersion(_ kind: Kind, _ id: String, _ version: Int64, expected: Int64?) throws {
        if let expected, expected != version {
            throw ProblemError(
                .conflict, "\(kind.rawValue) '\(id)' is at version \(version), not \(expected) (If-Match)")
        }
    }

    private func orderCommand(_ id: String, _ name: String, _ parameters: [String: String], _ expected: Int64?)
        throws -> Response
    {
        var (order, version) = try order(id)
        try Self.checkVersion(.order, id, version, expected: expected)
        let now = max(clock.milliseconds(), order.lastModified)
        var driverChange: (driver: Driver, version: Int64, type: DriverEventType, order: String?)?
        let type: OrderEventType
        switch name {
        case "assignOrder":
            guard let storeId = Int64(parameters["restaurantId"]!), let restaurant = restaurants[storeId] else {
                throw ProblemError(.badRequest, "no restaurant '\(parameters["restaurantId"]!)'")
            }
            let sameCity = (byCity["\(restaurant.country)|\(restaurant.city)"] ?? []).filter {
                $0.storeId != storeId
            }
            let delivery = Order.deliveryPoint(from: restaurant, sameCity: sameCity) { Double.random(in: 0..<1) }
            try order.assign(restaurant: restaurant, delivery: delivery, now: now)
            type = .assigned
        case "prepareOrder":
            try order.prepare(now: now)
            type = .preparing
        case "orderReady":
            try order.ready(now: now)
            type = .prepared
        case "assignDriver":
            let driverId = parameters["driverId"]!
            var (driver, driverVersion) = try self.driver(driverId)
            try order.assignDriver(driverId, now: now)
            try driver.accept(order: id, now: now)
            driverChange = (driver, driverVersion, .acceptedOrderRequest, nil)
            type = .driverAssigned
        case "orderPickedUp":
            try order.pickedUp(now: now)
            var (driver, driverVersion) = try self.driver(order.driverId ?? "")
            try driver.confirm("orderPickedUp", order: id, now: now)
            driverChange = (driver, driverVersion, .orderPickedUp, nil)
            type = .pickedUp
        case "deliverOrder":
            try order.deliver(now: now)
            type = .delivering
        case "orderDelivered":
            try order.delivered(now: now)
            var (driver, driverVersion) = try self.driver(order.driverId ?? "")
            try driver.finish(order: id, now: now)
            driverChange = (driver, driverVersion, .orderDelivered, id)
            type = .delivered
        case "updateOrderLocation":
            order.move(to: try Self.point(parameters["lat"], parameters["lon"]), now: now)
            type = .locationUpdated
        default:  // updateOrderStatus
            guard let status = OrderStatus(rawValue: parameters["status"]!) else {
                throw ProblemError(
                    .badRequest,
                    "status must be one of \(OrderStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            order.force(status, now: now)
            type = OrderEventType(rawValue: status.rawValue)!
        }
        let eventId = Self.eventId()
        let data = OrderDeliveryEvents.order(order, type: type, eventId: eventId)
        let newVersion = try append(.order(order), id: id, eventId: eventId, type: type.rawValue, data, after: version)
        if let change = driverChange {
            let driverEvent = Self.eventId()
            _ = try append(
                .driver(change.driver), id: change.driver.driverId, eventId: driverEvent, type: change.type.rawValue,
                OrderDeliveryEvents.driver(change.driver, type: change.type, order: change.order, eventId: driverEvent),
                after: change.version)
        }
        return rendering(.order, id: id, event: data, version: newVersion, status: .ok)
    }

    /// Appends one event to an aggregate's stream, expecting the version it was folded at, and remembers
    /// the aggregate at its new version (the next command folds from there). Returns the new version.
    private func append(
        _ aggregate: Aggregate, id: String, eventId: String, type: String, _ data: [UInt8], after version: Int64
    ) throws -> Int64 {
        let kind: Kind
        switch aggregate {
        case .order: kind = .order
        case .driver: kind = .driver
        }
        let outcome = try streams(kind).append(
            to: id, events: [EventStreams.EventData(id: eventId, type: type, data: data)], expecting: .exactly(version))
        remember(kind, id, aggregate, version: outcome.version)
        return outcome.version
    }

    private func driverCommand(_ id: String, _ name: String, _ parameters: [String: String], _ expected: Int64?)
        throws -> Response
    {
        var (driver, version) = try driver(id)
        try Self.checkVersion(.driver, id, version, expected: expected)
        let now = max(clock.milliseconds(), driver.lastModified)
        let type: DriverEventType
        switch name {
        case "activateAccount":
            try driver.activate(now: now)
            type = .activated
        case "driverOnline":
            try driver.goOnline(now: now)
            type = .wentOnline
        case "driverOffline":
            try driver.goOffline(now: now)
            type = .wentOffline
        case "updateDriverLocation":
            driver.move(to: try Self.point(parameters["lat"], parameters["lon"]), now: now)
            type = .locationUpdated
        case "suspendDriver":
            try driver.suspend(now: now)
            type = .suspended
        default:  // updateDriverStatus
            guard let status = DriverStatus(rawValue: parameters["status"]!) else {
                throw ProblemError(.badRequest, "status must be DRIVER_CREATED, DRIVER_ACTIVE or DRIVER_SUSPENDED")
            }
            driver.force(status, now: now)
            type =
                switch status {
                case .created: .created
                case .active: .activated
                case .suspended: .suspended
                }
        }
        let eventId = Self.eventId()
        let data = OrderDeliveryEvents.driver(driver, type: type, eventId: eventId)
        let newVersion = try append(
            .driver(driver), id: id, eventId: eventId, type: type.rawValue, data, after: version)
        return rendering(.driver, id: id, event: data, version: newVersion, status: .ok)
    }

    /// The original's `fetchOrderRequest`: the dispatch query from the driver's position against the live
    /// `orders` view, answered as its DriverOrderRequest for the nearest prepared order. Reads only.
    ///
    /// `estimatedPayment` (dollars): 3.00 base + 1.20 per km of the pickup leg + 1.50 per km of the delivery
    /// leg (restaurant → delivery point), rounded to cents.
    private func fetchOrderRequest(driver id: String) throws -> Response {
        let (driver, _) = try driver(id)
        let now = clock.milliseconds()
        let table: LiveTable
        do {
            table = try catalog.open("orders")
            try table.catchUp(from: log)
        } catch {
            throw ProblemError(.serviceUnavailable, "the live view 'orders' is not available: \(error)")
        }
        let result = try table.prepare(OrderDeliveryTables.dispatchQuery).run(
            [.double(driver.location.longitude), .double(driver.location.latitude), .double(15_000)], now: now)
        guard let first = result.rows.first, case .string(let orderId) = first[0] else {
            throw ProblemError(.notFound, "no prepared order within 15 km of driver '\(id)'")
        }
        let row = table.lookup(.string(orderId)) ?? [:]
        func number(_ value: SQLValue?) -> Double? {
            switch value {
            case .double(let d)?: d
            case .long(let n)?: Double(n)
            default: nil
            }
        }
        let pickup = number(first[3]) ?? 0
        var delivery = 0.0
        if let rlat = number(row["restaurantLat"]), let rlon = number(row["restaurantLon"]),
            let dlat = number(row["deliveryLat"]), let dlon = number(row["deliveryLon"])
        {
            delivery = Geo.distance(lon1: rlon, lat1: rlat, lon2: dlon, lat2: dlat)
        }
        let payment = ((3.0 + 1.2 * pickup / 1000 + 1.5 * delivery / 1000) * 100).rounded() / 100
        var body: [String: Any] = [
            "driverId": id, "orderId": orderId, "estimatedPayment": payment, "pickupMeters": pickup,
            "deliveryMeters": delivery,
            "_links": [
                "self": Self.link("/v1/drivers/\(Self.escaped(id))/commands/fetchOrderRequest"),
                "driver": Self.link("/v1/drivers/\(Self.escaped(id))"),
                "order": Self.link("/v1/orders/\(Self.escaped(orderId))"),
                "assignDriver": Self.link(
                    "/v1/orders/\(Self.escaped(orderId))/commands/assignDriver?driverId=\(Self.escaped(id))"),
            ],
        ]
        if case .long(let at) = first[1] { body["preparedAt"] = at }
        if case .long(let age) = first[2] { body["preparedAge"] = age }
        return Self.hal(body)
    }
}

/// A problem to answer with (RFC 9457), thrown by the API's handlers.
struct ProblemError: Error, Sendable {
    let status: HTTPResponse.Status
    let detail: String
    init(_ status: HTTPResponse.Status, _ detail: String) {
        self.status = status
        self.detail = detail
    }
}
