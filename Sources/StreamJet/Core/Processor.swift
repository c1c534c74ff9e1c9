public import EventLogFoundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The unit of computation in a ``DAG``: one instance per unit of a vertex's local parallelism, driven by
/// a tasklet that owns its inbox and outbox.
///
/// A processor never blocks (unless it says it is not cooperative) and never loses its place: when an
/// outbox refuses an item, the processor keeps that item and returns; it is called again later and offers
/// the same item first. The tasklet calls, in this order:
///
/// ```
/// initialize ─▶ ┬─ restoreFromSnapshot* ─ finishSnapshotRestore ─┐
///               └────────────────────────────────────────────────┤
///               ┌────────────────────────────────────────────────┘
///               ▼
///   loop:  process(ordinal:)        while an input queue has data
///          tryProcessWatermark(_:)  when the coalesced input watermark advances (then forwarded)
///          saveToSnapshot(_:)       when a snapshot barrier has arrived on all inputs
///          completeEdge(ordinal:)   when every producer of an input ordinal has finished
///          tryProcess()             when there was nothing else to do
///   end:   complete()               after all inputs are done; repeated until it returns true
/// ```
///
/// Every `Bool`-returning method means "done": return false to be called again (because the outbox was
/// full, or the work was cut short to keep the call under about a millisecond).
public protocol Processor: AnyObject {
    /// Whether the processor may run on a shared worker thread. Processors that block (file or network
    /// I/O, sleeping) return false and get a thread of their own.
    var isCooperative: Bool { get }
    /// Called once before anything else; look up inboxes and outboxes here.
    func initialize(context: ProcessorContext) throws
    /// Takes items from the inbox of `ordinal` (``ProcessorContext/inbox(_:of:)``) until it is empty or an
    /// outbox refuses.
    func process(ordinal: Int) throws
    /// The input watermark advanced to `watermark`: emit what it completes. The tasklet forwards the
    /// watermark downstream after this returns true.
    func tryProcessWatermark(_ watermark: Int64) throws -> Bool
    /// Called when the processor had no input to process, for time-based work (early window results,
    /// idle detection). Return true when there is nothing more to do now.
    func tryProcess() throws -> Bool
    /// All producers of `ordinal` have finished.
    func completeEdge(ordinal: Int) throws -> Bool
    /// All inputs have finished (for a source: called repeatedly from the start). Return true when the
    /// processor has emitted everything it will ever emit.
    func complete() throws -> Bool
    /// Saves the processor's state for snapshot `id`. Called with all inputs aligned on the barrier.
    func saveToSnapshot(_ snapshot: SnapshotWriter) throws -> Bool
    /// Restores one saved entry; entries of every instance of the vertex are offered to every instance,
    /// so each keeps what belongs to it.
    func restoreFromSnapshot(_ entry: SnapshotEntry) throws
    /// All entries have been offered.
    func finishSnapshotRestore() throws
    /// Snapshot `id` (and every earlier one) is complete on disk: a two-phase sink publishes what it
    /// prepared up to that snapshot. Called on the processor's own thread.
    func snapshotCommitted(_ id: Int64) throws
}

extension Processor {
    public var isCooperative: Bool { true }
    public func initialize(context: ProcessorContext) throws {}
    public func process(ordinal: Int) throws {}
    public func tryProcessWatermark(_ watermark: Int64) throws -> Bool { true }
    public func tryProcess() throws -> Bool { true }
    public func completeEdge(ordinal: Int) throws -> Bool { true }
    public func complete() throws -> Bool { true }
    public func saveToSnapshot(_ snapshot: SnapshotWriter) throws -> Bool { true }
    public func restoreFromSnapshot(_ entry: SnapshotEntry) throws {}
    public func finishSnapshotRestore() throws {}
    public func snapshotCommitted(_ id: Int64) throws {}
}

/// The items of one input ordinal waiting for a processor.
///
/// The inbox reads straight from the input queue the tasklet is serving, so taking an item is a move out
/// of the ring buffer. ``poll()`` returns nil when the queue is empty, when a control item (watermark,
/// barrier) is next — the tasklet handles it before the processor sees later items — or when this call's
/// budget is spent.
public final class Inbox<Item> {
    var queue: ConcurrentQueue<Item>?
    var budget = 0
    var taken = 0

    init() {}

