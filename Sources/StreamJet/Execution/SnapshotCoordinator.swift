import EventLog
import EventLogFoundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the Chandy-Lamport snapshots of one job and keeps them on disk.
///
/// ```
///  coordinator: requested = n ──▶ each source: save offsets, emit barrier(n)
///  each processor: barrier(n) on every input (aligned) ──▶ save state ──▶ acknowledge(n)
///  all tasklets acknowledged ──▶ write snapshot-n (temp, fsync, rename, fsync dir) ──▶ lastCompleted = n
///  ──▶ processors see lastCompleted and run snapshotCommitted(n) (two-phase sinks publish)
/// ```
///
/// Invariants:
/// - Snapshot ids increase by one; at most one is in flight. A new one is requested only after the
///   previous one completed and the interval passed.
/// - A snapshot file is either absent or complete and CRC-valid; a restart uses the newest valid one and
///   ignores torn temporaries. The two newest are kept so a corrupt newest still leaves one to use.
/// - Once any tasklet starts finishing (a bounded input ended) no periodic snapshot starts: its state could
///   no longer be aligned with the others. Instead, the `done` marker is the barrier of a **final
///   snapshot** whose id is one above every requested one: each tasklet saves its state after its
///   processor completed (so after every upstream one did) and acknowledges it with
///   ``acknowledgeFinal(vertex:index:entries:)``. When the job completes, ``writeFinal()`` writes it, and
///   only then do two-phase sinks publish their last epoch. A kill during that publish is therefore
///   recovered like any other: the restart restores the final snapshot and re-sends the same batches with
///   the same sequence numbers. A job restarted after it completed resumes from the end of its inputs.
final class SnapshotCoordinator: @unchecked Sendable {
    let directory: String
    let guarantee: ProcessingGuarantee
    private let interval: Int64
    private let clock: any WallClock
    private let logger: Logger
    private let io: SystemIO
    private let requested: Atomic<Int64>
    private let completed: Atomic<Int64>
    /// The last snapshot that finished, written or failed.
    private let attempted: Atomic<Int64>
    let restoredSnapshot: Int64
    private let restored: [String: [SnapshotEntry]]
    private let state = Locked(State())
    private let wake = ConditionLock()

    struct State {
        var expected = 0
        /// The final snapshot's id, fixed when the first tasklet finishes; no periodic one starts after.
        var finalID: Int64?
        var finalStates: [SavedState] = []
        var acknowledged: [SavedState] = []
        var ready: Int64?
        var failure: StreamJetError?
        var failedWrites = 0
        var lastWriteError: StreamJetError?
    }

    var failures: (count: Int, last: StreamJetError?) { state.withLock { ($0.failedWrites, $0.lastWriteError) } }

    func recordFailure(_ failure: StreamJetError) {
        state.withLock {
            $0.failedWrites += 1
            $0.lastWriteError = failure
        }
        logger.error("\(failure.message)")
    }

    struct SavedState {
        var vertex: String
        var index: Int
        var entries: [SnapshotEntry]
    }

    init(
        directory: String, guarantee: ProcessingGuarantee, intervalMilliseconds: Int64, clock: any WallClock,
        logger: Logger, io: SystemIO
    ) throws {
        self.directory = directory
        self.guarantee = guarantee
        self.io = io
        interval = intervalMilliseconds
        self.clock = clock
        self.logger = logger
        try Self.makeDirectories(directory, io: io)
        let (id, saved) = try Self.loadNewest(directory: directory, io: io, logger: logger)
        restoredSnapshot = id
        restored = Dictionary(grouping: saved.flatMap { state in state.entries.map { (state.vertex, $0) } }, by: \.0)
            .mapValues { $0.map(\.1) }
        requested = Atomic(id)
        completed = Atomic(id)
        attempted = Atomic(id)
        if id > 0 {
            logger.info(
                "restoring snapshot", metadata: ["streamjet.snapshot": "\(id)", "streamjet.directory": "\(directory)"])
        }
    }

    var requestedSnapshot: Int64 { requested.load(ordering: .acquiring) }
    var lastCompleted: Int64 { completed.load(ordering: .acquiring) }

    func restoredEntries(vertex: String) -> [SnapshotEntry] { restored[vertex] ?? [] }

    func expect(tasklets: Int) { state.withLock { $0.expected = tasklets } }

    /// The id of the final snapshot, which a finishing tasklet saves its state under. The first call fixes
    /// it one above the last requested snapshot and stops periodic requests.
    func finalSnapshotID() -> Int64 {
        state.withLock { state in
            if let id = state.finalID { return id }
            let id = requested.load(ordering: .acquiring) + 1
            state.finalID = id
            return id
        }
    }

    func acknowledgeFinal(vertex: String, index: Int, entries: [SnapshotEntry]) {
        state.withLock { $0.finalStates.append(SavedState(vertex: vertex, index: index, entries: entries)) }
    }

    /// Writes the final snapshot once every tasklet has acknowledged it (the job completed). Returns its id,
    /// or nil when the job ended otherwise (cancelled or failed: a restart uses the last periodic one).
    func writeFinal() throws(StreamJetError) -> Int64? {
        let (id, saved) = state.withLock { state in
            (state.finalID, state.finalStates.count == state.expected ? state.finalStates : nil)
        }
        guard let id, let saved else { return nil }
        do {
            try write(id: id, saved: saved)
        } catch {
            throw StreamJetError(.snapshot, "final snapshot \(id) could not be written: \(error)", underlying: error)
        }
        completed.store(id, ordering: .releasing)
        attempted.store(id, ordering: .releasing)
        logger.debug("final snapshot complete", metadata: ["streamjet.snapshot": "\(id)"])
        return id
    }

