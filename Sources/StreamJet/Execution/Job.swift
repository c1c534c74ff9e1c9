public import EventLog
import EventLogFoundation
public import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How a job runs.
public struct JobConfiguration: Sendable {
    /// The job's name: it names the snapshot directory, so a restarted job with the same name resumes.
    public var name: String
    /// Cooperative worker threads; default one per core. Also the default local parallelism.
    public var workers: Int
    /// The snapshot guarantee; ``ProcessingGuarantee/none`` takes no snapshots.
    public var guarantee: ProcessingGuarantee
    /// Milliseconds between snapshots (Jet's default is 10 s).
    public var snapshotIntervalMilliseconds: Int64
    /// Where snapshots live; required unless the guarantee is `.none`. Given a `log`, it defaults to
    /// `<log directory>/streamjet/<job name>`, so a job's snapshots sit next to the topics it reads.
    public var snapshotDirectory: String?
    /// Wall-clock time for idle timeouts and early results.
    public var clock: any WallClock
    /// Where the engine logs.
    public var logger: Logger
    /// Makes chosen system calls of snapshot writes fail, or kills the process at one (tests). Without
    /// it, a job given a `log` writes its snapshots through that log's system-call layer, so the log's
    /// own injector applies.
    public var faults: FaultInjector?
    /// The log's system-call layer, when the job was configured with one.
    var logIO: SystemIO?

    public init(
        name: String = "job", workers: Int? = nil, guarantee: ProcessingGuarantee = .none,
        snapshotIntervalMilliseconds: Int64 = 10_000, snapshotDirectory: String? = nil, log: Log? = nil,
        clock: any WallClock = SystemClock(),
        logger: Logger = Logger(label: "streamjet", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.name = name
        self.workers = workers ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        self.guarantee = guarantee
        self.snapshotIntervalMilliseconds = snapshotIntervalMilliseconds
        self.snapshotDirectory = snapshotDirectory ?? log.map { "\($0.directory)/streamjet/\(name)" }
        self.clock = clock
        self.logger = logger
        self.logIO = log.map { SystemIO(faults: $0.faults) }
    }

    /// The layer snapshot files go through.
    var snapshotIO: SystemIO { faults.map { SystemIO(faults: $0) } ?? logIO ?? SystemIO() }
}

/// Counters of one vertex, summed over its instances. Read them with ``Job/metrics()``.
final class VertexMetrics: Sendable {
    let name: String
    let itemsIn = Atomic<Int>(0)
    let itemsOut = Atomic<Int>(0)
    let lateEvents = Atomic<Int>(0)
    let watermark = Atomic<Int64>(.min)
    let busyNanoseconds = Atomic<Int>(0)
    let calls = Atomic<Int>(0)
    let maxCallNanoseconds = Atomic<Int>(0)
    init(name: String) { self.name = name }
}

/// A snapshot of one vertex's metrics.
public struct VertexMetricsSnapshot: Sendable, Hashable {
    /// The vertex name.
    public var vertex: String
    /// Items its instances took from their inboxes.
    public var itemsIn: Int
    /// Items its instances emitted.
    public var itemsOut: Int
    /// Items waiting in its input queues.
    public var queueDepth: Int
    /// The last watermark its instances processed (the minimum would need a lock; this is the latest).
    public var watermark: Int64?
    /// Events that arrived after their window was emitted (sent to the late-events output).
    public var lateEvents: Int
    /// Mean time of one tasklet call, in microseconds: how long an item waits at most behind others.
    public var meanCallMicroseconds: Double
    /// Longest tasklet call, in microseconds.
    public var maxCallMicroseconds: Double
}

/// A running job: the tasklets of a ``DAG`` on a pool of worker threads.
///
/// A job ends when every processor has completed (a bounded job reaches the end of its inputs), when a
/// processor throws (the error names the vertex), or when it is cancelled. ``join()`` blocks until then;
/// ``completion()`` awaits it.
public final class Job: Sendable {
    /// The job's name.
    public let name: String
    private let state: Locked<State>
    private let finishedSignal = ConditionLock()
    private let stopping = Atomic<Bool>(false)
    private let vertexMetrics: [VertexMetrics]
    private let queuesByVertex: [[any AnyConcurrentQueue]]
    let coordinator: SnapshotCoordinator?

    private let workersDone = Atomic<Bool>(false)

    struct State {
        var runningWorkers = 0
        var snapshotThreadRunning = false
        var error: StreamJetError?
        var finished = false
        var waiters: [CheckedContinuation<Void, any Error>] = []
    }

