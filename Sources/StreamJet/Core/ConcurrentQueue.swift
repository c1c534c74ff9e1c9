import Synchronization

/// What travels on an edge besides data: the in-band control items of the stream.
///
/// Control items are ordered with the data around them; that is what makes watermarks and snapshot
/// barriers meaningful. A queue delivers `.done` last.
enum ControlItem: Equatable {
    /// No item on this queue will have an event time below this (milliseconds).
    case watermark(Int64)
    /// The producer has no events for a while; leave it out of the watermark minimum until it sends
    /// something again.
    case idle
    /// Chandy-Lamport barrier of snapshot `id`: everything before it belongs to the snapshot.
    case barrier(Int64)
    /// The producer has finished; nothing follows.
    case done
}

/// The type-erased face of a queue that the tasklet needs for control items and metrics.
protocol AnyConcurrentQueue: AnyObject, Sendable {
    /// Items waiting (racy when read by a third thread; exact for producer or consumer).
    var count: Int { get }
    /// Removes and returns the head if it is a control item.
    func pollControl() -> ControlItem?
    /// Whether the head is a control item (nil when empty).
    func headIsControl() -> Bool?
    /// Appends a control item; false when full.
    func offerControl(_ control: ControlItem) -> Bool
}

/// A bounded, lock-free single-producer/single-consumer ring buffer: the only channel between two
/// processor instances.
///
/// ```
///            consumer                       producer
///              head ──▶ [ a | b | wm | c | ... ] ◀── tail
///   (cachedTail)                                  (cachedHead)
/// ```
///
/// Invariants: `0 ≤ tail − head ≤ capacity`; only the producer writes `tail` and slots in
/// `[tail, head + capacity)`; only the consumer writes `head` and moves slots out of `[head, tail)`. The
/// release store of `tail` publishes a written slot, the release store of `head` a freed one. Each side
/// caches the other's index and reloads it only when the cache says full (producer) or empty (consumer),
/// so a steady stream costs one atomic load per refill rather than per item.
///
/// Written by hand because it is the engine's hot path: a full queue is how backpressure reaches a
/// producer (``Outbox/offer(_:)`` returns false), with no locks and no allocation per item.
final class ConcurrentQueue<Item>: AnyConcurrentQueue, @unchecked Sendable {
    let capacity: Int
    private let mask: Int
    /// Data items, initialized only where `kinds` says `itemKind`.
    private let items: UnsafeMutablePointer<Item>
    /// Per slot: `itemKind` or the control item's kind; a byte, so telling them apart costs no generic code.
    private let kinds: UnsafeMutablePointer<UInt8>
    /// The value of a watermark or barrier slot.
    private let values: UnsafeMutablePointer<Int64>
    private let head = Atomic<Int>(0)
    private let tail = Atomic<Int>(0)
    // Producer-private.
    private var cachedHead = 0
    private var localTail = 0
    // Consumer-private.
    private var cachedTail = 0
    private var localHead = 0

    private static var itemKind: UInt8 { 0 }

