import EventLogFoundation
import Foundation
import LiveViews

/// Settings of a simulation.
public struct SimulationConfiguration: Sendable {
    /// Drivers placed at each restaurant.
    public var driversPerRestaurant = 1
    /// Seconds between orders at one restaurant at peak demand: uniform in this range (the reference's 60–95 s).
    public var orderIntervalSeconds: ClosedRange<Double> = 60...95
    /// Driving speed in meters per second (default 30 km/h, a realistic city speed).
    public var speedMetersPerSecond = 8.33
    /// Seconds between location updates while driving.
    public var stepSeconds = 5.0
    /// Simulated start, milliseconds since the epoch (default 2024-01-01T10:00:00Z).
    public var startMilliseconds: Int64 = 1_704_103_200_000
    /// The seed: the same seed, restaurants and settings give the same events, byte for byte.
    public var seed: UInt64 = 42
    /// Drivers go offline for `shiftBreakMinutes` after `shiftHours` online (when waiting). `nil`: never.
    public var shiftHours: Double? = nil
    /// Length of a shift break.
    public var shiftBreakMinutes = 30.0
    /// Radius within which a waiting driver takes prepared orders (the dispatch query's 15 km).
    public var dispatchRadiusMeters = 15_000.0
    /// How drivers find prepared orders: the dispatch query against a live view, or the simulator's grid.
    public var dispatch = DispatchMode.grid
    /// The original's order pacing: each restaurant's interval is drawn once, `lowerBound` + round(rand ×
    /// (upperBound − lowerBound)) seconds, and kept, with no demand curve (default: drawn per order, scaled by
    /// the time of day).
    public var fixedOrderIntervals = false
    /// The original's assignment: a driver who accepts an order is placed at its restaurant at once (a
    /// location update there), instead of driving to it.
    public var driverAtStoreOnAssignment = false

    /// The original system's load, exactly (`simulate --profile original`): one driver per restaurant, a
    /// fixed interval per restaurant of 60 s + round(rand × 35 s), drivers placed at the store when
    /// assigned, and about 200 m every 2 s of driving. (The restaurants — its first 50 San Francisco stores by
    /// store number — are the caller's to choose.)
    public static var original: SimulationConfiguration {
        var configuration = SimulationConfiguration()
        configuration.driversPerRestaurant = 1
        configuration.orderIntervalSeconds = 60...95
        configuration.fixedOrderIntervals = true
        configuration.driverAtStoreOnAssignment = true
        configuration.stepSeconds = 2
        configuration.speedMetersPerSecond = 100
        return configuration
    }

    /// The defaults.
    public init() {}
}

/// Which topic an event belongs to.
public enum SimulationTopic: String, Sendable, CaseIterable { case orders, drivers }

/// Receives the simulation's events in order.
public protocol SimulationSink: AnyObject {
    /// One event: topic, key (the aggregate id), JSON value (valid only during the call), event time
    /// (simulated ms).
    func emit(_ topic: SimulationTopic, key: String, value: UnsafeRawBufferPointer, timestamp: Int64) throws
    /// Called at every simulated-second boundary (a deterministic point to write batches out).
    func tick(_ now: Int64) throws
}

/// Counters a progress line shows.
public struct SimulationStatistics: Sendable {
    /// Simulated time (ms).
    public var now: Int64 = 0
    /// Events emitted.
    public var events: Int64 = 0
    /// Orders per status (indexed by `OrderStatus.allCases` order), for orders not yet delivered.
    var counts = [Int](repeating: 0, count: OrderStatus.allCases.count)
    /// Orders per status, for orders not yet delivered.
    public var activeByStatus: [OrderStatus: Int] {
        Dictionary(uniqueKeysWithValues: OrderStatus.allCases.map { ($0, counts[$0.rank]) })
    }
    /// Orders delivered.
    public var delivered: Int64 = 0
    /// Drivers currently delivering.
    public var busyDrivers = 0
    /// Drivers in the world.
    public var drivers = 0
    /// Longest delivery distance so far (m).
    public var maxDeliveryDistance = 0.0
}

