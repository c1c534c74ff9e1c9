@_exported import TestSupport

@testable import LiveViews

/// The order table of the order-delivery demo, over the W1-like JSON used in these tests.
func ordersConfig(
    upsert: UpsertConfig? = UpsertConfig(mode: .full, primaryKey: ["orderId"], comparisonColumn: "lastModified")
)
    -> TableConfig
{
    TableConfig(
        name: "orders", topic: "orders",
        columns: [
            ColumnDefinition("orderId", .string),
            ColumnDefinition("restaurantId", .string),
            ColumnDefinition("accountId", .string),
            ColumnDefinition("status", .string),
            ColumnDefinition("lat", .double),
            ColumnDefinition("lon", .double),
            ColumnDefinition("restaurantLat", .double),
            ColumnDefinition("restaurantLon", .double),
            ColumnDefinition("restaurantCity", .string),
            ColumnDefinition("lastModified", .long),
            ColumnDefinition("location_st_point", .point, transform: "toSphericalGeography(stPoint(lon, lat))"),
        ],
        upsert: upsert)
}

func orderJSON(
    _ id: String, status: String, lat: Double, lon: Double, time: Int64, restaurant: String = "rest-1",
    city: String = "San Francisco"
) -> String {
    """
    {"orderId":"\(id)","restaurantId":"\(restaurant)","accountId":"acct-\(id)","status":"\(status)","lat":\(lat),"lon":\(lon),\
    "restaurantLat":37.7,"restaurantLon":-122.4,"restaurantCity":"\(city)","lastModified":\(time)}
    """
}

extension QueryResult {
    /// The single value of a one-row, one-column result.
    var scalar: SQLValue? { rows.count == 1 && rows[0].count == 1 ? rows[0][0] : nil }
}
