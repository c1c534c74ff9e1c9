import EventLogFoundation
import Foundation

/// Writes the reference's event JSON directly into bytes: the simulator's hot path, so no Codable and no
/// intermediate dictionaries (fields in a fixed order, so a seed gives identical bytes).
struct JSONWriter {
    /// The output buffer, owned by a class so appends write through a pointer: no uniqueness check or
    /// array bookkeeping per byte (they dominated the simulator's profile).
    final class Storage {
        var base: UnsafeMutablePointer<UInt8>
        var capacity: Int
        init(capacity: Int) {
            self.capacity = max(64, capacity)
            base = .allocate(capacity: self.capacity)
        }
        deinit { base.deallocate() }
        func grow(to needed: Int) {
            let bigger = max(needed, capacity * 2)
            let new = UnsafeMutablePointer<UInt8>.allocate(capacity: bigger)
            new.update(from: base, count: capacity)
            base.deallocate()
            base = new
            capacity = bigger
        }
    }
    private let storage: Storage
    private(set) var count = 0
    private var needsComma = false

    init(capacity: Int = 1024) { storage = Storage(capacity: capacity) }

    /// The bytes written so far.
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: storage.base, count: count)) }

    /// Calls `body` with the bytes written so far (valid only during the call).
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.base, count: count))
    }

    /// Empties the writer, keeping its buffer (one writer serves every event of a world).
    mutating func reset() {
        count = 0
        needsComma = false
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        if count == storage.capacity { storage.grow(to: count + 1) }
        storage.base[count] = byte
        count += 1
    }

    @inline(__always)
    private mutating func append(contentsOf source: UnsafeRawBufferPointer) {
        guard let from = source.baseAddress, !source.isEmpty else { return }
        if count + source.count > storage.capacity { storage.grow(to: count + source.count) }
        Self.copy(from, to: UnsafeMutableRawPointer(storage.base + count), source.count)
        count += source.count
    }

    /// Copies `n` bytes: short runs (every key and most values are under 32 bytes) as overlapping 8-byte
    /// words in line, since a call to `memmove` per field cost more than the copy itself.
    @inline(__always)
    private static func copy(_ from: UnsafeRawPointer, to: UnsafeMutableRawPointer, _ n: Int) {
        if n >= 8 && n <= 32 {
            var at = 0
            while at + 8 < n {
                to.storeBytes(
                    of: from.loadUnaligned(fromByteOffset: at, as: UInt64.self), toByteOffset: at, as: UInt64.self)
                at += 8
            }
            to.storeBytes(
                of: from.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self), toByteOffset: n - 8, as: UInt64.self)
        } else if n < 8 {
            for at in 0..<n {
                to.storeBytes(of: from.load(fromByteOffset: at, as: UInt8.self), toByteOffset: at, as: UInt8.self)
            }
        } else {
            to.copyMemory(from: from, byteCount: n)
        }
    }

    @inline(__always)
    private mutating func append(contentsOf source: UnsafeBufferPointer<UInt8>) {
        append(contentsOf: UnsafeRawBufferPointer(source))
    }

    private mutating func append(contentsOf source: [UInt8]) {
        source.withUnsafeBytes { append(contentsOf: $0) }
    }

    /// `"name":"<prefix>-<seed>-<counter>"` without building a String.
    mutating func idField(_ name: StaticString, prefix: StaticString, _ a: UInt64, _ b: Int64) {
        key(name)
        append(UInt8(ascii: "\""))
        prefix.withUTF8Buffer { append(contentsOf: $0) }
        append(UInt8(ascii: "-"))
        appendDigits(a)
        append(UInt8(ascii: "-"))
        appendDigits(b.magnitude)
        append(UInt8(ascii: "\""))
    }

    mutating func begin() {
        append(UInt8(ascii: "{"))
        needsComma = false
    }
    mutating func end() {
        append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func key(_ name: StaticString) {
        // `,"name":` in one go: one capacity check, then plain stores.
        let length = name.utf8CodeUnitCount
        if count + length + 4 > storage.capacity { storage.grow(to: count + length + 4) }
        let out = storage.base + count
        var at = 0
        if needsComma {
            out[0] = UInt8(ascii: ",")
            at = 1
        }
        out[at] = UInt8(ascii: "\"")
        Self.copy(name.utf8Start, to: out + at + 1, length)
        out[at + 1 + length] = UInt8(ascii: "\"")
        out[at + 2 + length] = UInt8(ascii: ":")
        count += at + 3 + length
        needsComma = true
    }

    private mutating func null() {
        append(UInt8(ascii: "n"))
        append(UInt8(ascii: "u"))
        append(UInt8(ascii: "l"))
        append(UInt8(ascii: "l"))
    }

    mutating func field(_ name: StaticString, _ value: String?) {
        key(name)
        guard var value else { return null() }
        append(UInt8(ascii: "\""))
        value.withUTF8 { utf8 in
            // Fast path: nothing to escape (ids, statuses, city names) — one copy.
            if !Self.needsEscaping(UnsafeRawBufferPointer(utf8)) {
                append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    append(UInt8(ascii: "\\"))
                    append(byte)
                case 0..<0x20:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    append(contentsOf: [
                        UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        hex[Int(byte >> 4)], hex[Int(byte & 15)],
                    ])
                default: append(byte)
                }
            }
        }
        append(UInt8(ascii: "\""))
    }

    /// Whether `text` holds a byte JSON must escape (a control character, a quote or a backslash), tested
    /// eight bytes at a time: every event carries a dozen strings, and a byte loop showed in profiles.
    /// A word flagged by the bit tricks is rechecked byte by byte, so a false alarm costs only time.
    @inline(__always)
    static func needsEscaping(_ text: UnsafeRawBufferPointer) -> Bool {
        guard let base = text.baseAddress else { return false }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
        var index = 0
        while index + 8 <= text.count {
            let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            // A byte below 0x20 (bytes ≥ 0x80 have their high bit set in `word`, so `~word` clears it),
            // a quote, a backslash.
            if (word &- ones &* 0x20) & ~word & highs != 0 || hasZeroByte(word ^ (ones &* 0x22))
                || hasZeroByte(word ^ (ones &* 0x5C))
            {
                return true
            }
            index += 8
        }
        while index < text.count {
            let byte = base.load(fromByteOffset: index, as: UInt8.self)
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return true }
            index += 1
        }
        return false
    }

    /// Two ASCII digits for each of 00…99: `appendDigits` writes two per division.
    private static let digitPairs: [UInt8] = (0..<100).flatMap { (n: Int) -> [UInt8] in
        [UInt8(ascii: "0") + UInt8(n / 10), UInt8(ascii: "0") + UInt8(n % 10)]
    }
    /// 10⁰ … 10¹⁹.
    private static let powersOfTen: [UInt64] = (0...19).map { (n: Int) -> UInt64 in
        (0..<n).reduce(1) { product, _ in product * 10 }
    }

    /// Appends the decimal digits of `value`, zero-padded to `minimumDigits` (no allocation).
    mutating func appendDigits(_ value: UInt64, minimumDigits: Int = 1) {
        // The digit count from the bit length (log10 2 ≈ 1233/4096) and one comparison, then two digits
        // per division written backwards straight into the buffer.
        let bits = 64 - (value | 1).leadingZeroBitCount
        var digits = (bits &* 1233) >> 12
        if value >= Self.powersOfTen[digits] { digits += 1 }
        digits = max(digits, minimumDigits, 1)
        if count + digits > storage.capacity { storage.grow(to: count + digits) }
        let out = storage.base + count
        Self.digitPairs.withUnsafeBufferPointer { pairs in
            var at = digits
            var v = value
            while v >= 100 {
                let pair = Int(truncatingIfNeeded: v % 100) &* 2
                v /= 100
                at -= 2
                out[at] = pairs[pair]
                out[at + 1] = pairs[pair + 1]
            }
            if v >= 10 {
                at -= 2
                out[at] = pairs[Int(truncatingIfNeeded: v) &* 2]
                out[at + 1] = pairs[Int(truncatingIfNeeded: v) &* 2 + 1]
            } else {
                at -= 1
                out[at] = UInt8(truncatingIfNeeded: v) &+ UInt8(ascii: "0")
            }
            while at > 0 {
                at -= 1
                out[at] = UInt8(ascii: "0")
            }
        }
        count += digits
    }

    /// `"name":"<digits>"`: an integer id written as a JSON string, without building a String.
    mutating func field(_ name: StaticString, quotedDigits value: Int64?) {
        key(name)
        guard let value else { return null() }
        append(UInt8(ascii: "\""))
        if value < 0 { append(UInt8(ascii: "-")) }
        appendDigits(value.magnitude)
        append(UInt8(ascii: "\""))
    }

    mutating func field(_ name: StaticString, _ value: Int64) {
        key(name)
        if value < 0 { append(UInt8(ascii: "-")) }
        appendDigits(value.magnitude)
    }

    /// Coordinates with 6 decimals (≈ 0.1 m), as the public store lists have.
    mutating func field(_ name: StaticString, degrees value: Double?) {
        key(name)
        guard let value else { return null() }
        let micro = Int64((value * 1_000_000).rounded())
        if micro < 0 { append(UInt8(ascii: "-")) }
        appendDigits(micro.magnitude / 1_000_000)
        append(UInt8(ascii: "."))
        appendDigits(micro.magnitude % 1_000_000, minimumDigits: 6)
    }

    mutating func object(_ name: StaticString, _ body: (inout JSONWriter) -> Void) {
        key(name)
        begin()
        body(&self)
        end()
    }
}

