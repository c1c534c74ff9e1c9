import Foundation

/// A point on the sphere: longitude (x) and latitude (y) in degrees, as Pinot's `ST_Point(x, y, 1)`.
///
/// The one geography type of the package: the simulator places restaurants and drivers with it, the live
/// views store and query it, and both measure with the same ``Geo/distance(_:_:)``. Made by
/// ``init(longitude:latitude:)``, which rejects coordinates outside [−180, 180] × [−90, 90] (and decoding
/// checks the same), so a public `GeoPoint` is always a valid geography.
public struct GeoPoint: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Degrees east, in [−180, 180].
    public let longitude: Double
    /// Degrees north, in [−90, 90].
    public let latitude: Double

    /// - Throws: ``GeoError`` naming the coordinate that is out of range (or not a number).
    public init(longitude: Double, latitude: Double) throws(GeoError) {
        guard longitude >= -180, longitude <= 180 else {
            throw GeoError("longitude \(longitude) is outside [-180, 180]")
        }
        guard latitude >= -90, latitude <= 90 else {
            throw GeoError("latitude \(latitude) is outside [-90, 90]")
        }
        self.longitude = longitude
        self.latitude = latitude
    }

    /// A point whose coordinates the caller already knows to be in range (or, for a search rectangle's
    /// corner, does not need to be).
    @inlinable
    package init(unchecked longitude: Double, _ latitude: Double) {
        self.longitude = longitude
        self.latitude = latitude
    }

    private enum CodingKeys: String, CodingKey { case longitude, latitude }

    /// Decodes `{"longitude": …, "latitude": …}`, rejecting out-of-range coordinates as the initializer does.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let longitude = try container.decode(Double.self, forKey: .longitude)
        let latitude = try container.decode(Double.self, forKey: .latitude)
        do { try self.init(longitude: longitude, latitude: latitude) } catch {
            throw DecodingError.dataCorruptedError(
                forKey: .latitude, in: container, debugDescription: error.description)
        }
    }

    /// The point as well-known text, `POINT (lon lat)`.
    public var description: String { "POINT (\(Geo.format(longitude)) \(Geo.format(latitude)))" }
}

/// A coordinate out of range, or well-known text that does not parse.
public struct GeoError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What is wrong, and where.
    public let message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Geodesy on a sphere with Pinot's constants, so distances match Pinot's to the last bit.
public enum Geo {
    /// Pinot's Earth radius in meters (6,371.01 km).
    public static let earthRadiusMeters = 6_371_010.0

    @inline(__always) static func radians(_ degrees: Double) -> Double { degrees * .pi / 180 }
    @inline(__always) static func degrees(_ radians: Double) -> Double { radians * 180 / .pi }

    /// Great-circle distance in meters between two points, with Pinot's formula (an `atan2` of the cross
    /// and dot products, stable for tiny and antipodal distances).
    public static func distance(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        distance(lon1: a.longitude, lat1: a.latitude, lon2: b.longitude, lat2: b.latitude)
    }

    /// ``distance(_:_:)`` on raw degrees (assumed in range).
    public static func distance(lon1: Double, lat1: Double, lon2: Double, lat2: Double) -> Double {
        let phi1 = lat1 * .pi / 180
        let phi2 = lat2 * .pi / 180
        let deltaLambda = lon1 * .pi / 180 - lon2 * .pi / 180
        let sinPhi1 = sin(phi1), cosPhi1 = cos(phi1)
        let sinPhi2 = sin(phi2), cosPhi2 = cos(phi2)
        let cosDelta = cos(deltaLambda)
        let t1 = cosPhi2 * sin(deltaLambda)
        let t2 = cosPhi1 * sinPhi2 - sinPhi1 * cosPhi2 * cosDelta
        let t3 = sinPhi1 * sinPhi2 + cosPhi1 * cosPhi2 * cosDelta
        return atan2((t1 * t1 + t2 * t2).squareRoot(), t3) * earthRadiusMeters
    }

    /// Initial bearing from `a` to `b`, degrees clockwise from north (0…360).
    public static func bearing(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        let φ1 = radians(a.latitude), φ2 = radians(b.latitude), dλ = radians(b.longitude - a.longitude)
        let y = sin(dλ) * cos(φ2)
        let x = cos(φ1) * sin(φ2) - sin(φ1) * cos(φ2) * cos(dλ)
        let θ = degrees(atan2(y, x))
        return (θ + 360).truncatingRemainder(dividingBy: 360)
    }

    /// The point `meters` away from `start` along initial bearing `bearing` (degrees).
    public static func destination(from start: GeoPoint, meters: Double, bearing: Double) -> GeoPoint {
        let δ = meters / earthRadiusMeters, θ = radians(bearing)
        let φ1 = radians(start.latitude), λ1 = radians(start.longitude)
        let φ2 = asin(sin(φ1) * cos(δ) + cos(φ1) * sin(δ) * cos(θ))
        let λ2 = λ1 + atan2(sin(θ) * sin(δ) * cos(φ1), cos(δ) - sin(φ1) * sin(φ2))
        let longitude = (degrees(λ2) + 540).truncatingRemainder(dividingBy: 360) - 180
        return GeoPoint(unchecked: longitude, degrees(φ2))
    }

    /// The point at `fraction` (0…1) of the great-circle path from `a` to `b`.
    public static func intermediate(_ a: GeoPoint, _ b: GeoPoint, fraction f: Double) -> GeoPoint {
        GreatCircle(from: a, to: b).point(at: f)
    }

    /// A coordinate as well-known text prints it: integral values without a fraction.
    package static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

/// A great-circle path with its endpoints' unit vectors computed once, so each point along it costs two
/// sines and two arctangents (the simulator walks every leg in steps).
public struct GreatCircle: Sendable, Hashable {
    /// Where the path starts and ends.
    public let start: GeoPoint, end: GeoPoint
    private let a: (Double, Double, Double), b: (Double, Double, Double)
    private let angle: Double, sinAngle: Double

    /// The path from `start` to `end`.
    public init(from start: GeoPoint, to end: GeoPoint) {
        self.start = start
        self.end = end
        func vector(_ p: GeoPoint) -> (Double, Double, Double) {
            let φ = Geo.radians(p.latitude), λ = Geo.radians(p.longitude)
            return (cos(φ) * cos(λ), cos(φ) * sin(λ), sin(φ))
        }
        a = vector(start)
        b = vector(end)
        angle = Geo.distance(start, end) / Geo.earthRadiusMeters
        sinAngle = sin(angle)
    }

    /// The path's length in meters.
    public var meters: Double { angle * Geo.earthRadiusMeters }

    /// The point at `fraction` (0…1) of the way.
    public func point(at f: Double) -> GeoPoint {
        guard angle > 1e-12 else { return start }
        let wa = sin((1 - f) * angle) / sinAngle, wb = sin(f * angle) / sinAngle
        let x = wa * a.0 + wb * b.0, y = wa * a.1 + wb * b.1, z = wa * a.2 + wb * b.2
        return GeoPoint(unchecked: Geo.degrees(atan2(y, x)), Geo.degrees(atan2(z, (x * x + y * y).squareRoot())))
    }

    public static func == (l: GreatCircle, r: GreatCircle) -> Bool { l.start == r.start && l.end == r.end }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(start)
        hasher.combine(end)
    }
}
