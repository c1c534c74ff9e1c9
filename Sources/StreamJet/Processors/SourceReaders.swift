import EventLog
import EventLogFoundation
import Synchronization

/// Reads the items of one source instance. Each instance owns some *lanes* (log partitions, stream
/// partitions) and keeps one watermark per lane.
protocol SourceReader<Item>: AnyObject {
    associatedtype Item
    /// The lanes this instance reads.
    var laneCount: Int { get }
    /// Reads a bounded batch (about `limit` items per lane) into `batch` and calls `finish(lane)` for lanes
    /// that reached their end. Returns true when every lane has finished.
    func read(limit: Int, into batch: SourceBatch<Item>, finish: (Int) -> Void) throws -> Bool
    /// The reader's position, to be restored after a restart.
    func position() -> [Int64]
    /// Continues from a saved position.
    func restore(_ position: [Int64]) throws
}

final class CollectionReader<Item>: SourceReader {
    private let items: [Item]
    private var next: Int
    private let stride: Int
    private let append: ([Item], Int, Int, Int, SourceBatch<Item>) -> Int

    init(items: [Item], index: Int, stride: Int, append: @escaping ([Item], Int, Int, Int, SourceBatch<Item>) -> Int) {
        self.items = items
        self.next = index
        self.stride = stride
        self.append = append
    }

    var laneCount: Int { 1 }

    func read(limit: Int, into batch: SourceBatch<Item>, finish: (Int) -> Void) throws -> Bool {
        next = append(items, next, stride, limit, batch)
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

    func read(limit: Int, into batch: SourceBatch<Item>, finish: (Int) -> Void) throws -> Bool {
        for (lane, partition) in partitions.enumerated() where !finished[lane] {
            let (items, closed) = stream.take(partition: partition, limit: limit)
            for (item, timestamp) in items { batch.append(item, lane: lane, native: timestamp) }
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
    private let append: (RecordView, Int, SourceBatch<Item>) throws -> Void
    private let topic: String
    private let partitions: [Int]

    init(
        log: Log, topic: String, partitions: [Int], start: SourceStart, bounded: Bool,
        append: @escaping (RecordView, Int, SourceBatch<Item>) throws -> Void
    ) throws {
        self.topic = topic
        self.partitions = partitions
        self.append = append
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

    func read(limit: Int, into batch: SourceBatch<Item>, finish: (Int) -> Void) throws -> Bool {
        let append = self.append
        for lane in readers.indices where !finished[lane] {
            let reader = readers[lane]
            if let ends, reader.nextOffset >= ends[lane] {
                finished[lane] = true
                finish(lane)
                continue
            }
            let remaining = ends.map { Int(min(Int64(limit), $0[lane] - reader.nextOffset)) } ?? limit
            do {
                let read = try reader.read(maxRecords: remaining) { record in try append(record, lane, batch) }
                // A bounded lane ends when its reader stands at the log end: 0 records means nothing is left
                // before the end the reader saw, which is at or past `ends[lane]` (even when compaction left
                // no record at the offsets just below it).
                if read == 0, ends != nil {
                    finished[lane] = true
                    finish(lane)
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
