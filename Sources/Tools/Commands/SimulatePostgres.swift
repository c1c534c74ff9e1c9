import ArgumentParser
import ChangeCapture
import EventLogFoundation
import Foundation
import Logging
import PostgresNIO
import Simulator

/// `eventlog simulate --sink postgres`: the original order-delivery system's write side. Each simulated second
/// becomes one PostgreSQL transaction that upserts the changed aggregates (`orders`, `drivers`) and inserts
/// every event into the outbox tables (`order_event`, `driver_event`, the original's columns) — the
/// transactional outbox that `eventlog cdc postgres --outbox` relays into the log.
///
/// Invariants:
/// - An event's outbox row commits in the same transaction as its aggregate's new state, never without it.
/// - Outbox rows are inserted in emission order (`WITH ORDINALITY … ORDER BY`), so each aggregate's events
///   reach the WAL — and the relay's topics — in the order the simulator produced them; their `seq` (a
///   `bigserial`) numbers them in that order, for a relay's initial snapshot (`--outbox-column order=seq`).
/// - The `*_payload` columns are `json`, which keeps the text as written: the relayed value is byte for byte
///   the snapshot `simulate --topics debezium` writes for the same seed.
///
/// The simulation thread fills one batch per simulated second and hands it to a writer thread (a bounded
/// queue of two, so a slow database slows the simulation instead of growing memory); the writer runs the
/// transaction on postgres-nio and waits for it.
final class PostgresOutboxSink: SimulationSink, SimulationOutput, @unchecked Sendable {
    /// Created when missing; rows are never updated or deleted by the sink, only inserted (outbox) or upserted
    /// (aggregates).
    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS orders (
            order_id text PRIMARY KEY, order_status text NOT NULL, restaurant_id text, payload json NOT NULL,
            created_at bigint NOT NULL, last_modified bigint NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS drivers (
            driver_id text PRIMARY KEY, driver_status text NOT NULL, order_id text, payload json NOT NULL,
            created_at bigint NOT NULL, last_modified bigint NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS order_event (
            event_id text PRIMARY KEY, seq bigserial NOT NULL, order_id text NOT NULL, type text NOT NULL, order_status text,
            aggregate_id text NOT NULL, aggregate_type text NOT NULL,
            order_location_lat double precision, order_location_lon double precision,
            restaurant_id text, restaurant_name text, restaurant_city text, restaurant_country text,
            restaurant_lat double precision, restaurant_lon double precision,
            order_payload json NOT NULL, created_at bigint NOT NULL, last_modified bigint NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS driver_event (
            event_id text PRIMARY KEY, seq bigserial NOT NULL, driver_id text NOT NULL, type text NOT NULL, driver_status text,
            availability_status text, activity_status text,
            driver_location_lat double precision, driver_location_lon double precision, order_id text,
            aggregate_id text NOT NULL, aggregate_type text NOT NULL,
            driver_payload json NOT NULL, created_at bigint NOT NULL, last_modified bigint NOT NULL)
        """,
    ]

    /// The `eventlog cdc postgres` arguments that relay this schema's outbox like the original's Debezium
    /// connector (topics `debezium.Order` and `debezium.Driver`).
    static let relayArguments = [
        "--tables", "public.order_event,public.driver_event", "--outbox", "public.order_event,public.driver_event",
        "--outbox-route-prefix", "debezium.", "--outbox-column", "id=event_id", "--outbox-column", "key=aggregate_id",
        "--outbox-column", "route=aggregate_type", "--outbox-column", "public.order_event:payload=order_payload",
        "--outbox-column", "public.driver_event:payload=driver_payload", "--outbox-column", "order=seq",
    ]

    private var orderEvents: [String] = []
    private var driverEvents: [String] = []
    private let writer: Writer

    /// Events committed so far.
    var appended: Int64 { writer.lock.withLock { writer.committed } }

    /// Connects and creates the tables when missing.
    init(url: PostgresURL, logger: Logger) throws {
        let connection = try blocking {
            try await PostgresConnection.connect(configuration: url.connectionConfiguration, id: 1, logger: logger)
        }
        writer = Writer(connection: connection, logger: logger)
        try writer.run("create the tables") {
            for statement in Self.schema {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
    }

    deinit { writer.stop() }

    func emit(_ topic: SimulationTopic, key: String, value: UnsafeRawBufferPointer, timestamp: Int64) throws {
        // The simulator writes valid UTF-8 JSON; PostgreSQL checks it again on the ::json cast.
        if topic == .orders {
            orderEvents.append(String(decoding: value, as: UTF8.self))
        } else {
            driverEvents.append(String(decoding: value, as: UTF8.self))
        }
    }

    func tick(_ now: Int64) throws {
        guard !orderEvents.isEmpty || !driverEvents.isEmpty else { return }
        try writer.enqueue(Batch(simulated: now, orders: orderEvents, drivers: driverEvents))
        orderEvents.removeAll(keepingCapacity: true)
        driverEvents.removeAll(keepingCapacity: true)
    }

    /// Commits what is buffered and waits for every transaction; throws the first failure.
    func flush() throws {
        try tick(0)
        try writer.waitUntilWritten()
    }

    /// One simulated second's events: one transaction.
    struct Batch: Sendable {
        var simulated: Int64
        var orders: [String]
        var drivers: [String]
    }

    private static let insertOrderEvents = """
        INSERT INTO order_event (event_id, order_id, type, order_status, aggregate_id, aggregate_type,
            order_location_lat, order_location_lon, restaurant_id, restaurant_name, restaurant_city,
            restaurant_country, restaurant_lat, restaurant_lon, order_payload, created_at, last_modified)
        SELECT e->>'eventId', e->>'orderId', e->>'type', e->>'orderStatus', e->>'aggregateId', e->>'aggregateType',
            (e->>'orderLocationLat')::float8, (e->>'orderLocationLon')::float8, e->>'restaurantId',
            e->>'restaurantName', e->>'restaurantCity', e->>'restaurantCountry', (e->>'restaurantLat')::float8,
            (e->>'restaurantLon')::float8, e->'payload', (e->>'createdAt')::bigint, (e->>'lastModified')::bigint
        FROM unnest($1::json[]) WITH ORDINALITY AS t(e, n) ORDER BY n
        """
    private static let upsertOrders = """
        INSERT INTO orders (order_id, order_status, restaurant_id, payload, created_at, last_modified)
        SELECT DISTINCT ON (e->>'aggregateId') e->>'aggregateId', e->>'orderStatus', e->>'restaurantId', e->'payload',
            (e->>'createdAt')::bigint, (e->>'lastModified')::bigint
        FROM unnest($1::json[]) WITH ORDINALITY AS t(e, n) ORDER BY e->>'aggregateId', n DESC
        ON CONFLICT (order_id) DO UPDATE SET order_status = EXCLUDED.order_status,
            restaurant_id = EXCLUDED.restaurant_id, payload = EXCLUDED.payload, last_modified = EXCLUDED.last_modified
        """
    private static let insertDriverEvents = """
        INSERT INTO driver_event (event_id, driver_id, type, driver_status, availability_status, activity_status,
            driver_location_lat, driver_location_lon, order_id, aggregate_id, aggregate_type, driver_payload,
            created_at, last_modified)
        SELECT e->>'eventId', e->>'driverId', e->>'type', e->>'driverStatus', e->>'availabilityStatus',
            e->>'activityStatus', (e->>'driverLocationLat')::float8, (e->>'driverLocationLon')::float8,
            e->>'orderId', e->>'aggregateId', e->>'aggregateType', e->'payload', (e->>'createdAt')::bigint,
            (e->>'lastModified')::bigint
        FROM unnest($1::json[]) WITH ORDINALITY AS t(e, n) ORDER BY n
        """
    private static let upsertDrivers = """
        INSERT INTO drivers (driver_id, driver_status, order_id, payload, created_at, last_modified)
        SELECT DISTINCT ON (e->>'aggregateId') e->>'aggregateId', e->>'driverStatus', e->'payload'->>'orderId',
            e->'payload', (e->>'createdAt')::bigint, (e->>'lastModified')::bigint
        FROM unnest($1::json[]) WITH ORDINALITY AS t(e, n) ORDER BY e->>'aggregateId', n DESC
        ON CONFLICT (driver_id) DO UPDATE SET driver_status = EXCLUDED.driver_status, order_id = EXCLUDED.order_id,
            payload = EXCLUDED.payload, last_modified = EXCLUDED.last_modified
        """

    /// The writer thread and what it shares with the simulation thread.
    private final class Writer: @unchecked Sendable {
        let connection: PostgresConnection
        let logger: Logger
        // Shared with the writer thread, guarded by `lock`.
        let lock = ConditionLock()
        private var queue: [Batch] = []
        private var busy = false
        private var stopping = false
        private var failure: (any Error)?
        var committed: Int64 = 0
        private var thread: WorkerThread?
        private static let maxQueued = 2

        init(connection: PostgresConnection, logger: Logger) {
            self.connection = connection
            self.logger = logger
        }

        /// Runs `body` on postgres-nio and waits for it; a PostgreSQL error becomes one naming `what` and the
        /// server's message.
        func run(_ what: String, _ body: @escaping @Sendable () async throws -> Void) throws {
            do {
                try blocking(body)
            } catch let error as PSQLError {
                let message = error.serverInfo?[.message] ?? String(describing: error.code)
                let detail = error.serverInfo?[.detail].map { " (\($0))" } ?? ""
                throw ValidationError("PostgreSQL refused to \(what): \(message)\(detail)")
            }
        }

        func enqueue(_ batch: Batch) throws {
            if thread == nil { thread = WorkerThread(name: "simulator-postgres") { [self] in loop() } }
            let failed = lock.withLock { () -> (any Error)? in
                while queue.count >= Self.maxQueued && failure == nil { lock.wait() }
                if failure == nil {
                    queue.append(batch)
                    lock.broadcast()
                }
                return failure
            }
            if let failed { throw failed }
        }

        func waitUntilWritten() throws {
            let failed = lock.withLock { () -> (any Error)? in
                while (!queue.isEmpty || busy) && failure == nil { lock.wait() }
                return failure
            }
            if let failed { throw failed }
        }

        func stop() {
            lock.withLock {
                stopping = true
                lock.broadcast()
            }
            thread?.join()
            let connection = self.connection
            try? blocking { try await connection.close() }
        }

        private func loop() {
            while true {
                let next = lock.withLock { () -> Batch? in
                    while queue.isEmpty && !stopping { lock.wait() }
                    if queue.isEmpty { return nil }
                    busy = true
                    return queue.removeFirst()
                }
                guard let batch = next else { return }
                var error: (any Error)? = nil
                do {
                    try commit(batch)
                } catch let failed {
                    error = failed
                }
                lock.withLock {
                    if let error, failure == nil { failure = error }
                    if error == nil { committed += Int64(batch.orders.count + batch.drivers.count) }
                    busy = false
                    lock.broadcast()
                }
            }
        }

        private func commit(_ batch: Batch) throws {
            let connection = self.connection, logger = self.logger
            let second = batch.simulated / 1000
            try run("write the events of simulated second \(second)") {
                try await connection.query("BEGIN", logger: logger)
                do {
                    if !batch.orders.isEmpty {
                        try await connection.query(
                            Self.bound(PostgresOutboxSink.insertOrderEvents, batch.orders), logger: logger)
                        try await connection.query(
                            Self.bound(PostgresOutboxSink.upsertOrders, batch.orders), logger: logger)
                    }
                    if !batch.drivers.isEmpty {
                        try await connection.query(
                            Self.bound(PostgresOutboxSink.insertDriverEvents, batch.drivers), logger: logger)
                        try await connection.query(
                            Self.bound(PostgresOutboxSink.upsertDrivers, batch.drivers), logger: logger)
                    }
                    try await connection.query("COMMIT", logger: logger)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }

        private static func bound(_ sql: String, _ events: [String]) -> PostgresQuery {
            var bindings = PostgresBindings()
            bindings.append(events)
            return PostgresQuery(unsafeSQL: sql, binds: bindings)
        }
    }
}

/// Runs `body` on Swift's concurrency pool and blocks the calling thread until it ends: for synchronous
/// callers (the simulation loop, its writer thread) that are not on that pool themselves.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Locked<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        result.withLock { $0 = outcome }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}
