/// The services' aggregates. Each is the fold of its stream's events (``apply(_:)``); commands decide on the
/// current state and return the event to append (the business rule), never mutate it themselves.

/// An aggregate, and so a stream of the services' topic: `account-<id>`, `stock-<item>@<location>`, `item-<id>`,
/// `order-<id>`, `saga-<id>`. The write side names its streams through this type and so never parses its own
/// stream ids; only events read back from the log are parsed (``init(stream:)``).
enum Aggregate: Hashable, Sendable {
    case account(String)
    /// `<item>@<location>`.
    case stock(String)
    case item(String)
    case order(String)
    case saga(String)
    /// A stream of no service (kept in the log, folded into nothing).
    case other(String)

    var stream: String {
        switch self {
        case .account(let id): "account-" + id
        case .stock(let key): "stock-" + key
        case .item(let id): "item-" + id
        case .order(let id): "order-" + id
        case .saga(let id): "saga-" + id
        case .other(let stream): stream
        }
    }

    init(stream: String) {
        let (kind, id) = Self.split(stream)
        switch kind {
        case "account": self = .account(id)
        case "stock": self = .stock(id)
        case "item": self = .item(id)
        case "order": self = .order(id)
        case "saga": self = .saga(id)
        default: self = .other(stream)
        }
    }

    /// `account-7` → ("account", "7").
    static func split(_ stream: String) -> (kind: String, id: String) {
        guard let dash = stream.utf8.firstIndex(of: UInt8(ascii: "-")) else { return (stream, "") }
        return (String(stream[..<dash]), String(stream[stream.index(after: dash)...]))
    }
}

/// An account. Money only moves between its three places, so `balance + held + paid` changes only by deposits
/// and withdrawals: authorize moves balance → held, release held → balance, payment held → paid, refund
/// paid → held. (Which saga holds what is in the saga's events; the account keeps totals, so its checkpoint
/// stays small however long it lives.)
public struct Account: Codable, Sendable, Hashable {
    public var id: String
    /// Available to spend.
    public var balance: Int64 = 0
    /// Authorized for sagas, not yet paid or released.
    public var held: Int64 = 0
    /// Paid out (refundable while the saga runs).
    public var paid: Int64 = 0
    /// Deposits minus withdrawals, including the opening balance.
    public var netDeposits: Int64 = 0

    public init(id: String) { self.id = id }

    public mutating func apply(_ event: ServiceEvent) {
        switch event {
        case .accountOpened(let amount), .deposited(let amount):
            balance += amount
            netDeposits += amount
        case .withdrawn(let amount):
            balance -= amount
            netDeposits -= amount
        case .authorized(let amount, _):
            balance -= amount
            held += amount
        case .authorizationReleased(let amount, _):
            held -= amount
            balance += amount
        case .paymentCollected(let amount, _):
            held -= amount
            paid += amount
        case .refunded(let amount, _):
            paid -= amount
            held += amount
        case .accountCheckpoint(let account):
            self = account
        default:
            break
        }
    }

    /// The credit check: approved iff the available balance covers the amount.
    func authorize(_ amount: Int64, _ saga: SagaContext) -> ServiceEvent {
        balance >= amount
            ? .authorized(amount: amount, saga: saga)
            : .authorizationDeclined(amount: amount, available: balance, saga: saga)
    }
}

/// Stock of one item at one location. `availableToPromise = onHand − reserved`, never negative: a
/// reservation is granted only from what is available to promise.
public struct Stock: Codable, Sendable, Hashable {
    public var item: String
    public var location: String
    public var onHand = 0
    public var reserved = 0
    /// Units that left the shelf for orders (pulled, not restocked).
    public var pulled = 0
    /// Units ever added from outside a saga (the loader's).
    public var added = 0

    public init(item: String, location: String) {
        self.item = item
        self.location = location
    }

    /// The stock of a stream's key, `<item>@<location>`.
    init(key: String) {
        let parts = key.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        self.init(item: parts[0], location: parts.count > 1 ? parts[1] : "")
    }

    public var availableToPromise: Int { onHand - reserved }

    public mutating func apply(_ event: ServiceEvent) {
        switch event {
        case .stockAdded(let quantity):
            onHand += quantity
            added += quantity
        case .reserved(let quantity, _):
            reserved += quantity
        case .unreserved(let quantity, _):
            reserved -= quantity
        case .pulled(let quantity, _):
            onHand -= quantity
            reserved -= quantity
            pulled += quantity
        case .restocked(let quantity, _):
            onHand += quantity
            reserved += quantity
            pulled -= quantity
        case .stockCheckpoint(let stock):
            self = stock
        default:
            break
        }
    }

