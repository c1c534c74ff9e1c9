public import EventLog

/// The query side of the order service (CQRS): every order's status and the steps it still waits on, folded
/// from the services' topic — never from the write side's memory. ``catchUp()`` reads what was appended since
/// the last call, so a board rebuilt from offset 0 equals one that followed along.
public final class OrderBoard {
    public let streams: EventStreams
    public private(set) var orders: [String: Order] = [:]
    private var sagas: [String: Saga] = [:]
    /// Order ids in creation order.
    public private(set) var created: [String] = []
    /// The next topic position to read.
    public private(set) var position: Int64 = 0

    public init(streams: EventStreams) { self.streams = streams }

    /// Folds everything appended since the last call; returns how many events that was.
    @discardableResult
    public func catchUp() throws -> Int {
        var count = 0
        while true {
            let events = try streams.readAll(fromPosition: position, maxCount: 10_000)
            guard let last = events.last else { return count }
            for recorded in events {
                let (kind, id) = Aggregate.split(recorded.stream)
                guard kind == "order" || kind == "saga" else { continue }
                let event = try OrderServices.decode(recorded)
                if kind == "order" {
                    if orders[id] == nil { created.append(id) }
                    Self.apply(event, to: &orders[id, default: Order(id: id)])
                } else {
                    let saga = Saga.applying(event, to: &sagas[id, default: Saga(id: id, order: id)])
                    Self.apply(sagaState: saga, to: &orders[id, default: Order(id: id)])
                }
            }
            count += events.count
            position = last.position + 1
        }
    }

    /// The last `count` orders created, newest first.
    public func recent(_ count: Int) -> [Order] {
        created.suffix(count).reversed().compactMap { orders[$0] }
    }

    /// One saga's events in order, from the log (the saga inspector).
    public func history(ofSaga id: String) throws -> [(type: String, event: ServiceEvent, timestamp: Int64)] {
        try streams.read("saga-\(id)").map { ($0.type, try OrderServices.decode($0), $0.timestamp) }
    }

    /// An order event folded into the order's view.
    static func apply(_ event: ServiceEvent, to order: inout Order) {
        switch event {
        case .orderCreated(let account, let item, let location, let quantity):
            order.account = account
            order.item = item
            order.location = location
            order.quantity = quantity
        case .orderPriced(let unitPrice, let total, _):
            order.unitPrice = unitPrice
            order.total = total
        case .orderRejected(let reason, _):
            order.reason = reason
        case .orderShipped:
            order.shipped = true
        case .orderClosed(let status, let reason):
            order.status = status
            order.waitingSteps = []
            if order.reason == nil { order.reason = reason }
        default:
            break
        }
    }

    /// The saga's progress shown on its order: status and the steps in flight.
    static func apply(sagaState saga: Saga, to order: inout Order) {
        order.status = saga.status
        order.waitingSteps = saga.inFlight
        if order.reason == nil { order.reason = saga.reason }
    }
}
