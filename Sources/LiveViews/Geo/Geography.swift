public import EventLogFoundation
import Foundation

/// A geometry of `ST_GeomFromText`: a point or a polygon (an outer ring and optional holes).
public enum Geometry: Hashable, Sendable, CustomStringConvertible {
    case point(GeoPoint)
    /// Rings of (longitude, latitude) vertices; the first is the shell, the rest are holes. Rings are
    /// closed (first vertex repeated last).
    case polygon([[GeoPoint]])

    public var description: String {
        switch self {
        case .point(let p): return p.description
        case .polygon(let rings):
            let text = rings.map { ring in
                "(" + ring.map { "\(Geo.format($0.longitude)) \(Geo.format($0.latitude))" }.joined(separator: ", ")
                    + ")"
            }
            return "POLYGON (" + text.joined(separator: ", ") + ")"
        }
    }
}

// The point-in-polygon test and well-known text, for `ST_Contains` and `ST_GeomFromText`; points,
// distances and paths are the foundation's (`GeoPoint`, `Geo.distance`).
extension Geo {
    /// Whether `point` lies inside `polygon` (inside the shell and outside every hole), with edges as
    /// straight lines in the longitude/latitude plane — Pinot's geometry semantics. Points exactly on an
    /// edge follow the even-odd crossing rule (deterministic, the same for index and scan).
    public static func contains(_ polygon: [[GeoPoint]], _ point: GeoPoint) -> Bool {
        guard let shell = polygon.first, crossings(shell, point) else { return false }
        for hole in polygon.dropFirst() where crossings(hole, point) { return false }
        return true
    }

    /// Even-odd ray casting toward +longitude.
    static func crossings(_ ring: [GeoPoint], _ p: GeoPoint) -> Bool {
        var inside = false
        var j = ring.count - 1
        for i in 0..<ring.count {
            let a = ring[i], b = ring[j]
            if (a.latitude > p.latitude) != (b.latitude > p.latitude) {
                let x =
                    (b.longitude - a.longitude) * (p.latitude - a.latitude) / (b.latitude - a.latitude) + a.longitude
                if p.longitude < x { inside.toggle() }
            }
            j = i
        }
        return inside
    }

    /// The (min lon, min lat, max lon, max lat) box of a polygon's shell.
    static func bounds(_ polygon: [[GeoPoint]]) -> (minLon: Double, minLat: Double, maxLon: Double, maxLat: Double) {
        var box = (minLon: Double.infinity, minLat: Double.infinity, maxLon: -Double.infinity, maxLat: -Double.infinity)
        for p in polygon.first ?? [] {
            box.minLon = min(box.minLon, p.longitude)
            box.maxLon = max(box.maxLon, p.longitude)
            box.minLat = min(box.minLat, p.latitude)
            box.maxLat = max(box.maxLat, p.latitude)
        }
        return box
    }

    /// Parses `POINT (x y)` or `POLYGON ((x y, …), (…))` (case-insensitive, optional `EMPTY`-free).
    ///
    /// - Throws: ``GeoError`` naming the character position where the text stops making sense.
    public static func parseWKT(_ text: String) throws(GeoError) -> Geometry {
        var parser = WKTParser(Array(text.utf8))
        let word = parser.word().uppercased()
        switch word {
        case "POINT":
            try parser.expect(UInt8(ascii: "("))
            let point = try parser.coordinate()
            try parser.expect(UInt8(ascii: ")"))
            try parser.end()
            return .point(point)
        case "POLYGON":
            try parser.expect(UInt8(ascii: "("))
            var rings: [[GeoPoint]] = []
            repeat {
                try parser.expect(UInt8(ascii: "("))
                var ring: [GeoPoint] = []
                repeat { ring.append(try parser.coordinate()) } while parser.accept(UInt8(ascii: ","))
                try parser.expect(UInt8(ascii: ")"))
                guard ring.count >= 4, ring.first == ring.last else {
                    throw GeoError("polygon ring \(rings.count + 1) must be closed and have at least 4 vertices")
                }
                rings.append(ring)
            } while parser.accept(UInt8(ascii: ","))
            try parser.expect(UInt8(ascii: ")"))
            try parser.end()
            return .polygon(rings)
        default:
            throw GeoError("well-known text must start with POINT or POLYGON, found '\(word)'")
        }
    }
}

private struct WKTParser {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipSpace() {
        while index < bytes.count,
            bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0A || bytes[index] == 0x0D
        {
            index += 1
        }
    }
    mutating func word() -> String {
        skipSpace()
        let start = index
        while index < bytes.count, (bytes[index] | 0x20) >= UInt8(ascii: "a"),
            (bytes[index] | 0x20) <= UInt8(ascii: "z")
        {
            index += 1
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
    mutating func accept(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }
    mutating func expect(_ byte: UInt8) throws(GeoError) {
        guard accept(byte) else {
            throw GeoError(
                "expected '\(Character(Unicode.Scalar(byte)))' at character \(index + 1) of the well-known text")
        }
    }
    mutating func number() throws(GeoError) -> Double {
        skipSpace()
        let start = index
        while index < bytes.count, "+-.0123456789eE".utf8.contains(bytes[index]) { index += 1 }
        guard let value = Double(String(decoding: bytes[start..<index], as: UTF8.self)) else {
            throw GeoError("expected a number at character \(start + 1) of the well-known text")
        }
        return value
    }
    mutating func coordinate() throws(GeoError) -> GeoPoint {
        let x = try number()
        let y = try number()
        return try GeoPoint(longitude: x, latitude: y)
    }
    mutating func end() throws(GeoError) {
        skipSpace()
        guard index == bytes.count else {
            throw GeoError("unexpected text at character \(index + 1) of the well-known text")
        }
    }
}