/// The order-delivery world as a deterministic discrete-event state machine: a queue of timed actions
/// on a simulated clock, a seeded random generator, and the Order/Driver aggregates. Each action checks
/// its aggregate's precondition (an illegal transition is a bug and throws), emits events to the sink,
/// and schedules what follows.
///
/// Lifecycle of an order: arrives at a restaurant (ORDER_CREATED) → assigned a delivery point
/// (ORDER_ASSIGNED) → preparing → the kitchen works through its backlog (ORDER_PREPARED, now dispatchable)
/// → a waiting driver within 15 km claims the nearest (DRIVER_ASSIGNED / ACCEPTED_ORDER_REQUEST) → drives
/// to the restaurant (LOCATION_UPDATED every step) → ORDER_PICKED_UP → drives the order to the delivery
/// point (ORDER_LOCATION_UPDATED + LOCATION_UPDATED every step) → ORDER_DELIVERED, driver waiting again.
public final class World {
    enum Action: Equatable {
        case orderArrives(restaurant: Int)
        case advanceOrder(order: Int)
        case driverLooks(driver: Int)
        case driverStep(driver: Int)
        case driverShift(driver: Int)
    }

    /// One queued action in 12 bytes, ordered by a single integer comparison: the queue of a world with
    /// tens of thousands of drivers is the simulator's busiest structure.
    struct Scheduled: Comparable {
        /// Milliseconds since the simulation's start in the high 40 bits (35 years), the scheduling
        /// sequence modulo 2^24 in the low 24: earlier first, then first scheduled first. (Should the
        /// sequence wrap between two actions due in the same millisecond, their order is still fixed by
        /// the seed, so runs stay reproducible.)
        var key: UInt64
        /// The action's kind in the top 3 bits, its restaurant, order or driver index in the rest.
        var action: UInt32
        static func < (a: Scheduled, b: Scheduled) -> Bool { a.key < b.key }
    }

    static func pack(_ action: Action) -> UInt32 {
        let (kind, index): (UInt32, Int) =
            switch action {
            case .orderArrives(let r): (0, r)
            case .advanceOrder(let o): (1, o)
            case .driverLooks(let d): (2, d)
            case .driverStep(let d): (3, d)
            case .driverShift(let d): (4, d)
            }
        precondition(index < 1 << 29, "index \(index) does not fit the packed event queue")
        return kind << 29 | UInt32(index)
    }

    static func unpack(_ packed: UInt32) -> Action {
        let index = Int(packed & (1 << 29 - 1))
        switch packed >> 29 {
        case 0: return .orderArrives(restaurant: index)
        case 1: return .advanceOrder(order: index)
        case 2: return .driverLooks(driver: index)
        case 3: return .driverStep(driver: index)
        default: return .driverShift(driver: index)
        }
    }

    /// A driver's delivery in progress. The order lives here (not in `orders`) from the moment a driver
    /// claims it: only that driver touches it, and each step needs no dictionary lookup.
    ///
    /// A class, so each step updates it in place: as a struct in `trips` every step copied it out and
    /// back, retaining each string of its order (a tenth of the simulator's time).
    final class Trip {
        var order: Order
        let leg: GreatCircle
        let steps: Int
        var step = 0
        let delivering: Bool

        init(order: Order, leg: GreatCircle, steps: Int, delivering: Bool) {
            self.order = order
            self.leg = leg
            self.steps = steps
            self.delivering = delivering
        }
    }