    /// Removes and returns the next item, or nil (see the type's discussion).
    @inline(__always)
    public func poll() -> Item? {
        guard budget > 0, let item = queue?.poll() else { return nil }
        budget -= 1
        taken += 1
        return item
    }

    /// The next data items that lie contiguously in the input queue (at most the remaining budget), for a
    /// processor that folds a run in specialized code; the count is 0 when ``poll()`` would return nil. Move
    /// out a prefix of them, then report its length with ``consume(_:)``.
    func contiguousItems() -> (items: UnsafeMutablePointer<Item>, count: Int)? {
        guard budget > 0, let queue else { return nil }
        let run = queue.contiguousItems(limit: budget)
        return run.count > 0 ? run : nil
    }

    /// Frees the `count` items moved out of the run ``contiguousItems()`` returned.
    func consume(_ count: Int) {
        queue?.consume(count)
        budget -= count
        taken += count
    }
}

/// Where a processor emits the items of one output ordinal.
///
/// `offer` returns false when the downstream queue it needs is full: the processor must keep the item and
/// offer the same item again on its next call. Routing follows the edge: isolated (to the instance with
/// the same index), unicast (round-robin, skipping full queues), partitioned (by key hash) or broadcast (to
/// every instance; a partial broadcast resumes where it stopped).
public final class Outbox<Item> {
    enum Route {
        case none
        case isolated
        case unicast
        case partitioned((Item) -> Int)
        case broadcast
    }

    var queues: [ConcurrentQueue<Item>] = []
    var route: Route = .none
    private var next = 0
    /// Position of a broadcast (data or control) that stopped on a full queue.
    private var broadcastProgress = 0
    private(set) var emitted = 0

    init() {}

    /// Emits `item` downstream, or returns false and emits nothing new (see the type's discussion).
    @inline(__always)
    public func offer(_ item: Item) -> Bool {
        switch route {
        case .none:
            emitted += 1
            return true
        case .isolated:
            guard queues[0].offer(item) else { return false }
        case .partitioned(let hash):
            let count = queues.count
            var index = hash(item) % count
            if index < 0 { index += count }
            guard queues[index].offer(item) else { return false }
        case .unicast:
            let count = queues.count
            for attempt in 0..<count {
                let index = (next + attempt) % count
                if queues[index].offer(item) {
                    next = index + 1 == count ? 0 : index + 1
                    emitted += 1
                    return true
                }
            }
            return false
        case .broadcast:
            while broadcastProgress < queues.count {
                guard queues[broadcastProgress].offer(item) else { return false }
                broadcastProgress += 1
            }
            broadcastProgress = 0
        }
        emitted += 1
        return true
    }

    /// Emits the first items of `items[0..<count]` that go downstream now and returns how many it took (moved
    /// out); the rest stay initialized in `items`, to be offered again. An isolated edge takes the run in
    /// one bulk move; other routes go item by item.
    func offer(moving items: UnsafeMutablePointer<Item>, count: Int) -> Int {
        if case .isolated = route {
            let taken = queues[0].offer(moving: items, count: count)
            emitted += taken
            return taken
        }
        var taken = 0
        while taken < count && offer(items[taken]) { taken += 1 }
        items.deinitialize(count: taken)
        return taken
    }

    /// Offers a control item to every downstream queue, resuming a partial broadcast.
    func offerControl(_ control: ControlItem) -> Bool {
        while broadcastProgress < queues.count {
            guard queues[broadcastProgress].offerControl(control) else { return false }
            broadcastProgress += 1
        }
        broadcastProgress = 0
        return true
    }

    /// The fullest downstream queue's free space; `Int.max` when unconnected.
    var minimumRemainingCapacity: Int {
        queues.reduce(Int.max) { min($0, $1.remainingCapacity) }
    }
}

protocol AnyOutbox: AnyObject {
    func offerControl(_ control: ControlItem) -> Bool
    var emitted: Int { get }
    var minimumRemainingCapacity: Int { get }
}

extension Outbox: AnyOutbox {}