    /// Starts `dag` on `configuration.workers` threads.
    ///
    /// - Throws: ``StreamJetError/Code/invalidDAG`` when the DAG breaks an invariant;
    ///   ``StreamJetError/Code/snapshot`` when the snapshot to restore cannot be read.
    public init(dag: DAG, configuration: JobConfiguration = JobConfiguration()) throws {
        name = configuration.name
        try dag.validate(defaultParallelism: configuration.workers)
        let coordinator: SnapshotCoordinator?
        if configuration.guarantee != .none {
            guard let directory = configuration.snapshotDirectory else {
                throw StreamJetError(
                    .snapshot, "a job with guarantee \(configuration.guarantee) needs a snapshot directory")
            }
            coordinator = try SnapshotCoordinator(
                directory: directory, guarantee: configuration.guarantee,
                intervalMilliseconds: configuration.snapshotIntervalMilliseconds,
                clock: configuration.clock, logger: configuration.logger, io: configuration.snapshotIO)
        } else {
            coordinator = nil
        }
        self.coordinator = coordinator
        let wiring = try Wiring(dag: dag, configuration: configuration, coordinator: coordinator)
        vertexMetrics = wiring.metrics
        queuesByVertex = wiring.inputQueuesByVertex
        state = Locked(State())
        coordinator?.expect(tasklets: wiring.tasklets.count)
        start(wiring.tasklets, workers: configuration.workers, coordinator: coordinator)
    }

    private func start(_ tasklets: [ProcessorTasklet], workers: Int, coordinator: SnapshotCoordinator?) {
        var groups = Array(repeating: [ProcessorTasklet](), count: workers)
        var dedicated: [[ProcessorTasklet]] = []
        var next = 0
        for tasklet in tasklets {
            if tasklet.isCooperative {
                groups[next % workers].append(tasklet)
                next += 1
            } else {
                dedicated.append([tasklet])
            }
        }
        let all = (groups + dedicated).filter { !$0.isEmpty }
        state.withLock {
            $0.runningWorkers = all.count
            $0.snapshotThreadRunning = coordinator != nil && !all.isEmpty
            $0.finished = all.isEmpty
        }
        for (index, group) in all.enumerated() {
            let worker = Worker(tasklets: group, job: self)
            WorkerThread.detach(name: "jet-\(index)") { worker.run() }
        }
        if let coordinator, !all.isEmpty {
            let processors = UncheckedBox(tasklets.map { ($0.processor, $0.vertexName) })
            WorkerThread.detach(name: "jet-snapshots") { [self] in
                coordinator.run(stopping: {
                    self.stopping.load(ordering: .acquiring) || self.workersDone.load(ordering: .acquiring)
                })
                if !isStopping { finish(coordinator, processors.value) }
                self.threadEnded(worker: false)
            }
        }
    }

    /// After every tasklet completed: writes the final snapshot, then lets the processors (now idle) commit
    /// it, which is when two-phase sinks publish their last epoch. Without the final snapshot written, an
    /// exactly-once job fails and publishes nothing more: a restart publishes from the last snapshot.
    private func finish(_ coordinator: SnapshotCoordinator, _ processors: [(any Processor, String)]) {
        let id: Int64?
        do {
            id = try coordinator.writeFinal()
        } catch {
            guard coordinator.guarantee == .exactlyOnce else {
                coordinator.recordFailure(error)
                return
            }
            fail(error)
            return
        }
        guard let id else { return }
        for (processor, vertex) in processors {
            do {
                try processor.snapshotCommitted(id)
            } catch {
                var failure =
                    error as? StreamJetError
                    ?? StreamJetError(.processorFailed, "\(error)", vertex: vertex, underlying: error)
                if failure.vertex == nil { failure.vertex = vertex }
                fail(failure)
                return
            }
        }
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    func fail(_ error: StreamJetError) {
        state.withLock { state in
            if state.error == nil { state.error = error }
        }
        stopping.store(true, ordering: .releasing)
    }

    func workerFinished() { threadEnded(worker: true) }

    private func threadEnded(worker: Bool) {
        let (finished, waiters, error): (Bool, [CheckedContinuation<Void, any Error>], StreamJetError?) = state.withLock
        {
            state in
            if worker {
                state.runningWorkers -= 1
                if state.runningWorkers == 0 { workersDone.store(true, ordering: .releasing) }
            } else {
                state.snapshotThreadRunning = false
            }
            guard state.runningWorkers == 0, !state.snapshotThreadRunning else { return (false, [], nil) }
            state.finished = true
            let waiters = state.waiters
            state.waiters = []
            return (true, waiters, state.error)
        }
        guard finished else { return }
        finishedSignal.withLock { finishedSignal.broadcast() }
        for waiter in waiters {
            if let error { waiter.resume(throwing: error) } else { waiter.resume() }
        }
    }

    /// Stops every processor; ``join()`` then throws ``StreamJetError/Code/cancelled``.
    public func cancel() {
        fail(StreamJetError(.cancelled, "job '\(name)' was cancelled"))
    }

    /// Whether the job has ended (completed, failed or cancelled).
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Blocks until the job ends.
    ///
    /// - Throws: The first processor error (with the vertex named), or ``StreamJetError/Code/cancelled``.
    public func join() throws(StreamJetError) {
        finishedSignal.withLock {
            while !state.withLock({ $0.finished }) { finishedSignal.wait(nanoseconds: 50_000_000) }
        }
        if let error = state.withLock({ $0.error }) { throw error }
    }

    /// Waits for the job to end without blocking a thread.
    public func completion() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let result: Result<Void, StreamJetError>? = state.withLock { state in
                guard state.finished else {
                    state.waiters.append(continuation)
                    return nil
                }
                if let error = state.error { return .failure(error) }
                return .success(())
            }
            switch result {
            case .none: break
            case .success: continuation.resume()
            case .failure(let error): continuation.resume(throwing: error)
            }
        }
    }

