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
        ],
        upsert: UpsertConfig(mode: .full, primaryKey: ["orderId"], comparisonColumn: "lastModified"),
        invertedIndexColumns: ["status"])

    /// `drivers`: the latest state of each driver, keyed by `driverId`, with `location_st_point`.
    public static let drivers = TableConfig(
        name: "drivers", topic: "drivers",
        columns: [
            ColumnDefinition("driverId", .string),
            ColumnDefinition("eventType", .string),
            ColumnDefinition("driverStatus", .string),
            ColumnDefinition("availabilityStatus", .string),
            ColumnDefinition("activityStatus", .string),
            ColumnDefinition("driverLat", .double),
            ColumnDefinition("driverLon", .double),
            ColumnDefinition("orderId", .string),
            ColumnDefinition("createdAt", .long),
            ColumnDefinition("lastModified", .long),
            ColumnDefinition(
                "location_st_point", .point, transform: "toSphericalGeography(stPoint(driverLon, driverLat))"),
        ],
        upsert: UpsertConfig(mode: .full, primaryKey: ["driverId"], comparisonColumn: "lastModified"),
        invertedIndexColumns: ["activityStatus", "availabilityStatus"])

    /// Both tables, by name.
    public static let all: [String: TableConfig] = ["orders": orders, "drivers": drivers]
}