    public let configuration: SimulationConfiguration
    public let restaurants: [Restaurant]
    private let sink: any SimulationSink
    // The world's state. A world is confined to one thread, and its actions never hold an access to one
    // property while calling code that could touch it again, so the runtime's exclusivity checks (a
    // tenth of the time of the busiest actions) are turned off for the properties every action uses.
    @exclusivity(unchecked) private var random: SplitMix64
    @exclusivity(unchecked) private var queue = CalendarQueue()
    @exclusivity(unchecked) private var sequence: Int64 = 0
    @exclusivity(unchecked) private(set) public var now: Int64
    private var lastTick: Int64
    @exclusivity(unchecked) private var orders: [Int: Order] = [:]  // active orders only: memory is bounded by them
    private var nextOrderNumber = 0
    @exclusivity(unchecked) private var drivers: [Driver] = []
    private var driverHome: [Int] = []
    @exclusivity(unchecked) private var trips: [Trip?] = []
    private var onlineSince: [Int: Int64] = [:]
    @exclusivity(unchecked) private var kitchenFreeAt: [Int64]
    /// Each restaurant's fixed order interval in seconds (`fixedOrderIntervals`), else empty.
    private var fixedIntervals: [Double] = []
    @exclusivity(unchecked) private var orderRestaurant: [Int: Int] = [:]
    @exclusivity(unchecked) private var dispatch = DispatchIndex()
    private var viewDispatch: ViewDispatch?
    @exclusivity(unchecked) private var eventCounter: Int64 = 0
    private var storesByCity: [String: [Int]] = [:]
    /// One JSON buffer for every event (no allocation per event once it has grown).
    @exclusivity(unchecked) private var writer = JSONWriter(capacity: 4096)
    /// Counters for progress lines and tests.
    @exclusivity(unchecked) public private(set) var statistics = SimulationStatistics()

    /// Builds the world: drivers created, activated and online at their restaurants; first orders scheduled.
    public init(restaurants: [Restaurant], configuration: SimulationConfiguration, sink: any SimulationSink) throws {
        precondition(!restaurants.isEmpty, "a world needs at least one restaurant")
        self.configuration = configuration
        self.restaurants = restaurants
        self.sink = sink
        self.random = SplitMix64(seed: configuration.seed)
        if configuration.dispatch == .view { viewDispatch = try ViewDispatch() }
        self.now = configuration.startMilliseconds
        self.lastTick = configuration.startMilliseconds
        self.kitchenFreeAt = Array(repeating: configuration.startMilliseconds, count: restaurants.count)
        for (i, r) in restaurants.enumerated() {
            storesByCity["\(r.country)|\(r.state)|\(r.city)", default: []].append(i)
        }
        for (r, restaurant) in restaurants.enumerated() {
            for k in 0..<configuration.driversPerRestaurant {
                let index = drivers.count
                var driver = Driver.create(id: "driver-\(restaurant.storeId)-\(k)", at: restaurant.location, now: now)
                try emit(driver, .created)
                try driver.activate(now: now)
                try emit(driver, .activated)
                try driver.goOnline(now: now)
                try emit(driver, .wentOnline)
                driver.move(to: restaurant.location, now: now)
                try emit(driver, .locationUpdated)
                drivers.append(driver)
                driverHome.append(r)
                trips.append(nil)
                onlineSince[index] = now
                schedule(.driverLooks(driver: index), after: 5 + random.nextDouble() * 5)
                if let hours = configuration.shiftHours { schedule(.driverShift(driver: index), after: hours * 3600) }
            }
            schedule(
                .orderArrives(restaurant: r), after: random.nextDouble() * configuration.orderIntervalSeconds.upperBound
            )
        }
        if configuration.fixedOrderIntervals {
            let range = configuration.orderIntervalSeconds
            fixedIntervals = restaurants.map { _ in
                range.lowerBound + (random.nextDouble() * (range.upperBound - range.lowerBound)).rounded()
            }
        }
        statistics.drivers = drivers.count
        statistics.now = now
    }

    // MARK: Running

