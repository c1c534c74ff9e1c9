public import EventLog
import EventLogFoundation
import Foundation

/// The four services (account, catalog, inventory, order) and the order saga's orchestrator, event-sourced on
/// one topic of ``EventLog/EventStreams``.
///
/// Every command is *business rule → append with an expected version → views from the log*: the rule decides
/// on the aggregate's current state (the fold of its stream), the event goes to the aggregate's stream with
/// the version the decision was made on, and the read side (``OrderBoard``) folds the topic.
///
/// The saga: create → price lookup → (credit authorize ∥ inventory reserve, joined) → (collect payment ∥ pull
/// inventory, joined) → ship. A declined credit check, missing stock, a failed payment or a timeout
/// compensates, in reverse order, every step that succeeded (release, unreserve, refund, restock).
///
/// Invariants:
/// - **Atomic transitions.** A step's effect on a participant (`authorized`, `pulled`, …) and the saga's record
///   of it (`stepAnswered`, `stepCompensated`) are appended in the same record batch (a multi-stream append),
///   so after `kill -9` the log holds both or neither; a restarted engine re-drives exactly the steps whose
///   answer is missing. With the event ids `<saga>/<step>/do|undo` no step is ever applied twice.
/// - **Money is conserved**: per account `balance + held + paid` moves only with deposits and withdrawals.
/// - **Stock**: `availableToPromise = onHand − reserved ≥ 0`; a reservation is granted only from it.
/// - **Every saga ends** COMPLETED or COMPENSATED: a step that does not answer before the saga's deadline
///   times it out (TIMED_OUT), and the succeeded steps are compensated.
///
/// Not thread-safe: one thread drives it (``ServicesEngine`` serialises callers). Commands stage events;
/// ``commit()`` appends everything staged in one batch. A failed append leaves the in-memory state ahead of
/// the log: the instance is then unusable (every call throws) and must be reopened from the log.
public final class OrderServices {
    /// Faults the participants inject, deterministically per saga (so a restart sees the same faults).
    public struct Faults: Sendable {
        /// Fraction of payments the payment provider refuses.
        public var paymentFailureRate = 0.0
        /// Fraction of shipments whose carrier never answers (the saga times out).
        public var shipNoAnswerRate = 0.0
        public init(paymentFailureRate: Double = 0, shipNoAnswerRate: Double = 0) {
            self.paymentFailureRate = paymentFailureRate
            self.shipNoAnswerRate = shipNoAnswerRate
        }

        func hits(_ rate: Double, _ saga: String, salt: UInt64) -> Bool {
            guard rate > 0 else { return false }
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ salt
            for byte in saga.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            return Double(hash % 1_000_000) / 1_000_000 < rate
        }
    }

    public struct Configuration: Sendable {
        /// The topic of the event streams.
        public var topic = "services"
        /// A saga not finished this long after it started times out (milliseconds).
        public var sagaTimeoutMilliseconds: Int64 = 5_000
        /// A checkpoint event every this many events of an account or stock stream.
        public var checkpointEvery = 200
        public var faults = Faults()
        public init() {}
    }

    public let streams: EventStreams
    public let configuration: Configuration
    private let clock: any WallClock

    // The write side: every aggregate's current state and its stream's version.
    public private(set) var accounts: [String: Account] = [:]
    public private(set) var stocks: [String: Stock] = [:]
    public private(set) var items: [String: CatalogItem] = [:]
    public private(set) var orders: [String: Order] = [:]
    public private(set) var sagas: [String: Saga] = [:]
    private var versions: [String: Int64] = [:]
    private var sinceCheckpoint: [String: Int] = [:]
    /// Sagas not finished, by id.
    public private(set) var active: Set<String> = []
    private var staged = StagedEvents()
    private var broken: (any Error)?
    private var nextOrder = 0

    /// Opens the services on `log`, folding every stream of the topic (the write side's state).
    public init(log: Log, configuration: Configuration = Configuration(), clock: any WallClock = SystemClock()) throws {
        self.configuration = configuration
        self.clock = clock
        streams = try EventStreams(log: log, topic: configuration.topic)
        var position: Int64 = 0
        while true {
            let events = try streams.readAll(fromPosition: position, maxCount: 10_000)
            guard let last = events.last else { break }
            for recorded in events {
                let event = try Self.decode(recorded)
                fold(Aggregate(stream: recorded.stream), event)
                versions[recorded.stream] = recorded.version
            }
            position = last.position + 1
        }
        active = Set(sagas.values.filter { !$0.status.isFinal }.map(\.id))
        nextOrder = orders.count
    }

