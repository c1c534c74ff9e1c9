public import EventLogFoundation

/// The eight order statuses, strictly in this order.
public enum OrderStatus: String, Sendable, CaseIterable, Codable, Comparable {
    case created = "ORDER_CREATED", assigned = "ORDER_ASSIGNED", preparing = "ORDER_PREPARING"
    case prepared = "ORDER_PREPARED", driverAssigned = "DRIVER_ASSIGNED", pickedUp = "ORDER_PICKED_UP"
    case delivering = "ORDER_DELIVERING", delivered = "ORDER_DELIVERED"

    var rank: Int {
        switch self {
        case .created: 0
        case .assigned: 1
        case .preparing: 2
        case .prepared: 3
        case .driverAssigned: 4
        case .pickedUp: 5
        case .delivering: 6
        case .delivered: 7
        }
    }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

/// Order event types: one per status plus location updates (allowed in any state).
public enum OrderEventType: String, Sendable, CaseIterable, Codable {
    case created = "ORDER_CREATED", assigned = "ORDER_ASSIGNED", preparing = "ORDER_PREPARING"
    case prepared = "ORDER_PREPARED", driverAssigned = "DRIVER_ASSIGNED", pickedUp = "ORDER_PICKED_UP"
    case delivering = "ORDER_DELIVERING", delivered = "ORDER_DELIVERED", locationUpdated = "ORDER_LOCATION_UPDATED"
}

/// Driver account status.
public enum DriverStatus: String, Sendable, Codable {
    case created = "DRIVER_CREATED", active = "DRIVER_ACTIVE", suspended = "DRIVER_SUSPENDED"
}
/// Driver availability.
public enum DriverAvailability: String, Sendable, Codable { case online = "DRIVER_ONLINE", offline = "DRIVER_OFFLINE" }
/// Driver activity.
public enum DriverActivity: String, Sendable, Codable {
    case waiting = "DRIVER_WAITING", delivering = "DRIVER_DELIVERING", accountPending = "ACCOUNT_PENDING"
}

/// The twelve driver event types.
public enum DriverEventType: String, Sendable, CaseIterable, Codable {
    case created = "DRIVER_CREATED", activated = "ACCOUNT_ACTIVATED", wentOnline = "DRIVER_WENT_ONLINE"
    case wentOffline = "DRIVER_WENT_OFFLINE", locationUpdated = "LOCATION_UPDATED"
    case receivedOrderRequest = "RECEIVED_ORDER_REQUEST", acceptedOrderRequest = "ACCEPTED_ORDER_REQUEST"
    case declinedOrderRequest = "DECLINED_ORDER_REQUEST", orderPickedUp = "ORDER_PICKED_UP"
    case orderDelivering = "ORDER_DELIVERING", orderDelivered = "ORDER_DELIVERED", suspended = "ACCOUNT_SUSPENDED"
}

/// A command sent to an aggregate in a state that does not allow it.
public struct IllegalTransition: Error, Sendable, CustomStringConvertible {
    /// `Order` or `Driver`.
    public var aggregate: String
    /// The aggregate id.
    public var id: String
    /// The command.
    public var command: String
    /// The state it was in.
    public var state: String
    public var description: String { "\(aggregate) \(id): \(command) is not allowed in state \(state)" }
}

/// The Order aggregate: commands check their precondition and return the event they cause.
public struct Order: Sendable, Hashable {
    public var orderId: String
    public var status: OrderStatus
    public var location: GeoPoint
    public var accountId: String
    public var driverId: String?
    public var delivery: GeoPoint?
    public var restaurant: Restaurant?
    public var createdAt: Int64
    public var lastModified: Int64

    /// `create order {accountId}` → ORDER_CREATED.
    public static func create(id: String, accountId: String, at location: GeoPoint, now: Int64) -> Order {
        Order(
            orderId: id, status: .created, location: location, accountId: accountId, driverId: nil, delivery: nil,
            restaurant: nil, createdAt: now, lastModified: now)
    }

    private mutating func advance(_ command: String, from required: OrderStatus, to next: OrderStatus, now: Int64)
        throws
    {
        guard status == required else {
            throw IllegalTransition(aggregate: "Order", id: orderId, command: command, state: status.rawValue)
        }
        status = next
        lastModified = now
    }

