import Synchronization

/// Drives one processor instance: moves data from its input queues through the processor, coalesces
/// watermarks, aligns snapshot barriers, completes edges and finally the processor, then tells every
/// consumer it is done.
///
/// ```
///  input queues ──▶ [ serve data to process(ordinal:) ]──▶ outboxes
///        │  control item at head
///        ▼
///   watermark ─▶ coalescer ─▶ tryProcessWatermark ─▶ forward
///   idle      ─▶ coalescer ─▶ forward
///   barrier   ─▶ block queue (exactly-once) until all arrived ─▶ saveToSnapshot ─▶ ack ─▶ forward
///   done      ─▶ coalescer; last queue of an ordinal ─▶ completeEdge
///  all inputs done ─▶ complete() until true ─▶ save final snapshot ─▶ forward done ─▶ finished
/// ```
///
/// A tasklet is called by one thread at a time. Each call does a bounded amount of work (a budget of
/// items per queue) and returns whether it made progress, so a worker can interleave many tasklets and
/// back off when none progresses. Steps that the outbox can refuse are kept in `pending` and retried
/// first on the next call, in order.
final class ProcessorTasklet {
    struct InputQueue {
        let queue: any AnyConcurrentQueue
        let ordinal: Int
        let coalescerIndex: Int
        var done = false
        /// The snapshot whose barrier this queue has delivered, while waiting for the others.
        var barrier: Int64?
    }

    enum Step {
        case processWatermark(Int64)
        case forward(ControlItem)
        case completeEdge(Int)
        case snapshot(Int64)
        /// Saves the state after completion into the job's final snapshot (`done` is its barrier).
        case finalSnapshot
    }

    enum Phase {
        case running
        case completing
        case finishing
        case finished
    }

    let processor: any Processor
    let context: ProcessorContext
    let vertexName: String
    private let inboxes: [any AnyInbox]
    private var inputs: [InputQueue]
    /// Input queue indices grouped by ascending edge priority; only the first unfinished group is served.
    private var priorityGroups: [[Int]]
    private var openQueuesPerOrdinal: [Int]
    private var coalescer: WatermarkCoalescer
    private var pending: [Step] = []
    private var phase = Phase.running
    private var nextInput = 0
    private let coordinator: SnapshotCoordinator?
    private var lastSnapshot: Int64 = 0
    private var lastCommitted: Int64 = 0
    let isSource: Bool
    var isCooperative: Bool { processor.isCooperative }
    static let budgetPerQueue = 1024

    init(
        processor: any Processor, context: ProcessorContext, inboxes: [any AnyInbox],
        inputs: [(queue: any AnyConcurrentQueue, ordinal: Int, priority: Int)], coordinator: SnapshotCoordinator?
    ) {
        self.processor = processor
        self.context = context
        self.vertexName = context.vertexName
        self.inboxes = inboxes
        self.inputs = inputs.enumerated().map {
            InputQueue(queue: $1.queue, ordinal: $1.ordinal, coalescerIndex: $0)
        }
        let priorities = Set(inputs.map(\.priority)).sorted()
        priorityGroups = priorities.map { priority in inputs.indices.filter { inputs[$0].priority == priority } }
        openQueuesPerOrdinal = Array(repeating: 0, count: inboxes.count)
        for input in inputs { openQueuesPerOrdinal[input.ordinal] += 1 }
        coalescer = WatermarkCoalescer(queueCount: inputs.count)
        isSource = inputs.isEmpty
        self.coordinator = coordinator
        if let coordinator {
            lastSnapshot = coordinator.restoredSnapshot
            lastCommitted = coordinator.restoredSnapshot
        }
    }

    var isFinished: Bool { phase == .finished }

    /// Does a bounded amount of work. Returns whether anything moved.
    func call() throws -> Bool {
        var progress = false
        if let coordinator, coordinator.lastCompleted > lastCommitted, lastCommitted < lastSnapshot {
            lastCommitted = min(coordinator.lastCompleted, lastSnapshot)
            try processor.snapshotCommitted(lastCommitted)
        }
        guard try runPending(&progress) else { return progress }
        switch phase {
        case .running:
            if isSource {
                if let coordinator, coordinator.requestedSnapshot > lastSnapshot {
                    pending.append(.snapshot(lastSnapshot + 1))
                    guard try runPending(&progress) else { return progress }
                }
                phase = .completing
                return try call() || progress
            }
            progress = try serveInputs() || progress
            if !progress && pending.isEmpty && phase == .running {
                // Time-based work (early results); "not done yet" counts as progress so the worker does not back off.
                progress = try !processor.tryProcess()
            }
        case .completing:
            if isSource, let coordinator, coordinator.requestedSnapshot > lastSnapshot {
                pending.append(.snapshot(lastSnapshot + 1))
                guard try runPending(&progress) else { return progress }
            }
            let before = outboxEmitted()
            if try processor.complete() {
                phase = .finishing
                if coordinator != nil { pending.append(.finalSnapshot) }
                pending.append(.forward(.done))
                _ = try runPending(&progress)
                return true
            }
            progress = progress || outboxEmitted() != before
        case .finishing, .finished:
            break
        }
        return progress
    }