    /// Runs every action due up to and including `time` (simulated ms).
    public func run(until time: Int64) throws {
        let limit = UInt64(max(0, time - configuration.startMilliseconds)) << 24 | 0xFF_FFFF
        while let next = queue.min(), next.key <= limit {
            _ = queue.popMin()
            try advanceClock(to: configuration.startMilliseconds + Int64(next.key >> 24))
            try perform(Self.unpack(next.action))
        }
        try advanceClock(to: time)
    }

    private func advanceClock(to time: Int64) throws {
        guard time >= now else { return }
        now = time
        while lastTick + 1000 <= now {
            lastTick += 1000
            try sink.tick(lastTick)
        }
        statistics.now = now
    }

    private func schedule(_ action: Action, after seconds: Double) {
        schedule(action, at: now + Int64((seconds * 1000).rounded()))
    }

    private func schedule(_ action: Action, at time: Int64) {
        sequence += 1
        let key = UInt64(time - configuration.startMilliseconds) << 24 | UInt64(sequence & 0xFF_FFFF)
        queue.insert(Scheduled(key: key, action: Self.pack(action)))
    }

    /// Demand relative to peak by hour of day (UTC offset ignored): lunch and dinner peaks, quiet nights.
    static func demand(atMilliseconds ms: Int64) -> Double {
        let hour = Double((ms / 1000) % 86_400) / 3600
        let lunch = exp(-pow((hour - 12.5) / 1.5, 2))
        let dinner = exp(-pow((hour - 19) / 2, 2))
        return max(0.15, min(1, 0.35 + 0.65 * max(lunch, dinner)))
    }

    private func perform(_ action: Action) throws {
        switch action {
        case .orderArrives(let r): try orderArrives(r)
        case .advanceOrder(let o): try advanceOrder(o)
        case .driverLooks(let d): try driverLooks(d)
        case .driverStep(let d): try driverStep(d)
        case .driverShift(let d): try driverShift(d)
        }
    }

    // MARK: Orders

    private func nextEventId() -> EventID {
        eventCounter += 1
        return .sequence(seed: configuration.seed, counter: eventCounter)
    }

    private func emit(_ order: Order, _ type: OrderEventType) throws {
        EventEncoding.order(order, type: type, eventId: nextEventId(), into: &writer)
        try writer.withUnsafeBytes { try sink.emit(.orders, key: order.orderId, value: $0, timestamp: now) }
        if let viewDispatch { writer.withUnsafeBytes { viewDispatch.ingest($0) } }
        statistics.events += 1
    }

    private func emit(_ driver: Driver, _ type: DriverEventType, order: String? = nil) throws {
        EventEncoding.driver(driver, type: type, order: order, eventId: nextEventId(), into: &writer)
        try writer.withUnsafeBytes { try sink.emit(.drivers, key: driver.driverId, value: $0, timestamp: now) }
        statistics.events += 1
    }

    private func orderArrives(_ r: Int) throws {
        let number = nextOrderNumber
        nextOrderNumber += 1
        let restaurant = restaurants[r]
        let order = Order.create(
            id: "order-\(configuration.seed)-\(number)", accountId: "acct-\(Int(random.nextDouble() * 100_000))",
            at: restaurant.location, now: now)
        orders[number] = order
        orderRestaurant[number] = r
        try emit(order, .created)
        statistics.counts[OrderStatus.created.rank] += 1
        schedule(.advanceOrder(order: number), after: 1 + random.nextDouble() * 20)
        if !fixedIntervals.isEmpty {
            schedule(.orderArrives(restaurant: r), after: fixedIntervals[r])
            return
        }
        let interval =
            configuration.orderIntervalSeconds.lowerBound
            + random.nextDouble()
            * (configuration.orderIntervalSeconds.upperBound - configuration.orderIntervalSeconds.lowerBound)
        schedule(.orderArrives(restaurant: r), after: interval / Self.demand(atMilliseconds: now))
    }

    /// The shortest delivery: a store closer than this (store lists round coordinates, so several stores
    /// can share one point) is not a delivery point.
    static let minimumDeliveryMeters = 500.0

