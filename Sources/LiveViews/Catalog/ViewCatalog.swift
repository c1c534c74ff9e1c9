public import EventLog
import EventLogFoundation
import Foundation
public import Logging

/// The live tables of a log directory.
///
/// ```
/// <log>/views/<table>.json       the table definition (TableConfig as JSON)
/// <log>/views/<table>.snapshot   the last table snapshot (see LiveTable+Snapshot), optional
/// ```
///
/// Opening a table loads its snapshot when there is a valid one and then catches up from the saved offsets
/// to the end of the topic, so a restart does not replay everything. Definitions are plain files, so the
/// CLI in another process sees the tables an application created (and vice versa).
public final class ViewCatalog: @unchecked Sendable {
    /// The log the tables read from.
    public let log: Log
    /// `<log>/views`.
    public let directory: String
    private let logger: Logger
    /// The syscall layer, with the log's fault injector.
    private let io: SystemIO
    private let tables = Locked<[String: LiveTable]>([:])

    /// A catalog over `log`'s directory.
    public init(log: Log, logger: Logger = Logger(label: "eventlog.views", factory: { _ in SwiftLogNoOpLogHandler() }))
    {
        self.log = log
        directory = log.directory + "/views"
        self.logger = logger
        io = SystemIO(faults: log.faults)
    }

    func configPath(_ name: String) -> String { "\(directory)/\(name).json" }
    func snapshotPath(_ name: String) -> String { "\(directory)/\(name).snapshot" }

    /// The names of the stored definitions, sorted. File access goes through the log's syscall layer, so
    /// fault injection reaches it too.
    private func tableNames() -> [String] {
        let names = (try? io.listDirectory(directory).get()) ?? []
        return names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    private func ensureDirectory() throws {
        try io.check(io.mkdir(directory), "create the views directory", path: directory)
    }

    /// Stores a new table definition.
    ///
    /// - Throws: ``ViewError`` `invalidConfig` when the definition is inconsistent, `tableExists` when a
    ///   table of that name exists; `EventLogError` when the file cannot be written.
    public func create(_ config: TableConfig) throws {
        try config.validate()
        guard !io.exists(configPath(config.name)) else {
            throw ViewError(.tableExists, "table '\(config.name)' already exists (\(configPath(config.name)))")
        }
        try ensureDirectory()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try io.writeFileAtomically(configPath(config.name), Array(try encoder.encode(config)))
    }

    /// Removes a table's definition and snapshot (the topic is untouched).
    public func drop(_ name: String) throws {
        guard io.exists(configPath(name)) else {
            throw ViewError(.noSuchTable, "no table '\(name)' in \(directory)")
        }
        tables.withLock { $0[name] = nil }
        if io.exists(snapshotPath(name)) {
            try io.check(io.unlink(snapshotPath(name)), "remove the table snapshot", path: snapshotPath(name))
        }
        try io.check(io.unlink(configPath(name)), "remove the table definition", path: configPath(name))
    }

    /// Every stored table definition, by name.
    public func list() throws -> [TableConfig] {
        try tableNames().map { try config($0) }
    }

    /// The stored definition of `name`.
    public func config(_ name: String) throws -> TableConfig {
        let path = configPath(name)
        guard io.exists(path) else {
            let known = tableNames()
            throw ViewError(
                .noSuchTable,
                "no table '\(name)' in \(directory)"
                    + (known.isEmpty ? "" : " (tables: \(known.joined(separator: ", ")))"))
        }
        do {
            return try JSONDecoder().decode(TableConfig.self, from: Data(try io.readFile(path)))
        } catch {
            throw ViewError(.invalidConfig, "\(path): \(error)")
        }
    }

    /// The table `name`, loaded from its snapshot and caught up to the end of its topic (cached: a second
    /// call returns the same table, caught up again).
    ///
    /// - Parameter saveSnapshotAfter: When catching up read more than this many records, save a snapshot
    ///   so the next open (in any process) starts from here.
    public func open(_ name: String, saveSnapshotAfter: Int? = nil) throws -> LiveTable {
        if let table = tables.withLock({ $0[name] }) {
            let read = try table.catchUp(from: log)
            if let limit = saveSnapshotAfter, read > limit { try saveSnapshot(table) }
            return table
        }
        let table = try LiveTable(config: config(name))
        if io.exists(snapshotPath(name)) {
            do {
                try table.restore(try io.readFile(snapshotPath(name)), source: snapshotPath(name))
            } catch {
                logger.warning("ignoring table snapshot", metadata: ["eventlog.view": "\(name)", "error": "\(error)"])
            }
        }
        let read = try table.catchUp(from: log)
        if let limit = saveSnapshotAfter, read > limit { try saveSnapshot(table) }
        return tables.withLock { open in
            if let existing = open[name] { return existing }
            open[name] = table
            return table
        }
    }

    /// Writes `table`'s snapshot atomically (temporary file, fsync, rename, directory fsync).
    public func saveSnapshot(_ table: LiveTable) throws {
        try ensureDirectory()
        try io.writeFileAtomically(snapshotPath(table.name), table.snapshotBytes())
    }

    /// Runs a query against the table its `FROM` names (opened and caught up first).
    public func query(_ sql: String, now: Int64? = nil, saveSnapshotAfter: Int? = nil) throws -> QueryResult {
        let statement = try Parser.parse(sql)
        let table: LiveTable
        do {
            table = try open(statement.table, saveSnapshotAfter: saveSnapshotAfter)
        } catch var error as ViewError where error.code == .noSuchTable {
            error.line = statement.tableLine
            error.column = statement.tableColumn
            throw error
        }
        return try table.run(statement, now: now)
    }
}
