import EventLogFoundation
import Foundation
public import Logging
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A durable, Kafka-format event log in one directory: topics, partitions, segments, retention and
/// compaction, opened by exactly one writing process at a time.
///
/// ```
///  <directory>/
///    .lock                                locked by the writer (POSIX fcntl lock); holds its pid
///    .clean-shutdown                      present only while no writer has it open uncleanly
///    recovery-point-offset-checkpoint     per partition: offset below which data was synced
///    topics/<name>.json                   topic configuration
///    <topic>-<partition>/                 one directory per partition (see ``Partition``)
/// ```
///
/// Opening for writing takes an exclusive POSIX (`fcntl`) lock on `.lock`: a second writer, in this process or
/// another, gets ``EventLogError/Code/directoryLocked`` naming the holder's pid. Any number of processes
/// may open the directory with ``openReadOnly(directory:configuration:)`` and see committed batches.
///
/// If the last writer did not close cleanly, opening validates every batch from each partition's recovery
/// point, truncates at the first invalid byte (torn write, garbage, CRC mismatch) and rebuilds the
/// indexes; ``recoveryReports`` says what was dropped.
public final class Log: Sendable {
    /// How a log is opened.
    public struct Configuration: Sendable {
        /// The source of "now" for retention, segment age and default timestamps.
        public var clock: any WallClock
        /// Where the library logs (at `.debug`/`.trace`, warnings for recovery). Defaults to a no-op logger.
        public var logger: Logger
        /// Fault injection for tests.
        public var faults: FaultInjector?
        /// Run retention and compaction in the background every this many milliseconds (`nil`: only when
        /// ``runMaintenance()`` is called).
        public var maintenanceIntervalMilliseconds: Int64?
        /// At most this many bytes a recovery or repair moves into quarantine files per cut, instead of
        /// deleting them; beyond it bytes are deleted, and the report says how many. Default 64 MiB.
        public var quarantineLimitBytes: Int64 = defaultQuarantineLimit
        static let defaultQuarantineLimit: Int64 = 64 << 20

        /// Creates a configuration.
        public init(
            clock: any WallClock = SystemClock(),
            logger: Logger = Logger(label: "eventlog", factory: { _ in SwiftLogNoOpLogHandler() }),
            faults: FaultInjector? = nil, maintenanceIntervalMilliseconds: Int64? = nil
        ) {
            self.clock = clock
            self.logger = logger
            self.faults = faults
            self.maintenanceIntervalMilliseconds = maintenanceIntervalMilliseconds
        }
    }

    struct Topic: Sendable {
        var configuration: TopicConfiguration
        var partitions: [Partition]
    }

    struct State {
        var topics: [String: Topic] = [:]
        var closed = false
        var roundRobin = 0
    }

    /// The log directory.
    public let directory: String
    /// Whether this instance may write.
    public let isWritable: Bool
    let configuration: Configuration
    let io: SystemIO

    /// The fault injector this log was opened with (``Configuration/faults``), so layers above that write
    /// their own files (snapshots, table definitions) fail the same way in tests.
    public var faults: FaultInjector? { configuration.faults }
    let state = Locked(State())
    let producerIdLock = ConditionLock()
    /// Codec contexts for validating client-encoded batches, reused across appends.
    let validationTools = Locked<[ValidationTools]>([])
    let committed = Locked(CommittedCache())
    let groups = Locked<[String: GroupRegistration]>([:])
    private let lockFile: Int32?
    private let flusher = Locked<PeriodicThread?>(nil)
    private let maintainer = Locked<PeriodicThread?>(nil)
    /// In a read-only log: inotify on the partition directories, so followers learn of new batches.
    let watcher = Locked<DirectoryWatcher?>(nil)
    /// What recovery did for each partition when the log was opened.
    public let recoveryReports: [RecoveryReport]
    /// Whether the previous writer closed the log cleanly (no recovery scan was needed).
    public let openedCleanly: Bool

