import EventLogFoundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One partition of a topic: an ordered list of segments, the last of which takes appends.
///
/// ```
///  <log dir>/orders-0/
///    00000000000000000000.log  .index  .timeindex     sealed ──┐ readable by offset and time,
///    00000000000000412000.log  .index  .timeindex     sealed   │ deleted whole by retention,
///    00000000000000824000.log  .index  .timeindex     active ◄─┘ rewritten by compaction (not active)
///    producer.snapshot                                idempotence state at the last checkpoint
/// ```
///
/// Concurrency rules:
/// - **Writers** are serialized by `writer` (held across the `pwrite` of one batch and a segment roll);
///   it is the only lock held during I/O, and readers never take it.
/// - **Readers** take `state` only to copy the segment list and offsets, then read files without locks.
///   `logEndOffset` moves only after a batch is completely written, so readers never see a partial batch.
/// - **Maintenance** (retention, compaction) is serialized by `maintenance` and swaps segment lists under
///   `state`; readers that still hold an old `Segment` keep reading its (possibly unlinked) file.
/// - **Durability** waiters use `syncLock` (group commit; see ``DurabilityPolicy``).
final class Partition: Sendable {
    struct State {
        var segments: [Segment]
        var logStartOffset: Int64
        var logEndOffset: Int64
    }

    struct WriterState {
        var producers = ProducerStateTable()
        /// Damage found in a cleanly closed log (file, position, problem): appends are refused until
        /// ``Partition/repair(quarantineLimit:)`` runs.
        var damage: String? = nil
    }

    struct SyncState {
        var syncedOffset: Int64
        var syncing = false
    }

    let topic: String
    let index: Int
    let directory: String
    let io: SystemIO
    let clock: any WallClock
    let logger: Logger
    let writable: Bool
    let configuration: Locked<TopicConfiguration>
    let state: Locked<State>
    let writer: Locked<WriterState>
    let maintenance = ConditionLock()
    let syncLock = ConditionLock()
    nonisolated(unsafe) var syncState: SyncState  // guarded by syncLock
    let statistics = Locked<PartitionStatistics>(PartitionStatistics())
    /// Signalled after each batch becomes visible (appended here, or seen from the writing process).
    let appendSignal = AppendSignal()

    static func directoryName(topic: String, partition: Int) -> String { "\(topic)-\(partition)" }

    /// Opens (creating if needed) the partition directory and brings it to a consistent state.
    ///
    /// - Parameters:
    ///   - cleanShutdown: the log was closed cleanly: trust sizes and index files.
    ///   - recoveryPoint: otherwise, every batch from the segment holding this offset is validated.
    init(
        topic: String, index: Int, logDirectory: String, configuration: TopicConfiguration, io: SystemIO,
        clock: any WallClock, logger: Logger, writable: Bool, cleanShutdown: Bool, recoveryPoint: Int64,
        quarantineLimit: Int64 = Log.Configuration.defaultQuarantineLimit
    ) throws(EventLogError) {
        self.topic = topic
        self.index = index
        self.directory = logDirectory + "/" + Self.directoryName(topic: topic, partition: index)
        self.io = io
        self.clock = clock
        var logger = logger
        logger[metadataKey: "eventlog.topic"] = "\(topic)"
        logger[metadataKey: "eventlog.partition"] = "\(index)"
        self.logger = logger
        self.writable = writable
        self.configuration = Locked(configuration)
        let loaded = try Self.load(
            directory: directory, topic: topic, partition: index, configuration: configuration, io: io, clock: clock,
            logger: logger, writable: writable, cleanShutdown: cleanShutdown, recoveryPoint: recoveryPoint,
            quarantineLimit: quarantineLimit)
        self.state = Locked(loaded.state)
        self.writer = Locked(WriterState(producers: loaded.producers, damage: loaded.damage))
        self.syncState = SyncState(syncedOffset: cleanShutdown ? loaded.state.logEndOffset : recoveryPoint)
        statistics.withLock { $0.recovery = loaded.report }
    }

    var config: TopicConfiguration { configuration.withLock { $0 } }

    var offsets: (start: Int64, end: Int64) { state.withLock { ($0.logStartOffset, $0.logEndOffset) } }