/// An event's id: the simulator numbers its events (`evt-<seed>-<n>`); other writers give a string.
enum EventID {
    case sequence(seed: UInt64, counter: Int64)
    case text(String)

    func write(_ w: inout JSONWriter) {
        switch self {
        case .sequence(let seed, let counter): w.idField("eventId", prefix: "evt", seed, counter)
        case .text(let id): w.field("eventId", id)
        }
    }
}

enum EventEncoding {
    static func restaurantFields(_ w: inout JSONWriter, _ r: Restaurant?) {
        w.field("restaurantId", quotedDigits: r?.storeId)
        w.field("restaurantName", r?.name)
        w.field("restaurantCity", r?.city)
        w.field("restaurantCountry", r?.country)
        w.field("restaurantLat", degrees: r?.location.latitude)
        w.field("restaurantLon", degrees: r?.location.longitude)
    }

    /// The order snapshot carried as `payload`.
    static func orderSnapshot(_ w: inout JSONWriter, _ o: Order) {
        w.field("orderId", o.orderId)
        w.field("status", o.status.rawValue)
        // An order has a location from the moment a restaurant is assigned (domain.md: ORDER_CREATED carries
        // neither a restaurant nor its coordinates).
        w.field("lat", degrees: o.restaurant == nil ? nil : o.location.latitude)
        w.field("lon", degrees: o.restaurant == nil ? nil : o.location.longitude)
        w.field("accountId", o.accountId)
        w.field("driverId", o.driverId)
        w.field("deliveryLat", degrees: o.delivery?.latitude)
        w.field("deliveryLon", degrees: o.delivery?.longitude)
        if let r = o.restaurant {
            w.object("restaurant") { w in
                w.field("storeId", quotedDigits: r.storeId)
                w.field("name", r.name)
                w.field("city", r.city)
                w.field("country", r.country)
                w.field("latitude", degrees: r.location.latitude)
                w.field("longitude", degrees: r.location.longitude)
            }
        } else {
            w.field("restaurant", nil as String?)
        }
        w.field("createdAt", o.createdAt)
        w.field("lastModified", o.lastModified)
    }