    static let topicsDirectory = "topics"
    static let cleanShutdownFile = ".clean-shutdown"
    static let checkpointFile = "recovery-point-offset-checkpoint"

    /// Opens (creating if needed) a log directory for writing.
    ///
    /// - Throws: `.directoryLocked` if another writer holds it; `.io` for file-system errors.
    public convenience init(directory: String, configuration: Configuration = Configuration()) throws(EventLogError) {
        try self.init(directory: directory, configuration: configuration, writable: true)
    }

    /// Opens a log directory another process may be writing, for reading only.
    ///
    /// No recovery is done and nothing is written; a torn tail is simply not visible. Call
    /// ``refresh()`` to see batches and topics the writer added since.
    public static func openReadOnly(directory: String, configuration: Configuration = Configuration())
        throws(EventLogError) -> Log
    {
        try Log(directory: directory, configuration: configuration, writable: false)
    }

    private init(directory: String, configuration: Configuration, writable: Bool) throws(EventLogError) {
        let io = SystemIO(faults: configuration.faults)
        self.io = io
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        self.configuration = configuration
        self.isWritable = writable
        let dir = self.directory
        if writable {
            try io.check(io.mkdir(dir), "create log directory", path: dir)
            try io.check(io.mkdir(dir + "/" + Self.topicsDirectory), "create topics directory", path: dir)
            lockFile = try Self.takeLock(dir, io: io)
        } else {
            guard io.isDirectory(dir) else {
                throw EventLogError(.directoryNotFound, "no event log directory at '\(dir)'", path: dir)
            }
            lockFile = nil
        }
        do throws(EventLogError) {
            let clean = io.exists(dir + "/" + Self.cleanShutdownFile)
            openedCleanly = clean
            let recoveryPoints = Self.readCheckpoint(dir + "/" + Self.checkpointFile, io: io)
            if writable && clean {
                // From here on the log is "open": a crash must trigger recovery.
                try io.check(io.unlink(dir + "/" + Self.cleanShutdownFile), "remove clean-shutdown marker", path: dir)
                try io.check(io.fsyncDirectory(dir), "fsync directory", path: dir)
            }
            if writable { try Self.finishInterruptedDeletions(dir, io: io) }
            var topics: [String: Topic] = [:]
            var reports: [RecoveryReport] = []
            for (name, topicConfiguration) in try Self.readTopicConfigurations(dir, io: io) {
                let partitions = try Self.openPartitions(
                    topic: name, configuration: topicConfiguration, directory: dir, io: io, options: configuration,
                    writable: writable, cleanShutdown: clean || !writable, recoveryPoints: recoveryPoints)
                reports += partitions.map { partition in partition.statistics.withLock { $0.recovery } }
                topics[name] = Topic(configuration: topicConfiguration, partitions: partitions)
            }
            if writable { Self.removeDeletedTopicDirectories(dir, io: io) }
            recoveryReports = reports
            state.withLock { $0.topics = topics }
        } catch {
            if let lockFile {
                io.close(lockFile)
                ProcessLocks.release(dir + "/.lock")
            }
            throw error
        }
        if !writable {
            let log = WeakBox(self)
            let watcher = DirectoryWatcher { directory in log.value?.directoryChanged(directory) }
            self.watcher.withLock { $0 = watcher }
            watcher?.watch(dir + "/" + Self.topicsDirectory)
            for topic in state.withLock({ $0.topics.values }) {
                for partition in topic.partitions { watcher?.watch(partition.directory) }
            }
        }
        if writable {
            let log = WeakBox(self)
            flusher.withLock {
                $0 = PeriodicThread(name: "log-flusher", intervalMilliseconds: 5) { log.value?.flushDueIntervals() }
            }
            if let interval = configuration.maintenanceIntervalMilliseconds {
                maintainer.withLock {
                    $0 = PeriodicThread(name: "log-maintenance", intervalMilliseconds: interval) {
                        _ = try? log.value?.runMaintenance()
                    }
                }
            }
        }
    }

    deinit {
        if !state.withLock({ $0.closed }) { try? close() }
    }

