import EventLogFoundation
import Foundation
import Synchronization

/// A producer whose retried batches are never stored twice.
///
/// It stamps each batch with its ``ProducerIdentity`` and a per-partition sequence number. If an append's
/// outcome is unknown (an I/O error after the write, a timeout in a caller), send the *same* batch again
/// with ``retry(_:to:partition:)``: the log recognises the sequence and returns the offsets the first
/// attempt got instead of writing a duplicate. A sequence that skips ahead is rejected with
/// ``EventLogError/Code/outOfOrderSequence``. The log keeps the last five batches per producer and
/// partition, across restarts.
///
/// ```swift
/// let producer = try log.makeIdempotentProducer()
/// let result = try producer.send(batch, to: "payments", partition: 0)
/// ```
public final class IdempotentProducer: Sendable {
    /// This producer's identity.
    public let identity: ProducerIdentity
    let log: Log
    private let sequences = Locked<[String: Int32]>([:])

    init(log: Log, identity: ProducerIdentity) {
        self.log = log
        self.identity = identity
    }

    /// Appends `batch` with the next sequence number of that partition.
    @discardableResult
    public func send(_ batch: RecordBatchBuilder, to topic: String, partition: Int) throws(EventLogError)
        -> AppendResult
    {
        let key = "\(topic)\u{0}\(partition)"
        let sequence = sequences.withLock { $0[key] ?? 0 }
        let result = try append(batch, sequence: sequence, topic: topic, partition: partition)
        sequences.withLock { $0[key] = Self.advance(sequence, by: batch.count) }
        return result
    }

    /// Appends `batch` again with the sequence number it was last sent with (after an append whose outcome
    /// is unknown). Returns the original offsets if the first attempt was stored.
    @discardableResult
    public func retry(_ batch: RecordBatchBuilder, to topic: String, partition: Int) throws(EventLogError)
        -> AppendResult
    {
        let key = "\(topic)\u{0}\(partition)"
        let next = sequences.withLock { $0[key] ?? 0 }
        let sequence = batch.baseSequence >= 0 ? batch.baseSequence : next
        let result = try append(batch, sequence: sequence, topic: topic, partition: partition)
        sequences.withLock { $0[key] = max($0[key] ?? 0, Self.advance(sequence, by: batch.count)) }
        return result
    }

    /// Appends with an explicit sequence number (for tests and for callers that track sequences themselves).
    @discardableResult
    public func send(_ batch: RecordBatchBuilder, sequence: Int32, to topic: String, partition: Int)
        throws(EventLogError) -> AppendResult
    {
        try append(batch, sequence: sequence, topic: topic, partition: partition)
    }

    private func append(_ batch: RecordBatchBuilder, sequence: Int32, topic: String, partition: Int)
        throws(EventLogError) -> AppendResult
    {
        batch.producerId = identity.id
        batch.producerEpoch = identity.epoch
        batch.baseSequence = sequence
        return try log.append(batch, to: topic, partition: partition)
    }

    private static func advance(_ sequence: Int32, by count: Int) -> Int32 {
        Int32(truncatingIfNeeded: (Int64(sequence) + Int64(count)) & 0x7fff_ffff)
    }
}

extension Log {
    /// Creates an idempotent producer with a producer id never used before in this directory.
    public func makeIdempotentProducer() throws(EventLogError) -> IdempotentProducer {
        try requireWritable()
        let path = directory + "/producer-ids"
        let id: Int64 = try producerIdLock.withLock { () throws(EventLogError) -> Int64 in
            let current =
                (try? io.readFile(path)).flatMap {
                    Int64(String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
                } ?? 0
            try io.writeFileAtomically(path, Array("\(current + 1)\n".utf8))
            return current
        }
        return IdempotentProducer(log: self, identity: ProducerIdentity(id: id, epoch: 0))
    }

    /// An idempotent producer for a known identity (a restarted service that kept its id). Use a higher
    /// epoch to fence a previous incarnation.
    public func idempotentProducer(_ identity: ProducerIdentity) throws(EventLogError) -> IdempotentProducer {
        try requireWritable()
        return IdempotentProducer(log: self, identity: identity)
    }
}