    func acknowledge(snapshot id: Int64, vertex: String, index: Int, entries: [SnapshotEntry]) throws {
        let complete = state.withLock { state -> Bool in
            state.acknowledged.append(SavedState(vertex: vertex, index: index, entries: entries))
            guard state.acknowledged.count == state.expected else { return false }
            state.ready = id
            return true
        }
        if complete { wake.withLock { wake.broadcast() } }
    }

    /// The snapshot thread's loop: request snapshots on the interval and write completed ones.
    func run(stopping: () -> Bool) {
        var lastRequest = clock.milliseconds()
        while !stopping() {
            wake.withLock { wake.wait(nanoseconds: 5_000_000) }
            let (ready, saved) = state.withLock { state in
                let ready = state.ready
                let saved = ready == nil ? [] : state.acknowledged
                if ready != nil {
                    state.ready = nil
                    state.acknowledged = []
                }
                return (ready, saved)
            }
            if let ready {
                do {
                    try write(id: ready, saved: saved)
                    completed.store(ready, ordering: .releasing)
                    logger.debug("snapshot complete", metadata: ["streamjet.snapshot": "\(ready)"])
                } catch {
                    // The job keeps running; a restart uses the previous snapshot, and two-phase sinks
                    // keep what they prepared until a later snapshot completes.
                    recordFailure(
                        StreamJetError(.snapshot, "snapshot \(ready) could not be written: \(error)", underlying: error)
                    )
                }
                attempted.store(ready, ordering: .releasing)
                lastRequest = clock.milliseconds()
            }
            let inFlight = requested.load(ordering: .acquiring) > attempted.load(ordering: .acquiring)
            if !inFlight && clock.milliseconds() - lastRequest >= interval {
                // Under the lock, so no request slips in after a tasklet fixed the final snapshot's id.
                state.withLock { state in
                    if state.finalID == nil { requested.add(1, ordering: .releasing) }
                }
                lastRequest = clock.milliseconds()
            }
        }
    }

    // MARK: Files

    static let magic: [UInt8] = Array("SJSNAP01".utf8)

    private static func fileName(_ id: Int64) -> String { "snapshot-" + String(id) + ".bin" }

    private static func makeDirectories(_ path: String, io: SystemIO) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component + "/"
            if !io.exists(prefix) {
                if case .failure(let error) = io.mkdir(prefix), !io.isDirectory(prefix) {
                    throw StreamJetError(.snapshot, "cannot create snapshot directory '\(prefix)': \(error)")
                }
            }
        }
    }

    /// Serializes: magic, id, state count, then per state the vertex, index and entries, then CRC-32C.
    static func encode(id: Int64, saved: [SavedState]) -> [UInt8] {
        var w = BinaryWriter(magic)
        w.i64(id)
        w.u32(UInt32(saved.count))
        for state in saved {
            w.data(Array(state.vertex.utf8))
            w.u32(UInt32(state.index))
            w.u32(UInt32(state.entries.count))
            for entry in state.entries {
                w.data(entry.key)
                w.data(entry.value)
            }
        }
        return w.sealed()
    }

    /// Parses what ``encode(id:saved:)`` wrote; nil when the bytes are torn or corrupt.
    static func decode(_ bytes: [UInt8]) -> (Int64, [SavedState])? {
        guard bytes.count >= magic.count + 16, Array(bytes.prefix(magic.count)) == magic,
            var r = BinaryReader.unsealing(bytes, after: magic.count)
        else { return nil }
        do throws(BinaryReader.Failure) {
            let id = try r.i64()
            var saved: [SavedState] = []
            for _ in 0..<(try r.u32()) {
                let vertex = String(decoding: try r.data(), as: UTF8.self)
                var state = SavedState(vertex: vertex, index: Int(try r.u32()), entries: [])
                for _ in 0..<(try r.u32()) {
                    state.entries.append(SnapshotEntry(key: try r.data(), value: try r.data()))
                }
                saved.append(state)
            }
            return r.isAtEnd ? (id, saved) : nil
        } catch {
            return nil
        }
    }

    private func write(id: Int64, saved: [SavedState]) throws {
        let path = directory + "/" + Self.fileName(id)
        try io.writeFileAtomically(path, Self.encode(id: id, saved: saved))
        for old in Self.snapshotIDs(in: directory, io: io) where old < id - 1 {
            _ = io.unlink(directory + "/" + Self.fileName(old))
        }
    }

    private static func snapshotIDs(in directory: String, io: SystemIO) -> [Int64] {
        guard case .success(let names) = io.listDirectory(directory) else { return [] }
        return names.compactMap { name in
            guard name.hasPrefix("snapshot-"), name.hasSuffix(".bin") else { return nil }
            return Int64(name.dropFirst("snapshot-".count).dropLast(".bin".count))
        }.sorted()
    }

    /// The newest snapshot that validates, or id 0 when there is none.
    static func loadNewest(directory: String, io: SystemIO, logger: Logger) throws -> (Int64, [SavedState]) {
        for id in snapshotIDs(in: directory, io: io).reversed() {
            let path = directory + "/" + fileName(id)
            let bytes: [UInt8]
            do { bytes = try io.readFile(path) } catch {
                throw StreamJetError(.snapshot, "cannot read snapshot '\(path)': \(error)")
            }
            if let (stored, saved) = decode(bytes), stored == id { return (id, saved) }
            logger.warning("snapshot '\(path)' is corrupt; trying an older one")
        }
        return (0, [])
    }
}
