/// A source implemented outside StreamJet — a Kafka consumer, a database's change stream, a socket — as Jet's
/// source builder allows: it reads *partitions* (each with its own event-time watermark), reports its
/// position for snapshots and resumes from one after a restart.
///
/// Contract: ``read(limit:into:)`` appends about `limit` items per partition at most and returns; it may
/// block briefly (make the source `blocking` then, so it gets its own thread). ``position()`` describes
/// exactly the items appended so far, one number per partition; after ``restore(_:)`` with that position,
/// the next item appended is the first one not yet appended before — that is what makes a job's snapshot
/// exactly-once for the source.
public protocol PartitionedSourceReader<Item>: AnyObject {
    associatedtype Item
    /// How many partitions this reader instance reads (its share of the source).
    var partitionCount: Int { get }
    /// Appends the next items to `output`; returns true once every partition has finished (bounded
    /// sources; an unbounded one always returns false).
    func read(limit: Int, into output: SourceOutput<Item>) throws -> Bool
    /// The position after the items appended so far, one entry per partition.
    func position() -> [Int64]
    /// Continues from a position ``position()`` returned (perhaps in another process).
    func restore(_ position: [Int64]) throws
}

/// Where a ``PartitionedSourceReader`` puts what it read: each item with its partition (0..<partitionCount)
/// and its own timestamp (what ``SourceStage/withNativeTimestamps(allowedLag:)`` uses).
public final class SourceOutput<Item> {
    let batch: SourceBatch<Item>
    var finished: [Int] = []

    init(batch: SourceBatch<Item>) { self.batch = batch }

    /// Appends one item read from `partition`.
    public func append(_ item: Item, partition: Int, timestamp: Int64) {
        batch.append(item, lane: partition, native: timestamp)
    }

    /// Marks `partition` finished (a bounded source reached its end there); call once.
    public func finish(partition: Int) { finished.append(partition) }

    /// An output that keeps everything appended to it, to test a reader on its own (``appended``).
    public static func collecting(partitions: Int) -> SourceOutput<Item> {
        SourceOutput(batch: SourceBatch(policy: .none, allowedLag: 0, lanes: max(1, partitions), capacity: 1024))
    }

    /// The items appended so far, in order (for outputs made by ``collecting(partitions:)``; in a running job
    /// the engine moves them on after every read).
    public var appended: [Item] { (0..<batch.count).map { batch.items[$0].value } }

    /// The partitions marked finished by the last read.
    public var finishedPartitions: [Int] { finished }
}

extension Source {
    /// A source whose instances are made by `makeReader(index, count)`: instance `index` of `count` reads its
    /// share of the partitions.
    ///
    /// - Parameters:
    ///   - name: The source's name in the DAG and in errors.
    ///   - blocking: Whether `read` may block (on I/O): then each instance runs on its own thread instead of
    ///     sharing the cooperative workers.
    public static func custom(
        name: String, blocking: Bool = true,
        _ makeReader: @escaping (_ index: Int, _ count: Int) throws -> any PartitionedSourceReader<Item>
    ) -> Source<Item> {
        Source(name: name, isCooperative: !blocking) { index, count in
            CustomSourceReader(try makeReader(index, count))
        }
    }
}

/// Adapts a ``PartitionedSourceReader`` to the engine's reader.
final class CustomSourceReader<Item>: SourceReader {
    private let reader: any PartitionedSourceReader<Item>
    private var output: SourceOutput<Item>?

    init(_ reader: any PartitionedSourceReader<Item>) { self.reader = reader }

    var laneCount: Int { reader.partitionCount }

    func read(limit: Int, into batch: SourceBatch<Item>, finish: (Int) -> Void) throws -> Bool {
        if output?.batch !== batch { output = SourceOutput(batch: batch) }
        let output = output!
        output.finished.removeAll(keepingCapacity: true)
        let done = try reader.read(limit: limit, into: output)
        for partition in output.finished { finish(partition) }
        return done
    }

    func position() -> [Int64] { reader.position() }
    func restore(_ position: [Int64]) throws { try reader.restore(position) }
}