    var segments: [Segment] { state.withLock { $0.segments } }

    func error(_ code: EventLogError.Code, _ message: String, offset: Int64? = nil) -> EventLogError {
        EventLogError(code, message, topic: topic, partition: index, offset: offset)
    }

    // MARK: Opening and recovery

    private struct Loaded {
        var state: State
        var producers: ProducerStateTable
        var report: RecoveryReport
        var damage: String?
    }

    private static func load(
        directory: String, topic: String, partition: Int, configuration: TopicConfiguration, io: SystemIO,
        clock: any WallClock, logger: Logger, writable: Bool, cleanShutdown: Bool, recoveryPoint: Int64,
        quarantineLimit: Int64
    ) throws(EventLogError) -> Loaded {
        let now = clock.milliseconds()
        if writable { try io.check(io.mkdir(directory), "create partition directory", path: directory) }
        var names = try io.check(io.listDirectory(directory), "list", path: directory)
        if writable {
            try completeInterruptedSwaps(directory: directory, names: names, io: io, logger: logger)
            names = try io.check(io.listDirectory(directory), "list", path: directory)
        }
        let bases = names.compactMap { Segment.baseOffset(fromFileName: $0) }.sorted()
        var segments: [Segment] = []
        for base in bases {
            segments.append(
                try Segment.open(directory: directory, baseOffset: base, io: io, writable: writable, now: now))
        }
        var report = RecoveryReport(topic: topic, partition: partition)
        let interval = configuration.indexIntervalBytes
        // Producer state snapshot.
        let snapshotPath = directory + "/producer.snapshot"
        var producers = ProducerStateTable()
        var snapshotOffset: Int64 = 0
        if let bytes = try? io.readFile(snapshotPath), let (table, offset) = ProducerStateTable.parse(bytes) {
            producers = table
            snapshotOffset = offset
        }
        // Segments from `firstScanned` on are validated batch by batch.
        var firstScanned = segments.count
        if !cleanShutdown {
            let from = min(recoveryPoint, snapshotOffset)
            firstScanned = max(0, (segments.lastIndex { $0.baseOffset <= from }) ?? 0)
        }
        var expected: Int64 = 0
        var damage: String? = nil
        var index = 0
        while index < segments.count {
            let segment = segments[index]
            // Unclean: `firstScanned` is at most the last segment, so the active one is always validated.
            if index < firstScanned && segment.loadIndexFiles(indexInterval: interval) {
                expected = segment.nextOffset
                index += 1
                continue
            }
            let outcome = try segment.scanAndRebuild(
                firstOffset: expected, indexInterval: interval, now: now,
                contiguous: !configuration.cleanupPolicy.contains(.compact)
            ) { header, _ in
                if header.baseOffset >= snapshotOffset { producers.record(header) }
            }
            report.scannedSegments += 1
            report.validatedBatches += outcome.batches
            if let problem = outcome.problem, writable {
                let location = "\(segment.logPath) at position \(outcome.validSize): \(problem)"
                report.problems.append(location)
                if cleanShutdown {
                    // The log was closed cleanly, so this is corruption, not a torn write: keep every byte,
                    // serve what lies before it, and refuse appends until an operator repairs the partition.
                    report.corruption = location
                    logger.error(
                        "damaged partition in a cleanly closed log: appends refused until repaired",
                        metadata: [
                            "eventlog.file": "\(segment.logPath)", "eventlog.position": "\(outcome.validSize)",
                            "eventlog.problem": "\(problem)",
                        ])
                    damage = location + " (run: eventlog repair --topic \(topic) --partition \(partition))"
                    segments.removeSubrange((index + 1)...)
                    break
                }
                logger.warning(
                    "recovery cut a damaged tail into quarantine",
                    metadata: [
                        "eventlog.file": "\(segment.logPath)", "eventlog.position": "\(outcome.validSize)",
                        "eventlog.dropped_bytes": "\(outcome.fileSize - outcome.validSize)",
                        "eventlog.problem": "\(problem)",
                    ])
                try cutTail(
                    segment, at: outcome.validSize, later: Array(segments[(index + 1)...]),
                    limit: quarantineLimit, io: io, report: &report)
                segments.removeSubrange((index + 1)...)
            }
            expected = segment.nextOffset
            index += 1
        }
        if writable {
            if segments.isEmpty {
                segments.append(try Segment.create(directory: directory, baseOffset: 0, io: io, now: now))
            }
        }
        let start = segments.first?.baseOffset ?? 0
        let end = segments.last.map { max($0.nextOffset, $0.baseOffset) } ?? 0
        producers.truncate(to: end)
        if report.truncatedBytes > 0 || report.scannedSegments > 0 {
            logger.debug("partition recovered", metadata: ["eventlog.report": "\(report)"])
        }
        return Loaded(
            state: State(segments: segments, logStartOffset: start, logEndOffset: end), producers: producers,
            report: report, damage: damage)
    }