    /// An event read back from the log; a clear error names the stream and version when it is not a service event.
    public static func decode(_ recorded: EventStreams.RecordedEvent) throws -> ServiceEvent {
        do {
            return try JSONDecoder().decode(ServiceEvent.self, from: Data(recorded.data))
        } catch {
            throw EventLogError(
                .corruptData,
                "event \(recorded.version) of stream '\(recorded.stream)' (\(recorded.type)) is not a service event: \(error)"
            )
        }
    }

    /// Applies an event to the write side's aggregate (in place: no copy of the aggregate's state).
    private func fold(_ aggregate: Aggregate, _ event: ServiceEvent) {
        switch aggregate {
        case .account(let id): accounts[id, default: Account(id: id)].apply(event)
        case .stock(let key): stocks[key, default: Stock(key: key)].apply(event)
        case .item(let id): items[id, default: CatalogItem(id: id)].apply(event)
        case .order(let id): OrderBoard.apply(event, to: &orders[id, default: Order(id: id)])
        case .saga(let id):
            let saga = Saga.applying(event, to: &sagas[id, default: Saga(id: id, order: id)])
            OrderBoard.apply(sagaState: saga, to: &orders[id, default: Order(id: id)])
        case .other: break
        }
    }

    // MARK: - Staging and committing

    /// Stages events for one aggregate's stream at its current version, folding them into the write side at once.
    private func stage(_ aggregate: Aggregate, _ events: [(id: String, event: ServiceEvent)]) throws {
        if let broken { throw broken }
        let stream = aggregate.stream
        let data = try events.map {
            EventStreams.EventData(id: $0.id, type: $0.event.type, data: try $0.event.encoded())
        }
        let version = Self.advance(&versions[stream, default: -1], by: events.count)
        for (_, event) in events { fold(aggregate, event) }
        staged.writes.append(
            .init(stream: stream, events: data, expecting: version < 0 ? .noStream : .exactly(version)))
        // Every saga transition ends with its write to the saga's stream: a commit may split there.
        if case .saga = aggregate { endTransition() }
        // A checkpoint keeps the fold of a long-lived aggregate short.
        guard aggregate.isCheckpointed,
            Self.advance(&sinceCheckpoint[stream, default: 0], by: events.count) + events.count
                >= configuration.checkpointEvery,
            let checkpoint = checkpoint(of: aggregate)
        else { return }
        sinceCheckpoint[stream] = 0
        let v = Self.advance(&versions[stream, default: -1], by: 1)
        let event = EventStreams.EventData(
            id: "\(stream)/checkpoint/\(v + 1)", type: checkpoint.type, data: try checkpoint.encoded())
        staged.writes.append(.init(stream: stream, events: [event], expecting: .exactly(v)))
    }

    /// An account's or a stock's state as a checkpoint event (nil for other aggregates).
    private func checkpoint(of aggregate: Aggregate) -> ServiceEvent? {
        switch aggregate {
        case .account(let id): accounts[id].map { .accountCheckpoint($0) }
        case .stock(let key): stocks[key].map { .stockCheckpoint($0) }
        case .item, .order, .saga, .other: nil
        }
    }

    /// Adds `count` to `value` in place (one dictionary lookup through `subscript(_:default:)`); returns the
    /// value before.
    private static func advance<N: BinaryInteger>(_ value: inout N, by count: Int) -> N {
        defer { value += N(count) }
        return value
    }

    /// Marks the end of a transition: the writes staged since the last mark must reach the log together.
    private func endTransition() { staged.boundaries.append(staged.writes.count) }

    /// Appends everything staged (``StagedEvents/append(to:)``). After a failure the instance refuses further
    /// work.
    public func commit() throws {
        let pending = try takeStaged()
        do {
            try pending.append(to: streams)
        } catch {
            broken = error
            throw error
        }
    }

