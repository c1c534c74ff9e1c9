import Foundation

/// Which saga step an event belongs to: every event a saga causes carries it (domain.md §2).
public struct SagaContext: Codable, Sendable, Hashable {
    /// The saga (one per order: `saga-<order>`).
    public var sagaId: String
    /// The request that started it (the order id).
    public var correlationId: String
    /// The step (``SagaStep/rawValue``).
    public var stepNumber: Int
    /// True for a compensation (the undo of step `stepNumber`).
    public var isCompensating: Bool

    public init(sagaId: String, correlationId: String, stepNumber: Int, isCompensating: Bool) {
        self.sagaId = sagaId
        self.correlationId = correlationId
        self.stepNumber = stepNumber
        self.isCompensating = isCompensating
    }
}

/// Every event of the four services and the saga. Amounts are cents; quantities are units.
///
/// Stored in one topic as event streams (``EventLog/EventStreams``): the stream is the aggregate
/// (`account-…`, `stock-<item>@<location>`, `item-…`, `order-…`, `saga-…`), the event type header is the
/// case name, the value this enum's JSON.
public enum ServiceEvent: Codable, Sendable, Hashable {
    // Account
    case accountOpened(balance: Int64)
    case deposited(amount: Int64)
    case withdrawn(amount: Int64)
    /// Credit check approved: the amount moves from the balance into a hold for the saga.
    case authorized(amount: Int64, saga: SagaContext)
    case authorizationDeclined(amount: Int64, available: Int64, saga: SagaContext)
    /// Compensation of `authorized`: the hold goes back to the balance.
    case authorizationReleased(amount: Int64, saga: SagaContext)
    /// The hold is paid out (to the shop).
    case paymentCollected(amount: Int64, saga: SagaContext)
    case paymentFailed(amount: Int64, reason: String, saga: SagaContext)
    /// Compensation of `paymentCollected`: the payment comes back as a hold.
    case refunded(amount: Int64, saga: SagaContext)
    /// A checkpoint: the whole account, so a fold starts here.
    case accountCheckpoint(Account)

    // Inventory (one stream per item and location)
    case stockAdded(quantity: Int)
    case reserved(quantity: Int, saga: SagaContext)
    case reservationRejected(quantity: Int, availableToPromise: Int, saga: SagaContext)
    /// Compensation of `reserved`.
    case unreserved(quantity: Int, saga: SagaContext)
    /// The reserved units leave the shelf.
    case pulled(quantity: Int, saga: SagaContext)
    /// Compensation of `pulled`: the units are back on the shelf, reserved again.
    case restocked(quantity: Int, saga: SagaContext)
    case stockCheckpoint(Stock)

    // Catalog
    case itemAdded(name: String, price: Int64)
    /// A new price; `sourceLSN` is the WAL position of the database change it came from, when captured.
    case priceChanged(price: Int64, by: String, sourceLSN: Int64?)

    // Order
    case orderCreated(account: String, item: String, location: String, quantity: Int)
    case orderPriced(unitPrice: Int64, total: Int64, saga: SagaContext)
    case orderRejected(reason: String, saga: SagaContext)
    case orderShipped(saga: SagaContext)
    /// The saga ended: the order's final status.
    case orderClosed(status: SagaStatus, reason: String?)

    // Saga
    case sagaStarted(saga: SagaContext, deadline: Int64)
    /// A step's answer: success or failure (`reason`).
    case stepAnswered(step: SagaStep, succeeded: Bool, reason: String?, saga: SagaContext)
    case compensationStarted(reason: String, timedOut: Bool, saga: SagaContext)
    case stepCompensated(step: SagaStep, saga: SagaContext)
    case sagaEnded(status: SagaStatus, saga: SagaContext)

    /// The event type stored in the `eventType` header.
    public var type: String {
        switch self {
        case .accountOpened: "accountOpened"
        case .deposited: "deposited"
        case .withdrawn: "withdrawn"
        case .authorized: "authorized"
        case .authorizationDeclined: "authorizationDeclined"
        case .authorizationReleased: "authorizationReleased"
        case .paymentCollected: "paymentCollected"
        case .paymentFailed: "paymentFailed"
        case .refunded: "refunded"
        case .accountCheckpoint: "accountCheckpoint"
        case .stockAdded: "stockAdded"
        case .reserved: "reserved"
        case .reservationRejected: "reservationRejected"
        case .unreserved: "unreserved"
        case .pulled: "pulled"
        case .restocked: "restocked"
        case .stockCheckpoint: "stockCheckpoint"
        case .itemAdded: "itemAdded"
        case .priceChanged: "priceChanged"
        case .orderCreated: "orderCreated"
        case .orderPriced: "orderPriced"
        case .orderRejected: "orderRejected"
        case .orderShipped: "orderShipped"
        case .orderClosed: "orderClosed"
        case .sagaStarted: "sagaStarted"
        case .stepAnswered: "stepAnswered"
        case .compensationStarted: "compensationStarted"
        case .stepCompensated: "stepCompensated"
        case .sagaEnded: "sagaEnded"
        }
    }

