import EventLogFoundation
import Foundation
import Testing

@testable import LiveViews

@Suite("Spatial index")
struct SpatialIndexTests {
    /// Random points in clusters around centres chosen to stress the grid: the poles, the antimeridian,
    /// the equator, and San Francisco.
    static let centres: [(Double, Double)] = [
        (-122.44, 37.75), (179.99, 10), (-179.995, -45), (0, 89.995), (45, -89.99), (0, 0), (180, 0),
    ]

    func randomPoint(_ random: inout SeededGenerator) -> (Double, Double) {
        let (lon, lat) = Self.centres.randomElement(using: &random)!
        let spread = [0.001, 0.05, 1, 20].randomElement(using: &random)!
        var x = lon + Double.random(in: -spread...spread, using: &random)
        let y = min(90, max(-90, lat + Double.random(in: -spread...spread, using: &random)))
        if x > 180 { x -= 360 }
        if x < -180 { x += 360 }
        return (x, y)
    }

    @Test(
        "radius and polygon queries through the index return exactly the rows of a full scan", arguments: [0.02, 0.5])
    func indexEqualsScan(cell: Double) throws {
        let seed = testSeed("indexEqualsScan")
        var random = SeededGenerator(seed: seed)
        var config = ordersConfig(upsert: nil)
        config.spatialCellDegrees = cell
        let table = try LiveTable(config: config)
        var points: [(Double, Double)] = []
        for i in 0..<6000 {
            let (lon, lat) = randomPoint(&random)
            points.append((lon, lat))
            table.ingest(json: orderJSON("o\(i)", status: "ORDER_CREATED", lat: lat, lon: lon, time: Int64(i)))
        }
        // Points exactly on cell edges and at the extremes.
        for (i, (lon, lat)) in [(180.0, 0.0), (-180, 0), (0, 90), (0, -90), (cell, cell), (-cell * 3, 45)].enumerated()
        {
            points.append((lon, lat))
            table.ingest(json: orderJSON("edge\(i)", status: "ORDER_CREATED", lat: lat, lon: lon, time: 0))
        }
        var failures: [String] = []
        for round in 0..<300 {
            var (lon, lat) = randomPoint(&random)
            if round % 10 == 0 { (lon, lat) = points.randomElement(using: &random)! }
            var radius =
                [0, 1, 100, 5000, 50_000, 500_000, 5_000_000, 20_100_000].randomElement(using: &random)!
                * Double.random(in: 0.5...1.5, using: &random)
            if round % 3 == 1 {
                // A radius exactly the formula's distance to a stored point: that point sits on the boundary.
                let p = points.randomElement(using: &random)!
                radius = Geo.distance(lon1: p.0, lat1: p.1, lon2: lon, lat2: lat)
            }
            let op = round % 2 == 0 ? "<" : "<="
            let expected = points.filter { p in
                let d = Geo.distance(lon1: p.0, lat1: p.1, lon2: lon, lat2: lat)
                return op == "<" ? d < radius : d <= radius
            }.count
            let result = try table.query(
                "SELECT COUNT(*) FROM orders WHERE ST_DISTANCE(location_st_point, ST_Point(\(lon), \(lat), 1)) \(op) \(radius)"
            )
            #expect(result.stats.usedSpatialIndex)
            if result.scalar != .long(Int64(expected)) {
                failures.append(
                    "centre (\(lon), \(lat)) r \(radius) \(op): index \(String(describing: result.scalar)), scan \(expected)"
                )
            }
        }
        // Boxes (polygons) anywhere, including ones touching the antimeridian and the poles.
        for _ in 0..<100 {
            let (lon, lat) = randomPoint(&random)
            let w = Double.random(in: 0.001...30, using: &random), h = Double.random(in: 0.001...30, using: &random)
            let x0 = max(-180, lon - w), x1 = min(180, lon + w), y0 = max(-90, lat - h), y1 = min(90, lat + h)
            let wkt = "POLYGON ((\(x0) \(y0), \(x1) \(y0), \(x1) \(y1), \(x0) \(y1), \(x0) \(y0)))"
            let rings = [[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)].map { GeoPoint(unchecked: $0.0, $0.1) }]
            let expected = points.filter { Geo.contains(rings, GeoPoint(unchecked: $0.0, $0.1)) }.count
            let result = try table.query(
                "SELECT COUNT(*) FROM orders WHERE ST_Contains(ST_GeomFromText('\(wkt)'), location_st_point)")
            #expect(result.stats.usedSpatialIndex)
            if result.scalar != .long(Int64(expected)) {
                failures.append("polygon \(wkt): index \(String(describing: result.scalar)), scan \(expected)")
            }
        }
        #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(5))")
    }

    @Test("the latest-row index follows upserts: a moved order leaves its old cell")
    func latestIndexFollowsUpserts() throws {
        let table = try LiveTable(config: ordersConfig())
        table.ingest(json: orderJSON("a", status: "ORDER_CREATED", lat: 37.75, lon: -122.44, time: 1))
        table.ingest(json: orderJSON("a", status: "ORDER_DELIVERING", lat: 40.0, lon: -100.0, time: 2))
        let near =
            "SELECT COUNT(*) FROM orders WHERE ST_DISTANCE(location_st_point, ST_Point(-122.44, 37.75, 1)) < 1000"
        #expect(try table.query(near).scalar == .long(0))
        #expect(try table.query(near + " option(skipUpsert=true)").scalar == .long(1))
    }

    @Test(
        "deferred index maintenance: after batches small and large, indexed answers equal full scans (spatial, skipUpsert, inverted)"
    )
    func deferredIndexesMatchScans() throws {
        let seed = testSeed("deferredIndexesMatchScans")
        var random = SeededGenerator(seed: seed)
        var config = ordersConfig()
        config.invertedIndexColumns = ["status"]
        let table = try LiveTable(config: config)
        let statuses = ["ORDER_CREATED", "ORDER_PREPARED", "ORDER_DELIVERED"]
        let near = "ST_DISTANCE(location_st_point, ST_Point(-122.44, 37.75, 1))"
        var failures: [String] = []
        for round in 0..<60 {
            // Mostly small batches (the change list path); now and then one large enough to make the
            // indexes stale (the rebuild path); sometimes no query in between.
            let size = random.next() % 8 == 0 ? 6_000 : Int(random.next() % 40) + 1
            table.ingestBatch { ingest in
                for _ in 0..<size {
                    let id = "o\(random.next() % 3_000)"
                    let json = orderJSON(
                        id, status: statuses[Int(random.next() % 3)],
                        lat: 37.75 + (Double(random.next() % 20_000) - 10_000) / 100_000,
                        lon: -122.44 + (Double(random.next() % 20_000) - 10_000) / 100_000,
                        time: Int64(random.next() % 1_000_000))  // out-of-order records too
                    let bytes = Array(json.utf8)
                    bytes.withUnsafeBytes { ingest($0, nil, 0) }
                }
            }
            guard random.next() % 4 != 0 else { continue }
            for option in ["", " option(skipUpsert=true)"] {
                let radius = Double(random.next() % 12_000)
                let indexed = try table.query("SELECT COUNT(*) FROM orders WHERE \(near) < \(radius)\(option)")
                let scanned = try table.query("SELECT COUNT(*) FROM orders WHERE \(near) + 0 < \(radius)\(option)")
                #expect(indexed.stats.usedSpatialIndex && !scanned.stats.usedSpatialIndex)
                if indexed.scalar != scanned.scalar {
                    failures.append("round \(round)\(option): index \(indexed.scalar!), scan \(scanned.scalar!)")
                }
            }
            let status = statuses[Int(random.next() % 3)]
            let listed = try table.query("SELECT COUNT(*) FROM orders WHERE status = '\(status)'")
            let scanned = try table.query("SELECT COUNT(*) FROM orders WHERE LOWER(status) = '\(status.lowercased())'")
            if listed.scalar != scanned.scalar {
                failures.append("round \(round) status \(status): postings \(listed.scalar!), scan \(scanned.scalar!)")
            }
        }
        #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(5))")
    }
}
