/// The identity of an idempotent producer: an id unique within the log and an epoch that fences older
/// incarnations of the same producer.
public struct ProducerIdentity: Sendable, Hashable, Codable {
    /// The producer id (≥ 0).
    public var id: Int64
    /// The epoch; a higher epoch fences appends from lower ones.
    public var epoch: Int16

    /// Creates an identity.
    public init(id: Int64, epoch: Int16 = 0) {
        self.id = id
        self.epoch = epoch
    }
}

/// Per-partition idempotence state, as Kafka keeps it: for each producer, its epoch and the last five
/// batches' sequence ranges with the offsets they were given.
///
/// Rules for a batch `(producer, epoch, baseSequence … lastSequence)`:
/// - an epoch below the known one is fenced;
/// - a batch whose sequence range equals one of the last five is a retry: it gets the original offsets
///   back and is not written again;
/// - otherwise `baseSequence` must be the last sequence + 1 (or 0 for a new producer or a new epoch),
///   and anything else is an out-of-order-sequence error naming the expected number.
struct ProducerStateTable: Equatable {
    struct BatchMetadata: Equatable {
        var firstSequence: Int32
        var lastSequence: Int32
        var baseOffset: Int64
        var lastOffset: Int64
    }

    struct Entry: Equatable {
        var epoch: Int16
        var batches: [BatchMetadata]
    }

    static let retainedBatches = 5
    var producers: [Int64: Entry] = [:]

    enum Verdict: Equatable {
        case append
        case duplicate(baseOffset: Int64, lastOffset: Int64)
    }

    func check(producerId: Int64, epoch: Int16, firstSequence: Int32, lastSequence: Int32) throws(EventLogError)
        -> Verdict
    {
        guard producerId >= 0 else { return .append }
        guard let entry = producers[producerId] else {
            guard firstSequence == 0 else {
                throw EventLogError(
                    .outOfOrderSequence,
                    "producer \(producerId) is unknown here, so its first sequence must be 0, got \(firstSequence)")
            }
            return .append
        }
        if epoch < entry.epoch {
            throw EventLogError(
                .producerFenced,
                "producer \(producerId) epoch \(epoch) is fenced by epoch \(entry.epoch)")
        }
        if epoch > entry.epoch {
            guard firstSequence == 0 else {
                throw EventLogError(
                    .outOfOrderSequence,
                    "producer \(producerId) started epoch \(epoch) with sequence \(firstSequence); expected 0")
            }
            return .append
        }
        if let same = entry.batches.first(where: {
            $0.firstSequence == firstSequence && $0.lastSequence == lastSequence
        }) {
            return .duplicate(baseOffset: same.baseOffset, lastOffset: same.lastOffset)
        }
        let expected = entry.batches.last.map { $0.lastSequence == Int32.max ? 0 : $0.lastSequence + 1 } ?? 0
        guard firstSequence == expected else {
            throw EventLogError(
                .outOfOrderSequence,
                "producer \(producerId) sent sequence \(firstSequence); expected \(expected)")
        }
        return .append
    }

    mutating func record(_ header: RecordBatchHeader) {
        guard header.producerId >= 0 else { return }
        let metadata = BatchMetadata(
            firstSequence: header.baseSequence, lastSequence: header.lastSequence, baseOffset: header.baseOffset,
            lastOffset: header.lastOffset)
        if var entry = producers[header.producerId], entry.epoch == header.producerEpoch {
            entry.batches.append(metadata)
            if entry.batches.count > Self.retainedBatches { entry.batches.removeFirst() }
            producers[header.producerId] = entry
        } else {
            producers[header.producerId] = Entry(epoch: header.producerEpoch, batches: [metadata])
        }
    }

    /// Forgets batches at or past `offset` (after a truncation).
    mutating func truncate(to offset: Int64) {
        for (id, var entry) in producers {
            entry.batches.removeAll { $0.lastOffset >= offset }
            if entry.batches.isEmpty { producers[id] = nil } else { producers[id] = entry }
        }
    }

    // Snapshot: text lines "producerId epoch firstSeq lastSeq baseOffset lastOffset", first line "v1 <offset>".
    func serialized(upTo offset: Int64) -> [UInt8] {
        var text = "v1 \(offset)\n"
        for (id, entry) in producers.sorted(by: { $0.key < $1.key }) {
            for batch in entry.batches where batch.lastOffset < offset {
                text +=
                    "\(id) \(entry.epoch) \(batch.firstSequence) \(batch.lastSequence) \(batch.baseOffset) \(batch.lastOffset)\n"
            }
        }
        return Array(text.utf8)
    }

    /// Parses a snapshot; returns the table and the offset it covers, or nil if it is malformed.
    static func parse(_ bytes: [UInt8]) -> (ProducerStateTable, Int64)? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard let first = lines.first, first.hasPrefix("v1 "), let offset = Int64(first.dropFirst(3)) else {
            return nil
        }
        var table = ProducerStateTable()
        for line in lines.dropFirst() {
            let f = line.split(separator: " ")
            guard f.count == 6, let id = Int64(f[0]), let epoch = Int16(f[1]), let fs = Int32(f[2]),
                let ls = Int32(f[3]),
                let bo = Int64(f[4]), let lo = Int64(f[5])
            else { return nil }
            var entry = table.producers[id] ?? Entry(epoch: epoch, batches: [])
            entry.epoch = epoch
            entry.batches.append(BatchMetadata(firstSequence: fs, lastSequence: ls, baseOffset: bo, lastOffset: lo))
            table.producers[id] = entry
        }
        return (table, offset)
    }
}