    func reserve(_ quantity: Int, _ saga: SagaContext) -> ServiceEvent {
        availableToPromise >= quantity
            ? .reserved(quantity: quantity, saga: saga)
            : .reservationRejected(quantity: quantity, availableToPromise: availableToPromise, saga: saga)
    }
}

/// A catalog item and its price (cents).
public struct CatalogItem: Codable, Sendable, Hashable {
    public var id: String
    public var name = ""
    public var price: Int64 = 0
    public var lastUpdatedBy = ""
    /// The newest captured database change applied (its WAL position; 0: none).
    public var sourceLSN: Int64 = 0

    public init(id: String) { self.id = id }

    public mutating func apply(_ event: ServiceEvent) {
        switch event {
        case .itemAdded(let name, let price):
            self.name = name
            self.price = price
        case .priceChanged(let price, let by, let lsn):
            self.price = price
            lastUpdatedBy = by
            if let lsn { sourceLSN = max(sourceLSN, lsn) }
        default:
            break
        }
    }
}

/// An order as its view shows it: what was asked, the price, the status and the steps it still waits on.
public struct Order: Codable, Sendable, Hashable {
    public var id: String
    public var account = ""
    public var item = ""
    public var location = ""
    public var quantity = 0
    public var unitPrice: Int64?
    public var total: Int64?
    public var status: SagaStatus = .started
    /// The steps its saga waits on (``waitingOn`` by name).
    public var waitingSteps: SagaSteps = []
    public var reason: String?
    public var shipped = false

    public init(id: String) { self.id = id }

    /// The names of the steps its saga waits on (``SagaStep/name``).
    public var waitingOn: Set<String> {
        get { Set(waitingSteps.map(\.name)) }
        set { waitingSteps = SagaSteps(SagaStep.allCases.filter { newValue.contains($0.name) }) }
    }
}

/// The orchestrator's state of one order saga: the fold of its `saga-…` stream.
///
/// Invariants (checked by the tests):
/// - A step is answered at most once; a compensation is recorded only for a step that succeeded, at most once.
/// - Compensation runs in reverse step order over the steps that succeeded, and begins only after every step
///   in flight has answered or the saga timed out (a late answer after a timeout is compensated too).
/// - `sagaEnded` is the last event; its status is COMPLETED (every step succeeded) or COMPENSATED (every
///   succeeded step compensated).
public struct Saga: Codable, Sendable, Hashable {
    public var id: String
    public var order: String
    public var status: SagaStatus = .started
    /// Steps started and not answered.
    public var inFlight: SagaSteps = []
    /// Steps that succeeded, and those compensated since.
    public var succeeded: SagaSteps = []
    public var compensated: SagaSteps = []
    public var failed: SagaSteps = []
    public var timedOut = false
    public var reason: String?
    /// When the saga times out (milliseconds, the engine's clock).
    public var deadline: Int64 = 0

    public init(id: String, order: String) {
        self.id = id
        self.order = order
    }

    public mutating func apply(_ event: ServiceEvent) {
        switch event {
        case .sagaStarted(_, let deadline):
            self.deadline = deadline
            inFlight = [.priceLookup]
        case .stepAnswered(let step, let succeeded, let reason, _):
            inFlight.remove(step)
            if succeeded {
                self.succeeded.insert(step)
                if status == .started { status = .inProgress }
                // The next phase starts when this one is complete and nothing failed.
                if status == .inProgress, inFlight.isEmpty, failed.isEmpty, let next = Self.next(after: step) {
                    inFlight = next.phase
                }
            } else {
                failed.insert(step)
                if self.reason == nil { self.reason = reason }
            }
        case .compensationStarted(let reason, let timedOut, _):
            status = timedOut ? .timedOut : .compensating
            self.timedOut = timedOut
            if self.reason == nil || timedOut { self.reason = reason }
        case .stepCompensated(let step, _):
            compensated.insert(step)
        case .sagaEnded(let status, _):
            self.status = status
            inFlight = []
        default:
            break
        }
    }

    /// Applies `event` to `saga` in place and returns the result (one dictionary access for both).
    static func applying(_ event: ServiceEvent, to saga: inout Saga) -> Saga {
        saga.apply(event)
        return saga
    }

    static func next(after step: SagaStep) -> SagaStep? {
        switch step {
        case .priceLookup: .creditAuthorize
        case .creditAuthorize, .inventoryReserve: .collectPayment
        case .collectPayment, .pullInventory: .ship
        case .ship: nil
        }
    }

    /// The steps still to compensate, last first.
    var toCompensate: [SagaStep] {
        succeeded.subtracting(compensated).subtracting([.priceLookup, .ship]).reversed()
    }
}
