public import EventLog
import EventLogFoundation
import Foundation
import Hummingbird
public import LiveViews
public import Logging
import Metrics
import NIOCore
import Prometheus
public import ServiceLifecycle
public import Simulator

/// What `eventlog serve --http` listens on and how it bounds its clients.
public struct WebServerConfiguration: Sendable {
    /// The address to listen on (port 0: any free port).
    public var host: String
    public var port: Int
    /// The largest request body accepted (a query's JSON).
    public var maxBodyBytes = 1 << 20
    /// Server-Sent Events: read-ahead and patience per client (``EventStream``).
    public var stream = EventStream()
    /// Where the dashboard's libraries are: `leaflet/` and `chart.js/` as Debian installs them.
    public var javascriptDirectory = "/usr/share/javascript"
    /// The restaurants the order API assigns orders to (`assignOrder?restaurantId=`).
    public var restaurants: [Restaurant] = []
    /// The event-sourced services' API (`serve --services`), when they run.
    public var services: ServicesAPI?
    /// What the order API stamps on events (`lastModified`) and what `now()` is in its dispatch query.
    public var clock: any WallClock = SystemClock()

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// The log's HTTP API, on Hummingbird 2 (the HTTP server is not the product; the handlers are):
///
/// | route | answers |
/// |---|---|
/// | `GET /v1/topics` | every topic with its partitions' start and end offsets (JSON) |
/// | `GET /v1/stream/{topic}?from=earliest\\|latest\\|<offset>[&partition=<p>]` | the topic as Server-Sent Events, replayed then live (``EventStream``) |
/// | `POST /query/sql` | Pinot's broker API over the live views (``PinotQuery``) |
/// | `GET /metrics` | Prometheus text: per-partition end offsets and appended records, view lag, HTTP request durations (swift-metrics into swift-prometheus), stream counters, and the Kafka listener's counters when there is one |
/// | `GET /health` | `ok` |
/// | `GET /openapi.json` | the OpenAPI 3.1 description of these routes |
/// | `/v1/orders…`, `/v1/drivers…`, `/v1/restaurants` | the order-delivery HAL API (``OrderDeliveryAPI``) |
/// | `GET /` | the live dashboard (``Dashboard``) |
/// | `/v1/services/…`, `GET /services/` | the order saga's API and its pages (``ServicesAPI``), with `serve --services` |
///
/// Runs as a swift-service-lifecycle `Service`, beside the Kafka listener in one process that owns the log.
public final class WebServer: Service, Sendable {
    private let log: Log
    private let catalog: ViewCatalog
    private let configuration: WebServerConfiguration
    private let logger: Logger
    private let extraMetrics: @Sendable () -> String
    private let onListening: @Sendable (Int) -> Void
    private let requests = Locked<[String: Int]>([:])

    /// - Parameters:
    ///   - extraMetrics: More Prometheus text for `/metrics` (the Kafka listener's counters).
    ///   - onListening: Called with the bound port once the server accepts connections.
    public init(
        log: Log, catalog: ViewCatalog, configuration: WebServerConfiguration, logger: Logger,
        extraMetrics: @escaping @Sendable () -> String = { "" },
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.log = log
        self.catalog = catalog
        self.configuration = configuration
        self.logger = logger
        self.extraMetrics = extraMetrics
        self.onListening = onListening
    }

    /// Routes swift-metrics (HTTP request durations and counts from Hummingbird's `MetricsMiddleware`, the
    /// streams' record counter) into the Prometheus registry `/metrics` shows. Once per process, before
    /// ``run()``; without it those metrics are not collected and `/metrics` shows the log's own.
    public static func bootstrapMetrics() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    static let registry = PrometheusCollectorRegistry()