    /// Cuts `segment` at `position` and drops the segments after it, moving the bytes into quarantine files
    /// first (``Segment/cut(at:quarantineLimit:)``, ``Segment/remove(quarantineLimit:)``): at most `limit`
    /// bytes go to quarantine per cut; what lies beyond is deleted and counted in the report.
    static func cutTail(
        _ segment: Segment, at position: Int64, later: [Segment], limit: Int64, io: SystemIO,
        report: inout RecoveryReport
    ) throws(EventLogError) {
        var budget = limit
        func account(_ cut: Segment.Cut) {
            if let file = cut.quarantineFile { report.quarantined.append(file) }
            budget -= cut.quarantinedBytes
            report.truncatedBytes += cut.removedBytes
            report.droppedBeyondQuarantine += cut.deletedBytes
        }
        account(try segment.cut(at: position, quarantineLimit: budget))
        for dropped in later {
            account(dropped.remove(quarantineLimit: budget))
            report.droppedSegments += 1
        }
        _ = io.fsyncDirectory(segment.directory)
    }

    /// Finishes or rolls back a compaction that a crash interrupted (`Segment.replaced(with:indexInterval:now:)`):
    /// `.tmp` files (and `.cleaned`, from versions before it) are incomplete and deleted; `.swap` files are
    /// complete and replace their segment.
    private static func completeInterruptedSwaps(directory: String, names: [String], io: SystemIO, logger: Logger)
        throws(EventLogError)
    {
        for name in names {
            let path = directory + "/" + name
            if name.hasSuffix(".cleaned") || name.hasSuffix(".tmp") || name.hasSuffix(".deleted") {
                _ = io.unlink(path)
            } else if name.hasSuffix(".log.swap") {
                let target = String(path.dropLast(".swap".count))
                try io.check(io.rename(path, target), "complete compaction swap", path: path)
                if let base = Segment.baseOffset(fromFileName: String(name.dropLast(".swap".count))) {
                    _ = io.unlink(Segment.path(directory, base, "index"))
                    _ = io.unlink(Segment.path(directory, base, "timeindex"))
                }
                logger.info("completed an interrupted compaction swap", metadata: ["eventlog.file": "\(target)"])
            }
        }
        try io.check(io.fsyncDirectory(directory), "fsync directory", path: directory)
    }

    /// Checks every segment's invariants and the partition's; returns the first violation.
    func invariantViolation() -> String? {
        let (segments, start, end) = state.withLock { ($0.segments, $0.logStartOffset, $0.logEndOffset) }
        var previous: Segment? = nil
        for segment in segments {
            if let problem = segment.invariantViolation() { return "\(segment.logPath): \(problem)" }
            if let previous, segment.baseOffset < previous.nextOffset {
                return "segment \(segment.baseOffset) overlaps the previous one ending at \(previous.nextOffset)"
            }
            previous = segment
        }
        if let first = segments.first, first.baseOffset != start {
            return "logStartOffset \(start) ≠ first base \(first.baseOffset)"
        }
        if let last = segments.last, max(last.nextOffset, last.baseOffset) != end {
            return "logEndOffset \(end) ≠ \(last.nextOffset)"
        }
        return nil
    }
}

