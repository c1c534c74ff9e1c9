import ArgumentParser
import ChangeCapture
import EventLog
import EventLogFoundation
import Foundation
import KafkaServer
import LiveViews
import Logging
import PostgresNIO
import ServiceLifecycle
import Services
import Simulator
import UnixSignals
import WebServer

#if canImport(Glibc)
    import Glibc
#endif

/// `eventlog serve`: the log as a network server. `--kafka HOST:PORT` speaks Kafka's wire protocol, `--http
/// HOST:PORT` the HTTP API (topics, Server-Sent Events, Pinot-style SQL, Prometheus metrics); one or both.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the log over the network: Kafka's wire protocol (--kafka) and HTTP (--http).",
        discussion: """
            One process owns the log as its writer; other processes (eventlog tail, consume, query) can still \
            read it. Retention and compaction run in the background every --maintenance-interval seconds. \
            SIGINT or SIGTERM stops accepting connections, finishes the requests in flight and closes the log \
            cleanly.

            Example: eventlog serve --kafka 127.0.0.1:9092 --http 127.0.0.1:8080
                     kcat -b 127.0.0.1:9092 -L
                     curl -s 127.0.0.1:8080/query/sql -d '{"sql": "SELECT COUNT(*) FROM orders"}'
                     curl -sN '127.0.0.1:8080/v1/stream/orders?from=earliest'
                     eventlog serve --http 127.0.0.1:8080 --simulate --speed 60   (orders move live)
            """)
    @OptionGroup var options: GlobalOptions

    @Option(help: "Listen for Kafka clients on HOST:PORT (port 0: any free port, printed at start).")
    var kafka: String?

    @Option(help: "Serve the HTTP API on HOST:PORT (port 0: any free port, printed at start).")
    var http: String?

    @Flag(help: "Also run the order-delivery simulator inside the server, writing live (its options below).")
    var simulate = false

    @Option(help: "With --simulate: simulated seconds per real second.")
    var speed: Double = 60

    @OptionGroup(title: "Simulation (with --simulate; the restaurants are also the order API's)")
    var simulation: SimulationOptions

    @Flag(
        help:
            "With --http: run the event-sourced services and their order saga (accounts, items and stock loaded on first start), their API under /v1/services and the order board at /services/."
    )
    var services = false

    @Option(help: "With --services: items in the catalog (each stocked at 10 locations).")
    var servicesItems = 100

    @Option(
        help:
            "With --services: the catalog's PostgreSQL (postgres://…). Its table catalog_item (created and filled when missing) is captured into the log, and each price change reaches the services (changes by 'inventory' are its own and skipped); /services/prices.html shows them arriving."
    )
    var servicesCatalog: String?

    @Option(help: "Server-Sent Events: events read ahead of a client, at most.")
    var streamBuffer = 1_024

    @Option(help: "Server-Sent Events: seconds a client may leave its read-ahead full before it is dropped.")
    var slowClientSeconds = 10.0

    @Option(help: "Where the dashboard finds Leaflet and Chart.js (Debian's libjs-leaflet and libjs-chart.js).")
    var javascriptDir = "/usr/share/javascript"

    @Option(help: "The HOST:PORT clients are told to connect to (default: the --kafka address).")
    var advertise: String?

    @Option(help: "Partitions of topics created on first use (Kafka's num.partitions).")
    var defaultPartitions = 1

    @Flag(inversion: .prefixedNo, help: "Create unknown topics when a client asks for them.")
    var autoCreateTopics = true

    @Option(help: "The largest request frame accepted, in bytes (Kafka's socket.request.max.bytes).")
    var maxRequestBytes = 100 << 20

    @Option(help: "Run retention and compaction every this many seconds.")
    var maintenanceInterval: Double = 60

    func validate() throws {
        guard kafka != nil || http != nil else {
            throw ValidationError("give --kafka HOST:PORT, --http HOST:PORT or both")
        }
        if let kafka { _ = try Self.address(kafka) }
        if let http { _ = try Self.address(http) }
        guard speed > 0 else { throw ValidationError("--speed must be positive") }
        guard streamBuffer >= 2 else { throw ValidationError("--stream-buffer must be at least 2") }
        guard slowClientSeconds > 0 else { throw ValidationError("--slow-client-seconds must be positive") }
        if let advertise { _ = try Self.address(advertise) }
        guard defaultPartitions >= 1 else { throw ValidationError("--default-partitions must be at least 1") }
        guard maxRequestBytes >= 1024 else { throw ValidationError("--max-request-bytes must be at least 1024") }
        guard maintenanceInterval > 0 else { throw ValidationError("--maintenance-interval must be positive") }
    }

    /// Prints a start-up line unbuffered, so a script waiting for it (with the port) sees it at once.
    static func announce(_ text: String) {
        let line = "eventlog serve: " + text + "\n"
        _ = line.withCString { write(1, $0, strlen($0)) }
    }

    static func address(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port), colon != text.startIndex
        else { throw ValidationError("'\(text)' is not HOST:PORT (e.g. 127.0.0.1:9092)") }
        return (String(text[..<colon]), port)
    }

    func run() async throws {
        let logger = options.logger()
        var logConfiguration = Log.Configuration(logger: logger)
        logConfiguration.maintenanceIntervalMilliseconds = Int64(maintenanceInterval * 1000)
        let log = try Log(directory: options.directory, configuration: logConfiguration)
        // The demo's topics (one partition: the order API's event streams) and tables, before any service starts,
        // so the HTTP listener follows the tables and /query/sql answers over the simulated orders and drivers.
        if simulate || http != nil { try OrderDeliveryTopics.prepare(log, logger: logger) }
        var services: [any Service] = []
        var kafkaServer: KafkaServer? = nil
        if let kafka {
            let (host, port) = try Self.address(kafka)
            var configuration = KafkaServerConfiguration(host: host, port: port)
            if let advertise {
                let (advertisedHost, advertisedPort) = try Self.address(advertise)
                configuration.advertisedHost = advertisedHost
                configuration.advertisedPort = advertisedPort
            }
            configuration.defaultPartitions = defaultPartitions
            configuration.autoCreateTopics = autoCreateTopics
            configuration.maxRequestBytes = maxRequestBytes
            let server = KafkaServer(log: log, configuration: configuration, logger: logger) { port in
                Self.announce("Kafka protocol on \(host):\(port), log \(options.directory)")
            }
            kafkaServer = server
            services.append(server)
        }
        if let http {
            let (host, port) = try Self.address(http)
            WebServer.bootstrapMetrics()
            var configuration = WebServerConfiguration(host: host, port: port)
            configuration.stream.bufferedEvents = streamBuffer
            configuration.stream.slowClientSeconds = slowClientSeconds
            configuration.javascriptDirectory = javascriptDir
            configuration.restaurants = try simulation.restaurants()
            if self.services {
                let (streams, engine) = try Self.startServices(log: log, items: servicesItems)
                var follower: PriceChangeFollower?
                if let servicesCatalog {
                    let url: PostgresURL
                    do { url = try PostgresURL(servicesCatalog) } catch { throw ValidationError(error.message) }
                    try Self.prepareCatalog(url, items: servicesItems, engine: engine, logger: logger)
                    var capture = PostgresCapture.Configuration(url: url, tables: ["public.catalog_item"])
                    capture.slot = "eventlog_catalog"
                    capture.topicPrefix = "cdc"
                    capture.topicConfiguration.durability = .none
                    services.append(
                        CaptureService(capture: PostgresCapture(log: log, configuration: capture, logger: logger)))
                    follower = PriceChangeFollower(log: log, topic: "cdc.public.catalog_item", engine: engine)
                }
                configuration.services = ServicesAPI(engine: engine, streams: streams, prices: follower)
                services.append(ServicesEngineService(engine: engine, follower: follower))
            }
            let web = WebServer(
                log: log, catalog: ViewCatalog(log: log, logger: logger), configuration: configuration, logger: logger,
                extraMetrics: { [kafkaServer] in kafkaServer?.metricsText() ?? "" }
            ) { port in
                Self.announce("HTTP on \(host):\(port), log \(options.directory)")
            }
            services.append(web)
        }
        if simulate {
            services.append(
                SimulationService(
                    log: log, speed: speed, restaurants: try simulation.restaurants(),
                    configuration: try simulation.configuration(.serve), logger: logger))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try? log.close()
            throw error
        }
        try log.close()
        print("eventlog serve: stopped; the log was closed cleanly")
    }

    /// Opens the services on the log, loads the demo data when missing, starts the engine.
    static func startServices(log: Log, items: Int) throws -> (EventStreams, ServicesEngine) {
        let orderServices = try OrderServices(log: log)
        let streams = orderServices.streams
        let engine = ServicesEngine(services: orderServices)
        var data = ServiceDataSet()
        data.items = items
        data.locations = 10
        try data.load(into: engine)
        return (streams, engine)
    }
}