    init(capacity: Int) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "queue capacity must be a power of two")
        self.capacity = capacity
        mask = capacity - 1
        items = .allocate(capacity: capacity)
        kinds = .allocate(capacity: capacity)
        values = .allocate(capacity: capacity)
    }

    deinit {
        var position = head.load(ordering: .acquiring)
        let end = tail.load(ordering: .acquiring)
        while position < end {
            if kinds[position & mask] == Self.itemKind { (items + (position & mask)).deinitialize(count: 1) }
            position += 1
        }
        items.deallocate()
        kinds.deallocate()
        values.deallocate()
    }

    var count: Int { tail.load(ordering: .relaxed) - head.load(ordering: .relaxed) }

    // MARK: Producer side

    @inline(__always)
    private func reserve() -> Bool {
        if localTail - cachedHead < capacity { return true }
        cachedHead = head.load(ordering: .acquiring)
        return localTail - cachedHead < capacity
    }

    /// Appends a data item; false (and nothing changes) when the queue is full.
    @inline(__always)
    func offer(_ item: Item) -> Bool {
        guard reserve() else { return false }
        let slot = localTail & mask
        (items + slot).initialize(to: item)
        kinds[slot] = Self.itemKind
        localTail += 1
        tail.store(localTail, ordering: .releasing)
        return true
    }

    /// Moves the first items of `source[0..<count]` that fit into the queue and returns how many it took;
    /// the rest stay initialized in `source`. One bulk move and one release store for the whole run, so a
    /// source hands over a batch without per-item generic code.
    func offer(moving source: UnsafeMutablePointer<Item>, count: Int) -> Int {
        if capacity - (localTail - cachedHead) < count { cachedHead = head.load(ordering: .acquiring) }
        let taken = min(count, capacity - (localTail - cachedHead))
        guard taken > 0 else { return 0 }
        var moved = 0
        while moved < taken {
            let slot = (localTail + moved) & mask
            let run = min(taken - moved, capacity - slot)
            (items + slot).moveInitialize(from: source + moved, count: run)
            (kinds + slot).update(repeating: Self.itemKind, count: run)
            moved += run
        }
        localTail += taken
        tail.store(localTail, ordering: .releasing)
        return taken
    }

    func offerControl(_ control: ControlItem) -> Bool {
        guard reserve() else { return false }
        let slot = localTail & mask
        switch control {
        case .watermark(let value):
            kinds[slot] = 1
            values[slot] = value
        case .idle: kinds[slot] = 2
        case .barrier(let value):
            kinds[slot] = 3
            values[slot] = value
        case .done: kinds[slot] = 4
        }
        localTail += 1
        tail.store(localTail, ordering: .releasing)
        return true
    }

    /// Free slots as the producer sees them now.
    var remainingCapacity: Int {
        cachedHead = head.load(ordering: .acquiring)
        return capacity - (localTail - cachedHead)
    }

    // MARK: Consumer side

    @inline(__always)
    private func available() -> Bool {
        if localHead < cachedTail { return true }
        cachedTail = tail.load(ordering: .acquiring)
        return localHead < cachedTail
    }

    /// Removes and returns the head if it is a data item; nil when empty or when a control item is next.
    @inline(__always)
    func poll() -> Item? {
        guard available() else { return nil }
        let slot = localHead & mask
        guard kinds[slot] == Self.itemKind else { return nil }
        let item = (items + slot).move()
        localHead += 1
        head.store(localHead, ordering: .releasing)
        return item
    }

    /// The data items at the head that lie contiguously in the ring — up to the first control item, the end
    /// of the ring or `limit` — as a pointer and a count (0 when none). The caller moves out a prefix of
    /// them and then calls ``consume(_:)`` with its length.
    func contiguousItems(limit: Int) -> (items: UnsafeMutablePointer<Item>, count: Int) {
        guard available() else { return (items, 0) }
        let slot = localHead & mask
        let end = min(cachedTail - localHead, limit, capacity - slot)
        var count = 0
        while count < end && kinds[slot + count] == Self.itemKind { count += 1 }
        return (items + slot, count)
    }

    /// Frees the first `count` slots, whose items the caller has moved out (see ``contiguousItems(limit:)``).
    func consume(_ count: Int) {
        guard count > 0 else { return }
        localHead += count
        head.store(localHead, ordering: .releasing)
    }

    func headIsControl() -> Bool? {
        guard available() else { return nil }
        return kinds[localHead & mask] != Self.itemKind
    }

    func pollControl() -> ControlItem? {
        guard available() else { return nil }
        let slot = localHead & mask
        let control: ControlItem
        switch kinds[slot] {
        case 1: control = .watermark(values[slot])
        case 2: control = .idle
        case 3: control = .barrier(values[slot])
        case 4: control = .done
        default: return nil
        }
        localHead += 1
        head.store(localHead, ordering: .releasing)
        return control
    }
}