    public func run() async throws {
        let router = Router()
        router.middlewares.add(MetricsMiddleware())
        let log = self.log, catalog = self.catalog, configuration = self.configuration
        let requests = self.requests
        @Sendable func count(_ route: String) { requests.withLock { $0[route, default: 0] += 1 } }
        let orderAPI = OrderDeliveryAPI(
            log: log, catalog: catalog, restaurants: configuration.restaurants, clock: configuration.clock)
        orderAPI.register(on: router, count: count)
        let cachedReads = Counter(label: "eventlog_http_cached_reads_total")
        Dashboard.register(on: router, javascript: configuration.javascriptDirectory, count: count)
        configuration.services?.register(on: router, count: count)
        // Every live view follows its topic while the server runs, so queries and the dashboard read views
        // that are current (a query still catches its table up first).
        var followers: [ViewFollower] = []
        for config in (try? catalog.list()) ?? [] {
            if let table = try? catalog.open(config.name) { followers.append(table.follow(catalog)) }
        }
        defer { for follower in followers { follower.stop() } }
        router.get("/health") { _, _ in
            count("health")
            return "ok\n"
        }
        router.get("/openapi.json") { _, _ -> Response in
            count("openapi")
            return Self.json(configuration.services == nil ? OpenAPIDocument.json : OpenAPIDocument.jsonWithServices)
        }
        router.get("/v1/topics") { _, _ -> Response in
            count("topics")
            var json = JSONText()
            json.raw("[")
            for (i, topic) in log.topicNames().enumerated() {
                if i > 0 { json.raw(",") }
                json.raw("{\"name\":")
                json.string(topic)
                json.raw(",\"partitions\":[")
                let count = (try? log.partitionCount(topic)) ?? 0
                for partition in 0..<count {
                    if partition > 0 { json.raw(",") }
                    let (start, end) = (try? log.offsets(topic: topic, partition: partition)) ?? (0, 0)
                    json.raw("{\"partition\":\(partition),\"start\":\(start),\"end\":\(end)}")
                }
                json.raw("]}")
            }
            json.raw("]\n")
            return Self.json(json.text)
        }
        router.post("/query/sql") { request, _ -> Response in
            count("query")
            let body = try await request.body.collect(upTo: configuration.maxBodyBytes)
            let bytes = Array(body.readableBytesView)
            let answer = try await Self.offload { PinotQuery.answer(body: bytes, catalog: catalog) }
            return Self.json(answer)
        }
        router.get("/v1/stream/:topic") { request, context -> Response in
            count("stream")
            let topic = try context.parameters.require("topic")
            guard log.topicNames().contains(topic) else {
                return Self.problem(.notFound, "no topic '\(topic)'")
            }
            let start: StartPosition
            switch request.uri.queryParameters.get("from") ?? "latest" {
            case "earliest": start = .earliest
            case "latest": start = .latest
            case let text:
                guard let offset = Int64(text), offset >= 0 else {
                    return Self.problem(.badRequest, "from must be earliest, latest or an offset, not '\(text)'")
                }
                start = .offset(offset)
            }
            var partition: Int? = nil
            if let text = request.uri.queryParameters.get("partition") {
                guard let value = Int(text), value >= 0, value < (try log.partitionCount(topic)) else {
                    return Self.problem(.badRequest, "topic '\(topic)' has no partition '\(text)'")
                }
                partition = value
            }
            let events = try configuration.stream.events(log: log, topic: topic, partition: partition, from: start)
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream"
            headers[.cacheControl] = "no-cache"
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody(asyncSequence: events.map { ByteBuffer(string: $0) }))
        }
        let extraMetrics = self.extraMetrics
        router.get("/metrics") { _, _ -> Response in
            count("metrics")
            var text = "# HELP eventlog_topic_end_offset The next offset to be assigned, per partition.\n"
            text += "# TYPE eventlog_topic_end_offset gauge\n"
            for topic in log.topicNames() {
                for partition in 0..<((try? log.partitionCount(topic)) ?? 0) {
                    let end = (try? log.offsets(topic: topic, partition: partition).end) ?? 0
                    text += "eventlog_topic_end_offset{topic=\"\(topic)\",partition=\"\(partition)\"} \(end)\n"
                }
            }
            text += "# HELP eventlog_http_requests_total HTTP requests, per route.\n"
            text += "# TYPE eventlog_http_requests_total counter\n"
            for (route, n) in requests.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
                text += "eventlog_http_requests_total{route=\"\(route)\"} \(n)\n"
            }
            let streams = configuration.stream.open.counts
            text += "# HELP eventlog_http_streams_open Server-Sent Event streams being served.\n"
            text += "# TYPE eventlog_http_streams_open gauge\n"
            text += "eventlog_http_streams_open \(streams.open)\n"
            text += "# HELP eventlog_http_streams_dropped_total Streams ended because their client read too slowly.\n"
            text += "# TYPE eventlog_http_streams_dropped_total counter\n"
            text += "eventlog_http_streams_dropped_total \(streams.dropped)\n"
            text += "# HELP eventlog_appended_records_total Records appended since the server opened the log.\n"
            text += "# TYPE eventlog_appended_records_total counter\n"
            for topic in log.topicNames() {
                for partition in 0..<((try? log.partitionCount(topic)) ?? 0) {
                    let appended = (try? log.statistics(topic: topic, partition: partition).appendedRecords) ?? 0
                    text +=
                        "eventlog_appended_records_total{topic=\"\(topic)\",partition=\"\(partition)\"} \(appended)\n"
                }
            }
            text += "# HELP eventlog_view_lag_records Records of a live view's topic not yet ingested into it.\n"
            text += "# TYPE eventlog_view_lag_records gauge\n"
            for config in (try? catalog.list()) ?? [] {
                guard let table = try? catalog.open(config.name) else { continue }
                let next = table.nextOffsets
                var lag: Int64 = 0
                for partition in 0..<((try? log.partitionCount(config.topic)) ?? 0) {
                    let (start, end) = (try? log.offsets(topic: config.topic, partition: partition)) ?? (0, 0)
                    lag += max(0, end - max(start, next[partition] ?? 0))
                }
                text += "eventlog_view_lag_records{table=\"\(config.name)\"} \(lag)\n"
            }
            text += extraMetrics()
            text += Self.registry.emitToString()
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        let onListening = self.onListening
        let app = Application(
            router: router,
            server: .http1(
                configuration: .init(additionalChannelHandlers: [
                    CachedReadHandler(lookup: orderAPI.cachedRepresentation) { cachedReads.increment() }
                ])),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "eventlog"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
        // A graceful shutdown ends the event streams first: the server waits for responses in flight, and
        // a stream would never end by itself.
        let streams = configuration.stream.open
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: {
            streams.finishAll()
        }
    }

    static func json(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// An RFC 9457 problem body.
    static func problem(_ status: HTTPResponse.Status, _ detail: String) -> Response {
        var json = JSONText()
        json.raw("{\"status\":\(status.code),\"title\":")
        json.string(status.reasonPhrase)
        json.raw(",\"detail\":")
        json.string(detail)
        json.raw("}\n")
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: json.text)))
    }

    /// Runs blocking work (a query that catches a table up from the log) off the event loop threads.
    static func offload<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: body()) }
        }
    }
}
