public import EventLog
import EventLogFoundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a pipeline's results go. Use the factories in ``Sinks``.
public protocol Sink<Item> {
    associatedtype Item
    /// The sink vertex's name.
    var name: String { get }
    /// Instances of the sink; nil means one per worker thread.
    var localParallelism: Int? { get }
    /// Makes the processor of instance `index`.
    func makeProcessor(index: Int) -> any Processor
}

/// The built-in sinks.
public enum Sinks {
    /// Collects every item in memory, for tests and small results.
    @inlinable
    public static func collector<Item>(of type: Item.Type = Item.self) -> CollectorSink<Item> {
        CollectorSink(drain: drainValues())
    }

    /// Calls `body` with every item, on a worker thread (keep it short and thread-safe).
    @inlinable
    public static func callback<Item>(_ body: @escaping @Sendable (Item) -> Void) -> CallbackSink<Item> {
        CallbackSink(body: body, drain: drainValues())
    }

    /// Moves the values out of a run of the input queue onto an array. Made in the inlinable factories,
    /// where `Item` is concrete, so the sink's per-item work runs specialized.
    @inlinable
    static func drainValues<Item>() -> Drain<Item> {
        { items, count, array in
            array.reserveCapacity(array.count + count)
            for index in 0..<count { array.append((items + index).move().value) }
        }
    }

    /// Appends one line per item to a file (one file per instance: `path`, `path.1`, …), on its own
    /// thread because file writes block.
    public static func file<Item>(_ path: String, format: @escaping @Sendable (Item) -> String) -> FileSink<Item> {
        FileSink(path: path, format: format)
    }

    /// Appends items to a log topic, so pipelines chain through topics like services. The record's
    /// partition follows Kafka's default partitioner on the key (murmur2), or round-robin without a key.
    ///
    /// With an exactly-once job the sink is two-phase: records of each snapshot epoch are prepared in the
    /// snapshot and appended, through an idempotent producer, only after the snapshot completes; a restarted
    /// job re-sends the prepared epoch with the same sequence numbers, which the log stores once.
    public static func topic<Item>(
        _ log: Log, _ topic: String, encode: @escaping @Sendable (Item) -> (key: [UInt8]?, value: [UInt8]?)
    ) -> TopicSink<Item> {
        TopicSink(log: log, topic: topic, encode: encode)
    }
}

/// A sink that keeps every item in memory; read it with ``items`` once the job has finished (or at any
/// time for a snapshot of what arrived so far).
public final class CollectorSink<Item>: Sink, @unchecked Sendable {
    public let name = "collector"
    public var localParallelism: Int? { 1 }
    private let storage = Locked<[Item]>([])
    private let drain: Drain<Item>

    @usableFromInline
    init(drain: @escaping Drain<Item>) { self.drain = drain }

    /// What has arrived so far, in arrival order.
    public var items: [Item] { storage.withLock { $0 } }

    public func makeProcessor(index: Int) -> any Processor {
        CallbackProcessor<Item>(drain: drain) { [storage] batch in storage.withLock { $0.append(contentsOf: batch) } }
    }
}

/// A sink that hands each item to a closure.
public struct CallbackSink<Item>: Sink {
    public let name = "callback"
    public var localParallelism: Int? { nil }
    let body: @Sendable (Item) -> Void
    let drain: Drain<Item>

    @usableFromInline
    init(body: @escaping @Sendable (Item) -> Void, drain: @escaping Drain<Item>) {
        self.body = body
        self.drain = drain
    }

    public func makeProcessor(index: Int) -> any Processor {
        let body = self.body
        return CallbackProcessor<Item>(drain: drain) { for item in $0 { body(item) } }
    }
}

/// Moves the values of `items[0..<count]` (a run of a sink's input queue) onto the array.
@usableFromInline
typealias Drain<Item> = (UnsafeMutablePointer<Timestamped<Item>>, Int, inout [Item]) -> Void

/// A sink writing one line per item to a file.
public struct FileSink<Item>: Sink {
    public let name = "file"
    public var localParallelism: Int? { nil }
    let path: String
    let format: @Sendable (Item) -> String

    public func makeProcessor(index: Int) -> any Processor {
        FileSinkProcessor(path: index == 0 ? path : "\(path).\(index)", format: format)
    }
}

/// A sink appending to a log topic (see ``Sinks/topic(_:_:encode:)``).
public struct TopicSink<Item>: Sink {
    public var name: String { "topic-\(topic)" }
    public var localParallelism: Int? { nil }
    let log: Log
    let topic: String
    let encode: @Sendable (Item) -> (key: [UInt8]?, value: [UInt8]?)

    public func makeProcessor(index: Int) -> any Processor {
        TopicSinkProcessor(log: log, topic: topic, encode: encode)
    }
}