    private static func takeLock(_ dir: String, io: SystemIO) throws(EventLogError) -> Int32 {
        let path = dir + "/.lock"
        func locked(by pid: String, errno: Errno?) -> EventLogError {
            EventLogError(
                .directoryLocked,
                "the log directory is already open for writing by process \(pid.isEmpty ? "(unknown)" : pid); only one writer per directory is allowed (open it read-only to follow it)",
                errno: errno, path: dir)
        }
        // Another Log of this process: POSIX locks would not stop it, and opening the lock file again
        // would release this process's lock, so check first.
        guard ProcessLocks.claim(path) else { throw locked(by: "\(getpid()) (this process)", errno: nil) }
        let fd: Int32
        do throws(EventLogError) {
            fd = try io.check(io.open(path, flags: O_RDWR | O_CREAT | O_CLOEXEC), "open lock file", path: path)
        } catch {
            ProcessLocks.release(path)
            throw error
        }
        if case .failure(let errno) = io.tryLockExclusive(fd) {
            io.close(fd)
            let holder = (try? io.readFile(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            ProcessLocks.release(path)
            let pid = holder.trimmingCharacters(in: .whitespacesAndNewlines)
            throw locked(by: pid, errno: errno)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = io.ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { io.pwrite(fd, $0.baseAddress!, count: $0.count, offset: 0) }
        return fd
    }

    // MARK: Topic metadata files

    static func topicConfigPath(_ dir: String, _ name: String) -> String { "\(dir)/\(topicsDirectory)/\(name).json" }

    static func readTopicConfigurations(_ dir: String, io: SystemIO) throws(EventLogError) -> [(
        String, TopicConfiguration
    )] {
        let topicsDir = dir + "/" + topicsDirectory
        guard io.isDirectory(topicsDir) else { return [] }
        let names = try io.check(io.listDirectory(topicsDir), "list topics", path: topicsDir)
        var result: [(String, TopicConfiguration)] = []
        for file in names.sorted() where file.hasSuffix(".json") {
            let name = String(file.dropLast(5))
            let path = topicsDir + "/" + file
            let bytes = try io.readFile(path)
            do {
                let configuration = try JSONDecoder().decode(TopicConfiguration.self, from: Data(bytes))
                try TopicName.validate(name)
                try configuration.validate(topic: name)
                result.append((name, configuration))
            } catch {
                throw EventLogError(
                    .invalidConfiguration, "cannot read topic configuration: \(error)", path: path, topic: name)
            }
        }
        return result
    }

    private static func removeDeletedTopicDirectories(_ dir: String, io: SystemIO) {
        guard case .success(let names) = io.listDirectory(dir) else { return }
        for name in names where name.hasSuffix(".deleted") { removeTree(dir + "/" + name, io: io) }
    }

    /// The topic a partition directory name (`<topic>-<n>`, optionally with `.deleted`) belongs to.
    static func topicOfPartitionDirectory(_ name: String) -> (topic: String, deleted: Bool)? {
        let deleted = name.hasSuffix(".deleted")
        let stem = deleted ? name.dropLast(".deleted".count) : Substring(name)
        guard let dash = stem.lastIndex(of: "-"), Int(stem[stem.index(after: dash)...]) != nil else { return nil }
        return (String(stem[..<dash]), deleted)
    }

    /// Rolls forward deletions that a crash interrupted. ``deleteTopic(_:)`` renames every partition to
    /// `<topic>-<n>.deleted` and then removes the configuration, so a `.deleted` directory next to a
    /// configuration marks a deletion in progress: finish it — rename the rest, remove the configuration —
    /// so a topic is never half there.
    private static func finishInterruptedDeletions(_ dir: String, io: SystemIO) throws(EventLogError) {
        guard case .success(let names) = io.listDirectory(dir) else { return }
        let partitions = names.compactMap { name in topicOfPartitionDirectory(name).map { (name, $0) } }
        let deleting = Set(partitions.filter { $0.1.deleted }.map { $0.1.topic })
        let interrupted = deleting.filter { io.exists(topicConfigPath(dir, $0)) }
        guard !interrupted.isEmpty else { return }
        for (name, owner) in partitions where interrupted.contains(owner.topic) && !owner.deleted {
            let path = dir + "/" + name
            try io.check(io.rename(path, path + ".deleted"), "rename", path: path)
        }
        for topic in interrupted.sorted() {
            let config = topicConfigPath(dir, topic)
            try io.check(io.unlink(config), "delete topic configuration", path: config)
        }
        try io.check(io.fsyncDirectory(dir + "/" + topicsDirectory), "fsync directory", path: dir)
        try io.check(io.fsyncDirectory(dir), "fsync directory", path: dir)
    }

    /// Opens (or creates) every partition of a topic.
    static func openPartitions(
        topic: String, configuration: TopicConfiguration, directory: String, io: SystemIO, options: Configuration,
        writable: Bool, cleanShutdown: Bool, recoveryPoints: [String: Int64] = [:]
    ) throws(EventLogError) -> [Partition] {
        var partitions: [Partition] = []
        for index in 0..<configuration.partitions {
            partitions.append(
                try Partition(
                    topic: topic, index: index, logDirectory: directory, configuration: configuration, io: io,
                    clock: options.clock, logger: options.logger, writable: writable, cleanShutdown: cleanShutdown,
                    recoveryPoint: recoveryPoints["\(topic) \(index)"] ?? 0,
                    quarantineLimit: options.quarantineLimitBytes))
        }
        return partitions
    }

    static func removeTree(_ path: String, io: SystemIO) {
        if case .success(let names) = io.listDirectory(path) {
            for name in names { _ = io.unlink(path + "/" + name) }
        }
        _ = io.rmdir(path)
    }

    // MARK: Recovery-point checkpoint (Kafka's text format: version, count, "topic partition offset" lines)

    static func readCheckpoint(_ path: String, io: SystemIO) -> [String: Int64] {
        guard let bytes = try? io.readFile(path) else { return [:] }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard lines.count >= 2, lines[0] == "0", let count = Int(lines[1]), lines.count == count + 2 else { return [:] }
        var result: [String: Int64] = [:]
        for line in lines.dropFirst(2) {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let offset = Int64(fields[2]) else { return [:] }
            result["\(fields[0]) \(fields[1])"] = offset
        }
        return result
    }

    /// Writes every partition's synced offset as its recovery point (temp file, fsync, rename).
    func writeCheckpoint() throws(EventLogError) {
        let topics = state.withLock { $0.topics }
        var lines: [String] = []
        for (name, topic) in topics.sorted(by: { $0.key < $1.key }) {
            for partition in topic.partitions { lines.append("\(name) \(partition.index) \(partition.syncedOffset)") }
        }
        let text = "0\n\(lines.count)\n" + lines.map { $0 + "\n" }.joined()
        try io.writeFileAtomically(directory + "/" + Self.checkpointFile, Array(text.utf8))
    }

    // MARK: Lookup

    func partition(_ topic: String, _ index: Int) throws(EventLogError) -> Partition {
        let found: Topic? = state.withLock { $0.topics[topic] }
        guard let found else {
            throw EventLogError(.unknownTopic, "topic '\(topic)' does not exist", topic: topic)
        }
        guard index >= 0 && index < found.partitions.count else {
            throw EventLogError(
                .unknownPartition,
                "partition \(index) does not exist; topic '\(topic)' has partitions 0...\(found.partitions.count - 1)",
                topic: topic, partition: index)
        }
        return found.partitions[index]
    }

    func checkOpen() throws(EventLogError) {
        if state.withLock({ $0.closed }) {
            throw EventLogError(.closed, "the log at '\(directory)' is closed", path: directory)
        }
    }

    func requireWritable() throws(EventLogError) {
        try checkOpen()
        guard isWritable else {
            throw EventLogError(.readOnly, "the log at '\(directory)' was opened read-only", path: directory)
        }
    }

    // MARK: Flushing and closing

    /// Syncs every partition whose interval policy is due.
    private func flushDueIntervals() {
        let topics = state.withLock { $0.closed ? [:] : $0.topics }
        for topic in topics.values where topic.configuration.durability.kind == .interval {
            let interval = topic.configuration.durability.intervalMilliseconds
            for partition in topic.partitions {
                let now = configuration.clock.milliseconds()
                let due = partition.statistics.withLock { stats -> Bool in
                    if now - stats.lastIntervalFlush >= interval {
                        stats.lastIntervalFlush = now
                        return true
                    }
                    return false
                }
                if due {
                    do { try partition.flush() } catch {
                        configuration.logger.error("interval flush failed", metadata: ["eventlog.error": "\(error)"])
                    }
                }
            }
        }
    }

    /// Forces every partition's appended data to disk and records the recovery point, so the next unclean
    /// open validates only what came after.
    public func flush() throws(EventLogError) {
        try requireWritable()
        let topics = state.withLock { $0.topics }
        for topic in topics.values {
            for partition in topic.partitions {
                try partition.flush()
                try partition.writeProducerSnapshot()
            }
        }
        try writeCheckpoint()
    }

    /// Flushes everything, writes the indexes, producer snapshots and the clean-shutdown marker, and
    /// releases the directory lock. Further calls fail with `.closed`. Idempotent.
    public func close() throws(EventLogError) {
        let wasClosed = state.withLock { state -> Bool in
            let was = state.closed
            state.closed = true
            return was
        }
        if wasClosed { return }
        flusher.withLock { $0 }?.stop()
        maintainer.withLock { $0 }?.stop()
        watcher.withLock { $0 }?.stop()
        guard isWritable, let lockFile else { return }
        defer {
            io.close(lockFile)
            ProcessLocks.release(directory + "/.lock")
        }
        let topics = state.withLock { $0.topics }
        for topic in topics.values {
            for partition in topic.partitions {
                try partition.flush()
                try partition.writeProducerSnapshot()
                try partition.writeActiveIndexes()
            }
        }
        try writeCheckpoint()
        let marker = directory + "/" + Self.cleanShutdownFile
        let fd = try io.check(
            io.open(marker, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC), "create marker", path: marker)
        _ = io.fsync(fd)
        io.close(fd)
        try io.check(io.fsyncDirectory(directory), "fsync directory", path: directory)
    }
}

/// A weak reference usable from a `@Sendable` closure.
final class WeakBox<T: AnyObject & Sendable>: Sendable {
    // Set once in init and only read after; the runtime loads a weak reference atomically.
    nonisolated(unsafe) weak var value: T?
    init(_ value: T) { self.value = value }
}

extension Log {
    /// In a read-only log: picks up topics the writer created and batches it committed. Readers call
    /// this by themselves when they reach the end, so most code never needs it.
    public func refresh() throws(EventLogError) {
        guard !isWritable else { return }
        let existing = state.withLock { $0.topics }
        for (name, configuration) in try Self.readTopicConfigurations(directory, io: io) where existing[name] == nil {
            let created = try Self.openPartitions(
                topic: name, configuration: configuration, directory: directory, io: io, options: self.configuration,
                writable: false, cleanShutdown: true)
            state.withLock { $0.topics[name] = Topic(configuration: configuration, partitions: created) }
            for partition in created { watcher.withLock { $0 }?.watch(partition.directory) }
        }
        for topic in state.withLock({ $0.topics.values }) {
            for partition in topic.partitions { try partition.followWriter() }
        }
    }
}

extension Log {
    /// The watcher saw a change in `directory` (a partition directory or the topics directory).
    func directoryChanged(_ directory: String) {
        if directory.hasSuffix("/" + Self.topicsDirectory) {
            try? refresh()
            return
        }
        let partition = state.withLock { state in
            state.topics.values.lazy.flatMap(\.partitions).first { $0.directory == directory }
        }
        try? partition?.followWriter()
    }
}
