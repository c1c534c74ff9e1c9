public import EventLog
import EventLogFoundation
import Foundation
import Hummingbird
import NIOCore
public import Services

/// The order saga over HTTP (`eventlog serve --services`): place orders, follow them, inspect their sagas.
///
/// | route | answers |
/// |---|---|
/// | `POST /v1/services/orders` `{"account","item","location","quantity"}` | 202 and the order's resource (`?wait=true`: 201 once its saga ended) |
/// | `GET /v1/services/orders?limit=20` | the last orders, newest first: status and the steps each waits on |
/// | `GET /v1/services/orders/{id}` | one order |
/// | `GET /v1/services/prices` | price changes captured from the catalog's PostgreSQL: applied, filtered (made by the receiving service itself), each with commit → applied latency |
/// | `GET /v1/services/sagas/{id}` | the saga's events in order, from the log (the saga inspector) |
/// | `GET /v1/services/accounts/{id}`, `GET /v1/services/items/{id}`, `GET /v1/services/stock/{item}/{location}` | an account, a catalog item, a stock, folded from the log |
///
/// Commands go through the ``ServicesEngine`` (one thread owns the write side); reads fold the log (the
/// ``OrderBoard`` follows it), never the engine's memory.
public struct ServicesAPI: Sendable {
    let engine: ServicesEngine
    let board: Locked<OrderBoard>
    let streams: EventStreams
    let prices: PriceChangeFollower?

    public init(engine: ServicesEngine, streams: EventStreams, prices: PriceChangeFollower? = nil) {
        self.engine = engine
        self.streams = streams
        self.prices = prices
        board = Locked(OrderBoard(streams: streams))
    }