    /// A delivery point for an order of restaurant `r` (see ``deliveryPoint(from:sameCity:random:)``).
    func deliveryPoint(for r: Int) -> GeoPoint {
        let restaurant = restaurants[r]
        let sameCity = (storesByCity["\(restaurant.country)|\(restaurant.state)|\(restaurant.city)"] ?? []).filter {
            $0 != r
        }
        return Order.deliveryPoint(from: restaurant, sameCity: sameCity.map { restaurants[$0] }) {
            random.nextDouble()
        }
    }

    private func advanceOrder(_ o: Int) throws {
        guard var order = orders[o] else { return }
        let r = orderRestaurant[o]!
        let before = order.status
        switch order.status {
        case .created:
            let delivery = deliveryPoint(for: r)
            try order.assign(restaurant: restaurants[r], delivery: delivery, now: now)
            try emit(order, .assigned)
            schedule(.advanceOrder(order: o), after: 1 + random.nextDouble() * 20)
        case .assigned:
            try order.prepare(now: now)
            try emit(order, .preparing)
            // The kitchen works through its backlog: each order adds 1–16 s of work.
            let start = max(now, kitchenFreeAt[r])
            kitchenFreeAt[r] = start + Int64((1 + random.nextDouble() * 15) * 1000)
            schedule(.advanceOrder(order: o), at: kitchenFreeAt[r] + Int64((1 + random.nextDouble() * 20) * 1000))
        case .preparing:
            try order.ready(now: now)
            try emit(order, .prepared)
            dispatch.insert(o, at: order.location)
            viewDispatch?.prepared(o, id: order.orderId)
        default:
            return  // later stages are driven by the driver
        }
        orders[o] = order
        statistics.counts[before.rank] -= 1
        statistics.counts[order.status.rank] += 1
    }

    // MARK: Drivers

    private func driverLooks(_ d: Int) throws {
        guard drivers[d].status == .active, drivers[d].availability == .online, drivers[d].activity == .waiting else {
            return
        }
        let found =
            try viewDispatch?.nearest(to: drivers[d].location, within: configuration.dispatchRadiusMeters, now: now)
            ?? (viewDispatch == nil
                ? dispatch.nearest(to: drivers[d].location, within: configuration.dispatchRadiusMeters) : nil)
        guard let o = found else {
            schedule(.driverLooks(driver: d), after: 5)
            return
        }
        // Re-check the order is still prepared and unclaimed, then claim it.
        guard var order = orders[o], order.status == .prepared else {
            return schedule(.driverLooks(driver: d), after: 5)
        }
        dispatch.remove(o, at: order.location)
        viewDispatch?.claimed(id: order.orderId)
        try order.assignDriver(drivers[d].driverId, now: now)
        try drivers[d].accept(order: order.orderId, now: now)
        orders[o] = nil
        orderRestaurant[o] = nil
        try emit(order, .driverAssigned)
        try emit(drivers[d], .acceptedOrderRequest)
        if configuration.driverAtStoreOnAssignment {
            drivers[d].move(to: order.restaurant!.location, now: now)
            try emit(drivers[d], .locationUpdated)
        }
        statistics.counts[OrderStatus.prepared.rank] -= 1
        statistics.counts[OrderStatus.driverAssigned.rank] += 1
        statistics.busyDrivers += 1
        startLeg(d, order: order, to: order.restaurant!.location, delivering: false)
    }

    private func startLeg(_ d: Int, order: Order, to end: GeoPoint, delivering: Bool) {
        let leg = GreatCircle(from: drivers[d].location, to: end)
        let stepMeters = max(1, configuration.speedMetersPerSecond * configuration.stepSeconds)
        let steps = max(1, Int((leg.meters / stepMeters).rounded(.up)))
        trips[d] = Trip(order: order, leg: leg, steps: steps, delivering: delivering)
        schedule(.driverStep(driver: d), after: configuration.stepSeconds)
    }

