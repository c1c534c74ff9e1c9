public import EventLog
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

/// Reads the items of one source instance. Each instance owns some *lanes* (log partitions, stream
/// partitions) and keeps one watermark per lane.
protocol SourceReader<Item>: AnyObject {
    associatedtype Item
    /// The lanes this instance reads.
    var laneCount: Int { get }
    /// Reads a bounded batch (about `limit` items), passing each to `emit(lane, item, nativeTimestamp)` and
    /// calling `finish(lane)` for lanes that reached their end. Returns true when every lane has finished.
    func read(limit: Int, emit: (Int, Item, Int64) -> Void, finish: (Int) -> Void) throws -> Bool
    /// The reader's position, to be restored after a restart.
    func position() -> [Int64]
    /// Continues from a saved position.
    func restore(_ position: [Int64]) throws
}

/// How a source assigns event time.
enum TimestampPolicy<Item> {
    case none
    case native
    case ingestion
    case field((Item) -> Int64)
}

extension Source {
    /// The elements of a collection, spread over the source's instances (instance i takes elements i,
    /// i + n, …); bounded.
    public static func collection<C: Collection & Sendable>(_ items: C) -> Source<Item> where C.Element == Item {
        let array = Array(items)
        return Source(name: "collection", isCooperative: true) { index, count in
            CollectionReader(items: array, index: index, stride: count)
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
    public static func topic(
        _ log: Log, _ topic: String, partitions: [Int]? = nil, from start: SourceStart = .earliest,
        bounded: Bool = false,
        decode: @escaping (RecordView) throws -> Item?
    ) -> Source<Item> {
        Source(name: "topic-\(topic)", isCooperative: true) { index, count in
            let all = try partitions ?? Array(0..<log.partitionCount(topic))
            let mine = all.enumerated().filter { $0.offset % count == index }.map(\.element)
            return try TopicReader(
                log: log, topic: topic, partitions: mine, start: start, bounded: bounded, decode: decode)
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

final class CollectionReader<Item>: SourceReader {
    private let items: [Item]
    private var next: Int
    private let stride: Int

    init(items: [Item], index: Int, stride: Int) {
        self.items = items
        self.next = index
        self.stride = stride
    }

    var laneCount: Int { 1 }

    func read(limit: Int, emit: (Int, Item, Int64) -> Void, finish: (Int) -> Void) throws -> Bool {
        var emitted = 0
        while next < items.count && emitted < limit {
            emit(0, items[next], 0)
            next += stride
            emitted += 1
        }
        if next >= items.count {
            finish(0)
            return true
        }
        return false
    }

    func position() -> [Int64] { [Int64(next)] }
    func restore(_ saved: [Int64]) throws { next = Int(saved[0]) }
}

final class StreamReader<Item>: SourceReader {
    private let stream: TestStream<Item>
    private let partitions: [Int]
    private var finished: [Bool]
    private var consumed: [Int64]

    init(stream: TestStream<Item>, index: Int, count: Int) {
        self.stream = stream
        partitions = Array(Swift.stride(from: index, to: stream.partitions, by: count))
        finished = Array(repeating: false, count: partitions.count)
        consumed = Array(repeating: 0, count: partitions.count)
    }

    var laneCount: Int { partitions.count }

    func read(limit: Int, emit: (Int, Item, Int64) -> Void, finish: (Int) -> Void) throws -> Bool {
        for (lane, partition) in partitions.enumerated() where !finished[lane] {
            let (items, closed) = stream.take(partition: partition, limit: limit)
            for (item, timestamp) in items { emit(lane, item, timestamp) }
            consumed[lane] += Int64(items.count)
            if closed {
                finished[lane] = true
                finish(lane)
            }
        }
        return !finished.contains(false)
    }

    func position() -> [Int64] { consumed }
    func restore(_ saved: [Int64]) throws {
        throw StreamJetError(.snapshot, "an in-memory test stream cannot be replayed after a restart")
    }
}

final class TopicReader<Item>: SourceReader {
    private let readers: [PartitionReader]
    private let ends: [Int64]?
    private var finished: [Bool]
    private let decode: (RecordView) throws -> Item?
    private let topic: String
    private let partitions: [Int]

    init(
        log: Log, topic: String, partitions: [Int], start: SourceStart, bounded: Bool,
        decode: @escaping (RecordView) throws -> Item?
    ) throws {
        self.topic = topic
        self.partitions = partitions
        self.decode = decode
        var committed: [TopicPartition: CommittedOffset] = [:]
        if case .committed(let group) = start { committed = try log.committedOffsets(group: group) }
        readers = try partitions.map { partition in
            switch start {
            case .earliest: return try log.reader(topic: topic, partition: partition, from: .earliest)
            case .latest: return try log.reader(topic: topic, partition: partition, from: .latest)
            case .committed:
                if let offset = committed[TopicPartition(topic, partition)]?.offset {
                    return try log.reader(topic: topic, partition: partition, from: .offset(offset))
                }
                return try log.reader(topic: topic, partition: partition, from: .earliest)
            }
        }
        ends = bounded ? readers.map(\.endOffset) : nil
        finished = Array(repeating: false, count: partitions.count)
    }

    var laneCount: Int { readers.count }

    func read(limit: Int, emit: (Int, Item, Int64) -> Void, finish: (Int) -> Void) throws -> Bool {
        for lane in readers.indices where !finished[lane] {
            let reader = readers[lane]
            if let ends, reader.nextOffset >= ends[lane] {
                finished[lane] = true
                finish(lane)
                continue
            }
            let remaining = ends.map { Int(min(Int64(limit), $0[lane] - reader.nextOffset)) } ?? limit
            do {
                try reader.read(maxRecords: remaining) { record in
                    if let item = try decode(record) { emit(lane, item, record.timestamp) }
                }
            } catch let error as StreamJetError {
                throw error
            } catch let error as EventLogError {
                throw StreamJetError(
                    .processorFailed, "reading topic '\(topic)' partition \(partitions[lane]): \(error)",
                    underlying: error)
            } catch {
                throw StreamJetError(
                    .decoding,
                    "cannot decode the record at topic '\(topic)' partition \(partitions[lane]) offset \(reader.nextOffset): \(error)",
                    underlying: error)
            }
        }
        return !finished.contains(false)
    }

    func position() -> [Int64] { readers.map(\.nextOffset) }

    func restore(_ saved: [Int64]) throws {
        guard saved.count == readers.count else {
            throw StreamJetError(
                .snapshot,
                "the snapshot has \(saved.count) offsets for topic '\(topic)' but this instance reads \(readers.count) partitions"
            )
        }
        for (reader, offset) in zip(readers, saved) { reader.seek(to: offset) }
    }
}
