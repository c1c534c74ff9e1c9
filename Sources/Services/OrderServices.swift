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

    // The write side: every aggregate's current state and its stream's version, each aggregate looked up once
    // per command (then reached through its entry).
    private var accountEntries: [String: Entry<Account>] = [:]
    /// By `<item>@<location>`.
    private var stockEntries: [String: Entry<Stock>] = [:]
    private var itemEntries: [String: Entry<CatalogItem>] = [:]
    /// By order id (a saga's id is its order's).
    private var sagaEntries: [String: SagaEntry] = [:]
    /// Sagas not finished.
    private var running: [String: SagaEntry] = [:]
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
                switch Aggregate(stream: recorded.stream) {
                case .account(let id): Self.fold(event, recorded.version, into: entry(account: id))
                case .stock(let key): Self.fold(event, recorded.version, into: entry(stock: key))
                case .item(let id): Self.fold(event, recorded.version, into: entry(item: id))
                case .order(let id): Self.fold(event, recorded.version, into: entry(saga: id).order)
                case .saga(let id):
                    let entry = entry(saga: id)
                    Self.fold(event, recorded.version, into: entry.saga)
                    OrderBoard.apply(sagaState: entry.saga.state, to: &entry.order.state)
                case .other: break
                }
            }
            position = last.position + 1
        }
        for (id, entry) in sagaEntries where entry.saga.version >= 0 && !entry.saga.state.status.isFinal {
            running[id] = entry
        }
        nextOrder = sagaEntries.count
    }

    /// Folds an event read back from the log into its aggregate's entry.
    private static func fold<State: ServiceState>(_ event: ServiceEvent, _ version: Int64, into entry: Entry<State>) {
        entry.state.apply(event)
        entry.version = version
        entry.sinceCheckpoint = event.isCheckpoint ? 0 : entry.sinceCheckpoint + 1
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

    // MARK: - The write side's state

    /// Every account (a copy: for tests and tools; ``account(_:)`` looks one up).
    public var accounts: [String: Account] { accountEntries.mapValues(\.state) }
    /// Every stock, by `<item>@<location>`.
    public var stocks: [String: Stock] { stockEntries.mapValues(\.state) }
    public var items: [String: CatalogItem] { itemEntries.mapValues(\.state) }
    public var orders: [String: Order] { sagaEntries.mapValues(\.order.state) }
    public var sagas: [String: Saga] { sagaEntries.compactMapValues { $0.saga.version < 0 ? nil : $0.saga.state } }
    /// Sagas not finished, by id.
    public var active: Set<String> { Set(running.keys) }
    public var activeCount: Int { running.count }

    public func account(_ id: String) -> Account? { accountEntries[id]?.state }
    public func stock(item: String, at location: String) -> Stock? { stockEntries["\(item)@\(location)"]?.state }
    public func item(_ id: String) -> CatalogItem? { itemEntries[id]?.state }
    public func order(_ id: String) -> Order? { sagaEntries[id]?.order.state }

    private func entry(account id: String) -> Entry<Account> {
        Self.entry(id, in: &accountEntries) { Entry(stream: Aggregate.account(id).stream, state: Account(id: id)) }
    }

    private func entry(stock key: String) -> Entry<Stock> {
        Self.entry(key, in: &stockEntries) { Entry(stream: Aggregate.stock(key).stream, state: Stock(key: key)) }
    }

    private func entry(item id: String) -> Entry<CatalogItem> {
        Self.entry(id, in: &itemEntries) { Entry(stream: Aggregate.item(id).stream, state: CatalogItem(id: id)) }
    }

    private func entry(saga id: String) -> SagaEntry {
        Self.entry(id, in: &sagaEntries) { SagaEntry(id: id) }
    }

    /// The entry under `key`, made and filed by `make` when there is none.
    private static func entry<Value>(_ key: String, in entries: inout [String: Value], _ make: () -> Value) -> Value {
        if let entry = entries[key] { return entry }
        let entry = make()
        entries[key] = entry
        return entry
    }

    // MARK: - Staging and committing

    /// Stages `event` for `entry`'s stream at its current version and folds it into the write side at once; a
    /// checkpoint follows when the stream is due one.
    private func stage<State: ServiceState>(_ entry: Entry<State>, _ id: String, _ event: ServiceEvent) throws {
        try write(entry, id, event)
        entry.state.apply(event)
        // A checkpoint keeps the fold of a long-lived aggregate short.
        entry.sinceCheckpoint += 1
        guard entry.sinceCheckpoint >= configuration.checkpointEvery, let checkpoint = entry.state.checkpoint else {
            return
        }
        entry.sinceCheckpoint = 0
        try write(entry, "\(entry.stream)/checkpoint/\(entry.version + 1)", checkpoint)
    }

    /// Stages a saga event, folds it, and shows the saga's progress on its order. Every saga transition ends
    /// with its write to the saga's stream: a commit may split there.
    private func stage(_ saga: SagaEntry, _ id: String, _ event: ServiceEvent) throws {
        try write(saga.saga, id, event)
        saga.saga.state.apply(event)
        OrderBoard.apply(sagaState: saga.saga.state, to: &saga.order.state)
        endTransition()
    }

    /// Encodes `event` and stages it for `entry`'s stream, expecting the stream's current version.
    private func write<State>(_ entry: Entry<State>, _ id: String, _ event: ServiceEvent) throws {
        if let broken { throw broken }
        let version = entry.version
        try staged.batch.addWrite(
            to: entry.stream, expecting: version < 0 ? .noStream : .exactly(version), id: id, type: event.type
        ) { try event.encode(into: &$0) }
        entry.version += 1
    }

    /// Marks the end of a transition: the writes staged since the last mark must reach the log together.
    private func endTransition() { staged.boundaries.append(staged.batch.writeCount) }

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
        if staged.boundaries.last != staged.batch.writeCount { endTransition() }
        defer { staged = StagedEvents() }
        return staged
    }

    /// Writes staged and not yet committed.
    public var stagedCount: Int { staged.batch.writeCount }

    // MARK: - Account, catalog and inventory commands (outside sagas)

    /// Whether a command with this request id was already applied (a client's retry): then it is not applied
    /// again. Saga events need no such check — the state machine never stages a transition twice.
    private func alreadyApplied(_ requestId: String?) throws -> Bool {
        guard let requestId else { return false }
        return try streams.locate(eventID: requestId) != nil
            || staged.batch.contains(eventID: requestId)
    }

    public func openAccount(_ id: String, balance: Int64) throws {
        guard accountEntries[id] == nil else { throw ServiceError("account \(id) already exists") }
        guard balance >= 0 else { throw ServiceError("an opening balance cannot be negative: \(balance)") }
        try stage(entry(account: id), "account-\(id)/opened", .accountOpened(balance: balance))
        endTransition()
    }

    public func deposit(_ id: String, _ amount: Int64, requestId: String? = nil) throws {
        if try alreadyApplied(requestId) { return }
        guard let account = accountEntries[id] else { throw ServiceError("no account \(id)") }
        guard amount > 0 else { throw ServiceError("a deposit must be positive: \(amount)") }
        try stage(account, requestId ?? UUID().uuidString, .deposited(amount: amount))
        endTransition()
    }

    public func withdraw(_ id: String, _ amount: Int64, requestId: String? = nil) throws {
        if try alreadyApplied(requestId) { return }
        guard let account = accountEntries[id] else { throw ServiceError("no account \(id)") }
        guard amount > 0 else { throw ServiceError("a withdrawal must be positive: \(amount)") }
        guard account.state.balance >= amount else {
            throw ServiceError("account \(id) has \(account.state.balance), cannot withdraw \(amount)")
        }
        try stage(account, requestId ?? UUID().uuidString, .withdrawn(amount: amount))
        endTransition()
    }

    /// Moves money between accounts (a withdrawal and a deposit in one atomic append).
    public func transfer(from: String, to: String, _ amount: Int64, requestId: String? = nil) throws {
        if try alreadyApplied(requestId.map { $0 + "/out" }) { return }
        guard let target = accountEntries[to] else { throw ServiceError("no account \(to)") }
        guard let source = accountEntries[from] else { throw ServiceError("no account \(from)") }
        guard amount > 0 else { throw ServiceError("a transfer must be positive: \(amount)") }
        guard source.state.balance >= amount else {
            throw ServiceError("account \(from) has \(source.state.balance), cannot transfer \(amount)")
        }
        let request = requestId ?? UUID().uuidString
        try stage(source, request + "/out", .withdrawn(amount: amount))
        try stage(target, request + "/in", .deposited(amount: amount))
        endTransition()
    }

    public func addItem(_ id: String, name: String, price: Int64) throws {
        guard itemEntries[id] == nil else { throw ServiceError("item \(id) already exists") }
        guard price > 0 else { throw ServiceError("a price must be positive: \(price)") }
        try stage(entry(item: id), "item-\(id)/added", .itemAdded(name: name, price: price))
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
        guard let item = itemEntries[id] else { throw ServiceError("no item \(id)") }
        guard price > 0 else { throw ServiceError("a price must be positive: \(price)") }
        // A captured change (a snapshot row: 0) no newer than the last captured one applied is old news.
        if let sourceLSN, item.state.sourceLSN > 0, sourceLSN <= item.state.sourceLSN { return false }
        guard item.state.price != price else { return false }
        try stage(item, requestId ?? UUID().uuidString, .priceChanged(price: price, by: by, sourceLSN: sourceLSN))
        endTransition()
        return true
    }

    public func addStock(item: String, location: String, quantity: Int, requestId: String? = nil) throws {
        if try alreadyApplied(requestId) { return }
        guard quantity > 0 else { throw ServiceError("stock added must be positive: \(quantity)") }
        try stage(entry(stock: "\(item)@\(location)"), requestId ?? UUID().uuidString, .stockAdded(quantity: quantity))
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
        guard sagaEntries[orderId] == nil else { throw ServiceError("order \(orderId) already exists") }
        let saga = entry(saga: orderId)
        let context = SagaContext(sagaId: orderId, correlationId: orderId, stepNumber: 0, isCompensating: false)
        try stage(
            saga.order, "order-\(orderId)/created",
            .orderCreated(account: account, item: item, location: location, quantity: quantity))
        try stage(
            saga, "saga-\(orderId)/started",
            .sagaStarted(saga: context, deadline: clock.milliseconds() + configuration.sagaTimeoutMilliseconds))
        running[orderId] = saga
        try drive(saga)
        return orderId
    }

    /// Drives every unfinished saga (after a restart) and times out those past their deadline.
    public func resume() throws {
        for id in running.keys.sorted() { try drive(running[id]!) }
        try checkTimeouts()
    }

    /// Times out every unfinished saga past its deadline and compensates it.
    public func checkTimeouts() throws {
        let now = clock.milliseconds()
        // Usually none is due: only those are sorted (the log gets them in a stable order).
        var due: [SagaEntry] = []
        for entry in running.values {
            let saga = entry.saga.state
            if !saga.timedOut, saga.status != .compensating, now >= saga.deadline { due.append(entry) }
        }
        for entry in due.sorted(by: { $0.id < $1.id }) {
            let saga = entry.saga.state
            let waiting = saga.inFlight.map(\.name).joined(separator: ", ")
            try stage(
                entry, "saga-\(entry.id)/timed-out",
                .compensationStarted(
                    reason: "timed out waiting for \(waiting)", timedOut: true,
                    saga: context(entry.id, step: saga.inFlight.min() ?? .ship, compensating: true)))
            try compensate(entry)
        }
    }

    private func context(_ saga: String, step: SagaStep, compensating: Bool) -> SagaContext {
        SagaContext(sagaId: saga, correlationId: saga, stepNumber: step.rawValue, isCompensating: compensating)
    }

    /// Answers every step in flight that its participant answers now; compensates or finishes when due.
    private func drive(_ entry: SagaEntry) throws {
        while !entry.saga.state.status.isFinal {
            let saga = entry.saga.state
            if saga.status == .compensating || saga.timedOut {
                try compensate(entry)
                return
            }
            guard !saga.inFlight.isEmpty else {
                if let failed = saga.failed.min() {
                    try stage(
                        entry, "saga-\(entry.id)/compensating",
                        .compensationStarted(
                            reason: saga.reason ?? "a step failed", timedOut: false,
                            saga: context(entry.id, step: failed, compensating: true)))
                    try compensate(entry)
                } else if saga.succeeded.contains(.ship) {
                    try finish(entry, .completed, reason: nil)
                }
                return
            }
            var answeredAny = false
            for step in saga.inFlight where try answer(entry, step) { answeredAny = true }
            if !answeredAny { return }  // waiting: a participant has not answered
        }
    }

    /// The entry of the order's account (nil when there is no such account), kept on the saga's entry.
    private func account(of entry: SagaEntry) -> Entry<Account>? {
        if entry.account == nil { entry.account = accountEntries[entry.order.state.account] }
        return entry.account
    }

    /// The entry of the order's stock (created by the first event, a rejected reservation if need be).
    private func stock(of entry: SagaEntry) -> Entry<Stock> {
        if let stock = entry.stock { return stock }
        let order = entry.order.state
        let stock = self.entry(stock: "\(order.item)@\(order.location)")
        entry.stock = stock
        return stock
    }

    /// Runs one step against its participant; stages the participant's event with the saga's answer. False when
    /// the participant does not answer (the saga waits, and may time out).
    private func answer(_ entry: SagaEntry, _ step: SagaStep) throws -> Bool {
        let id = entry.id
        let order = entry.order.state
        let c = context(id, step: step, compensating: false)
        let doID = id + step.suffixes.do
        func answered<State: ServiceState>(
            _ participant: Entry<State>, _ event: ServiceEvent, _ ok: Bool, _ reason: String?
        ) throws {
            try stage(participant, doID, event)
            try stage(
                entry, id + step.suffixes.answer, .stepAnswered(step: step, succeeded: ok, reason: reason, saga: c))
        }
        switch step {
        case .priceLookup:
            if let item = itemEntries[order.item]?.state {
                let total = item.price * Int64(order.quantity)
                try answered(entry.order, .orderPriced(unitPrice: item.price, total: total, saga: c), true, nil)
            } else {
                try answered(
                    entry.order, .orderRejected(reason: "unknown item \(order.item)", saga: c), false,
                    "unknown item \(order.item)")
            }
        case .creditAuthorize:
            guard let account = account(of: entry) else {
                try answered(
                    entry.order, .orderRejected(reason: "unknown account \(order.account)", saga: c), false,
                    "unknown account \(order.account)")
                return true
            }
            let event = account.state.authorize(order.total ?? 0, c)
            if case .authorized = event {
                try answered(account, event, true, nil)
            } else {
                try answered(account, event, false, "credit declined")
            }
        case .inventoryReserve:
            let stock = stock(of: entry)
            let event = stock.state.reserve(order.quantity, c)
            if case .reserved = event {
                try answered(stock, event, true, nil)
            } else {
                try answered(stock, event, false, "out of stock")
            }
        case .collectPayment:
            guard let account = account(of: entry) else { throw ServiceError("saga \(id) has no account") }
            let amount = order.total ?? 0
            if configuration.faults.hits(configuration.faults.paymentFailureRate, id, salt: 1) {
                try answered(
                    account, .paymentFailed(amount: amount, reason: "the payment provider refused", saga: c), false,
                    "payment refused")
            } else {
                try answered(account, .paymentCollected(amount: amount, saga: c), true, nil)
            }
        case .pullInventory:
            try answered(stock(of: entry), .pulled(quantity: order.quantity, saga: c), true, nil)
        case .ship:
            if configuration.faults.hits(configuration.faults.shipNoAnswerRate, id, salt: 2) { return false }
            try answered(entry.order, .orderShipped(saga: c), true, nil)
        }
        return true
    }

    /// Compensates, last first, every step that succeeded and is not compensated yet; then ends the saga.
    private func compensate(_ entry: SagaEntry) throws {
        let id = entry.id
        let order = entry.order.state
        for step in entry.saga.state.toCompensate {
            let c = context(id, step: step, compensating: true)
            let undoID = id + step.suffixes.undo
            let total = order.total ?? 0
            switch step {
            case .creditAuthorize, .collectPayment:
                guard let account = account(of: entry) else { throw ServiceError("saga \(id) has no account") }
                try stage(
                    account, undoID,
                    step == .creditAuthorize
                        ? .authorizationReleased(amount: total, saga: c) : .refunded(amount: total, saga: c))
            case .inventoryReserve:
                try stage(stock(of: entry), undoID, .unreserved(quantity: order.quantity, saga: c))
            case .pullInventory:
                try stage(stock(of: entry), undoID, .restocked(quantity: order.quantity, saga: c))
            case .priceLookup, .ship:
                continue
            }
            try stage(entry, id + step.suffixes.undone, .stepCompensated(step: step, saga: c))
        }
        try finish(entry, .compensated, reason: entry.saga.state.reason)
    }

    private func finish(_ entry: SagaEntry, _ status: SagaStatus, reason: String?) throws {
        let c = context(entry.id, step: .ship, compensating: status != .completed)
        // The order first: a saga write ends a transition (see `stage`), and these two are one.
        try stage(entry.order, entry.id + "/closed", .orderClosed(status: status, reason: reason))
        try stage(entry, entry.id + "/end", .sagaEnded(status: status, saga: c))
        running[entry.id] = nil
        staged.ended.append(entry.id)
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
    var batch = EventStreams.Batch()
    /// Indexes of `batch`'s writes where a transition ends; the last one is its write count.
    var boundaries: [Int] = []
    /// The sagas these events end.
    public internal(set) var ended: [String] = []

    public var isEmpty: Bool { batch.isEmpty }

    /// Appends `other`'s transitions after these (rounds taken one after another, appended as one).
    public mutating func append(_ other: StagedEvents) {
        let base = batch.writeCount
        batch.append(other.batch)
        boundaries += other.boundaries.map { $0 + base }
        ended += other.ended
    }

    /// Below the topic's default record size limit (1 MiB), with room for headers.
    static let batchBytes = 512 << 10

    /// Appends the events in as few record batches as fit the topic's record size: each batch atomic, split
    /// only between transitions, in order — so after a crash the log holds a prefix of whole transitions.
    public func append(to streams: EventStreams) throws {
        var start = 0, end = 0, bytes = 0
        for boundary in boundaries {
            let size = batch.size(ofWrites: end..<boundary)
            if bytes + size > Self.batchBytes && end > start {
                try streams.append(batch, writes: start..<end)
                (start, bytes) = (end, 0)
            }
            bytes += size
            end = boundary
        }
        if start < batch.writeCount { try streams.append(batch, writes: start..<batch.writeCount) }
    }
}

