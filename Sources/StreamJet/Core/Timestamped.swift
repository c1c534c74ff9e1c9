/// An item on a pipeline edge with its event time: what Jet calls a `JetEvent`.
///
/// Stateless stages keep the timestamp of their input; a window result carries its window's end.
/// `timestamp` is `Int64.min` on stages without event time.
///
/// An item read from a source also carries its partition's watermark as it stood just before the item
/// (the highest earlier timestamp in that partition minus the allowed lag). The window stages judge
/// lateness by it, so which events are late follows from the input alone — not from the parallelism, how
/// the reads were batched, or how the watermarks of other partitions happened to interleave.
public struct Timestamped<Value> {
    /// Event time in milliseconds since the epoch.
    public var timestamp: Int64
    /// The source partition's watermark just before this item; `Int64.min` when the item did not come
    /// straight from a source (through stateless steps) or its partition had no watermark yet.
    @usableFromInline var sourceWatermark: Int64
    /// The item.
    public var value: Value

    @inlinable
    public init(_ value: Value, timestamp: Int64) {
        self.timestamp = timestamp
        self.sourceWatermark = .min
        self.value = value
    }

    @inlinable
    init(_ value: Value, timestamp: Int64, sourceWatermark: Int64) {
        self.timestamp = timestamp
        self.sourceWatermark = sourceWatermark
        self.value = value
    }

    /// The same event carrying `value` instead: what a stateless step emits for its input.
    @inlinable
    func replacingValue<Output>(with value: Output) -> Timestamped<Output> {
        Timestamped<Output>(value, timestamp: timestamp, sourceWatermark: sourceWatermark)
    }
}

extension Timestamped: Sendable where Value: Sendable {}

// Equality and hashing are the event's: its value and time (the source watermark is bookkeeping).
extension Timestamped: Equatable where Value: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.timestamp == rhs.timestamp && lhs.value == rhs.value }
}

extension Timestamped: Hashable where Value: Hashable {
    public func hash(into hasher: inout Hasher) {
        hasher.combine(timestamp)
        hasher.combine(value)
    }
}

/// One result of a windowed aggregation: the value of key `key` in the half-open window `[start, end)`.
public struct KeyedWindowResult<Key, Value> {
    /// The window's first millisecond.
    public var start: Int64
    /// The first millisecond after the window.
    public var end: Int64
    /// The grouping key.
    public var key: Key
    /// The aggregated value.
    public var value: Value
    /// True for a partial result emitted before the window closed (early results).
    public var isEarly: Bool

    @inlinable
    public init(start: Int64, end: Int64, key: Key, value: Value, isEarly: Bool = false) {
        self.start = start
        self.end = end
        self.key = key
        self.value = value
        self.isEarly = isEarly
    }
}

extension KeyedWindowResult: Sendable where Key: Sendable, Value: Sendable {}
extension KeyedWindowResult: Equatable where Key: Equatable, Value: Equatable {}
extension KeyedWindowResult: Hashable where Key: Hashable, Value: Hashable {}
extension KeyedWindowResult: Codable where Key: Codable, Value: Codable {}

extension KeyedWindowResult: CustomStringConvertible {
    public var description: String {
        "[\(start), \(end)) \(key) = \(value)\(isEarly ? " (early)" : "")"
    }
}

/// A key and its current aggregate: what ``KeyedStage/rollingAggregate(_:)`` emits.
public struct KeyedValue<Key, Value> {
    public var key: Key
    public var value: Value
    public init(key: Key, value: Value) {
        self.key = key
        self.value = value
    }
}

extension KeyedValue: Sendable where Key: Sendable, Value: Sendable {}
extension KeyedValue: Equatable where Key: Equatable, Value: Equatable {}
extension KeyedValue: Hashable where Key: Hashable, Value: Hashable {}
extension KeyedValue: Codable where Key: Codable, Value: Codable {}

/// A fused chain of stateless steps: calls `emit` for each output of one input (0 for a filtered item,
/// several for a flat map). `emit` is non-escaping, so composing steps allocates nothing per item.
typealias Chain<Input, Output> = (Timestamped<Input>, (Timestamped<Output>) -> Void) -> Void

func compose<A, B, C>(_ first: @escaping Chain<A, B>, _ second: @escaping Chain<B, C>) -> Chain<A, C> {
    { item, emit in first(item) { middle in second(middle, emit) } }
}