    func register(on router: Router<BasicRequestContext>, count: @escaping @Sendable (String) -> Void) {
        router.post("/v1/services/orders") { request, _ -> Response in
            count("services.orders.create")
            let body = try await request.body.collect(upTo: 64 << 10)
            let fields =
                (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? nil
            guard let fields, let account = fields["account"] as? String, let item = fields["item"] as? String,
                let location = fields["location"] as? String
            else {
                return WebServer.problem(
                    .badRequest,
                    #"the body must be {"account": "...", "item": "...", "location": "...", "quantity": n}"#)
            }
            let quantity = (fields["quantity"] as? NSNumber)?.intValue ?? 1
            guard quantity > 0 && quantity <= 1_000 else {
                return WebServer.problem(.badRequest, "quantity must be between 1 and 1000, got \(quantity)")
            }
            let id = "web-" + UUID().uuidString.prefix(8).lowercased()
            let wait = request.uri.queryParameters.get("wait") == "true"
            let outcome: Result<Order, any Error>? = await withCheckedContinuation { continuation in
                let resumed = Locked(false)
                engine.submit(id: id, account: account, item: item, location: location, quantity: quantity) {
                    result, _ in
                    if wait,
                        !resumed.withLock({ was in
                            defer { was = true }; return was
                        })
                    {
                        continuation.resume(returning: result)
                    }
                }
                if !wait { continuation.resume(returning: nil) }
            }
            if case .failure(let error) = outcome { return WebServer.problem(.unprocessableContent, "\(error)") }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.location] = "/v1/services/orders/\(id)"
            if case .success(let order) = outcome {
                return Response(
                    status: .created, headers: headers,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: Self.json(order))))
            }
            var started = Order(id: id)
            (started.account, started.item, started.location, started.quantity) = (account, item, location, quantity)
            started.waitingOn = ["price"]
            return Response(
                status: .accepted, headers: headers,
                body: ResponseBody(byteBuffer: ByteBuffer(string: Self.json(started))))
        }
        router.get("/v1/services/prices") { _, _ -> Response in
            count("services.prices")
            guard let prices else {
                return WebServer.problem(
                    .notFound, "price changes are followed with serve --services-catalog postgres://…")
            }
            let snapshot = prices.snapshot
            var json = JSONText()
            json.raw(
                "{\"applied\":\(snapshot.applied),\"filtered\":\(snapshot.filtered),\"refused\":\(snapshot.malformed),\"recent\":["
            )
            for (index, change) in snapshot.recent.enumerated() {
                if index > 0 { json.raw(",") }
                json.raw("{\"item\":")
                json.string(change.item)
                json.raw(",\"price\":\(change.price),\"by\":")
                json.string(change.by)
                json.raw(",\"filtered\":\(change.filtered),\"committed\":\(change.committed),\"latencyMs\":")
                json.raw(change.latencyMilliseconds.map { String(format: "%.1f", $0) } ?? "null")
                json.raw("}")
            }
            json.raw("]}")
            return WebServer.json(json.text)
        }
        router.get("/v1/services/orders") { request, _ -> Response in
            count("services.orders")
            let limit = min(200, max(1, Int(request.uri.queryParameters.get("limit") ?? "20") ?? 20))
            return try await answer {
                let orders = try board.withLock { board in
                    try board.catchUp()
                    return board.recent(limit)
                }
                return WebServer.json("[" + orders.map(Self.json).joined(separator: ",") + "]")
            }
        }
        router.get("/v1/services/orders/:id") { _, context -> Response in
            count("services.order")
            let id = try context.parameters.require("id")
            return try await answer {
                let order = try board.withLock { board in
                    try board.catchUp()
                    return board.orders[id]
                }
                guard let order else { return WebServer.problem(.notFound, "no order '\(id)'") }
                return WebServer.json(Self.json(order))
            }
        }
        router.get("/v1/services/sagas/:id") { _, context -> Response in
            count("services.saga")
            let id = try context.parameters.require("id")
            return try await answer {
                let events = try streams.read("saga-\(id)")
                guard !events.isEmpty else { return WebServer.problem(.notFound, "no saga '\(id)'") }
                var json = JSONText()
                json.raw("{\"sagaId\":")
                json.string(id)
                json.raw(",\"events\":[")
                for (index, recorded) in events.enumerated() {
                    let event = try OrderServices.decode(recorded)
                    if index > 0 { json.raw(",") }
                    json.raw("{\"position\":\(recorded.position),\"timestamp\":\(recorded.timestamp),\"type\":")
                    json.string(recorded.type)
                    if let saga = event.saga {
                        json.raw(",\"stepNumber\":\(saga.stepNumber),\"isCompensating\":\(saga.isCompensating)")
                        json.raw(",\"correlationId\":")
                        json.string(saga.correlationId)
                    }
                    json.raw(",\"detail\":")
                    json.string(Self.detail(event))
                    json.raw("}")
                }
                json.raw("]}")
                return WebServer.json(json.text)
            }
        }
        router.get("/v1/services/accounts/:id") { _, context -> Response in
            count("services.account")
            let id = try context.parameters.require("id")
            return try await answer {
                guard let account = try OrderServices.materialize(account: id, in: streams),
                    let version = try streams.version(of: "account-\(id)")
                else { return WebServer.problem(.notFound, "no account '\(id)'") }
                return WebServer.json(
                    #"{"id":"\#(id)","balance":\#(account.balance),"held":\#(account.held),"paid":\#(account.paid),"version":\#(version)}"#
                )
            }
        }
        router.get("/v1/services/items/:id") { _, context -> Response in
            count("services.item")
            let id = try context.parameters.require("id")
            return try await answer {
                var item = CatalogItem(id: id)
                let events = try streams.read("item-\(id)")
                guard !events.isEmpty else { return WebServer.problem(.notFound, "no item '\(id)'") }
                for recorded in events { item.apply(try OrderServices.decode(recorded)) }
                var json = JSONText()
                json.raw("{\"id\":")
                json.string(id)
                json.raw(",\"name\":")
                json.string(item.name)
                json.raw(",\"price\":\(item.price),\"lastUpdatedBy\":")
                json.string(item.lastUpdatedBy)
                json.raw("}")
                return WebServer.json(json.text)
            }
        }
        router.get("/v1/services/stock/:item/:location") { _, context -> Response in
            count("services.stock")
            let item = try context.parameters.require("item"), location = try context.parameters.require("location")
            return try await answer {
                guard let stock = try OrderServices.materialize(stock: item, at: location, in: streams) else {
                    return WebServer.problem(.notFound, "no stock of '\(item)' at '\(location)'")
                }
                return WebServer.json(
                    #"{"item":"\#(item)","location":"\#(location)","onHand":\#(stock.onHand),"reserved":\#(stock.reserved),"availableToPromise":\#(stock.availableToPromise)}"#
                )
            }
        }
    }

    private func answer(_ body: @escaping @Sendable () throws -> Response) async throws -> Response {
        try await WebServer.offload {
            do { return try body() } catch { return WebServer.problem(.internalServerError, "\(error)") }
        }
    }

    /// An order as JSON, with its links.
    static func json(_ order: Order) -> String {
        var json = JSONText()
        json.raw("{\"orderId\":")
        json.string(order.id)
        json.raw(",\"account\":")
        json.string(order.account)
        json.raw(",\"item\":")
        json.string(order.item)
        json.raw(",\"location\":")
        json.string(order.location)
        json.raw(",\"quantity\":\(order.quantity),\"unitPrice\":\(order.unitPrice.map(String.init) ?? "null")")
        json.raw(",\"total\":\(order.total.map(String.init) ?? "null"),\"status\":")
        json.string(order.status.rawValue)
        json.raw(",\"waitingOn\":[")
        json.raw(order.waitingOn.sorted().map { "\"\($0)\"" }.joined(separator: ","))
        json.raw("],\"reason\":")
        json.optionalString(order.reason)
        json.raw(",\"_links\":{\"self\":{\"href\":")
        json.string("/v1/services/orders/\(order.id)")
        json.raw("},\"saga\":{\"href\":")
        json.string("/v1/services/sagas/\(order.id)")
        json.raw("}}}")
        return json.text
    }

    /// A line a person reads in the saga inspector.
    static func detail(_ event: ServiceEvent) -> String {
        switch event {
        case .sagaStarted: "saga started"
        case .stepAnswered(let step, let ok, let reason, _):
            "\(step.name): \(ok ? "succeeded" : "failed — \(reason ?? "")")"
        case .compensationStarted(let reason, let timedOut, _): "\(timedOut ? "timed out" : "compensating"): \(reason)"
        case .stepCompensated(let step, _): "\(step.name) compensated"
        case .sagaEnded(let status, _): "saga ended \(status.rawValue)"
        default: event.type
        }
    }
}