    private func driverStep(_ d: Int) throws {
        guard let trip = trips[d] else { return }
        trip.step += 1
        let point = trip.step >= trip.steps ? trip.leg.end : trip.leg.point(at: Double(trip.step) / Double(trip.steps))
        drivers[d].move(to: point, now: now)
        try emit(drivers[d], .locationUpdated)
        if trip.delivering {
            trip.order.move(to: point, now: now)
            try emit(trip.order, .locationUpdated)
        }
        if trip.step < trip.steps {
            schedule(.driverStep(driver: d), after: configuration.stepSeconds)
            return
        }
        var order = trip.order
        if !trip.delivering {
            // At the restaurant: pick up, note the order's location, set off.
            try order.pickedUp(now: now)
            try drivers[d].confirm("orderPickedUp", order: order.orderId, now: now)
            try emit(order, .pickedUp)
            try emit(drivers[d], .orderPickedUp)
            order.move(to: point, now: now)
            try emit(order, .locationUpdated)
            try order.deliver(now: now)
            try emit(order, .delivering)
            statistics.counts[OrderStatus.driverAssigned.rank] -= 1
            statistics.counts[OrderStatus.delivering.rank] += 1
            startLeg(d, order: order, to: order.delivery!, delivering: true)
            return
        }
        try order.delivered(now: now)
        try drivers[d].finish(order: order.orderId, now: now)
        try emit(order, .delivered)
        try emit(drivers[d], .orderDelivered, order: order.orderId)
        statistics.maxDeliveryDistance = max(
            statistics.maxDeliveryDistance, Geo.distance(order.restaurant!.location, order.delivery!))
        statistics.counts[OrderStatus.delivering.rank] -= 1
        statistics.delivered += 1
        statistics.busyDrivers -= 1
        trips[d] = nil  // the order is done: memory stays bounded by active orders
        schedule(.driverLooks(driver: d), after: 5)
    }

    private func driverShift(_ d: Int) throws {
        guard let hours = configuration.shiftHours else { return }
        if drivers[d].availability == .online {
            guard drivers[d].activity == .waiting else { return schedule(.driverShift(driver: d), after: 60) }
            try drivers[d].goOffline(now: now)
            try emit(drivers[d], .wentOffline)
            schedule(.driverShift(driver: d), after: configuration.shiftBreakMinutes * 60)
        } else {
            try drivers[d].goOnline(now: now)
            try emit(drivers[d], .wentOnline)
            schedule(.driverLooks(driver: d), after: 1)
            schedule(.driverShift(driver: d), after: hours * 3600)
        }
    }
}

/// Prepared orders on a grid of ~0.05° cells, for "the nearest prepared order within 15 km".
///
/// Answers the dispatch query's question (ORDER_PREPARED, distance < radius, nearest first) from the
/// simulator's own state, for `--dispatch grid`. Ties go to the order prepared first — the order in which
/// the live view's rows were written, so both modes choose alike (a test runs both and compares the logs).
struct DispatchIndex {
    static let cell = 0.05
    private var cells: [Int64: [(order: Int, point: GeoPoint, sequence: Int)]] = [:]
    private var sequence = 0

    static func key(_ latCell: Int, _ lonCell: Int) -> Int64 {
        Int64(latCell) << 32 | Int64(UInt32(bitPattern: Int32(lonCell)))
    }
    static func cellOf(_ p: GeoPoint) -> (Int, Int) {
        (Int((p.latitude / cell).rounded(.down)), Int((p.longitude / cell).rounded(.down)))
    }

    mutating func insert(_ order: Int, at point: GeoPoint) {
        let (a, b) = Self.cellOf(point)
        cells[Self.key(a, b), default: []].append((order, point, sequence))
        sequence += 1
    }