    /// Whether it is an aggregate's checkpoint.
    var isCheckpoint: Bool {
        switch self {
        case .accountCheckpoint, .stockCheckpoint: true
        default: false
        }
    }

    /// The saga step this event belongs to, if any.
    public var saga: SagaContext? {
        switch self {
        case .authorized(_, let s), .authorizationDeclined(_, _, let s), .authorizationReleased(_, let s),
            .paymentCollected(_, let s), .paymentFailed(_, _, let s), .refunded(_, let s),
            .reserved(_, let s), .reservationRejected(_, _, let s), .unreserved(_, let s), .pulled(_, let s),
            .restocked(_, let s), .orderPriced(_, _, let s), .orderRejected(_, let s), .orderShipped(let s),
            .sagaStarted(let s, _), .stepAnswered(_, _, _, let s), .compensationStarted(_, _, let s),
            .stepCompensated(_, let s), .sagaEnded(_, let s):
            return s
        default:
            return nil
        }
    }
}

/// The order saga's steps, in order. Steps 2 ∥ 3 and 4 ∥ 5 run in parallel and are joined.
public enum SagaStep: Int, Codable, Sendable, Hashable, CaseIterable, Comparable {
    case priceLookup = 1
    case creditAuthorize = 2
    case inventoryReserve = 3
    case collectPayment = 4
    case pullInventory = 5
    case ship = 6

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// The steps that run together with this one (a phase).
    var phase: SagaSteps {
        switch self {
        case .priceLookup: [.priceLookup]
        case .creditAuthorize, .inventoryReserve: [.creditAuthorize, .inventoryReserve]
        case .collectPayment, .pullInventory: [.collectPayment, .pullInventory]
        case .ship: [.ship]
        }
    }

    /// The endings of its event ids (`<saga>/<step>/do`, …), made once instead of interpolated per event.
    var suffixes: (do: String, answer: String, undo: String, undone: String) { Self.suffixTable[rawValue - 1] }

    private static let suffixTable = allCases.map { step in
        ("/\(step.rawValue)/do", "/\(step.rawValue)/answer", "/\(step.rawValue)/undo", "/\(step.rawValue)/undone")
    }

    /// The name an order view shows in its "waiting on" set.
    public var name: String {
        switch self {
        case .priceLookup: "price"
        case .creditAuthorize: "credit"
        case .inventoryReserve: "reserve"
        case .collectPayment: "payment"
        case .pullInventory: "pull"
        case .ship: "ship"
        }
    }
}

/// A set of saga steps, a bit per step: the saga's bookkeeping (in flight, succeeded, …) changes with every
/// event of every order, and a `Set<SagaStep>` hashed and allocated each time. Iterates in step order.
public struct SagaSteps: Sequence, ExpressibleByArrayLiteral, Codable, Sendable, Hashable {
    private var bits: UInt8 = 0

    public init() {}
    public init(arrayLiteral steps: SagaStep...) { self.init(steps) }
    public init(_ steps: some Sequence<SagaStep>) { for step in steps { insert(step) } }

    private static func bit(_ step: SagaStep) -> UInt8 { 1 << UInt8(step.rawValue) }

    public var isEmpty: Bool { bits == 0 }
    public func contains(_ step: SagaStep) -> Bool { bits & Self.bit(step) != 0 }
    public mutating func insert(_ step: SagaStep) { bits |= Self.bit(step) }
    public mutating func remove(_ step: SagaStep) { bits &= ~Self.bit(step) }
    public func subtracting(_ other: SagaSteps) -> SagaSteps {
        var result = self
        result.bits &= ~other.bits
        return result
    }

    public func makeIterator() -> some IteratorProtocol<SagaStep> {
        let bits = bits
        return SagaStep.allCases.lazy.filter { bits & Self.bit($0) != 0 }.makeIterator()
    }

    /// Encoded as the list of steps.
    public init(from decoder: any Decoder) throws { self.init(try [SagaStep](from: decoder)) }
    public func encode(to encoder: any Encoder) throws { try Array(self).encode(to: encoder) }
}

/// A saga's status (domain.md §2).
public enum SagaStatus: String, Codable, Sendable, Hashable, CaseIterable {
    case started = "STARTED"
    case inProgress = "IN_PROGRESS"
    case completed = "COMPLETED"
    case compensating = "COMPENSATING"
    case compensated = "COMPENSATED"
    case failed = "FAILED"
    case timedOut = "TIMED_OUT"

    /// No further step will run.
    public var isFinal: Bool { self == .completed || self == .compensated || self == .failed }
}
