public import ArgumentParser
public import ChangeCapture
import EventLog
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// `eventlog cdc postgres`: change data capture from PostgreSQL into the log (Debezium's job).
struct CDC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cdc", abstract: "Change data capture from a database into the log.",
        subcommands: [CDCPostgres.self])
}

struct CDCPostgres: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres",
        abstract: "Stream a PostgreSQL database's row changes into the log, exactly once, in Debezium's format.",
        discussion: """
            Reads the WAL through a logical replication slot (pgoutput) and a publication over --tables, both \
            created when missing; PostgreSQL needs wal_level=logical. Each change becomes a Debezium change \
            event (before, after, source, op c/u/d/r) on topic <prefix>.<schema>.<table>, keyed by the primary \
            key; a delete is followed by a tombstone. --outbox tables are routed like Debezium's outbox event \
            router instead. The slot is confirmed only after the records are durable, and records carry their \
            LSN, so a restart after a crash neither loses nor repeats a change. Runs until SIGINT or SIGTERM.

            Example: eventlog cdc postgres --url postgres://app@127.0.0.1:5432/shop --tables public.orders
                     eventlog cdc postgres --url postgres://app@127.0.0.1/shop --tables public.order_event \\
                       --outbox public.order_event --outbox-route-prefix debezium. \\
                       --outbox-column id=event_id --outbox-column key=aggregate_id \\
                       --outbox-column route=aggregate_type --outbox-column payload=order_payload
            """)
    @OptionGroup var options: GlobalOptions

    @Option(help: "postgres://user[:password]@host[:port]/database (the password may come from $PGPASSWORD).")
    var url: String

    @Option(help: "Comma-separated tables to capture, schema.table (outbox tables included).")
    var tables: String

    @Option(help: "The logical replication slot (created when missing).")
    var slot = "eventlog"

    @Option(help: "The publication (created or extended when needed; default: the slot's name).")
    var publication: String?

    @Option(help: "Topic prefix: change events go to <prefix>.<schema>.<table>.")
    var prefix = "cdc"

    @Option(help: "initial: read the tables' rows (op r) when the slot is created, then stream; never: stream only.")
    var snapshot: PostgresCapture.SnapshotMode = .initial

    @Option(help: "Comma-separated outbox tables, routed by aggregate type instead of captured as change events.")
    var outbox: String?

    @Option(help: "Outbox topic = this prefix + the route column's value (Debezium's default: outbox.event.).")
    var outboxRoutePrefix = "outbox.event."

    @Option(
        help: ArgumentHelp(
            "Outbox column names, [TABLE:]ROLE=COLUMN; roles id, key, route, payload (defaults id, aggregateid, aggregatetype, payload) and order (orders the rows the initial snapshot reads; default: oldest transaction first); with TABLE, for that outbox table only.",
            valueName: "role=column"))
    var outboxColumn: [String] = []

    @Option(help: ArgumentHelp("Carry an outbox column as a header, COLUMN=HEADER.", valueName: "column=header"))
    var outboxHeader: [String] = []

    @Option(help: "Partitions of each topic created (records are placed by key, like Kafka's default partitioner).")
    var partitions = 1

    @Option(help: "Largest record a created topic accepts, in bytes.")
    var maxRecordBytes = 16 << 20

    @Option(
        help:
            "Durability of created topics: sync (confirmed changes survive power loss), none or interval:MS (they survive kill -9; PostgreSQL will not send them again)."
    )
    var durability: DurabilityPolicy = .sync

    @Option(help: "Most changes read per poll of the slot.")
    var maxChangesPerPoll = 20_000

    func run() async throws {
        let logger = options.logger()
        let url: PostgresURL
        do { url = try PostgresURL(self.url) } catch { throw ValidationError(error.message) }
        let list = tables.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !list.isEmpty else { throw ValidationError("--tables names no table") }
        var configuration = PostgresCapture.Configuration(url: url, tables: list)
        configuration.slot = slot
        configuration.publication = publication
        configuration.topicPrefix = prefix
        configuration.snapshot = snapshot
        configuration.maxChangesPerPoll = maxChangesPerPoll
        configuration.topicConfiguration.partitions = partitions
        configuration.topicConfiguration.maxRecordBytes = maxRecordBytes
        configuration.topicConfiguration.durability = durability
        if let outbox {
            var router = OutboxRouter.Configuration(
                tables: Set(outbox.split(separator: ",").map { $0.contains(".") ? String($0) : "public." + $0 }))
            router.routePrefix = outboxRoutePrefix
            for pair in outboxColumn {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else {
                    throw ValidationError("--outbox-column wants [TABLE:]ROLE=COLUMN, got '\(pair)'")
                }
                // ROLE or schema.table:ROLE (a table's own name for the column).
                let scope = parts[0].split(separator: ":", maxSplits: 1).map(String.init)
                guard let role = OutboxRouter.Role(rawValue: scope.last ?? "") else {
                    throw ValidationError(
                        "--outbox-column role '\(scope.last ?? "")' is not one of id, key, route, payload, order")
                }
                if scope.count == 2 {
                    let table = scope[0].contains(".") ? scope[0] : "public." + scope[0]
                    guard router.tables.contains(table) else {
                        throw ValidationError("--outbox-column names \(table), which is not in --outbox")
                    }
                    router.tableColumns[table, default: [:]][role] = parts[1]
                } else {
                    switch role {
                    case .id: router.idColumn = parts[1]
                    case .key: router.keyColumn = parts[1]
                    case .route: router.routeColumn = parts[1]
                    case .payload: router.payloadColumn = parts[1]
                    case .order: router.orderColumn = parts[1]
                    }
                }
            }
            for pair in outboxHeader {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else {
                    throw ValidationError("--outbox-header wants COLUMN=HEADER, got '\(pair)'")
                }
                router.headers[parts[0]] = parts[1]
            }
            let unknown = router.tables.subtracting(configuration.tables)
            guard unknown.isEmpty else {
                throw ValidationError("--outbox \(unknown.sorted().joined(separator: ",")) must also be in --tables")
            }
            configuration.outbox = router
        }
        let log = try options.openLog()
        let capture = PostgresCapture(log: log, configuration: configuration, logger: logger)
        let service = CaptureService(capture: capture)
        let group = ServiceGroup(
            configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try? log.close()
            if let error = error as? CaptureError { throw ValidationError("eventlog cdc postgres: \(error)") }
            throw error
        }
        try log.close()
        let s = capture.statistics
        print(
            "eventlog cdc: stopped; \(s.transactions) transactions, \(s.changes) changes, \(s.recordsAppended) records "
                + "appended (\(s.recordsSkipped) already present), \(s.snapshotRows) snapshot rows; slot confirmed to "
                + "\(format(s.confirmedLSN)); commit→log p50 \(ms(s.latencyMilliseconds(0.5))) p99 "
                + "\(ms(s.latencyMilliseconds(0.99))); the log was closed cleanly")
    }
}

extension PostgresCapture.SnapshotMode: ExpressibleByArgument {}

private func ms(_ value: Double?) -> String { value.map { String(format: "%.2f ms", $0) } ?? "-" }

/// Runs capture until a graceful shutdown (SIGINT/SIGTERM) cancels it.
struct CaptureService: Service {
    let capture: PostgresCapture

    func run() async throws {
        let capture = self.capture
        try await cancelWhenGracefulShutdown {
            try await capture.run {
                let line =
                    "eventlog cdc: streaming from slot '\(capture.configuration.slot)' of \(capture.configuration.url)\n"
                _ = line.withCString { write(1, $0, strlen($0)) }
            }
        }
    }
}
