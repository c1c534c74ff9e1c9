import EventLogFoundation
import Foundation

/// A spatial index of points: a latitude/longitude grid of square cells (`cellDegrees` on a side) mapping
/// each non-empty cell to the documents whose point lies in it.
///
/// ```
///        lon →  c0     c1     c2
///  lat  r2   ┌──────┬──────┬──────┐   a radius query classifies each cell near the centre:
///   ↑        │ out  │ edge │ out  │     inside  – its farthest point is nearer than r: every doc
///       r1   ├──────┼──────┼──────┤               is a match, no distance computed
///            │ edge │inside│ edge │     edge    – each doc is checked with the exact formula
///       r0   ├──────┼──────┼──────┤     outside – its nearest point is beyond r: skipped
///            │ out  │ edge │ out  │
///            └──────┴──────┴──────┘
/// ```
///
/// Invariants:
/// - Every indexed document is in exactly one cell: the one whose closed rectangle contains its point
///   (rows clamped at the poles, longitude 180 folded onto −180, the same meridian).
/// - A cell is *inside* only when the greatest distance from the centre to its (slightly enlarged)
///   rectangle is below `r − margin`, and *outside* only when the least distance exceeds `r + margin`;
///   `margin` is far above the formula's rounding error, so the index returns exactly the documents a full
///   scan with ``Geo/distance(_:_:)`` returns, including near the poles and the antimeridian.
/// - The farthest point of a cell lies on one of its two meridian edges (for a fixed latitude the
///   distance grows with |Δλ|): at a corner or where `cos d = R·cos(φ − φ*)` is least along the edge; cells
///   reaching the centre's antipodal meridian are never *inside*. The nearest point is on the meridian nearest the centre, at the clamped latitude that
///   maximises `cos d`.
/// - When the bounding box of a query has more cells than the grid has non-empty cells (a cap over a pole,
///   a huge radius) the non-empty cells are classified instead, so a query never costs more than a scan of
///   the cells.
final class SpatialGrid: @unchecked Sendable {
    // `@exclusivity(unchecked)` here: the grid is written only under its table's write lock (by ingest, or by a
    // query that brings it up to date) and read under the read lock, never re-entrantly; the runtime checks
    // showed up in the radius query's per-point loop.
    let cellDegrees: Double
    let rows: Int64
    let columns: Int64
    @exclusivity(unchecked) private var slots: [Int64: Int32] = [:]
    @exclusivity(unchecked) private var cellKeys: [Int64] = []
    @exclusivity(unchecked) private(set) var cells: [[Int32]] = []
    /// Each cell's points, parallel to `cells`: a boundary check streams through them instead of
    /// gathering coordinates from the columns (cache misses dominated the radius query).
    @exclusivity(unchecked) private var cellLongitudes: [[Double]] = []
    @exclusivity(unchecked) private var cellLatitudes: [[Double]] = []
    /// Per document, its position in its cell (−1 when not indexed); supports O(1) removal.
    @exclusivity(unchecked) private var position: [Int32] = []
    @exclusivity(unchecked) private(set) var count = 0

    /// Distance slack in meters; rounding error of the formula is below 1e-6 m.
    static let margin = 0.01
    /// Rectangle slack in degrees for the rounding of cell assignment.
    static let slack = 1e-9

    init(cellDegrees: Double = 0.02) {
        precondition(cellDegrees > 0 && cellDegrees <= 10, "cell size must be in (0, 10] degrees")
        self.cellDegrees = cellDegrees
        rows = Int64((180 / cellDegrees).rounded(.up))
        columns = Int64((360 / cellDegrees).rounded(.up))
    }

    func key(longitude: Double, latitude: Double) -> Int64 {
        var row = Int64(((latitude + 90) / cellDegrees).rounded(.down))
        row = min(max(row, 0), rows - 1)
        var column = Int64(((longitude + 180) / cellDegrees).rounded(.down)) % columns
        if column < 0 { column += columns }
        return row << 32 | column
    }

    func insert(_ doc: Int32, longitude: Double, latitude: Double) {
        let cell = key(longitude: longitude, latitude: latitude)
        let slot: Int
        if let existing = slots[cell] {
            slot = Int(existing)
        } else {
            slot = cells.count
            slots[cell] = Int32(slot)
            cellKeys.append(cell)
            cells.append([])
            cellLongitudes.append([])
            cellLatitudes.append([])
        }
        if Int(doc) >= position.count {
            position.append(
                contentsOf: repeatElement(-1, count: max(Int(doc) + 1, position.count * 2, 1024) - position.count))
        }
        position[Int(doc)] = Int32(cells[slot].count)
        cells[slot].append(doc)
        cellLongitudes[slot].append(longitude)
        cellLatitudes[slot].append(latitude)
        count += 1
    }

