public import EventLog
public import EventLogFoundation
import Foundation
public import Logging
import NIOCore
import PostgresNIO

/// Debezium's job without Kafka: reads a PostgreSQL database's changes through logical decoding and appends
/// them to the log, exactly once.
///
/// **How it reads.** A logical replication slot with the built-in `pgoutput` plugin (why: ``PgOutputMessage``)
/// and a publication over the captured tables. postgres-nio has no replication-protocol connection, so the
/// connector polls the slot over an ordinary connection with `pg_logical_slot_peek_binary_changes` (at most
/// ``Configuration/maxChangesPerPoll`` changes, always ending at a commit) and moves the slot on with
/// `pg_replication_slot_advance` — the SQL interface to the same decoding a walsender does.
///
/// **Exactly once.** Invariants (attacked by the kill -9 tests):
/// 1. The slot is confirmed past a transaction only after its records are appended under the topics'
///    durability policy (`sync` by default: fsynced) (``CaptureWriter/write(_:)``). A crash before that makes PostgreSQL deliver the transaction again.
/// 2. Each record carries its transaction's end LSN and its index within the transaction's records in its
///    partition; a delivery again appends only what is missing (``CaptureWriter``). Together: every committed
///    change is in the log once, in commit order per key.
/// 3. When idle, the slot is moved to the WAL flush position read *before* the poll that found nothing, so
///    WAL does not pile up, and no transaction committed after that position is skipped.
///
/// **Snapshot.** With `.initial`, after creating the slot the connector reads every captured table in one
/// REPEATABLE READ transaction and remembers that transaction's snapshot (`xmin:xmax:xip`) and the WAL position
/// read inside it. Streaming then skips a transaction iff its commit precedes that position and the snapshot
/// saw it — so each change is either in the snapshot or streamed, never both and never neither (this stands in
/// for a walsender's exported snapshot, which needs the replication protocol). The snapshot and the phase are
/// kept in the compacted topic `__cdc_state` under the slot's name. A snapshot interrupted by a crash is
/// redone whole on restart: its `r` records may then appear twice; change records stay exactly once.
public final class PostgresCapture: Sendable {
    public enum SnapshotMode: String, Sendable, CaseIterable {
        /// Read the tables' current rows (`op: r`) when the slot is created, then stream.
        case initial
        /// Only stream changes committed after the slot was created.
        case never
    }

    public struct Configuration: Sendable {
        public var url: PostgresURL
        /// `schema.table` (or `table`, meaning `public.table`) for every captured table, outbox tables included.
        public var tables: [String]
        public var slot = "eventlog"
        /// The publication the slot decodes; created (or extended) for ``tables`` when needed. Default: the slot.
        public var publication: String?
        /// Topics are `<prefix>.<schema>.<table>` (Debezium's `topic.prefix`).
        public var topicPrefix = "cdc"
        public var snapshot = SnapshotMode.initial
        public var outbox: OutboxRouter.Configuration?
        /// How new topics are created (partitions, durability, record size).
        public var topicConfiguration: TopicConfiguration
        public var maxChangesPerPoll = 20_000
        /// Pause between polls that found nothing.
        public var idleMilliseconds = 5
        /// A connection that answers nothing for this long is closed and opened again.
        public var stallSeconds = 60.0

        public init(url: PostgresURL, tables: [String]) {
            self.url = url
            self.tables = tables.map { $0.contains(".") ? $0 : "public." + $0 }
            var topic = TopicConfiguration(partitions: 1)
            topic.maxRecordBytes = 16 << 20
            // Confirmed changes must survive power loss too: PostgreSQL will not send them again.
            topic.durability = .sync
            topicConfiguration = topic
        }
    }

    /// Counters since start.
    public struct Statistics: Sendable, Equatable {
        public var transactions = 0
        public var changes = 0
        public var recordsAppended = 0
        /// Records found already in the log when PostgreSQL delivered a transaction again.
        public var recordsSkipped = 0
        public var snapshotRows = 0
        /// The slot's confirmed position.
        public var confirmedLSN: UInt64 = 0
        public var reconnects = 0
        /// True once the server refused the replication protocol and the slot is polled instead.
        public var polling = false
        /// Commit → appended (and flushed) in the log, per streamed transaction, microseconds: the last
        /// ``latencyWindow`` transactions.
        var latencies: [Int32] = []
        var latencyNext = 0
        static let latencyWindow = 200_000