    /// An order event with every field of the reference, the order snapshot as `payload`.
    static func order(
        _ o: Order, type: OrderEventType, eventId: EventID, into w: inout JSONWriter
    ) {
        w.reset()
        w.begin()
        eventId.write(&w)
        w.field("orderId", o.orderId)
        w.field("type", type.rawValue)
        w.field("orderStatus", o.status.rawValue)
        w.field("aggregateId", o.orderId)
        w.field("aggregateType", "Order")
        w.field("orderLocationLat", degrees: o.restaurant == nil ? nil : o.location.latitude)
        w.field("orderLocationLon", degrees: o.restaurant == nil ? nil : o.location.longitude)
        restaurantFields(&w, o.restaurant)
        w.object("payload") { orderSnapshot(&$0, o) }
        w.field("createdAt", o.createdAt)
        w.field("lastModified", o.lastModified)
        w.end()
    }

    /// A driver event with the original's field names (`type`, `driverLocationLat`/`driverLocationLon`): ids,
    /// the three statuses, location, the order the event concerns, the snapshot as `payload`.
    ///
    /// `order` names the order when the driver's state no longer does (ORDER_DELIVERED: the delivery is done,
    /// so the snapshot's `orderId` is null, but the event is about that order).
    static func driver(
        _ d: Driver, type: DriverEventType, order: String? = nil, eventId: EventID, into w: inout JSONWriter
    ) {
        w.reset()
        w.begin()
        eventId.write(&w)
        w.field("driverId", d.driverId)
        w.field("type", type.rawValue)
        w.field("aggregateId", d.driverId)
        w.field("aggregateType", "Driver")
        w.field("driverStatus", d.status.rawValue)
        w.field("availabilityStatus", d.availability.rawValue)
        w.field("activityStatus", d.activity.rawValue)
        w.field("driverLocationLat", degrees: d.location.latitude)
        w.field("driverLocationLon", degrees: d.location.longitude)
        w.field("orderId", order ?? d.orderId)
        w.object("payload") { w in
            w.field("driverId", d.driverId)
            w.field("driverStatus", d.status.rawValue)
            w.field("availabilityStatus", d.availability.rawValue)
            w.field("activityStatus", d.activity.rawValue)
            w.field("lat", degrees: d.location.latitude)
            w.field("lon", degrees: d.location.longitude)
            w.field("orderId", d.orderId)
            w.field("createdAt", d.createdAt)
            w.field("lastModified", d.lastModified)
        }
        w.field("createdAt", d.createdAt)
        w.field("lastModified", d.lastModified)
        w.end()
    }
}