    /// Whether `doc` is indexed.
    func contains(_ doc: Int32) -> Bool { Int(doc) < position.count && position[Int(doc)] >= 0 }

    func remove(_ doc: Int32, longitude: Double, latitude: Double) {
        guard Int(doc) < position.count, position[Int(doc)] >= 0,
            let slot = slots[key(longitude: longitude, latitude: latitude)].map(Int.init)
        else { return }
        let at = Int(position[Int(doc)])
        let last = cells[slot].removeLast()
        let lastLongitude = cellLongitudes[slot].removeLast(), lastLatitude = cellLatitudes[slot].removeLast()
        if last != doc {
            cells[slot][at] = last
            cellLongitudes[slot][at] = lastLongitude
            cellLatitudes[slot][at] = lastLatitude
            position[Int(last)] = Int32(at)
        }
        position[Int(doc)] = -1
        count -= 1
    }

    func removeAll() {
        slots.removeAll()
        cellKeys.removeAll()
        cells.removeAll()
        cellLongitudes.removeAll()
        cellLatitudes.removeAll()
        position.removeAll()
        count = 0
    }

    /// The documents of one cell with their points.
    struct Cell {
        let docs: [Int32]
        let longitudes: [Double]
        let latitudes: [Double]
    }

    func contents(_ slot: Int) -> Cell {
        Cell(docs: cells[slot], longitudes: cellLongitudes[slot], latitudes: cellLatitudes[slot])
    }

    /// The rectangle of a cell in degrees: (lon0, lat0, lon1, lat1), enlarged by ``slack``.
    func rectangle(_ cell: Int64) -> (Double, Double, Double, Double) {
        let row = Double(cell >> 32), column = Double(cell & 0xFFFF_FFFF)
        return (
            column * cellDegrees - 180 - Self.slack, row * cellDegrees - 90 - Self.slack,
            (column + 1) * cellDegrees - 180 + Self.slack, min(90, (row + 1) * cellDegrees - 90 + Self.slack)
        )
    }

    /// Calls `body` with the documents of every cell that may hold points within `radius` meters of
    /// `center`; `certain` is true when every one of them is within `radius − margin`.
    func candidates(near center: GeoPoint, within radius: Double, _ body: (_ cell: Cell, _ certain: Bool) -> Void) {
        guard radius > -Self.margin, !cells.isEmpty else { return }
        let near = NearTest(center: center, radius: radius)
        let delta = radius / Geo.earthRadiusMeters * 180 / .pi  // angular radius in degrees
        let lat0 = center.latitude - delta, lat1 = center.latitude + delta
        var rowRange =
            key(longitude: 0, latitude: max(-90, lat0)) >> 32...key(longitude: 0, latitude: min(90, lat1)) >> 32
        rowRange = max(0, rowRange.lowerBound - 1)...min(rows - 1, rowRange.upperBound + 1)
        var columnSpan: (Int64, Int64)? = nil  // nil: all columns
        var halfWidth: Double? = nil  // the cap's longitude half-width in degrees, when it holds no pole
        if lat0 > -89.999, lat1 < 89.999, delta < 90 {
            let phi = center.latitude * .pi / 180
            let ratio = sin(radius / Geo.earthRadiusMeters) / cos(phi)
            if ratio < 1 {
                let dLon = asin(ratio) * 180 / .pi
                halfWidth = dLon
                let first = Int64(((center.longitude - dLon + 180) / cellDegrees).rounded(.down)) - 1
                let last = Int64(((center.longitude + dLon + 180) / cellDegrees).rounded(.down)) + 1
                if last - first + 1 < columns { columnSpan = (first, last) }
            }
        }
        func classify(_ cell: Int64, _ slot: Int) {
            let (lon0, lat0, lon1, lat1) = rectangle(cell)
            // Outside the cap's latitude band (a meridian arc is the shortest way across latitudes) or its
            // longitude band: no trigonometry needed. The bounds are exact; 1e-6° of slack covers rounding.
            if lat1 < center.latitude - delta - 1e-6 || lat0 > center.latitude + delta + 1e-6 { return }
            if let halfWidth,
                Self.longitudeGap(center.longitude, (lon0 + lon1) / 2) - (lon1 - lon0) / 2 > halfWidth + 1e-6
            {
                return
            }
            // Small cells near the centre: four series evaluations decide "inside" (the farthest point of
            // a cell within 0.05 rad is a corner).
            if near.classify(longitude: lon0, latitude: lat0) == .inside,
                near.classify(longitude: lon1, latitude: lat0) == .inside,
                near.classify(longitude: lon0, latitude: lat1) == .inside,
                near.classify(longitude: lon1, latitude: lat1) == .inside
            {
                body(contents(slot), true)
                return
            }
            if Self.minimumDistance(center, lon0, lat0, lon1, lat1) > radius + Self.margin { return }
            let certain = Self.maximumDistance(center, lon0, lat0, lon1, lat1) < radius - Self.margin
            body(contents(slot), certain)
        }
        let columnCount = columnSpan.map { $0.1 - $0.0 + 1 } ?? columns
        if Int64(rowRange.count) * columnCount > Int64(cells.count) {
            for (slot, cell) in cellKeys.enumerated() { classify(cell, slot) }
            return
        }
        for row in rowRange {
            let (first, last) = columnSpan ?? (0, columns - 1)
            for raw in first...last {
                var column = raw % columns
                if column < 0 { column += columns }
                let cell = row << 32 | column
                if let slot = slots[cell] { classify(cell, Int(slot)) }
            }
        }
    }