    /// Takes everything staged, whole transitions, for the caller to append — ``ServicesEngine`` appends on
    /// another thread while it stages the next requests. The caller appends what it takes, in the order
    /// taken; until it has, a command's request id staged in it is neither in the log nor staged, so the
    /// caller runs no command with a request id meanwhile (a retry could be applied twice). If that append
    /// fails, this instance is ahead of the log and must not be used again.
    public func takeStaged() throws -> StagedEvents {
        if let broken { throw broken }
        if staged.boundaries.last != staged.writes.count { endTransition() }
        defer { staged = StagedEvents() }
        return staged
    }

    /// Writes staged and not yet committed.
    public var stagedCount: Int { staged.writes.count }

    // MARK: - Account, catalog and inventory commands (outside sagas)

    /// Whether a command with this request id was already applied (a client's retry): then it is not applied
    /// again. Saga events need no such check — the state machine never stages a transition twice.
    private func alreadyApplied(_ requestId: String?) throws -> Bool {
        guard let requestId else { return false }
        return try streams.locate(eventID: requestId) != nil
            || staged.writes.contains { $0.events.contains { $0.id == requestId } }
    }

    public func openAccount(_ id: String, balance: Int64) throws {
        guard accounts[id] == nil else { throw ServiceError("account \(id) already exists") }
        guard balance >= 0 else { throw ServiceError("an opening balance cannot be negative: \(balance)") }
        try stage(.account(id), [("account-\(id)/opened", .accountOpened(balance: balance))])
        endTransition()
    }

    public func deposit(_ id: String, _ amount: Int64, requestId: String? = nil) throws {
        if try alreadyApplied(requestId) { return }
        guard accounts[id] != nil else { throw ServiceError("no account \(id)") }
        guard amount > 0 else { throw ServiceError("a deposit must be positive: \(amount)") }
        try stage(.account(id), [(requestId ?? UUID().uuidString, .deposited(amount: amount))])
        endTransition()
    }

    public func withdraw(_ id: String, _ amount: Int64, requestId: String? = nil) throws {
        if try alreadyApplied(requestId) { return }
        guard let account = accounts[id] else { throw ServiceError("no account \(id)") }
        guard amount > 0 else { throw ServiceError("a withdrawal must be positive: \(amount)") }
        guard account.balance >= amount else {
            throw ServiceError("account \(id) has \(account.balance), cannot withdraw \(amount)")
        }
        try stage(.account(id), [(requestId ?? UUID().uuidString, .withdrawn(amount: amount))])
        endTransition()
    }

    /// Moves money between accounts (a withdrawal and a deposit in one atomic append).
    public func transfer(from: String, to: String, _ amount: Int64, requestId: String? = nil) throws {
        if try alreadyApplied(requestId.map { $0 + "/out" }) { return }
        guard accounts[to] != nil else { throw ServiceError("no account \(to)") }
        guard let source = accounts[from] else { throw ServiceError("no account \(from)") }
        guard amount > 0 else { throw ServiceError("a transfer must be positive: \(amount)") }
        guard source.balance >= amount else {
            throw ServiceError("account \(from) has \(source.balance), cannot transfer \(amount)")
        }
        let request = requestId ?? UUID().uuidString
        try stage(.account(from), [(request + "/out", .withdrawn(amount: amount))])
        try stage(.account(to), [(request + "/in", .deposited(amount: amount))])
        endTransition()
    }

    public func addItem(_ id: String, name: String, price: Int64) throws {
        guard items[id] == nil else { throw ServiceError("item \(id) already exists") }
        guard price > 0 else { throw ServiceError("a price must be positive: \(price)") }
        try stage(.item(id), [("item-\(id)/added", .itemAdded(name: name, price: price))])
        endTransition()
    }