/// The output ordinals of a compiled node: `ordinals[0]` feed its main consumers, `ordinals[1]` its
/// late-events consumers.
struct OutputPorts {
    var ordinals: [[Int]]
    var main: [Int] { ordinals[0] }
    var late: [Int] { ordinals[1] }
}

/// Emits each item to every output ordinal of a stage (fan-out), resuming a partial emission where it
/// stopped, and buffers what a fused chain or a source batch produced until the outboxes take it.
///
/// Invariant: `storage[next..<count]` are initialized (waiting, oldest first), the rest of `capacity` is not.
/// With a single output, ``flush()`` hands the waiting run over in one bulk move (see
/// ``Outbox/offer(moving:count:)``), so a source's batch crosses an isolated edge without per-item
/// generic code.
final class Emitter<Value> {
    private let outboxes: [Outbox<Timestamped<Value>>]
    private var progress = 0
    private var storage: UnsafeMutablePointer<Timestamped<Value>>
    private var capacity = 16
    private var count = 0
    private var next = 0

    init(context: ProcessorContext, ordinals: [Int]) {
        outboxes = ordinals.map { context.outbox($0, of: Timestamped<Value>.self) }
        storage = .allocate(capacity: capacity)
    }

    deinit {
        (storage + next).deinitialize(count: count - next)
        storage.deallocate()
    }

    /// Offers one item to every output; false when one refused (offer the same item again).
    @inline(__always)
    func offer(_ item: Timestamped<Value>) -> Bool {
        if outboxes.count == 1 { return outboxes[0].offer(item) }
        while progress < outboxes.count {
            guard outboxes[progress].offer(item) else { return false }
            progress += 1
        }
        progress = 0
        return true
    }

    /// Sends `item` now when nothing is waiting, else queues it behind the waiting ones.
    @inline(__always)
    func emit(_ item: Timestamped<Value>) {
        if next >= count && offer(item) { return }
        buffer(item)
    }

    /// Queues an item produced by a chain; ``flush()`` sends it.
    @inline(__always)
    func buffer(_ item: Timestamped<Value>) {
        if count == capacity { makeRoom(for: 1) }
        (storage + count).initialize(to: item)
        count += 1
    }

    /// Queues `n` items that `initialize` writes in place at the pointer it is given (it must initialize
    /// exactly `n`); ``flush()`` sends them. The window stages build their outputs this way with closures
    /// specialized for the item type.
    func buffer(count n: Int, _ initialize: (UnsafeMutablePointer<Timestamped<Value>>) -> Void) {
        if capacity - count < n { makeRoom(for: n) }
        initialize(storage + count)
        count += n
    }

    /// Sends `items[0..<n]` (moving them out of `items`) as far as a single outbox takes them now, and queues
    /// the rest behind anything waiting.
    func emit(moving items: UnsafeMutablePointer<Timestamped<Value>>, count n: Int) {
        var sent = 0
        if next >= count && outboxes.count == 1 { sent = outboxes[0].offer(moving: items, count: n) }
        if sent < n { buffer(count: n - sent) { $0.moveInitialize(from: items + sent, count: n - sent) } }
    }

    /// Ensures room for `n` more items: drops the sent prefix, then grows if that is not enough.
    private func makeRoom(for n: Int) {
        if next > 0 {
            storage.moveInitialize(from: storage + next, count: count - next)
            count -= next
            next = 0
        }
        guard capacity - count < n else { return }
        let grown = max(capacity * 2, count + n)
        let fresh = UnsafeMutablePointer<Timestamped<Value>>.allocate(capacity: grown)
        fresh.moveInitialize(from: storage, count: count)
        storage.deallocate()
        storage = fresh
        capacity = grown
    }

    /// Sends buffered items; false when an outbox refused (the rest stay buffered).
    @inline(__always)
    func flush() -> Bool {
        if outboxes.count == 1 {
            if next < count { next += outboxes[0].offer(moving: storage + next, count: count - next) }
        } else {
            while next < count {
                guard offer(storage[next]) else { break }
                (storage + next).deinitialize(count: 1)
                next += 1
            }
        }
        guard next >= count else { return false }
        next = 0
        count = 0
        return true
    }

    var isFlushed: Bool { next >= count }
}
