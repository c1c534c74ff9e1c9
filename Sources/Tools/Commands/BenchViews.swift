import ArgumentParser
import Foundation
import LiveViews

extension Bench {
    /// W4: upsert the W1 events by orderId into a live table (the latest row per order = its last event, as
    /// DuckDB's arg_max by log position), then count rows within 6,500 m of (-122.44469, 37.75680).
    /// The reference answer is 10,541 (Pinot's formula, R = 6,371,010 m).
    func runW4(data: Dataset) throws {
        let config = TableConfig(
            name: "w1", topic: "w1",
            columns: [
                ColumnDefinition("orderId", .string), ColumnDefinition("restaurantId", .string),
                ColumnDefinition("accountId", .string), ColumnDefinition("status", .string),
                ColumnDefinition("lat", .double), ColumnDefinition("lon", .double),
                ColumnDefinition("restaurantLat", .double), ColumnDefinition("restaurantLon", .double),
                ColumnDefinition("lastModified", .long),
                ColumnDefinition("location_st_point", .point, transform: "toSphericalGeography(stPoint(lon, lat))"),
            ],
            upsert: UpsertConfig(mode: .full, primaryKey: ["orderId"]))
        let radius =
            "SELECT COUNT(*) FROM w1 WHERE ST_DISTANCE(location_st_point, ST_Point(-122.44469, 37.75680, 1)) < 6500"
        let table = try LiveTable(config: config)
        let start = DispatchTime.now().uptimeNanoseconds
        table.reserveCapacity(additionalRows: data.count)  // as a catch-up from the log does
        BenchIngest.ingest(table, data)
        // Until queryable: the first query brings the deferred spatial index up to date.
        _ = try table.query(radius)
        let ingestSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let rows = table.rowCount

        let scan =
            "SELECT COUNT(*) FROM w1 WHERE ST_DISTANCE(location_st_point, ST_Point(-122.44469, 37.75680, 1)) + 0 < 6500"
        let groupBy = "SELECT restaurantId, COUNT(*) FROM w1 GROUP BY restaurantId LIMIT 1000"
        func time(_ sql: String, _ repetitions: Int) throws -> (ms: Double, result: QueryResult) {
            var result = try table.query(sql)  // warm
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<repetitions { result = try table.query(sql) }
            return (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 / Double(repetitions), result)
        }
        let queries = self.queries
        let indexed = try time(radius, queries)
        let scanned = try time(scan, max(1, queries / 20))
        let grouped = try time(groupBy, max(1, queries / 4))
        let hits = indexed.result.rows.first?.first?.description ?? "?"
        let scanHits = scanned.result.rows.first?.first?.description ?? "?"
        guard hits == scanHits else { throw ValidationError("index (\(hits)) and scan (\(scanHits)) disagree") }
        let notes =
            "rows=\(rows) hits=\(hits) (reference 10541); \(String(format: "%.4f", indexed.ms)) ms/query with the spatial index, "
            + "\(String(format: "%.3f", scanned.ms)) ms/query full scan, group-by count over \(rows) rows "
            + "\(String(format: "%.3f", grouped.ms)) ms (\(grouped.result.rows.count) groups); upsert ingest of \(data.count) JSON events "
            + "\(String(format: "%.0f", Double(data.count) / ingestSeconds)) rows/s (\(String(format: "%.2f", ingestSeconds)) s, "
            + "until the first query has brought the spatial index up to date)"
        report(
            "W4", records: queries, bytes: 0, seconds: indexed.ms * Double(queries) / 1e3, notes: notes,
            extra: [
                "ms_per_query": indexed.ms, "ms_per_query_scan": scanned.ms, "ms_per_group_by": grouped.ms,
                "ingest_rows_per_s": Double(data.count) / ingestSeconds, "hits": Int(hits) ?? -1,
            ])
    }
}

enum BenchIngest {
    /// Feeds every line of the dataset to the table, 8,192 per lock round.
    static func ingest(_ table: LiveTable, _ data: Dataset) {
        var index = 0
        while index < data.count {
            let end = min(index + 8192, data.count)
            table.ingestBatch { ingest in
                for i in index..<end {
                    ingest(
                        UnsafeRawBufferPointer(rebasing: data.bytes[data.starts[i]..<data.starts[i] + data.lengths[i]]),
                        nil, 0)
                }
            }
            index = end
        }
    }
}

extension Bench {
    /// W4-scaling: the W4 radius query (6,500 m around (-122.44469, 37.75680)) against tables of 10^3 …
    /// 10^7 rows of points spread like W1's (a 0.6° square around San Francisco, a fixed seed): one JSON
    /// line per size with the query time through the index and through a full scan, and the ingest rate.
    func runW4Scaling() throws {
        let config = TableConfig(
            name: "points", topic: "points",
            columns: [
                ColumnDefinition("id", .long), ColumnDefinition("lat", .double), ColumnDefinition("lon", .double),
                ColumnDefinition("location_st_point", .point, transform: "toSphericalGeography(stPoint(lon, lat))"),
            ])
        let radius =
            "SELECT COUNT(*) FROM points WHERE ST_DISTANCE(location_st_point, ST_Point(-122.44469, 37.75680, 1)) < 6500"
        let scan = radius.replacingOccurrences(of: ") < 6500", with: ") + 0 < 6500")
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Double {  // splitmix64 → [0, 1)
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        for exponent in 3...7 {
            let rows = Int(pow(10, Double(exponent)))
            let table = try LiveTable(config: config)
            table.reserveCapacity(additionalRows: rows)
            var line: [UInt8] = []
            line.reserveCapacity(128)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var done = 0
            while done < rows {
                let end = min(done + 8192, rows)
                table.ingestBatch { ingest in
                    for i in done..<end {
                        line.removeAll(keepingCapacity: true)
                        let lat = 37.45 + next() * 0.6, lon = -122.75 + next() * 0.6
                        line.append(contentsOf: #"{"id":\#(i),"lat":\#(lat),"lon":\#(lon)}"#.utf8)
                        line.withUnsafeBytes { ingest($0, nil, 0) }
                    }
                }
                done = end
            }
            _ = try table.query(radius)  // brings the deferred index up to date
            let ingestSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            func time(_ sql: String, _ repetitions: Int) throws -> (Double, String) {
                var result = try table.query(sql)
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<repetitions { result = try table.query(sql) }
                let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(repetitions)
                return (ms, result.rows.first?.first?.description ?? "?")
            }
            let (indexed, hits) = try time(radius, max(20, 200_000 / rows))
            let (scanned, scanHits) = try time(scan, max(3, 20_000 / rows))
            guard hits == scanHits else {
                throw ValidationError("index (\(hits)) and scan (\(scanHits)) disagree at \(rows) rows")
            }
            report(
                "W4-scaling", records: rows, bytes: 0, seconds: indexed / 1e3,
                notes:
                    "\(rows) rows, \(hits) within 6,500 m; \(String(format: "%.4f", indexed)) ms/query with the index, "
                    + "\(String(format: "%.3f", scanned)) ms full scan; ingest \(String(format: "%.0f", Double(rows) / ingestSeconds)) rows/s "
                    + "(including formatting each JSON line)",
                extra: ["rows": rows, "hits": Int(hits) ?? -1, "ms_per_query": indexed, "ms_per_query_scan": scanned])
        }
    }
}