    /// Sets an item's price; returns false when nothing changed (the same price, a request already applied, or
    /// a captured change no newer than one applied: `sourceLSN` orders a row's changes, so reading the capture
    /// topic again — after a restart — never moves a price back).
    @discardableResult
    public func changePrice(
        _ id: String, price: Int64, by: String, requestId: String? = nil, sourceLSN: Int64? = nil
    ) throws -> Bool {
        if try alreadyApplied(requestId) { return false }
        guard let item = items[id] else { throw ServiceError("no item \(id)") }
        guard price > 0 else { throw ServiceError("a price must be positive: \(price)") }
        // A captured change (a snapshot row: 0) no newer than the last captured one applied is old news.
        if let sourceLSN, item.sourceLSN > 0, sourceLSN <= item.sourceLSN { return false }
        guard item.price != price else { return false }
        try stage(
            .item(id),
            [(requestId ?? UUID().uuidString, .priceChanged(price: price, by: by, sourceLSN: sourceLSN))])
        endTransition()
        return true
    }

    public func addStock(item: String, location: String, quantity: Int, requestId: String? = nil) throws {
        if try alreadyApplied(requestId) { return }
        guard quantity > 0 else { throw ServiceError("stock added must be positive: \(quantity)") }
        try stage(.stock("\(item)@\(location)"), [(requestId ?? UUID().uuidString, .stockAdded(quantity: quantity))])
        endTransition()
    }

    // MARK: - The order saga

    /// Creates an order and starts its saga, driving it as far as the participants answer. Returns the order id.
    @discardableResult
    public func placeOrder(account: String, item: String, location: String, quantity: Int, id: String? = nil) throws
        -> String
    {
        guard quantity > 0 else { throw ServiceError("an order needs a positive quantity: \(quantity)") }
        let orderId = id ?? "\(nextOrder)"
        nextOrder += 1
        guard orders[orderId] == nil else { throw ServiceError("order \(orderId) already exists") }
        let context = SagaContext(sagaId: orderId, correlationId: orderId, stepNumber: 0, isCompensating: false)
        try stage(
            .order(orderId),
            [
                (
                    "order-\(orderId)/created",
                    .orderCreated(account: account, item: item, location: location, quantity: quantity)
                )
            ])
        try stage(
            .saga(orderId),
            [
                (
                    "saga-\(orderId)/started",
                    .sagaStarted(saga: context, deadline: clock.milliseconds() + configuration.sagaTimeoutMilliseconds)
                )
            ])
        active.insert(orderId)
        try drive(orderId)
        return orderId
    }

    /// Drives every unfinished saga (after a restart) and times out those past their deadline.
    public func resume() throws {
        for id in active.sorted() { try drive(id) }
        try checkTimeouts()
    }

    /// Times out every unfinished saga past its deadline and compensates it.
    public func checkTimeouts() throws {
        let now = clock.milliseconds()
        // Usually none is due: only those are sorted (the log gets them in a stable order).
        var due: [String] = []
        for id in active {
            if let saga = sagas[id], !saga.timedOut, saga.status != .compensating, now >= saga.deadline {
                due.append(id)
            }
        }
        for id in due.sorted() {
            let saga = sagas[id]!
            let waiting = saga.inFlight.sorted().map(\.name).joined(separator: ", ")
            try stage(
                .saga(id),
                [
                    (
                        "saga-\(id)/timed-out",
                        .compensationStarted(
                            reason: "timed out waiting for \(waiting)", timedOut: true,
                            saga: context(id, step: saga.inFlight.min() ?? .ship, compensating: true))
                    )
                ])
            try compensate(id)
        }
    }

    private func context(_ saga: String, step: SagaStep, compensating: Bool) -> SagaContext {
        SagaContext(sagaId: saga, correlationId: saga, stepNumber: step.rawValue, isCompensating: compensating)
    }

    /// Answers every step in flight that its participant answers now; compensates or finishes when due.
    private func drive(_ id: String) throws {
        while let saga = sagas[id], !saga.status.isFinal {
            if saga.status == .compensating || saga.timedOut {
                try compensate(id)
                return
            }
            guard !saga.inFlight.isEmpty else {
                if !saga.failed.isEmpty {
                    try stage(
                        .saga(id),
                        [
                            (
                                "saga-\(id)/compensating",
                                .compensationStarted(
                                    reason: saga.reason ?? "a step failed", timedOut: false,
                                    saga: context(id, step: saga.failed.min()!, compensating: true))
                            )
                        ])
                    try compensate(id)
                } else if saga.succeeded.contains(.ship) {
                    try finish(id, .completed, reason: nil)
                }
                return
            }
            var answeredAny = false
            for step in saga.inFlight.sorted() where try answer(id, step) { answeredAny = true }
            if !answeredAny { return }  // waiting: a participant has not answered
        }
    }