    /// assignOrder(restaurant): sets the restaurant and a delivery point.
    public mutating func assign(restaurant: Restaurant, delivery: GeoPoint, now: Int64) throws {
        try advance("assignOrder", from: .created, to: .assigned, now: now)
        self.restaurant = restaurant
        self.delivery = delivery
        self.location = restaurant.location
    }
    /// prepareOrder.
    public mutating func prepare(now: Int64) throws {
        try advance("prepareOrder", from: .assigned, to: .preparing, now: now)
    }
    /// orderReady.
    public mutating func ready(now: Int64) throws {
        try advance("orderReady", from: .preparing, to: .prepared, now: now)
    }
    /// assignDriver(driverId): the driver must be active, online and waiting (checked by the driver).
    public mutating func assignDriver(_ id: String, now: Int64) throws {
        try advance("assignDriver", from: .prepared, to: .driverAssigned, now: now)
        driverId = id
    }
    /// orderPickedUp.
    public mutating func pickedUp(now: Int64) throws {
        try advance("orderPickedUp", from: .driverAssigned, to: .pickedUp, now: now)
    }
    /// deliverOrder.
    public mutating func deliver(now: Int64) throws {
        try advance("deliverOrder", from: .pickedUp, to: .delivering, now: now)
    }
    /// orderDelivered.
    public mutating func delivered(now: Int64) throws {
        try advance("orderDelivered", from: .delivering, to: .delivered, now: now)
    }
    /// updateOrderLocation: allowed in any state.
    public mutating func move(to point: GeoPoint, now: Int64) {
        location = point
        lastModified = now
    }
    /// A delivery point: another store of the same city 500 m to 15 km away (one of `sameCity`, chosen by one
    /// draw of `random`, a number in [0, 1)), else a point 2.5–5 km away at a random bearing (two draws).
    public static func deliveryPoint(from restaurant: Restaurant, sameCity: [Restaurant], random: () -> Double)
        -> GeoPoint
    {
        let neighbours = sameCity.filter {
            let meters = Geo.distance($0.location, restaurant.location)
            return meters >= World.minimumDeliveryMeters && meters <= 15_000
        }
        if !neighbours.isEmpty {
            return neighbours[Int(random() * Double(neighbours.count))].location
        }
        return Geo.destination(from: restaurant.location, meters: 2_500 + random() * 2_500, bearing: random() * 360)
    }

    /// updateOrderStatus (the original's admin command): sets any status, skipping the state machine.
    public mutating func force(_ next: OrderStatus, now: Int64) {
        status = next
        lastModified = now
    }
}

/// The Driver aggregate.
public struct Driver: Sendable, Hashable {
    public var driverId: String
    public var status: DriverStatus = .created
    public var availability: DriverAvailability = .offline
    public var activity: DriverActivity = .accountPending
    public var location: GeoPoint
    public var orderId: String?
    public var createdAt: Int64
    public var lastModified: Int64

    /// DRIVER_CREATED.
    public static func create(id: String, at location: GeoPoint, now: Int64) -> Driver {
        Driver(driverId: id, location: location, createdAt: now, lastModified: now)
    }

    private func illegal(_ command: String) -> IllegalTransition {
        IllegalTransition(
            aggregate: "Driver", id: driverId, command: command,
            state: "\(status.rawValue)/\(availability.rawValue)/\(activity.rawValue)")
    }

    /// activateAccount: CREATED or SUSPENDED → ACTIVE, WAITING.
    public mutating func activate(now: Int64) throws {
        guard status == .created || status == .suspended else { throw illegal("activateAccount") }
        status = .active
        activity = .waiting
        lastModified = now
    }
    /// driverOnline: ACTIVE and OFFLINE.
    public mutating func goOnline(now: Int64) throws {
        guard status == .active, availability == .offline else { throw illegal("driverOnline") }
        availability = .online
        lastModified = now
    }
    /// driverOffline: ACTIVE and ONLINE (and not in the middle of a delivery).
    public mutating func goOffline(now: Int64) throws {
        guard status == .active, availability == .online, activity == .waiting else { throw illegal("driverOffline") }
        availability = .offline
        lastModified = now
    }
    /// updateDriverLocation: any state.
    public mutating func move(to point: GeoPoint, now: Int64) {
        location = point
        lastModified = now
    }
    /// Accepting an order: ACTIVE + ONLINE + WAITING → DELIVERING.
    public mutating func accept(order: String, now: Int64) throws {
        guard status == .active, availability == .online, activity == .waiting else { throw illegal("assignDriver") }
        activity = .delivering
        orderId = order
        lastModified = now
    }
    /// Checks the driver is delivering `order` (pickup and delivering steps).
    public mutating func confirm(_ command: String, order: String, now: Int64) throws {
        guard activity == .delivering, orderId == order else { throw illegal(command) }
        lastModified = now
    }
    /// Suspends the account (ACCOUNT_SUSPENDED): an ACTIVE driver who is not delivering goes SUSPENDED and
    /// offline; activateAccount brings it back.
    public mutating func suspend(now: Int64) throws {
        guard status == .active, activity != .delivering else { throw illegal("suspendDriver") }
        status = .suspended
        availability = .offline
        lastModified = now
    }
    /// updateDriverStatus (the original's admin command): sets the account status, skipping the checks.
    public mutating func force(_ next: DriverStatus, now: Int64) {
        status = next
        if next == .active, activity == .accountPending { activity = .waiting }
        if next != .active { availability = .offline }
        lastModified = now
    }
    /// orderDelivered: DELIVERING → WAITING.
    public mutating func finish(order: String, now: Int64) throws {
        guard activity == .delivering, orderId == order else { throw illegal("orderDelivered") }
        activity = .waiting
        orderId = nil
        lastModified = now
    }
}