    var emitted: Int { outboxEmitted() }

    private func outboxEmitted() -> Int {
        var total = 0
        for outbox in context.outboxes { total &+= outbox.emitted }
        return total
    }

    /// Runs queued steps in order; false when one could not finish (call again later).
    private func runPending(_ progress: inout Bool) throws -> Bool {
        while let step = pending.first {
            switch step {
            case .processWatermark(let watermark):
                guard try processor.tryProcessWatermark(watermark) else { return false }
                context.metrics.watermark.store(watermark, ordering: .relaxed)
                pending[0] = .forward(.watermark(watermark))
                continue
            case .forward(let control):
                guard context.offerControl(control) else { return false }
                if control == .done {
                    phase = .finished
                }
            case .completeEdge(let ordinal):
                guard try processor.completeEdge(ordinal: ordinal) else { return false }
            case .snapshot(let id):
                let writer = SnapshotWriter(snapshotID: id)
                guard try processor.saveToSnapshot(writer) else { return false }
                try coordinator?.acknowledge(
                    snapshot: id, vertex: vertexName, index: context.index, entries: writer.entries)
                lastSnapshot = id
                pending[0] = .forward(.barrier(id))
                continue
            case .finalSnapshot:
                guard let coordinator else { break }
                let writer = SnapshotWriter(snapshotID: coordinator.finalSnapshotID())
                guard try processor.saveToSnapshot(writer) else { return false }
                coordinator.acknowledgeFinal(vertex: vertexName, index: context.index, entries: writer.entries)
            }
            pending.removeFirst()
            progress = true
        }
        return true
    }

    private func serveInputs() throws -> Bool {
        var progress = false
        guard let group = priorityGroups.first else {
            phase = .completing
            return true
        }
        var index = 0
        while index < group.count {
            let queueIndex = group[(nextInput + index) % group.count]
            index += 1
            if inputs[queueIndex].done || (inputs[queueIndex].barrier != nil && context.guarantee == .exactlyOnce) {
                continue
            }
            let input = inputs[queueIndex]
            let inbox = inboxes[input.ordinal]
            while true {
                if input.queue.headIsControl() == false {
                    inbox.serve(input.queue, budget: Self.budgetPerQueue)
                    try processor.process(ordinal: input.ordinal)
                    let taken = inbox.taken
                    if taken > 0 {
                        progress = true
                        context.metrics.itemsIn.add(taken, ordering: .relaxed)
                        if coalescer.isIdle(input.coalescerIndex) { coalescer.observeEvent(input.coalescerIndex) }
                    }
                    // The processor stopped before a control item: its outbox is full or the budget is spent.
                    if input.queue.headIsControl() != true { break }
                }
                guard let control = input.queue.pollControl() else { break }
                progress = true
                handle(control, from: queueIndex)
                guard try runPending(&progress) else {
                    nextInput = (nextInput + index) % max(group.count, 1)
                    return progress
                }
                if inputs[queueIndex].done || (inputs[queueIndex].barrier != nil && context.guarantee == .exactlyOnce) {
                    break
                }
            }
        }
        nextInput = (nextInput + 1) % max(group.count, 1)
        if group.allSatisfy({ inputs[$0].done }) {
            priorityGroups.removeFirst()
            nextInput = 0
            if priorityGroups.isEmpty { phase = .completing }
        }
        return progress
    }

    private func handle(_ control: ControlItem, from queueIndex: Int) {
        let coalescerIndex = inputs[queueIndex].coalescerIndex
        switch control {
        case .watermark(let watermark):
            enqueue(coalescer.observeWatermark(coalescerIndex, watermark))
        case .idle:
            enqueue(coalescer.observeIdle(coalescerIndex))
        case .done:
            inputs[queueIndex].done = true
            inputs[queueIndex].barrier = nil
            enqueue(coalescer.queueDone(coalescerIndex))
            let ordinal = inputs[queueIndex].ordinal
            openQueuesPerOrdinal[ordinal] -= 1
            if openQueuesPerOrdinal[ordinal] == 0 { pending.append(.completeEdge(ordinal)) }
            checkBarrierAlignment()
        case .barrier(let id):
            inputs[queueIndex].barrier = id
            checkBarrierAlignment()
        }
    }

    /// When every open input has delivered the barrier, the state is consistent: save it and forward the
    /// barrier. In at-least-once mode queues keep flowing meanwhile, so the state may include later items.
    private func checkBarrierAlignment() {
        guard let id = inputs.lazy.compactMap(\.barrier).first else { return }
        guard inputs.allSatisfy({ $0.done || $0.barrier == id }) else { return }
        for index in inputs.indices { inputs[index].barrier = nil }
        pending.append(.snapshot(id))
    }

    private func enqueue(_ outputs: [WatermarkCoalescer.Output]) {
        for output in outputs {
            switch output {
            case .watermark(let watermark): pending.append(.processWatermark(watermark))
            case .idle: pending.append(.forward(.idle))
            }
        }
    }
}