    /// Runs one step against its participant; stages the participant's event with the saga's answer. False when
    /// the participant does not answer (the saga waits, and may time out).
    private func answer(_ id: String, _ step: SagaStep) throws -> Bool {
        guard let order = orders[id] else { throw ServiceError("saga \(id) has no order") }
        let c = context(id, step: step, compensating: false)
        let doID = "\(id)/\(step.rawValue)/do"
        func answered(_ participant: Aggregate, _ event: ServiceEvent, _ ok: Bool, _ reason: String?) throws {
            try stage(participant, [(doID, event)])
            try stage(
                .saga(id),
                [("\(id)/\(step.rawValue)/answer", .stepAnswered(step: step, succeeded: ok, reason: reason, saga: c))])
        }
        switch step {
        case .priceLookup:
            if let item = items[order.item] {
                let total = item.price * Int64(order.quantity)
                try answered(.order(id), .orderPriced(unitPrice: item.price, total: total, saga: c), true, nil)
            } else {
                try answered(
                    .order(id), .orderRejected(reason: "unknown item \(order.item)", saga: c), false,
                    "unknown item \(order.item)")
            }
        case .creditAuthorize:
            guard let account = accounts[order.account] else {
                try answered(
                    .order(id), .orderRejected(reason: "unknown account \(order.account)", saga: c), false,
                    "unknown account \(order.account)")
                return true
            }
            let event = account.authorize(orders[id]!.total ?? 0, c)
            if case .authorized = event {
                try answered(.account(order.account), event, true, nil)
            } else {
                try answered(.account(order.account), event, false, "credit declined")
            }
        case .inventoryReserve:
            let key = "\(order.item)@\(order.location)"
            let stock = stocks[key] ?? Stock(item: order.item, location: order.location)
            let event = stock.reserve(order.quantity, c)
            if case .reserved = event {
                try answered(.stock(key), event, true, nil)
            } else {
                try answered(.stock(key), event, false, "out of stock")
            }
        case .collectPayment:
            let amount = orders[id]!.total ?? 0
            if configuration.faults.hits(configuration.faults.paymentFailureRate, id, salt: 1) {
                try answered(
                    .account(order.account),
                    .paymentFailed(amount: amount, reason: "the payment provider refused", saga: c), false,
                    "payment refused")
            } else {
                try answered(.account(order.account), .paymentCollected(amount: amount, saga: c), true, nil)
            }
        case .pullInventory:
            try answered(
                .stock("\(order.item)@\(order.location)"), .pulled(quantity: order.quantity, saga: c), true, nil)
        case .ship:
            if configuration.faults.hits(configuration.faults.shipNoAnswerRate, id, salt: 2) { return false }
            try answered(.order(id), .orderShipped(saga: c), true, nil)
        }
        return true
    }

    /// Compensates, last first, every step that succeeded and is not compensated yet; then ends the saga.
    private func compensate(_ id: String) throws {
        guard let saga = sagas[id], let order = orders[id] else { return }
        for step in saga.toCompensate {
            let c = context(id, step: step, compensating: true)
            let undoID = "\(id)/\(step.rawValue)/undo"
            let total = order.total ?? 0
            switch step {
            case .creditAuthorize:
                try stage(.account(order.account), [(undoID, .authorizationReleased(amount: total, saga: c))])
            case .inventoryReserve:
                try stage(
                    .stock("\(order.item)@\(order.location)"),
                    [(undoID, .unreserved(quantity: order.quantity, saga: c))])
            case .collectPayment:
                try stage(.account(order.account), [(undoID, .refunded(amount: total, saga: c))])
            case .pullInventory:
                try stage(
                    .stock("\(order.item)@\(order.location)"), [(undoID, .restocked(quantity: order.quantity, saga: c))]
                )
            case .priceLookup, .ship:
                continue
            }
            try stage(.saga(id), [("\(id)/\(step.rawValue)/undone", .stepCompensated(step: step, saga: c))])
        }
        try finish(id, .compensated, reason: sagas[id]?.reason)
    }