/// Stops the price follower and then the services' engine when the server shuts down (after what is queued),
/// before the log closes.
struct ServicesEngineService: Service {
    let engine: ServicesEngine
    let follower: PriceChangeFollower?
    func run() async throws {
        try? await gracefulShutdown()
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                follower?.stop()
                engine.stop()
                continuation.resume()
            }
        }
    }
}

extension Serve {
    /// The catalog's table in PostgreSQL: created when missing and filled with the services' items and prices.
    static func prepareCatalog(_ url: PostgresURL, items: Int, engine: ServicesEngine, logger: Logger) throws {
        let prices = Locked<[(String, String, Int64)]>([])
        try engine.performAndWait { services in
            let list = services.items.values.sorted { $0.id < $1.id }.map { ($0.id, $0.name, $0.price) }
            prices.withLock { $0 = list }
        }
        let rows = prices.withLock { $0 }
        try blocking {
            let connection = try await PostgresConnection.connect(
                configuration: url.connectionConfiguration, id: 2, logger: logger)
            do {
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS catalog_item (item_id text PRIMARY KEY, name text NOT NULL,
                      price bigint NOT NULL, last_updated_by text NOT NULL DEFAULT 'catalog',
                      updated_at timestamptz NOT NULL DEFAULT now())
                    """, logger: logger)
                var binds = PostgresBindings()
                binds.append(rows.map(\.0))
                binds.append(rows.map(\.1))
                binds.append(rows.map { String($0.2) })
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            INSERT INTO catalog_item (item_id, name, price)
                            SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING
                            """, binds: binds), logger: logger)
            } catch {
                try? await connection.close()
                throw error
            }
            try await connection.close()
        }
    }
}