    /// Calls `body` with the documents of every cell overlapping the longitude/latitude box.
    func candidates(
        inBox minLon: Double, _ minLat: Double, _ maxLon: Double, _ maxLat: Double, _ body: (Cell) -> Void
    ) {
        guard minLon <= maxLon, minLat <= maxLat, !cells.isEmpty else { return }
        let firstRow = max(0, key(longitude: 0, latitude: max(-90, minLat)) >> 32 - 1)
        let lastRow = min(rows - 1, key(longitude: 0, latitude: min(90, maxLat)) >> 32 + 1)
        let firstColumn = Int64(((max(-180, minLon) + 180) / cellDegrees).rounded(.down)) - 1
        let lastColumn = Int64(((min(180, maxLon) + 180) / cellDegrees).rounded(.down)) + 1
        if (lastRow - firstRow + 1) * (lastColumn - firstColumn + 1) > Int64(cells.count) {
            for (slot, cell) in cellKeys.enumerated() {
                let (lon0, lat0, lon1, lat1) = rectangle(cell)
                if lon1 >= minLon - cellDegrees, lon0 <= maxLon + cellDegrees, lat1 >= minLat - cellDegrees,
                    lat0 <= maxLat + cellDegrees
                {
                    body(contents(slot))
                }
            }
            return
        }
        for row in firstRow...lastRow {
            for raw in firstColumn...lastColumn {
                var column = raw % columns
                if column < 0 { column += columns }
                if let slot = slots[row << 32 | column] { body(contents(Int(slot))) }
            }
        }
    }

    // MARK: Distance bounds between a point and a cell

    /// Distance in meters for latitudes in radians and a longitude difference in radians.
    static func distance(_ phi1: Double, _ phi2: Double, _ deltaLambda: Double) -> Double {
        let t1 = cos(phi2) * sin(deltaLambda)
        let t2 = cos(phi1) * sin(phi2) - sin(phi1) * cos(phi2) * cos(deltaLambda)
        let t3 = sin(phi1) * sin(phi2) + cos(phi1) * cos(phi2) * cos(deltaLambda)
        return atan2((t1 * t1 + t2 * t2).squareRoot(), t3) * Geo.earthRadiusMeters
    }

    /// |λ − λc| folded into [0, 180] degrees.
    static func longitudeGap(_ lambda: Double, _ center: Double) -> Double {
        var gap = abs(lambda - center).truncatingRemainder(dividingBy: 360)
        if gap > 180 { gap = 360 - gap }
        return gap
    }

