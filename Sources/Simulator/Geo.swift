import Foundation

/// A point on the Earth in degrees.
public struct GeoPoint: Sendable, Hashable, Codable {
    /// Latitude in degrees, -90…90.
    public var latitude: Double
    /// Longitude in degrees, -180…180.
    public var longitude: Double

    /// Creates a point.
    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }
}

/// Great-circle geometry on a sphere of radius 6,371.01 km (the reference simulator's).
public enum Geo {
    /// The sphere's radius in meters.
    public static let earthRadiusMeters = 6_371_010.0

    @inline(__always) static func radians(_ degrees: Double) -> Double { degrees * .pi / 180 }
    @inline(__always) static func degrees(_ radians: Double) -> Double { radians * 180 / .pi }

    /// Great-circle distance in meters (haversine).
    public static func distance(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        let φ1 = radians(a.latitude), φ2 = radians(b.latitude)
        let dφ = φ2 - φ1, dλ = radians(b.longitude - a.longitude)
        let h = sin(dφ / 2) * sin(dφ / 2) + cos(φ1) * cos(φ2) * sin(dλ / 2) * sin(dλ / 2)
        return 2 * earthRadiusMeters * asin(min(1, sqrt(h)))
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
        var longitude = degrees(λ2)
        longitude = (longitude + 540).truncatingRemainder(dividingBy: 360) - 180
        return GeoPoint(latitude: degrees(φ2), longitude: longitude)
    }

    /// The point at `fraction` (0…1) of the great-circle path from `a` to `b`.
    public static func intermediate(_ a: GeoPoint, _ b: GeoPoint, fraction f: Double) -> GeoPoint {
        GreatCircle(from: a, to: b).point(at: f)
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
        return GeoPoint(latitude: Geo.degrees(atan2(z, sqrt(x * x + y * y))), longitude: Geo.degrees(atan2(y, x)))
    }

    public static func == (l: GreatCircle, r: GreatCircle) -> Bool { l.start == r.start && l.end == r.end }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(start)
        hasher.combine(end)
    }
}