/// Where a processor instance sits in the job and how it reaches its edges.
public final class ProcessorContext {
    /// The vertex's name, as given in the ``DAG``.
    public let vertexName: String
    /// This instance's index among the vertex's instances, in `0..<localParallelism`.
    public let index: Int
    /// The number of instances of the vertex.
    public let localParallelism: Int
    /// The job this processor runs in.
    public let jobName: String
    /// The snapshot guarantee of the job.
    public let guarantee: ProcessingGuarantee
    /// Milliseconds of wall-clock time (injectable for tests).
    public let clock: any WallClock
    let inboxes: [AnyObject]
    let outboxes: [any AnyOutbox]
    let metrics: VertexMetrics
    private var controlProgress = 0

    init(
        vertexName: String, index: Int, localParallelism: Int, jobName: String, guarantee: ProcessingGuarantee,
        clock: any WallClock, inboxes: [AnyObject], outboxes: [any AnyOutbox], metrics: VertexMetrics
    ) {
        self.vertexName = vertexName
        self.index = index
        self.localParallelism = localParallelism
        self.jobName = jobName
        self.guarantee = guarantee
        self.clock = clock
        self.inboxes = inboxes
        self.outboxes = outboxes
        self.metrics = metrics
    }

    /// The number of input ordinals connected to this vertex.
    public var inboxCount: Int { inboxes.count }
    /// The number of output ordinals connected to this vertex.
    public var outboxCount: Int { outboxes.count }

    /// The inbox of input `ordinal`, whose edge carries `Item`.
    public func inbox<Item>(_ ordinal: Int, of type: Item.Type = Item.self) -> Inbox<Item> {
        precondition(ordinal < inboxes.count, "vertex '\(vertexName)' has no input ordinal \(ordinal)")
        guard let inbox = inboxes[ordinal] as? Inbox<Item> else {
            preconditionFailure("input \(ordinal) of vertex '\(vertexName)' does not carry \(Item.self)")
        }
        return inbox
    }

    /// The outbox of output `ordinal`, whose edge carries `Item`; an unconnected ordinal gives an outbox that
    /// accepts and discards.
    public func outbox<Item>(_ ordinal: Int, of type: Item.Type = Item.self) -> Outbox<Item> {
        if ordinal >= outboxes.count { return Outbox<Item>() }
        guard let outbox = outboxes[ordinal] as? Outbox<Item> else {
            preconditionFailure("output \(ordinal) of vertex '\(vertexName)' does not carry \(Item.self)")
        }
        return outbox
    }

    /// Sends a watermark to every output; false when a queue was full (call again with the same value).
    public func offerWatermark(_ watermark: Int64) -> Bool { offerControl(.watermark(watermark)) }

    /// Tells every output that this source is idle; false when a queue was full (call again).
    public func offerIdle() -> Bool { offerControl(.idle) }

    func offerControl(_ control: ControlItem) -> Bool {
        while controlProgress < outboxes.count {
            guard outboxes[controlProgress].offerControl(control) else { return false }
            controlProgress += 1
        }
        controlProgress = 0
        return true
    }

    /// Counts events that arrived after their window was emitted (see the vertex metrics).
    public func countLate(_ count: Int = 1) { metrics.lateEvents.add(count, ordering: .relaxed) }
}

/// How a job's snapshots protect its results.
public enum ProcessingGuarantee: String, Sendable, Codable {
    /// No snapshots: a restarted job starts over.
    case none
    /// Barrier snapshots without alignment: after a restart some events are processed twice.
    case atLeastOnce
    /// Barrier snapshots with alignment: after a restart every event affects the state exactly once.
    case exactlyOnce
}

extension ProcessorContext {
    /// Whether a partitioned edge routes `key` to this instance; used when restoring keyed state.
    public func owns<Key: Hashable>(_ key: Key) -> Bool {
        var slot = key.hashValue % localParallelism
        if slot < 0 { slot += localParallelism }
        return slot == index
    }
}

/// The type-erased inbox the tasklet points at a queue before calling the processor.
protocol AnyInbox: AnyObject {
    func serve(_ queue: any AnyConcurrentQueue, budget: Int)
    /// Items taken since the last `serve`.
    var taken: Int { get }
}

extension Inbox: AnyInbox {
    func serve(_ queue: any AnyConcurrentQueue, budget: Int) {
        // The wiring connects each inbox only to queues of its edge's item type (checked in debug builds);
        // a checked `as!` here costs a generic-metadata lookup on every serve.
        self.queue = unsafeDowncast(queue, to: ConcurrentQueue<Item>.self)
        self.budget = budget
        taken = 0
    }
}