    mutating func remove(_ order: Int, at point: GeoPoint) {
        let (a, b) = Self.cellOf(point)
        let key = Self.key(a, b)
        cells[key]?.removeAll { $0.order == order }
        if cells[key]?.isEmpty == true { cells[key] = nil }
    }

    static let lonCells = Int(360 / cell)  // 7,200

    /// Degrees as the event JSON publishes them (6 decimals).
    static func published(_ degrees: Double) -> Double { (degrees * 1_000_000).rounded() / 1_000_000 }

    /// The distance the dispatch query computes: Pinot's formula from the order's published position (the
    /// event JSON has 6 decimals) to the driver, so grid and view agree to the last bit.
    static func dispatchDistance(order: GeoPoint, driver: GeoPoint) -> Double {
        Geo.distance(
            lon1: published(order.longitude), lat1: published(order.latitude), lon2: driver.longitude,
            lat2: driver.latitude)
    }

    /// The nearest order within `radius` meters, or nil. Searches the cells the radius can reach,
    /// wrapping at the antimeridian; near a pole (where a small radius spans every longitude) it scans
    /// every cell.
    func nearest(to point: GeoPoint, within radius: Double) -> Int? {
        var best: (distance: Double, sequence: Int, order: Int)? = nil
        let metersPerDegree = Geo.earthRadiusMeters * .pi / 180
        func consider(_ entries: [(order: Int, point: GeoPoint, sequence: Int)]) {
            for entry in entries {
                // The latitude gap alone bounds the distance from below (the central angle is at least
                // |Δφ|); an order it puts beyond the radius or the best so far (with a millimetre to spare
                // for rounding) cannot win, so the exact formula's six trigonometric calls are skipped.
                let gap = abs(Self.published(entry.point.latitude) - point.latitude)
                if gap * metersPerDegree - 0.001 >= (best?.distance ?? radius) { continue }
                let d = Self.dispatchDistance(order: entry.point, driver: point)
                guard d < radius else { continue }
                if best == nil || (d, entry.sequence) < (best!.distance, best!.sequence) {
                    best = (d, entry.sequence, entry.order)
                }
            }
        }
        let latSpan = radius / 110_000 + Self.cell
        let cosine = cos(min(89.9, abs(point.latitude) + latSpan) * .pi / 180)
        let lonSpan = radius / (110_000 * cosine) + Self.cell
        if abs(point.latitude) + latSpan >= 89 || 2 * lonSpan >= 360 {
            for entries in cells.values { consider(entries) }
            return best?.order
        }
        let (minA, minB) = Self.cellOf(
            GeoPoint(unchecked: point.longitude - lonSpan, point.latitude - latSpan))
        let (maxA, maxB) = Self.cellOf(
            GeoPoint(unchecked: point.longitude + lonSpan, point.latitude + latSpan))
        // Fewer occupied cells than the rectangle covers: checking them all is cheaper, and just as exact.
        if cells.count <= (maxA - minA + 1) * (maxB - minB + 1) {
            for entries in cells.values { consider(entries) }
            return best?.order
        }
        let half = Self.lonCells / 2
        // The driver's own cell first: the best found there prunes most candidates of the others.
        let (ownA, ownB) = Self.cellOf(point)
        consider(cells[Self.key(ownA, ownB)] ?? [])
        for a in minA...maxA {
            for b in minB...maxB {
                let wrapped = ((b + half) % Self.lonCells + Self.lonCells) % Self.lonCells - half
                if a == ownA && wrapped == ownB { continue }
                consider(cells[Self.key(a, wrapped)] ?? [])
            }
        }
        return best?.order
    }

    /// Every order within `radius` (tests compare `nearest` against it).
    func all(within radius: Double, of point: GeoPoint) -> [(order: Int, distance: Double)] {
        cells.values.flatMap { $0 }.map { ($0.order, Self.dispatchDistance(order: $0.point, driver: point)) }
            .filter { $0.1 < radius }
    }
}
