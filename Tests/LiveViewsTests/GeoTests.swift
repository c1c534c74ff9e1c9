import EventLogFoundation
import Foundation
import Testing

@testable import LiveViews

@Suite("Geography")
struct GeoTests {
    @Test("ST_Distance matches Pinot's golden values to 1e-6 m")
    func golden() throws {
        let madrid = try GeoPoint(longitude: -3.71, latitude: 40.42)
        let barcelona = try GeoPoint(longitude: 2.154007, latitude: 41.390205)
        #expect(abs(Geo.distance(madrid, barcelona) - 504376.5534398629) < 1e-6)
        let a = try GeoPoint(longitude: -122, latitude: 37)
        let b = try GeoPoint(longitude: -122, latitude: 37.01)
        #expect(abs(Geo.distance(a, b) - 1111.9510117745895) < 1e-6)
        #expect(Geo.distance(a, a) == 0)
    }

    @Test("coordinates out of range are rejected with the coordinate named")
    func outOfRange() {
        #expect(throws: GeoError("latitude 91.0 is outside [-90, 90]")) { try GeoPoint(longitude: 0, latitude: 91) }
        #expect(throws: GeoError("longitude -180.5 is outside [-180, 180]")) {
            try GeoPoint(longitude: -180.5, latitude: 0)
        }
        #expect(throws: GeoError.self) { try GeoPoint(longitude: .nan, latitude: 0) }
    }

    @Test("well-known text: points, polygons with holes, and errors with the character position")
    func wkt() throws {
        #expect(try Geo.parseWKT("POINT (-122.4 37.7)") == .point(try GeoPoint(longitude: -122.4, latitude: 37.7)))
        let square = try Geo.parseWKT("polygon ((0 0, 10 0, 10 10, 0 10, 0 0), (4 4, 6 4, 6 6, 4 6, 4 4))")
        guard case .polygon(let rings) = square else { Issue.record("not a polygon"); return }
        #expect(Geo.contains(rings, try GeoPoint(longitude: 1, latitude: 1)))
        #expect(!Geo.contains(rings, try GeoPoint(longitude: 5, latitude: 5)))  // in the hole
        #expect(!Geo.contains(rings, try GeoPoint(longitude: 11, latitude: 5)))
        #expect(throws: GeoError("expected ')' at character 12 of the well-known text")) {
            try Geo.parseWKT("POINT (1 2 3")
        }
        #expect(throws: GeoError.self) { try Geo.parseWKT("POLYGON ((0 0, 1 0, 0 0))") }
        #expect(throws: GeoError.self) { try Geo.parseWKT("LINESTRING (0 0, 1 1)") }
        #expect(throws: GeoError.self) { try Geo.parseWKT("POINT (0 95)") }
    }

    @Test("the fast decimal parser agrees with the standard library")
    func numbers() {
        let seed = testSeed("numbers")
        var random = SeededGenerator(seed: seed)
        var texts = ["0", "-0", "37.678402", "-122.526794", "1e3", "1.5E-7", "123456789012345678", "0.1", "-.5", "5."]
        for _ in 0..<20_000 {
            let value = Double.random(in: -1000...1000, using: &random)
            texts.append(String(format: "%.\(Int.random(in: 0...17, using: &random))f", value))
        }
        var mismatches: [String] = []
        for text in texts {
            var copy = text
            let fast = copy.withUTF8 { NumberParser.double(UnsafeRawBufferPointer($0)) }
            if fast != Double(text) { mismatches.append(text) }
        }
        #expect(mismatches.isEmpty, "seed \(seed): \(mismatches.prefix(5))")
    }
}
