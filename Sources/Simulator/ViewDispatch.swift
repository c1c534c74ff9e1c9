import EventLogFoundation
import LiveViews

/// How a waiting driver finds work.
public enum DispatchMode: String, Sendable, CaseIterable {
    /// The reference's dispatch query, run verbatim against a live `orders` view (LiveViews) that ingests
    /// every order event the simulator writes — what the original did with Pinot.
    case view
    /// The same question answered from the simulator's own grid of prepared orders: much faster, and
    /// tested to pick the nearest order too.
    case grid
}

/// Dispatch through a live view: the simulator feeds every order event into an upsert table with the
/// order-delivery schema (`OrderDeliveryTables.orders`), and a driver's look runs the dispatch query:
///
/// ```sql
/// SELECT orderId, lastModified as preparedAt,
///        ST_DISTANCE(location_st_point, ST_Point(<driverLon>, <driverLat>, 1)) as distance
/// FROM orders WHERE distance < 15000.0 AND status = 'ORDER_PREPARED'
/// ORDER BY distance ASC LIMIT 10
/// ```
///
/// prepared once, with placeholders for the driver's position and the radius.
///
/// The first row wins (ties by distance go to the order prepared first).
final class ViewDispatch {
    let table: LiveTable
    private let dispatch: PreparedQuery
    private var numberOf: [String: Int] = [:]

    init() throws {
        table = try LiveTable(config: OrderDeliveryTables.orders)
        // The reference query, with placeholders for the driver's position and the radius.
        dispatch = try table.prepare(
            """
            SELECT orderId, lastModified as preparedAt,
                   ST_DISTANCE(location_st_point, ST_Point(?, ?, 1)) as distance
            FROM orders WHERE distance < ? AND status = 'ORDER_PREPARED'
            ORDER BY distance ASC LIMIT 10
            """)
    }

    /// Ingests an order event's JSON, as the view would from the `orders` topic.
    func ingest(_ json: UnsafeRawBufferPointer) {
        table.ingestBatch { ingest in ingest(json, nil, 0) }
    }

    func prepared(_ order: Int, id: String) { numberOf[id] = order }
    func claimed(id: String) { numberOf[id] = nil }

    /// The order the dispatch query returns first, or nil.
    func nearest(to point: GeoPoint, within radius: Double) throws -> Int? {
        let result = try dispatch.run([.double(point.longitude), .double(point.latitude), .double(radius)], now: 0)
        guard let first = result.rows.first, case .string(let id) = first[0] else { return nil }
        return numberOf[id]
    }
}
