public import EventLog
import EventLogFoundation
import Synchronization

/// Where a pipeline's items come from. Make one with the static factories: ``collection(_:)``,
/// ``topic(_:_:partitions:from:bounded:decode:)``, ``records(_:_:partitions:from:bounded:)``,
/// ``stream(_:)``.
public struct Source<Item> {
    let name: String
    let isCooperative: Bool
    /// Makes the reader of instance `index` of `count`.
    let makeReader: (_ index: Int, _ count: Int) throws -> any SourceReader<Item>
}

extension Source {
    /// The elements of a collection, spread over the source's instances (instance i takes elements i,
    /// i + n, …); bounded.
    @inlinable
    public static func collection<C: Collection & Sendable>(_ items: C) -> Source<Item> where C.Element == Item {
        // Inlined into the caller, where `Item` is concrete, so the per-item append runs specialized.
        collection(Array(items)) { items, next, stride, limit, batch in
            var next = next
            var taken = 0
            while next < items.count && taken < limit {
                batch.append(items[next], lane: 0, native: 0)
                next += stride
                taken += 1
            }
            return next
        }
    }

    /// A collection source whose reader appends with `append(items, next, stride, limit, batch)`, which
    /// returns the next index to read.
    @usableFromInline
    static func collection(
        _ items: [Item], append: @escaping ([Item], Int, Int, Int, SourceBatch<Item>) -> Int
    ) -> Source<Item> {
        Source(name: "collection", isCooperative: true) { index, count in
            CollectionReader(items: items, index: index, stride: count, append: append)
        }
    }

    /// An in-memory stream that tests and applications feed while the job runs (see ``TestStream``);
    /// bounded once closed.
    public static func stream(_ stream: TestStream<Item>) -> Source<Item> {
        Source(name: "stream", isCooperative: true) { index, count in
            StreamReader(stream: stream, index: index, count: count)
        }
    }

    /// The records of a log topic, decoded straight from the log's buffers by `decode` (return nil to skip a
    /// record). The native timestamp is the record's timestamp.
    ///
    /// - Parameters:
    ///   - log: The open log.
    ///   - topic: The topic to read.
    ///   - partitions: The partitions to read; nil reads all. They are spread over the source's instances.
    ///   - start: Where to begin: earliest, latest, an offset, or a consumer group's committed offsets.
    ///   - bounded: When true the source finishes at the log end it saw when the job started; when false
    ///     it follows new records for ever.
    ///   - decode: Turns a record into an item; the view's bytes are valid only during the call.
    @inlinable
    public static func topic(
        _ log: Log, _ topic: String, partitions: [Int]? = nil, from start: SourceStart = .earliest,
        bounded: Bool = false,
        decode: @escaping (RecordView) throws -> Item?
    ) -> Source<Item> {
        // Inlined into the caller, where `Item` is concrete, so decoding and appending each record runs
        // specialized; the engine's generic code sees the batch, not the items.
        self.topic(log, topic, partitions: partitions, from: start, bounded: bounded) { record, lane, batch in
            if let item = try decode(record) { batch.append(item, lane: lane, native: record.timestamp) }
        }
    }

    /// A topic source whose reader passes each record to `append(record, lane, batch)`.
    @usableFromInline
    static func topic(
        _ log: Log, _ topic: String, partitions: [Int]?, from start: SourceStart, bounded: Bool,
        append: @escaping (RecordView, Int, SourceBatch<Item>) throws -> Void
    ) -> Source<Item> {
        Source(name: "topic-\(topic)", isCooperative: true) { index, count in
            let all = try partitions ?? Array(0..<log.partitionCount(topic))
            let mine = all.enumerated().filter { $0.offset % count == index }.map(\.element)
            return try TopicReader(
                log: log, topic: topic, partitions: mine, start: start, bounded: bounded, append: append)
        }
    }
}

extension Source where Item == Record {
    /// The records of a log topic as ``Record`` values (copies key, value and headers; prefer
    /// ``topic(_:_:partitions:from:bounded:decode:)`` on hot paths).
    public static func records(
        _ log: Log, _ topic: String, partitions: [Int]? = nil, from start: SourceStart = .earliest,
        bounded: Bool = false
    ) -> Source<Record> {
        .topic(log, topic, partitions: partitions, from: start, bounded: bounded) { $0.record }
    }
}

/// Where a topic source begins reading.
public enum SourceStart: Sendable, Hashable {
    /// The first record still in the log.
    case earliest
    /// Only records appended after the job starts.
    case latest
    /// The offsets a consumer group committed (earliest where it has none).
    case committed(group: String)
}

/// An in-memory, partitioned stream to feed a running job from a test or an application.
///
/// Items pushed to partition p are read in order by the source instance that owns p. ``close()`` ends
/// the stream; the job finishes once it has read everything.
public final class TestStream<Item>: @unchecked Sendable {
    let partitions: Int
    private let state: Locked<State>

    struct State {
        var queues: [[(Item, Int64)]]
        var closed = false
    }

    /// A stream with `partitions` partitions (watermark lanes).
    public init(partitions: Int = 1) {
        precondition(partitions > 0, "a stream needs at least one partition")
        self.partitions = partitions
        state = Locked(State(queues: Array(repeating: [], count: partitions)))
    }

    /// Appends `item` to `partition`, with `timestamp` as its native timestamp.
    public func push(_ item: Item, partition: Int = 0, timestamp: Int64 = 0) {
        state.withLock { $0.queues[partition].append((item, timestamp)) }
    }

    /// Ends the stream.
    public func close() { state.withLock { $0.closed = true } }

    func take(partition: Int, limit: Int) -> (items: ArraySlice<(Item, Int64)>, closed: Bool) {
        state.withLock { state in
            let count = min(limit, state.queues[partition].count)
            let items = state.queues[partition].prefix(count)
            state.queues[partition].removeFirst(count)
            return (items, state.closed && state.queues[partition].isEmpty)
        }
    }
}