/// What recovery found and did when a partition was opened.
public struct RecoveryReport: Sendable, Hashable, CustomStringConvertible {
    /// The topic.
    public var topic: String
    /// The partition.
    public var partition: Int
    /// Segments validated batch by batch (0 after a clean shutdown).
    public var scannedSegments = 0
    /// Batches whose CRC was checked.
    public var validatedBatches = 0
    /// Bytes cut from the end of the log (torn writes, garbage, corrupt batches and everything after).
    public var truncatedBytes: Int64 = 0
    /// Whole segments deleted because they followed a damaged batch.
    public var droppedSegments = 0
    /// Where each problem was and what it was.
    public var problems: [String] = []
    /// The quarantine files that now hold the bytes cut (see ``Log/Configuration/quarantineLimitBytes``).
    public var quarantined: [String] = []
    /// Bytes cut that did not fit in quarantine and are gone.
    public var droppedBeyondQuarantine: Int64 = 0
    /// Damage found in a cleanly closed log: nothing was cut, appends are refused until
    /// ``Log/repair(topic:partition:)`` runs.
    public var corruption: String?

    public var description: String {
        "\(topic)-\(partition): scanned \(scannedSegments) segments, \(validatedBatches) batches; truncated \(truncatedBytes) bytes, dropped \(droppedSegments) segments"
            + (quarantined.isEmpty ? "" : "; quarantined in \(quarantined.joined(separator: ", "))")
            + (droppedBeyondQuarantine == 0
                ? "" : "; \(droppedBeyondQuarantine) bytes beyond the quarantine limit deleted")
            + (corruption.map { "; CORRUPT (appends refused until repaired): \($0)" } ?? "")
            + (problems.isEmpty ? "" : "; " + problems.joined(separator: "; "))
    }
}

/// Counters of one partition, readable through ``Log/statistics(topic:partition:)``.
public struct PartitionStatistics: Sendable, Hashable {
    /// What recovery did when the partition was opened.
    public var recovery = RecoveryReport(topic: "", partition: 0)
    /// Batches appended since open.
    public var appendedBatches = 0
    /// Records appended since open.
    public var appendedRecords: Int64 = 0
    /// Batches that were retries of an idempotent producer and got their original offsets back.
    public var duplicateBatches = 0
    /// fdatasync calls made for durability.
    public var syncs = 0
    /// Segments deleted by retention.
    public var segmentsDeletedByRetention = 0
    /// Compaction passes that rewrote segments.
    public var compactions = 0
    /// Records removed by compaction.
    public var recordsRemovedByCompaction: Int64 = 0
    var lastIntervalFlush: Int64 = 0
    var cleanedUpTo: Int64 = 0
}

extension Partition {
    /// In a read-only partition: takes in the segments and batches the writing process has committed
    /// since, and forgets segments it deleted. Only whole batches with a valid CRC become visible.
    func followWriter() throws(EventLogError) {
        guard !writable else { return }
        // The watcher thread and readers may both call this; one at a time keeps the end from moving back.
        try maintenance.withLock { () throws(EventLogError) in try followWriterLocked() }
    }

    private func followWriterLocked() throws(EventLogError) {
        let interval = config.indexIntervalBytes
        let names: [String]
        switch io.listDirectory(directory) {
        case .success(let list): names = list
        case .failure: return  // the topic may be being deleted
        }
        let onDisk = Set(names.compactMap { Segment.baseOffset(fromFileName: $0) })
        var segments = self.segments.filter { onDisk.contains($0.baseOffset) }
        let known = Set(segments.map(\.baseOffset))
        for base in onDisk.sorted() where !known.contains(base) && base >= (segments.last?.baseOffset ?? 0) {
            guard
                let segment = try? Segment.open(
                    directory: directory, baseOffset: base, io: io, writable: false,
                    now: clock.milliseconds())
            else { continue }
            segments.append(segment)
        }
        // Sealed segments are complete; the last may still grow.
        let contiguous = !config.cleanupPolicy.contains(.compact)
        for segment in segments { try segment.followAppends(indexInterval: interval, contiguous: contiguous) }
        let start = segments.first?.baseOffset ?? 0
        let end = segments.last.map { max($0.nextOffset, $0.baseOffset) } ?? 0
        let updated = segments
        let moved = state.withLock { state -> Bool in
            let moved = state.logEndOffset != end
            state.segments = updated
            state.logStartOffset = start
            state.logEndOffset = end
            return moved
        }
        if moved { appendSignal.signal() }
    }
}