        /// The `fraction` quantile (0.5, 0.99) of commit → log latency in milliseconds over the recent
        /// transactions, nil before any.
        public func latencyMilliseconds(_ fraction: Double) -> Double? {
            guard !latencies.isEmpty else { return nil }
            let sorted = latencies.sorted()
            let index = min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.down)))
            return Double(sorted[index]) / 1000
        }

        mutating func record(latencyMicroseconds value: Int64) {
            let sample = Int32(clamping: max(0, value))
            if latencies.count < Self.latencyWindow {
                latencies.append(sample)
            } else {
                latencies[latencyNext] = sample
                latencyNext = (latencyNext + 1) % Self.latencyWindow
            }
        }
    }

    public let configuration: Configuration
    let log: Log
    let logger: Logger
    private let counters = Locked(Statistics())
    private let clock: any WallClock

    public var statistics: Statistics { counters.withLock { $0 } }

    public init(log: Log, configuration: Configuration, logger: Logger, clock: any WallClock = SystemClock()) {
        self.log = log
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
    }

    /// The snapshot streaming must not repeat, and the phase, as kept in `__cdc_state`.
    struct State: Codable, Equatable {
        enum Phase: String, Codable { case snapshot, streaming }
        var phase: Phase
        var xmin: UInt64?
        var xmax: UInt64?
        var xip: [UInt64]?
        /// The WAL position read inside the snapshot transaction.
        var snapshotLSN: UInt64?

        /// Whether the snapshot saw the transaction (so streaming must skip it).
        func snapshotSaw(xid: UInt32, endLSN: UInt64) -> Bool {
            guard let xmin, let xmax, let snapshotLSN, endLSN <= snapshotLSN else { return false }
            // 32-bit xids compare modulo 2^32 (PostgreSQL's TransactionIdPrecedes); the window is short.
            func precedes(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) < 0 }
            if precedes(xid, UInt32(truncatingIfNeeded: xmin)) { return true }
            guard precedes(xid, UInt32(truncatingIfNeeded: xmax)) else { return false }
            return !(xip ?? []).contains { UInt32(truncatingIfNeeded: $0) == xid }
        }
    }

    static let stateTopic = "__cdc_state"

    /// Runs until the task is cancelled or a non-retryable error: the connection is re-opened after network
    /// errors and server restarts (with back-off); a lost slot, an unusable table or a malformed message stop it.
    ///
    /// - Parameter ready: Called once, when the snapshot (if any) is in the log and streaming starts.
    public func run(ready: @escaping @Sendable () -> Void = {}) async throws(CaptureError) {
        var delay = 100
        let prepared = Locked(false)
        while !Task.isCancelled {
            let confirmed = statistics.confirmedLSN
            // Each connection is a session; an abandoned one may never write again (``gate(_:_:)``).
            let session = currentSession.withLock { current -> Int in
                current += 1
                return current
            }
            let outcome = await supervised { [self] () async throws(CaptureError) in
                // A new writer per session: it reads each partition's position from the log again.
                let writer = CaptureWriter(log: log, topicConfiguration: configuration.topicConfiguration)
                let connection = try await connect()
                defer { Task { try? await connection.close() } }
                if !prepared.withLock({ $0 }) {
                    try await prepare(connection, writer: writer, session: session)
                    try gate(session) { prepared.withLock { $0 = true } }
                    ready()
                }
                // The replication protocol until the server refuses it once; then polling.
                if !statistics.polling {
                    let replication: ReplicationConnection
                    do {
                        replication = try await ReplicationConnection.connect(
                            configuration.url, applicationName: "eventlog-cdc-\(configuration.slot)")
                    } catch let refused as ReplicationConnection.Refused {
                        logger.warning(
                            "the replication protocol is not available; polling the slot instead",
                            metadata: ["cdc.reason": "\(refused.description)"])
                        counters.withLock { $0.polling = true }
                        try await stream(connection, writer: writer, session: session)
                        return
                    } catch {
                        throw CaptureError(.connectionLost, "cannot open a replication connection: \(error)")
                    }
                    let outcome: Result<Void, CaptureError>
                    do throws(CaptureError) {
                        try await stream(replication, writer: writer, session: session)
                        outcome = .success(())
                    } catch {
                        outcome = .failure(error)
                    }
                    await replication.close()
                    try outcome.get()
                } else {
                    try await stream(connection, writer: writer, session: session)
                }
            }
            switch outcome {
            case .success: return
            case .failure(let error):
                if error.code != .connectionLost { throw error }
                if statistics.confirmedLSN > confirmed { delay = 100 }
                counters.withLock { $0.reconnects += 1 }
                logger.warning(
                    "change capture lost its connection; retrying",
                    metadata: ["cdc.error": "\(error.message)", "cdc.retryMilliseconds": "\(delay)"])
                do { try await Task.sleep(for: .milliseconds(delay)) } catch { return }
                delay = min(delay * 2, 5000)
            }
        }
    }

    /// Runs one connection's work, and gives up on it when the connection has not answered for
    /// ``Configuration/stallSeconds``: a statement on a connection that closed under it can wait forever in
    /// postgres-nio 1.33 (vapor/postgres-nio#487 fixed it and #501 reverted the fix), and neither cancellation
    /// nor closing the connection wakes it. The abandoned task holds only its connection and its writer; if it
    /// ever wakes, its connection is closed, so its next statement fails before it writes anything.
    private func supervised(_ work: @escaping @Sendable () async throws(CaptureError) -> Void) async -> Result<
        Void, CaptureError
    > {
        // Unarmed until streaming starts: connecting has its own timeout, creating a slot waits for the
        // transactions in flight, and a snapshot reads whole tables.
        lastAnswer.withLock { $0 = .max / 2 }
        let limit = Int64(configuration.stallSeconds * 1000)
        let settled = Locked(false)
        let (stream, continuation) = AsyncStream<Result<Void, CaptureError>>.makeStream()
        let finish: @Sendable (Result<Void, CaptureError>) -> Void = { result in
            if !settled.withLock({ was in
                defer { was = true }; return was
            }) {
                continuation.yield(result)
            }
        }
        let worker = Task {
            do throws(CaptureError) {
                try await work()
                finish(.success(()))
            } catch {
                finish(.failure(error))
            }
        }
        let watchdog = Task { [clock, logger] in
            while !Task.isCancelled {
                do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
                if clock.milliseconds() - lastAnswer.withLock({ $0 }) > limit {
                    logger.warning("PostgreSQL has not answered for \(limit) ms; reconnecting")
                    worker.cancel()
                    finish(.failure(CaptureError(.connectionLost, "no answer from PostgreSQL for \(limit) ms")))
                    return
                }
            }
        }
        defer { watchdog.cancel() }
        return await withTaskCancellationHandler {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next() ?? .success(())
        } onCancel: {
            worker.cancel()
            finish(.success(()))
        }
    }

    /// The session allowed to write: a newer one supersedes an abandoned one for good.
    private let currentSession = Locked(0)

    /// Runs `body` (a write to the log or to the capture's state) only if `session` is still the current one,
    /// atomically with that check; otherwise throws. An abandoned session that wakes up can then never write
    /// behind the back of its successor, whose writer read the partitions' positions after it took over.
    func gate<T>(_ session: Int, _ body: () throws(CaptureError) -> T) throws(CaptureError) -> T {
        try currentSession.withLock { (current: inout Int) throws(CaptureError) -> T in
            guard current == session else {
                throw CaptureError(.connectionLost, "session \(session) was superseded by session \(current)")
            }
            return try body()
        }
    }

    // MARK: - Connection

    /// When the connection last answered (a row, a finished statement), or when the stream began waiting, in the
    /// clock's milliseconds. `.max / 2` while unarmed (see ``supervised(_:)``) and while the stream processes what
    /// arrived (``disarm()``): ``answered()`` moves it only when armed.
    private let lastAnswer = Locked<Int64>(0)

    private func answered() {
        let now = clock.milliseconds()
        lastAnswer.withLock { if $0 != .max / 2 { $0 = now } }
    }

    private func arm() {
        let now = clock.milliseconds()
        lastAnswer.withLock { $0 = now }
    }

    /// This connector is busy with what PostgreSQL sent, not waiting for it: the watchdog stands by.
    private func disarm() {
        lastAnswer.withLock { $0 = .max / 2 }
    }

    func connect() async throws(CaptureError) -> PostgresConnection {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: configuration.url.connectionConfiguration, id: 1, logger: logger)
        } catch {
            throw CaptureError(
                Self.isConnectionLoss(error) ? .connectionLost : .database,
                "cannot connect to \(configuration.url): \(Self.describe(error))")
        }
        // Text output the envelope parses: ISO dates, UTC, floats that round-trip.
        try await execute(connection, "SET TimeZone = 'UTC'")
        try await execute(connection, "SET DateStyle = 'ISO, YMD'")
        try await execute(connection, "SET extra_float_digits = 3")
        try await execute(connection, "SET IntervalStyle = 'iso_8601'")
        return connection
    }

    /// Whether the error means the connection is gone or the server is (re)starting, not that a statement failed.
    static func isConnectionLoss(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return error is ChannelError || error is IOError }
        if let state = error.serverInfo?[.sqlState] {
            // 08: connection exception; 57P01–57P03: admin shutdown, crash shutdown, cannot connect now.
            return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
        }
        return [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown].contains(
            error.code)
    }

    /// A statement sent on a connection that already closed can wait forever in postgres-nio 1.33 (its fix,
    /// vapor/postgres-nio#487, was reverted in #501): so every statement first checks, and the watchdog
    /// (``supervised(_:)``) covers the remaining race.
    func ensureOpen(_ connection: PostgresConnection, _ sql: String) throws(CaptureError) {
        if connection.isClosed {
            throw CaptureError(
                .connectionLost, "the connection to \(configuration.url) closed (before: \(sql.prefix(60)))")
        }
    }

    /// The text of a postgres-nio error (whose `description` hides the server's message).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return message + (error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }

    func execute(_ connection: PostgresConnection, _ sql: String, _ binds: PostgresBindings = PostgresBindings())
        async throws(CaptureError)
    {
        _ = try await rows(connection, sql, binds)
    }

    /// Runs a statement and returns its rows' cells as raw bytes (binary format, as postgres-nio asks for).
    func rows(_ connection: PostgresConnection, _ sql: String, _ binds: PostgresBindings = PostgresBindings())
        async throws(CaptureError) -> [[ByteBuffer?]]
    {
        try ensureOpen(connection, sql)
        do {
            var out: [[ByteBuffer?]] = []
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            {
                out.append(Array(row.makeRandomAccess()).map(\.bytes))
            }
            answered()
            return out
        } catch {
            throw classify(error, doing: sql)
        }
    }

    func classify(_ error: any Error, doing sql: String) -> CaptureError {
        if let error = error as? CaptureError { return error }
        let text = Self.describe(error)
        let statement = sql.prefix(80)
        if text.contains("replication slot") && text.contains("does not exist") {
            return CaptureError(
                .slotLost,
                "replication slot '\(configuration.slot)' was dropped while capturing: the changes PostgreSQL removed "
                    + "since cannot be read again. Re-create it by restarting with a new --slot (and --snapshot initial)"
            )
        }
        if text.contains("wal_level") || text.contains("replication slots") && text.contains("all") {
            return CaptureError(.serverNotReady, text)
        }
        // 55006 (object in use): another backend holds the slot — an abandoned session's, which lets go when its
        // statement ends, or another client's. Worth another try with back-off, as START_REPLICATION's refusal.
        if (error as? PSQLError)?.serverInfo?[.sqlState] == "55006" {
            return CaptureError(.connectionLost, "\(text) (in: \(statement))")
        }
        return CaptureError(Self.isConnectionLoss(error) ? .connectionLost : .database, "\(text) (in: \(statement))")
    }

    static func text(_ buffer: ByteBuffer?) -> String? {
        buffer.map { String(buffer: $0) }
    }

    static func int64(_ buffer: ByteBuffer?) -> Int64? {
        guard var buffer, buffer.readableBytes == 8 else { return nil }
        return buffer.readInteger(as: Int64.self)
    }

    static func bool(_ buffer: ByteBuffer?) -> Bool {
        guard var buffer, buffer.readableBytes == 1 else { return false }
        return buffer.readInteger(as: UInt8.self) == 1
    }

    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func quote(qualified: String) -> String {
        let parts = qualified.split(separator: ".", maxSplits: 1).map(String.init)
        return parts.map { quote($0) }.joined(separator: ".")
    }

    // MARK: - Preparation: tables, publication, slot, snapshot

    /// A captured table as the catalog describes it.
    struct TableInfo {
        var qualified: String
        var columns: [(name: String, type: UInt32)]
        var primaryKey: [String]
    }

    private let tableInfo = Locked<[String: TableInfo]>([:])

    func prepare(_ connection: PostgresConnection, writer: CaptureWriter, session: Int) async throws(CaptureError) {
        let level = try await rows(connection, "SELECT current_setting('wal_level')")
        guard Self.text(level.first?.first ?? nil) == "logical" else {
            throw CaptureError(
                .serverNotReady,
                "PostgreSQL at \(configuration.url) has wal_level=\(Self.text(level.first?.first ?? nil) ?? "?"); "
                    + "logical decoding needs wal_level=logical (postgresql.conf, then restart)")
        }
        var infos: [String: TableInfo] = [:]
        for table in configuration.tables { infos[table] = try await describe(connection, table) }
        tableInfo.withLock { $0 = infos }
        try await ensurePublication(connection)
        var state = try readState()
        let slot = try await rows(
            connection, "SELECT plugin FROM pg_replication_slots WHERE slot_name = $1 AND slot_type = 'logical'",
            bind(configuration.slot))
        if let plugin = slot.first.flatMap({ Self.text($0.first ?? nil) }), plugin != "pgoutput" {
            throw CaptureError(
                .invalidConfiguration, "replication slot '\(configuration.slot)' uses plugin '\(plugin)', not pgoutput")
        }
        if slot.isEmpty {
            if state?.phase == .streaming {
                throw CaptureError(
                    .slotLost,
                    "replication slot '\(configuration.slot)' does not exist, but the log holds changes read through "
                        + "it: what PostgreSQL removed since cannot be read again. Use a new --slot (with --snapshot "
                        + "initial) to start over")
            }
            _ = try await rows(
                connection, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", bind(configuration.slot))
            logger.info("created replication slot", metadata: ["cdc.slot": "\(configuration.slot)"])
            state = nil
        }
        if state == nil || state?.phase == .snapshot {
            if configuration.snapshot == .initial {
                try gate(session) { () throws(CaptureError) in try writeState(State(phase: .snapshot)) }
                let taken = try await snapshot(connection, writer: writer, session: session)
                try gate(session) { () throws(CaptureError) in try writeState(taken) }
            } else {
                try gate(session) { () throws(CaptureError) in try writeState(State(phase: .streaming)) }
            }
        }
    }

    func bind(_ values: String...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { binds.append(value) }
        return binds
    }

    func describe(_ connection: PostgresConnection, _ table: String) async throws(CaptureError) -> TableInfo {
        let parts = table.split(separator: ".", maxSplits: 1).map(String.init)
        let found = try await rows(
            connection,
            """
            SELECT c.relkind::text, c.relreplident::text, c.oid::int8 FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2
            """, bind(parts[0], parts[1]))
        guard let row = found.first else {
            throw CaptureError(.unsupportedTable, "table \(table) does not exist in \(configuration.url.database)")
        }
        guard Self.text(row[0]) == "r" || Self.text(row[0]) == "p" else {
            throw CaptureError(.unsupportedTable, "\(table) is not a table (relkind \(Self.text(row[0]) ?? "?"))")
        }
        let oid = String(Self.int64(row[2]) ?? 0)
        let columns = try await rows(
            connection,
            """
            SELECT a.attname::text, a.atttypid::int8,
              EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey))
            FROM pg_attribute a WHERE a.attrelid = \(oid)::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
            """)
        let info = TableInfo(
            qualified: table,
            columns: columns.map { (Self.text($0[0]) ?? "", UInt32(truncatingIfNeeded: Self.int64($0[1]) ?? 0)) },
            primaryKey: columns.filter { Self.bool($0[2]) }.map { Self.text($0[0]) ?? "" })
        let isOutbox = configuration.outbox?.tables.contains(table) ?? false
        if info.primaryKey.isEmpty && Self.text(row[1]) != "f" && !isOutbox {
            throw CaptureError(
                .unsupportedTable,
                "table \(table) has no primary key: its updates and deletes cannot be identified. Add a primary key, "
                    + "or run ALTER TABLE \(table) REPLICA IDENTITY FULL to capture it with null keys")
        }
        if let outbox = configuration.outbox, isOutbox {
            let missing = OutboxRouter(outbox).missingColumns(of: info.columns.map(\.name), in: table)
            if !missing.isEmpty {
                throw CaptureError(
                    .unsupportedTable,
                    "outbox table \(table) lacks the column(s) \(missing.joined(separator: ", ")) the router reads")
            }
        }
        return info
    }

    func ensurePublication(_ connection: PostgresConnection) async throws(CaptureError) {
        let name = configuration.publication ?? configuration.slot
        let exists = try await rows(connection, "SELECT 1 FROM pg_publication WHERE pubname = $1", bind(name))
        let list = configuration.tables.map { Self.quote(qualified: $0) }.joined(separator: ", ")
        if exists.isEmpty {
            try await execute(connection, "CREATE PUBLICATION \(Self.quote(name)) FOR TABLE \(list)")
            return
        }
        let published = try await rows(
            connection, "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1",
            bind(name))
        let have = Set(published.compactMap { Self.text($0.first ?? nil) })
        let missing = configuration.tables.filter { !have.contains($0) }
        if !missing.isEmpty {
            try await execute(
                connection,
                "ALTER PUBLICATION \(Self.quote(name)) ADD TABLE "
                    + missing.map { Self.quote(qualified: $0) }.joined(separator: ", "))
        }
    }

    // MARK: - State

    func readState() throws(CaptureError) -> State? {
        do {
            guard log.topicNames().contains(Self.stateTopic) else { return nil }
            let (start, end) = try log.offsets(topic: Self.stateTopic, partition: 0)
            var found: State?
            var offset = start
            while offset < end {
                let records = try log.read(topic: Self.stateTopic, partition: 0, from: offset, maxRecords: 1000)
                guard let last = records.last else { break }
                for record in records where record.key == Array(configuration.slot.utf8) {
                    found = record.value.flatMap { try? JSONDecoder().decode(State.self, from: Data($0)) }
                }
                offset = last.offset + 1
            }
            return found
        } catch {
            throw CaptureError(.invalidConfiguration, "cannot read \(Self.stateTopic): \(error)")
        }
    }

    func writeState(_ state: State) throws(CaptureError) {
        do {
            var topic = TopicConfiguration(partitions: 1)
            topic.cleanupPolicy = .compact
            topic.retentionMilliseconds = nil
            try log.createTopicIfNeeded(Self.stateTopic, configuration: topic)
            let value = try JSONEncoder().encode(state)
            try log.append(
                ProducerRecord(key: Array(configuration.slot.utf8), value: Array(value)), to: Self.stateTopic,
                partition: 0)
            try log.flush()
        } catch {
            throw CaptureError(.invalidConfiguration, "cannot write \(Self.stateTopic): \(error)")
        }
    }

    // MARK: - Snapshot

    func snapshot(_ connection: PostgresConnection, writer: CaptureWriter, session: Int) async throws(CaptureError)
        -> State
    {
        try await execute(connection, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do {
            // The first statement takes the snapshot; the WAL position is read after it, inside it.
            let taken = try await rows(
                connection, "SELECT pg_current_snapshot()::text, (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8")
            guard let row = taken.first, let text = Self.text(row[0]), let lsn = Self.int64(row[1]) else {
                throw CaptureError(.database, "pg_current_snapshot() returned nothing")
            }
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]) else {
                throw CaptureError(.database, "cannot parse the snapshot '\(text)'")
            }
            let state = State(
                phase: .streaming, xmin: xmin, xmax: xmax,
                xip: parts[2].split(separator: ",").compactMap { UInt64($0) },
                snapshotLSN: UInt64(lsn))
            let maker = recordMaker()
            let infos = tableInfo.withLock { $0 }
            for (tableIndex, table) in configuration.tables.enumerated() {
                guard let info = infos[table] else { continue }
                let relation = PgRelation(
                    oid: UInt32(tableIndex), schema: String(table.split(separator: ".")[0]),
                    name: String(table.split(separator: ".", maxSplits: 1)[1]), replicaIdentity: UInt8(ascii: "d"),
                    columns: info.columns.map {
                        PgRelation.Column(
                            name: $0.name, typeOID: $0.type, typeModifier: -1, isKey: info.primaryKey.contains($0.name))
                    })
                // An outbox table's rows are events, read in their order so each aggregate's events keep it: by
                // the router's order column, else oldest transaction first and then by position in the table (a
                // best effort: a row lands before earlier ones when it fits into free space they did not). Other
                // tables hold one row per key, read in any order.
                var order = ""
                if let outbox = configuration.outbox, outbox.tables.contains(table) {
                    // Qualified: a bare name would sort by the selected text of the column, not its value.
                    let column = outbox.column(.order, in: table).map {
                        Self.quote(qualified: table) + "." + Self.quote($0)
                    }
                    order = " ORDER BY " + (column ?? "age(xmin) DESC, ctid")
                }
                let select =
                    "SELECT " + info.columns.map { Self.quote($0.name) + "::text" }.joined(separator: ", ") + " FROM "
                    + Self.quote(qualified: table) + order
                var chunk = CapturedTransaction(
                    xid: UInt32(truncatingIfNeeded: xmax), endLSN: 0, commitMicroseconds: clock.milliseconds() * 1000,
                    changes: [])
                let isLast = tableIndex == configuration.tables.count - 1
                func flush(last: Bool) throws(CaptureError) {
                    guard !chunk.changes.isEmpty else { return }
                    var records = maker.records(of: chunk, snapshot: "true")
                    if last, let index = records.indices.last {
                        records[index].value = records[index].value.map { Self.markLast($0) }
                    }
                    try gate(session) { () throws(CaptureError) in try writer.writeSnapshot(records) }
                    counters.withLock { $0.snapshotRows += chunk.changes.count }
                    chunk.changes.removeAll(keepingCapacity: true)
                }
                do {
                    for try await row in try await connection.query(PostgresQuery(unsafeSQL: select), logger: logger) {
                        let values: [PgValue] = row.makeRandomAccess().map { cell in
                            cell.bytes.map { .text(Array(buffer: $0)) } ?? .null
                        }
                        chunk.changes.append(
                            CapturedChange(relation: relation, operation: .read, after: values, lsn: 0))
                        if chunk.changes.count >= 2000 {
                            answered()
                            try flush(last: false)
                        }
                    }
                } catch {
                    throw classify(error, doing: select)
                }
                try flush(last: isLast)
            }
            try await execute(connection, "COMMIT")
            do { try log.flush() } catch { throw CaptureError(.database, "flushing the log failed: \(error)") }
            logger.info(
                "snapshot done",
                metadata: ["cdc.rows": "\(statistics.snapshotRows)", "cdc.snapshot": "\(text)"])
            return state
        } catch {
            try? await execute(connection, "ROLLBACK")
            throw classify(error, doing: "the snapshot")
        }
    }

    /// The wall clock in microseconds (commit times come from PostgreSQL's, on the same machine in the benchmark).
    static func wallMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }

    /// Debezium marks the snapshot's last record `"snapshot":"last"`.
    static func markLast(_ value: [UInt8]) -> [UInt8] {
        let marker = Array(#""snapshot":"true""#.utf8)
        guard let start = value.firstRange(of: marker)?.lowerBound else { return value }
        var out = value
        out.replaceSubrange(start..<start + marker.count, with: Array(#""snapshot":"last""#.utf8))
        return out
    }

    func recordMaker() -> RecordMaker {
        RecordMaker(
            topicPrefix: configuration.topicPrefix, database: configuration.url.database,
            outbox: configuration.outbox.map(OutboxRouter.init), clock: clock)
    }

    // MARK: - Streaming

    /// Transactions decoded in one poll or one burst of the stream, appended together.
    struct DecodedBatch {
        var transactions: [(lsn: UInt64, records: [PendingRecord])] = []
        var commitMicroseconds: [Int64] = []
        var changes = 0

        /// Adds a committed transaction unless the initial snapshot already holds it.
        mutating func add(_ transaction: CapturedTransaction, state: State, maker: RecordMaker) {
            if state.snapshotSaw(xid: transaction.xid, endLSN: transaction.endLSN) { return }
            commitMicroseconds.append(transaction.commitMicroseconds)
            changes += transaction.changes.count
            transactions.append((transaction.endLSN, maker.records(of: transaction)))
        }
    }

    /// Appends a batch through the session's gate and counts it (latency: commit → appended).
    func append(_ batch: DecodedBatch, writer: CaptureWriter, session: Int) throws(CaptureError) {
        guard !batch.transactions.isEmpty else { return }
        let before = (writer.appended, writer.skipped)
        try gate(session) { () throws(CaptureError) in try writer.write(batch.transactions) }
        let now = Self.wallMicroseconds()
        counters.withLock {
            for commit in batch.commitMicroseconds { $0.record(latencyMicroseconds: now - commit) }
            $0.transactions += batch.transactions.count
            $0.changes += batch.changes
            $0.recordsAppended += writer.appended - before.0
            $0.recordsSkipped += writer.skipped - before.1
        }
    }

    func stream(_ connection: PostgresConnection, writer: CaptureWriter, session: Int) async throws(CaptureError) {
        arm()
        let state = try readState() ?? State(phase: .streaming)
        let maker = recordMaker()
        let primaryKeys = tableInfo.withLock { infos in infos.mapValues { Set($0.primaryKey) } }
        let publication = configuration.publication ?? configuration.slot
        let peek = """
            SELECT (lsn - '0/0'::pg_lsn)::int8, data FROM pg_logical_slot_peek_binary_changes($1, NULL, \
            \(configuration.maxChangesPerPoll), 'proto_version', '1', 'publication_names', $2)
            """
        while !Task.isCancelled {
            let flushed = try await rows(connection, "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::int8")
            let flushedLSN = UInt64(Self.int64(flushed.first?.first ?? nil) ?? 0)
            var assembler = TransactionAssembler(primaryKeys: primaryKeys)
            var batch = DecodedBatch()
            var rowCount = 0
            var lastEnd: UInt64 = 0
            try ensureOpen(connection, peek)
            do {
                for try await row in try await connection.query(
                    PostgresQuery(unsafeSQL: peek, binds: bind(configuration.slot, publication)), logger: logger)
                {
                    rowCount += 1
                    if rowCount % 256 == 0 { answered() }
                    let cells = row.makeRandomAccess()
                    guard cells.count == 2, let lsn = Self.int64(cells[0].bytes), let data = cells[1].bytes else {
                        throw CaptureError(.malformedMessage, "pg_logical_slot_peek_binary_changes returned a null row")
                    }
                    guard
                        let transaction = try assembler.feed(
                            PgOutputMessage.decode(Array(buffer: data)), lsn: UInt64(lsn))
                    else { continue }
                    lastEnd = transaction.endLSN
                    // The watchdog counts only waiting (see the replication stream): a large transaction's
                    // records take this connector a while, and the append after the poll too.
                    disarm()
                    batch.add(transaction, state: state, maker: maker)
                    arm()
                }
            } catch {
                throw classify(error, doing: peek)
            }
            disarm()
            try append(batch, writer: writer, session: session)
            arm()
            // Complete (fewer rows than the limit): everything flushed before the poll was decoded.
            let target = rowCount < configuration.maxChangesPerPoll ? max(lastEnd, flushedLSN) : lastEnd
            if target > statistics.confirmedLSN {
                try await execute(
                    connection, "SELECT pg_replication_slot_advance($1, $2::pg_lsn)",
                    bind(configuration.slot, format(target)))
                counters.withLock { $0.confirmedLSN = target }
            }
            if rowCount == 0 {
                do { try await Task.sleep(for: .milliseconds(configuration.idleMilliseconds)) } catch { return }
            }
        }
    }

    /// At most this many replication messages are decoded, appended and confirmed at a time: a backlog is caught
    /// up in steps, each confirmed, and a cancelled session stops within one step (closing its connection, so
    /// the walsender lets go of the slot).
    static let messagesPerAppend = 8192

    /// Streams through the replication protocol: the walsender pushes each message as its transaction commits;
    /// whatever arrived together (up to ``messagesPerAppend`` messages) is appended together, then confirmed with
    /// a standby status update. The same invariants as polling: a transaction is confirmed only after its records
    /// are in the log; when nothing is pending, the walsender's keepalive position (everything before it was
    /// sent) is confirmed, so WAL does not pile up while other tables change.
    func stream(_ replication: ReplicationConnection, writer: CaptureWriter, session: Int) async throws(CaptureError) {
        let state = try readState() ?? State(phase: .streaming)
        let maker = recordMaker()
        let primaryKeys = tableInfo.withLock { infos in infos.mapValues { Set($0.primaryKey) } }
        let publication = configuration.publication ?? configuration.slot
        do {
            try await replication.startReplication(slot: configuration.slot, publication: publication)
        } catch let error as CaptureError {
            throw error
        } catch {
            throw CaptureError(.connectionLost, "START_REPLICATION failed: \(error)")
        }
        // Ask for a keepalive every few seconds (a quarter of the stall limit at most): the stall watchdog hears
        // from an idle server too.
        let interval = Int(min(2000, configuration.stallSeconds * 250))
        let heartbeat = Task { [counters] in
            while !Task.isCancelled {
                do { try await Task.sleep(for: .milliseconds(max(interval, 1))) } catch { return }
                replication.confirm(counters.withLock { $0.confirmedLSN }, replyRequested: true)
            }
        }
        defer { heartbeat.cancel() }
        var assembler = TransactionAssembler(primaryKeys: primaryKeys)
        while !Task.isCancelled {
            let events: [ReplicationConnection.Event]
            // The watchdog counts only the wait for PostgreSQL, never this connector's own work: decoding and
            // appending a backlog can take longer than the stall limit (under ThreadSanitizer, say), and a
            // session cut for being busy would be followed by one redoing the same work — a livelock that
            // also kept the slot busy until the abandoned session finished its batch.
            arm()
            do {
                events = try await replication.events(limit: Self.messagesPerAppend)
            } catch let error as CaptureError {
                throw error
            } catch {
                throw CaptureError(.connectionLost, "the replication stream failed: \(error)")
            }
            disarm()
            var batch = DecodedBatch()
            var keepalive: UInt64 = 0
            var replyRequested = false
            for event in events {
                switch event {
                case .data(let lsn, let bytes):
                    guard let transaction = try assembler.feed(PgOutputMessage.decode(bytes), lsn: lsn) else {
                        continue
                    }
                    batch.add(transaction, state: state, maker: maker)
                case .keepalive(let walEnd, let reply):
                    keepalive = max(keepalive, walEnd)
                    replyRequested = replyRequested || reply
                }
            }
            try append(batch, writer: writer, session: session)
            var confirm = max(statistics.confirmedLSN, batch.transactions.last?.lsn ?? 0)
            // Nothing half-received: everything the walsender sent before its keepalive is in the log.
            if !assembler.isOpen && keepalive > confirm { confirm = keepalive }
            if confirm > statistics.confirmedLSN || replyRequested {
                counters.withLock { $0.confirmedLSN = max($0.confirmedLSN, confirm) }
                replication.confirm(statistics.confirmedLSN)
            }
        }
    }
}
