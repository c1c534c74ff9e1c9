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
/// order-delivery schema (`OrderDeliveryTables.orders`), and a driver's look runs the original's dispatch
/// query (``OrderDeliveryTables/dispatchQuery``, prepared once) with `now()` at the simulated time.
///
/// The first row wins (ties by distance go to the order prepared first).
final class ViewDispatch {
    let table: LiveTable
    private let dispatch: PreparedQuery
    private var numberOf: [String: Int] = [:]

    init() throws {
        table = try LiveTable(config: OrderDeliveryTables.orders)
        dispatch = try table.prepare(OrderDeliveryTables.dispatchQuery)
    }

    /// Ingests an order event's JSON, as the view would from the `orders` topic.
    func ingest(_ json: UnsafeRawBufferPointer) {
        table.ingestBatch { ingest in ingest(json, nil, 0) }
    }

    func prepared(_ order: Int, id: String) { numberOf[id] = order }
    func claimed(id: String) { numberOf[id] = nil }

    /// The order the dispatch query returns first, or nil.
    func nearest(to point: GeoPoint, within radius: Double, now: Int64) throws -> Int? {
        let result = try dispatch.run([.double(point.longitude), .double(point.latitude), .double(radius)], now: now)
        guard let first = result.rows.first, case .string(let id) = first[0] else { return nil }
        return numberOf[id]
    }
}