    private func finish(_ id: String, _ status: SagaStatus, reason: String?) throws {
        let c = context(id, step: .ship, compensating: status != .completed)
        // The order first: a saga write ends a transition (see `stage`), and these two are one.
        try stage(.order(id), [("\(id)/closed", .orderClosed(status: status, reason: reason))])
        try stage(.saga(id), [("\(id)/end", .sagaEnded(status: status, saga: c))])
        active.remove(id)
    }

    /// The aggregate of `stream` folded from the log, starting at its last checkpoint: what a service that
    /// keeps no state in memory would do.
    public func materialize(account id: String) throws -> Account? {
        try Self.materialize(account: id, in: streams, checkpointEvery: configuration.checkpointEvery)
    }

    public func materialize(stock item: String, at location: String) throws -> Stock? {
        try Self.materialize(stock: item, at: location, in: streams, checkpointEvery: configuration.checkpointEvery)
    }

    /// An account folded from `streams` (nil when it has no events), reading from its last checkpoint.
    public static func materialize(account id: String, in streams: EventStreams, checkpointEvery: Int = 200) throws
        -> Account?
    {
        let events = try lastCheckpointOnward("account-\(id)", streams, checkpointEvery)
        guard !events.isEmpty else { return nil }
        var account = Account(id: id)
        for recorded in events { account.apply(try decode(recorded)) }
        return account
    }

    /// A stock folded from `streams` (nil when it has no events), reading from its last checkpoint.
    public static func materialize(
        stock item: String, at location: String, in streams: EventStreams, checkpointEvery: Int = 200
    ) throws -> Stock? {
        let events = try lastCheckpointOnward("stock-\(item)@\(location)", streams, checkpointEvery)
        guard !events.isEmpty else { return nil }
        var stock = Stock(item: item, location: location)
        for recorded in events { stock.apply(try decode(recorded)) }
        return stock
    }

    /// The stream's events from its last checkpoint (found from the checkpoint cadence: at most
    /// `checkpointEvery` events are read past it; the whole stream when there is none).
    private static func lastCheckpointOnward(_ stream: String, _ streams: EventStreams, _ checkpointEvery: Int) throws
        -> [EventStreams.RecordedEvent]
    {
        guard let version = try streams.version(of: stream) else { return [] }
        let tail = try streams.read(stream, fromVersion: max(0, version - Int64(checkpointEvery) - 1))
        if let index = tail.lastIndex(where: { $0.type == "accountCheckpoint" || $0.type == "stockCheckpoint" }) {
            return Array(tail[index...])
        }
        return try streams.read(stream)
    }
}

/// Service events staged and not yet in the log, encoded: whole transitions, in order.
public struct StagedEvents: Sendable {
    var writes: [EventStreams.StreamWrite] = []
    /// Indexes into `writes` where a transition ends; the last one is `writes.count`.
    var boundaries: [Int] = []

    public var isEmpty: Bool { writes.isEmpty }

    /// Appends `other`'s transitions after these (rounds taken one after another, appended as one).
    public mutating func append(_ other: StagedEvents) {
        let base = writes.count
        writes += other.writes
        boundaries += other.boundaries.map { $0 + base }
    }

    /// Below the topic's default record size limit (1 MiB), with room for headers.
    static let batchBytes = 512 << 10

    /// Appends the events in as few batches as fit the topic's record size: each batch atomic, split only
    /// between transitions, in order — so after a crash the log holds a prefix of whole transitions.
    public func append(to streams: EventStreams) throws {
        var start = 0, end = 0, bytes = 0
        for boundary in boundaries {
            let size = writes[end..<boundary].reduce(0) { total, write in
                write.events.reduce(total) { $0 + $1.data.count + $1.id.utf8.count + write.stream.utf8.count + 48 }
            }
            if bytes + size > Self.batchBytes && end > start {
                _ = try streams.append(Array(writes[start..<end]))
                (start, bytes) = (end, 0)
            }
            bytes += size
            end = boundary
        }
        if start < writes.count {
            _ = try streams.append(start == 0 ? writes : Array(writes[start...]))
        }
    }
}

/// A command refused by a business rule, or bad input; the message says which and why.
public struct ServiceError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
