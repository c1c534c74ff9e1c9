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
        let d = distance(a, b) / earthRadiusMeters
        guard d > 1e-12 else { return a }
        let φ1 = radians(a.latitude), λ1 = radians(a.longitude), φ2 = radians(b.latitude), λ2 = radians(b.longitude)
        let A = sin((1 - f) * d) / sin(d), B = sin(f * d) / sin(d)
        let x = A * cos(φ1) * cos(λ1) + B * cos(φ2) * cos(λ2)
        let y = A * cos(φ1) * sin(λ1) + B * cos(φ2) * sin(λ2)
        let z = A * sin(φ1) + B * sin(φ2)
        return GeoPoint(latitude: degrees(atan2(z, sqrt(x * x + y * y))), longitude: degrees(atan2(y, x)))
    }
}