/// The order-delivery events for writers other than the simulator (the HTTP API's commands): the same JSON
/// the simulator writes for the same aggregate and event type, with the caller's event id; and the
/// aggregates read back from an event's snapshot (`payload`), which holds the whole aggregate after the
/// change — so folding a stream is taking its last snapshot.
public enum OrderDeliveryEvents {
    /// An order event's JSON.
    public static func order(_ o: Order, type: OrderEventType, eventId: String) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        EventEncoding.order(o, type: type, eventId: .text(eventId), into: &w)
        return w.bytes
    }

    /// A driver event's JSON; `order` names the order the event concerns when the driver no longer does.
    public static func driver(_ d: Driver, type: DriverEventType, order: String? = nil, eventId: String) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        EventEncoding.driver(d, type: type, order: order, eventId: .text(eventId), into: &w)
        return w.bytes
    }

    /// What is wrong with an event that does not hold an aggregate snapshot.
    public struct DecodingError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The order in an order event's `payload`.
    public static func order(fromEvent bytes: [UInt8]) throws(DecodingError) -> Order {
        let p = try payload(bytes, "order")
        guard let id = p["orderId"] as? String, let status = (p["status"] as? String).flatMap(OrderStatus.init),
            let accountId = p["accountId"] as? String, let createdAt = long(p["createdAt"]),
            let lastModified = long(p["lastModified"])
        else { throw DecodingError(description: "the order snapshot lacks orderId, status, accountId or times") }
        var restaurant: Restaurant?
        if let r = p["restaurant"] as? [String: Any] {
            guard let storeId = (r["storeId"] as? String).flatMap({ Int64($0) }), let name = r["name"] as? String,
                let point = point(r["longitude"], r["latitude"])
            else { throw DecodingError(description: "the order snapshot's restaurant is incomplete") }
            restaurant = Restaurant(
                storeId: storeId, name: name, city: r["city"] as? String ?? "", state: "",
                country: r["country"] as? String ?? "", location: point)
        }
        let location = point(p["lon"], p["lat"]) ?? restaurant?.location ?? GeoPoint(unchecked: 0, 0)
        return Order(
            orderId: id, status: status, location: location, accountId: accountId, driverId: p["driverId"] as? String,
            delivery: point(p["deliveryLon"], p["deliveryLat"]), restaurant: restaurant, createdAt: createdAt,
            lastModified: lastModified)
    }

    /// The driver in a driver event's `payload`.
    public static func driver(fromEvent bytes: [UInt8]) throws(DecodingError) -> Driver {
        let p = try payload(bytes, "driver")
        guard let id = p["driverId"] as? String,
            let status = (p["driverStatus"] as? String).flatMap(DriverStatus.init),
            let availability = (p["availabilityStatus"] as? String).flatMap(DriverAvailability.init),
            let activity = (p["activityStatus"] as? String).flatMap(DriverActivity.init),
            let location = point(p["lon"], p["lat"]), let createdAt = long(p["createdAt"]),
            let lastModified = long(p["lastModified"])
        else { throw DecodingError(description: "the driver snapshot lacks an id, a status, a location or times") }
        return Driver(
            driverId: id, status: status, availability: availability, activity: activity, location: location,
            orderId: p["orderId"] as? String, createdAt: createdAt, lastModified: lastModified)
    }

    private static func payload(_ bytes: [UInt8], _ kind: String) throws(DecodingError) -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let payload = object["payload"] as? [String: Any]
        else { throw DecodingError(description: "not a \(kind) event with a payload object") }
        return payload
    }

    private static func long(_ value: Any?) -> Int64? { (value as? NSNumber)?.int64Value }

    private static func point(_ longitude: Any?, _ latitude: Any?) -> GeoPoint? {
        guard let lon = (longitude as? NSNumber)?.doubleValue, let lat = (latitude as? NSNumber)?.doubleValue else {
            return nil
        }
        return try? GeoPoint(longitude: lon, latitude: lat)
    }
}