    static func minimumDistance(_ c: GeoPoint, _ lon0: Double, _ lat0: Double, _ lon1: Double, _ lat1: Double) -> Double
    {
        var gap = 0.0
        let centered = longitudeGap(c.longitude, (lon0 + lon1) / 2)
        if centered > (lon1 - lon0) / 2 {
            gap = min(longitudeGap(lon0, c.longitude), longitudeGap(lon1, c.longitude))
        }
        let phiC = c.latitude * .pi / 180
        let dl = gap * .pi / 180
        // Along that meridian cos d = R·cos(φ − φ*): the least distance is at φ* when the edge holds it,
        // otherwise at an end (φ* may lie beyond ±90° when |Δλ| > 90°, so both ends are tried).
        let low = max(-90, lat0) * .pi / 180, high = min(90, lat1) * .pi / 180
        let best = atan2(sin(phiC), cos(phiC) * cos(dl))
        var near = min(distance(phiC, low, dl), distance(phiC, high, dl))
        if best > low, best < high { near = min(near, distance(phiC, best, dl)) }
        return near
    }

    static func maximumDistance(_ c: GeoPoint, _ lon0: Double, _ lat0: Double, _ lon1: Double, _ lat1: Double) -> Double
    {
        // A cell that reaches the antipodal meridian has its farthest point inside an edge.
        let antipode = c.longitude + 180
        if longitudeGap(antipode, (lon0 + lon1) / 2) <= (lon1 - lon0) / 2 + 1e-9 { return .infinity }
        let phiC = c.latitude * .pi / 180
        var far = 0.0
        for lon in [lon0, lon1] {
            let dl = longitudeGap(lon, c.longitude) * .pi / 180
            let low = max(-90, lat0) * .pi / 180, high = min(90, lat1) * .pi / 180
            for phi in [low, high] { far = max(far, distance(phiC, phi, dl)) }
            // Along the meridian, cos d = R·cos(φ − φ*): its minimum (d's maximum) is at φ* ± π, which can
            // fall inside the edge when |Δλ| > 90°.
            let best = atan2(sin(phiC), cos(phiC) * cos(dl))
            for phi in [best - .pi, best + .pi] where phi > low && phi < high {
                far = max(far, distance(phiC, phi, dl))
            }
        }
        return far
    }
}

/// A cheap, conservative distance test for points near a centre, used before the exact formula.
///
/// It evaluates the haversine quantity `h = sin²(Δφ/2) + cos φc · cos φ · sin²(Δλ/2)` with short Taylor
/// series (no libm calls) for |Δφ|, |Δλ| ≤ 0.05 rad, and compares it with `H = sin²(r / 2R)` allowing a
/// band of 1e-9 relative plus 1 µm absolute (far above the series and rounding error of ~1e-13, and
/// above the formula's own error near zero). Inside or outside the band the answer is certain; within it (or farther away) the caller
/// runs Pinot's formula, so results stay exactly those of a full scan.
struct NearTest {
    enum Answer { case inside, outside, unsure }

    let phiC: Double, lambdaC: Double, sinC: Double, cosC: Double
    let low: Double, high: Double

    init(center: GeoPoint, radius: Double) {
        phiC = center.latitude * .pi / 180
        lambdaC = center.longitude * .pi / 180
        sinC = sin(phiC)
        cosC = cos(phiC)
        let half = sin(max(0, radius) / Geo.earthRadiusMeters / 2)
        let h = half * half
        // Relative 1e-9, plus 1 µm absolute (the formula's own error near zero is ~1e-9 m):
        // dh ≈ r·dd / 2R².
        let band = h * 1e-9 + max(0, radius) * 1e-6 / (2 * Geo.earthRadiusMeters * Geo.earthRadiusMeters) + 1e-30
        low = h - band
        high = h + band
    }

    @inline(__always)
    func classify(longitude: Double, latitude: Double) -> Answer {
        let dPhi = latitude * .pi / 180 - phiC
        var dLambda = longitude * .pi / 180 - lambdaC
        if dLambda > .pi { dLambda -= 2 * .pi } else if dLambda < -.pi { dLambda += 2 * .pi }
        guard abs(dPhi) <= 0.05, abs(dLambda) <= 0.05 else { return .unsure }
        @inline(__always) func sine(_ x: Double) -> Double {
            let x2 = x * x
            return x * (1 - x2 / 6 * (1 - x2 / 20 * (1 - x2 / 42)))
        }
        @inline(__always) func cosine(_ x: Double) -> Double {
            let x2 = x * x
            return 1 - x2 / 2 * (1 - x2 / 12 * (1 - x2 / 30 * (1 - x2 / 56)))
        }
        let s1 = sine(dPhi / 2), s2 = sine(dLambda / 2)
        let cosPhi = cosC * cosine(dPhi) - sinC * sine(dPhi)
        let h = s1 * s1 + cosC * cosPhi * s2 * s2
        if h < low { return .inside }
        if h > high { return .outside }
        return .unsure
    }
}