/// A write-side aggregate: its state and how events change it.
protocol ServiceState {
    mutating func apply(_ event: ServiceEvent)
    /// The state as a checkpoint event, for the long-lived aggregates whose streams get them.
    var checkpoint: ServiceEvent? { get }
}

extension ServiceState {
    var checkpoint: ServiceEvent? { nil }
}

extension Account: ServiceState {
    var checkpoint: ServiceEvent? { .accountCheckpoint(self) }
}

extension Stock: ServiceState {
    var checkpoint: ServiceEvent? { .stockCheckpoint(self) }
}

extension CatalogItem: ServiceState {}

extension Order: ServiceState {
    mutating func apply(_ event: ServiceEvent) { OrderBoard.apply(event, to: &self) }
}

extension Saga: ServiceState {}

/// One aggregate of the write side: its state (the fold of its stream, staged events included), its stream and
/// the stream's version.
final class Entry<State: ServiceState> {
    let stream: String
    var state: State
    /// The version of the stream's last event, staged or in the log (-1: no event yet).
    var version: Int64 = -1
    /// Events since the stream's last checkpoint.
    var sinceCheckpoint = 0

    init(stream: String, state: State) {
        self.stream = stream
        self.state = state
    }
}

/// One order saga's entries: its order's and its own stream, and — once a step reached them — its
/// participants', so driving a saga looks nothing up twice.
final class SagaEntry {
    let id: String
    let order: Entry<Order>
    let saga: Entry<Saga>
    var account: Entry<Account>?
    var stock: Entry<Stock>?

    init(id: String) {
        self.id = id
        order = Entry(stream: Aggregate.order(id).stream, state: Order(id: id))
        saga = Entry(stream: Aggregate.saga(id).stream, state: Saga(id: id, order: id))
    }
}

/// A command refused by a business rule, or bad input; the message says which and why.
public struct ServiceError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
