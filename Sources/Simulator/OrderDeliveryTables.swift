public import LiveViews

/// The analytic tables of the order-delivery demo over the simulator's `orders` and `drivers` topics. They
/// live with the simulator, which writes those fields, so the LiveViews engine knows no demo field names.
///
/// (Pinot's schemas from the original, FULL upsert by id with `lastModified` as the comparison column, so
/// ties go to the later event).
public enum OrderDeliveryTables {
    /// `orders`: the latest state of each order, keyed by `orderId`, with `location_st_point` (the order's
    /// current position) and `restaurant_st_point`.
    public static let orders = TableConfig(
        name: "orders", topic: "orders",
        columns: [
            ColumnDefinition("orderId", .string),
            ColumnDefinition("eventType", .string, path: "type"),
            ColumnDefinition("status", .string, path: "orderStatus"),
            ColumnDefinition("lat", .double, path: "orderLocationLat"),
            ColumnDefinition("lon", .double, path: "orderLocationLon"),
            ColumnDefinition("accountId", .string, path: "payload.accountId"),
            ColumnDefinition("driverId", .string, path: "payload.driverId"),
            ColumnDefinition("deliveryLat", .double, path: "payload.deliveryLat"),
            ColumnDefinition("deliveryLon", .double, path: "payload.deliveryLon"),
            ColumnDefinition("restaurantId", .string),
            ColumnDefinition("restaurantName", .string),
            ColumnDefinition("restaurantCity", .string),
            ColumnDefinition("restaurantCountry", .string),
            ColumnDefinition("restaurantLat", .double),
            ColumnDefinition("restaurantLon", .double),
            ColumnDefinition("createdAt", .long),
            ColumnDefinition("lastModified", .long),
            ColumnDefinition("location_st_point", .point, transform: "toSphericalGeography(stPoint(lon, lat))"),
            ColumnDefinition(
                "restaurant_st_point", .point, transform: "toSphericalGeography(stPoint(restaurantLon, restaurantLat))"),
            // The event's own fields under the original's names, as its Superset dataset reads them.
            ColumnDefinition("eventId", .string),
            ColumnDefinition("type", .string),
            ColumnDefinition("aggregateId", .string),
            ColumnDefinition("orderStatus", .string),
            ColumnDefinition("orderLocationLat", .double),
            ColumnDefinition("orderLocationLon", .double),
        ],
        upsert: UpsertConfig(mode: .full, primaryKey: ["orderId"], comparisonColumn: "lastModified"),
        invertedIndexColumns: ["status"])

    /// `drivers`: the latest state of each driver, keyed by `driverId`, with `location_st_point`. The events'
    /// `type` and `driverLocationLat`/`driverLocationLon` are the columns `eventType`, `driverLat`, `driverLon`,
    /// as the original's Pinot schema named them (so its driver-tracks query runs verbatim).
    public static let drivers = TableConfig(
        name: "drivers", topic: "drivers",
        columns: [
            ColumnDefinition("driverId", .string),
            ColumnDefinition("eventType", .string, path: "type"),
            ColumnDefinition("driverStatus", .string),
            ColumnDefinition("availabilityStatus", .string),
            ColumnDefinition("activityStatus", .string),
            ColumnDefinition("driverLat", .double, path: "driverLocationLat"),
            ColumnDefinition("driverLon", .double, path: "driverLocationLon"),
            ColumnDefinition("orderId", .string),
            ColumnDefinition("createdAt", .long),
            ColumnDefinition("lastModified", .long),
            ColumnDefinition(
                "location_st_point", .point, transform: "toSphericalGeography(stPoint(driverLon, driverLat))"),
        ],
        upsert: UpsertConfig(mode: .full, primaryKey: ["driverId"], comparisonColumn: "lastModified"),
        invertedIndexColumns: ["activityStatus", "availabilityStatus"])

    /// The original's driver dispatch query over `orders`, with placeholders for the driver's longitude and
    /// latitude (the original spliced them into the text) and for the radius (15000.0 in the original; the
    /// simulator's `--dispatch-radius`). `now()` is the caller's clock, so simulated time works: run it with
    /// `now:` set to the simulation's time.
    public static let dispatchQuery = """
        SELECT orderId, lastModified as preparedAt, (now() - lastModified) as preparedAge,
               ST_DISTANCE(location_st_point, ST_Point(?, ?, 1)) as distance
        FROM orders WHERE distance < ? AND status = 'ORDER_PREPARED'
        ORDER BY distance ASC LIMIT 10
        """

    /// Both tables, by name.
    public static let all: [String: TableConfig] = ["orders": orders, "drivers": drivers]
}