    /// The current counters of every vertex.
    public func metrics() -> [VertexMetricsSnapshot] {
        zip(vertexMetrics, queuesByVertex).map { metrics, queues in
            let calls = max(1, metrics.calls.load(ordering: .relaxed))
            let watermark = metrics.watermark.load(ordering: .relaxed)
            return VertexMetricsSnapshot(
                vertex: metrics.name, itemsIn: metrics.itemsIn.load(ordering: .relaxed),
                itemsOut: metrics.itemsOut.load(ordering: .relaxed), queueDepth: queues.reduce(0) { $0 + $1.count },
                watermark: watermark == .min ? nil : watermark, lateEvents: metrics.lateEvents.load(ordering: .relaxed),
                meanCallMicroseconds: Double(metrics.busyNanoseconds.load(ordering: .relaxed)) / Double(calls) / 1000,
                maxCallMicroseconds: Double(metrics.maxCallNanoseconds.load(ordering: .relaxed)) / 1000)
        }
    }

    /// The id of the last snapshot written completely, if any.
    public var lastSnapshotID: Int64? { coordinator?.lastCompleted }

    /// Snapshots that could not be written (a full disk, a failing device) and the last such error. The
    /// job keeps running through them: a restart uses the last snapshot that was written, and two-phase
    /// sinks keep what they prepared until a later snapshot completes.
    public var snapshotFailures: (count: Int, last: StreamJetError?) {
        coordinator?.failures ?? (0, nil)
    }
}

/// Runs a group of tasklets round-robin on one thread, backing off (25 µs doubling to 500 µs) when none
/// makes progress.
final class Worker: @unchecked Sendable {
    private var tasklets: [ProcessorTasklet]
    private unowned let job: Job

    init(tasklets: [ProcessorTasklet], job: Job) {
        self.tasklets = tasklets
        self.job = job
    }

    func run() {
        var idleRounds = 0
        var time = timespec()
        while !tasklets.isEmpty && !job.isStopping {
            var progress = false
            var index = 0
            while index < tasklets.count {
                let tasklet = tasklets[index]
                clock_gettime(CLOCK_MONOTONIC, &time)
                let started = Int(time.tv_sec) * 1_000_000_000 + Int(time.tv_nsec)
                let emittedBefore = tasklet.emitted
                do {
                    if try tasklet.call() { progress = true }
                } catch let error as StreamJetError {
                    var error = error
                    if error.vertex == nil { error.vertex = tasklet.vertexName }
                    job.fail(error)
                    break
                } catch {
                    job.fail(
                        StreamJetError(
                            .processorFailed, "\(error)", vertex: tasklet.vertexName, underlying: error))
                    break
                }
                clock_gettime(CLOCK_MONOTONIC, &time)
                let elapsed = Int(time.tv_sec) * 1_000_000_000 + Int(time.tv_nsec) - started
                let metrics = tasklet.context.metrics
                metrics.busyNanoseconds.add(elapsed, ordering: .relaxed)
                metrics.calls.add(1, ordering: .relaxed)
                if elapsed > metrics.maxCallNanoseconds.load(ordering: .relaxed) {
                    metrics.maxCallNanoseconds.store(elapsed, ordering: .relaxed)
                }
                let emitted = tasklet.emitted - emittedBefore
                if emitted > 0 { metrics.itemsOut.add(emitted, ordering: .relaxed) }
                if tasklet.isFinished {
                    tasklets.remove(at: index)
                } else {
                    index += 1
                }
            }
            if progress {
                idleRounds = 0
            } else {
                idleRounds += 1
                usleep(UInt32(min(500, 25 << min(idleRounds - 1, 5))))
            }
        }
        job.workerFinished()
    }
}

/// Hands values that are not `Sendable` to a thread that alone uses them from then on.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
