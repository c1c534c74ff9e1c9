import EventLog
import LiveViews
import Testing

@Suite("README sample (live views)")
struct LiveViewsReadmeTests {
    @Test("the README's live-view sample compiles and answers the dispatch query")
    func readmeSample() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("orders", configuration: TopicConfiguration(partitions: 2))
        for (i, (lat, status)) in [
            (37.7568, "ORDER_PREPARED"), (37.7600, "ORDER_PREPARED"), (37.7570, "ORDER_CREATED"),
        ].enumerated() {
            let json =
                #"{"orderId":"o\#(i)","orderStatus":"\#(status)","orderLocationLat":\#(lat),"orderLocationLon":-122.4447,"lastModified":\#(i)}"#
            try log.append(ProducerRecord(key: "o\(i)", value: json), to: "orders")
        }
        var printed: [String] = []
        func print(_ value: Any) { printed.append("\(value)") }
        // --- README live-view sample (keep in sync) ---
        let catalog = ViewCatalog(log: log)
        try catalog.create(
            TableConfig(
                name: "orders", topic: "orders",
                columns: [
                    ColumnDefinition("orderId", .string),
                    ColumnDefinition("status", .string, path: "orderStatus"),
                    ColumnDefinition("lat", .double, path: "orderLocationLat"),
                    ColumnDefinition("lon", .double, path: "orderLocationLon"),
                    ColumnDefinition("lastModified", .long),
                    ColumnDefinition(
                        "location_st_point", .point, transform: "toSphericalGeography(stPoint(lon, lat))"),
                ],
                upsert: UpsertConfig(mode: .full, primaryKey: ["orderId"], comparisonColumn: "lastModified")))
        let orders = try catalog.open("orders")  // loads its snapshot, catches up to the end of the topic
        let follower = orders.follow(catalog)  // keeps it current in the background
        let nearest = try orders.query(
            """
            SELECT orderId, ST_DISTANCE(location_st_point, ST_Point(-122.4447, 37.7568, 1)) AS distance
            FROM orders WHERE distance < 15000 AND status = 'ORDER_PREPARED'
            ORDER BY distance LIMIT 10
            """)
        for row in nearest.rows { print(row) }  // ["o0", 0.0], ["o1", 355.8…]
        follower.stop()
        // --- end of sample ---
        #expect(printed.count == 2)
        #expect(printed.first == #"[o0, 0.0]"#)
        #expect(printed.last?.hasPrefix("[o1, 355.8") == true)
    }
}
