public import EventLog
import EventLogFoundation
import Foundation
import Metrics

/// A topic as Server-Sent Events: every record from a starting offset (or from now), then live ones as
/// they are appended, one event each:
///
/// ```
/// id: <partition>-<offset>
/// event: record
/// data: {"topic":"orders","partition":0,"offset":41,"timestamp":1700000000000,"key":"o-1","value":"{…}","headers":{}}
/// ```
///
/// Bounded: the reader runs ahead of the client by at most `bufferedEvents` events. When the client does
/// not take them within `slowClientSeconds` (it stopped reading, or reads slower than the topic grows), the
/// stream ends with a last event, `event: dropped` (`data: {"reason":"slow client","next":{"<partition>":
/// <offset>}}`, where to resume), and the server stops reading the log for it.
public struct EventStream: Sendable {
    /// Events read ahead of the client, at most.
    public var bufferedEvents = 1_024
    /// How long the buffer may stay full before the client is dropped.
    public var slowClientSeconds = 10.0

    /// The streams open now, so a shutdown can end them (a stream never ends by itself).
    let open = OpenStreams()

    public init() {}

    /// One event's text.
    static func event(_ record: ConsumerRecord) -> String {
        var json = JSONText()
        json.raw("{\"topic\":")
        json.string(record.topic)
        json.raw(
            ",\"partition\":\(record.partition),\"offset\":\(record.offset),\"timestamp\":\(record.record.timestamp)")
        json.raw(",\"key\":")
        json.optionalString(record.record.keyString)
        json.raw(",\"value\":")
        json.optionalString(record.record.valueString)
        json.raw(",\"headers\":{")
        for (i, header) in record.record.headers.enumerated() {
            if i > 0 { json.raw(",") }
            json.string(header.key)
            json.raw(":")
            json.optionalString(header.value.map { String(decoding: $0, as: UTF8.self) })
        }
        json.raw("}}")
        return "id: \(record.partition)-\(record.offset)\nevent: record\ndata: \(json.text)\n\n"
    }

    /// The events of `topic` (all partitions, or one) from `start`, live, ended as described above. An offset
    /// applies to every partition, each clamped to what it holds. Each element is one event.
    public func events(log: Log, topic: String, partition: Int? = nil, from start: StartPosition) throws -> Events {
        let partitions = try (partition.map { [$0] } ?? Array(0..<log.partitionCount(topic))).map {
            TopicPartition(topic, $0)
        }
        let consumer = try log.consumer(partitions: partitions, from: start == .latest ? .latest : .earliest)
        if case .offset(let offset) = start {
            // One offset for every partition: each starts there, or at its own start or end when the offset
            // lies outside what it holds.
            for tp in partitions {
                let (first, end) = try log.offsets(topic: topic, partition: tp.partition)
                try consumer.seek(tp, to: .offset(min(max(offset, first), end)))
            }
        }
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let pending = Locked(0)
        let open = self.open
        let limit = max(2, bufferedEvents), patience = slowClientSeconds
        let sent = Counter(label: "eventlog_http_stream_records_total", dimensions: [("topic", topic)])
        let reader = Task {
            var next: [Int: Int64] = [:]
            continuation.yield(": connected to \(topic)\n\n")
            do {
                for try await record in consumer.records {
                    // One slot stays free for the farewell.
                    var waited = 0.0
                    while pending.withLock({ $0 }) >= limit - 1 {
                        if Task.isCancelled { return }
                        if waited >= patience {
                            var json = JSONText()
                            json.raw("{\"reason\":\"slow client\",\"next\":{")
                            for (i, (partition, offset)) in next.sorted(by: { $0.key < $1.key }).enumerated() {
                                if i > 0 { json.raw(",") }
                                json.raw("\"\(partition)\":\(offset)")
                            }
                            json.raw("}}")
                            continuation.yield("event: dropped\ndata: \(json.text)\n\n")
                            continuation.finish()
                            open.countDrop()
                            return
                        }
                        try await Task.sleep(for: .milliseconds(50))
                        waited += 0.05
                    }
                    pending.withLock { $0 += 1 }
                    if case .terminated = continuation.yield(Self.event(record)) { return }
                    sent.increment()
                    next[record.partition] = record.offset + 1
                }
            } catch is CancellationError {
            } catch {
                continuation.yield("event: error\ndata: \(error)\n\n")
            }
            continuation.finish()
        }
        let id = open.add { continuation.finish() }
        continuation.onTermination = { _ in
            reader.cancel()
            open.remove(id)
        }
        return Events(stream: stream, pending: pending)
    }

    /// The events of one stream: each element taken frees a slot of the read-ahead.
    public struct Events: AsyncSequence, Sendable {
        public typealias Element = String
        let stream: AsyncStream<String>
        let pending: Locked<Int>

        public func makeAsyncIterator() -> Iterator { Iterator(base: stream.makeAsyncIterator(), pending: pending) }

        public struct Iterator: AsyncIteratorProtocol {
            var base: AsyncStream<String>.Iterator
            let pending: Locked<Int>

            public mutating func next() async -> String? {
                guard let text = await base.next() else { return nil }
                if text.hasPrefix("id: ") { pending.withLock { $0 -= 1 } }
                return text
            }
        }
    }
}

/// The event streams being served, each with the function that ends it.
final class OpenStreams: Sendable {
    private let state = Locked<(next: Int, finish: [Int: @Sendable () -> Void], closed: Bool)>((0, [:], false))
    private let drops = Locked(0)

    /// Streams open now, and streams ended because their client was too slow.
    var counts: (open: Int, dropped: Int) { (state.withLock { $0.finish.count }, drops.withLock { $0 }) }

    func countDrop() { drops.withLock { $0 += 1 } }

    /// Registers a stream; a stream opened after ``finishAll()`` is ended at once.
    func add(_ finish: @escaping @Sendable () -> Void) -> Int {
        let (id, closed) = state.withLock { state -> (Int, Bool) in
            state.next += 1
            if !state.closed { state.finish[state.next] = finish }
            return (state.next, state.closed)
        }
        if closed { finish() }
        return id
    }

    func remove(_ id: Int) { _ = state.withLock { $0.finish.removeValue(forKey: id) } }

    /// Ends every stream (graceful shutdown: the server then finishes the responses and closes).
    func finishAll() {
        let all = state.withLock { state -> [@Sendable () -> Void] in
            state.closed = true
            defer { state.finish = [:] }
            return Array(state.finish.values)
        }
        for finish in all { finish() }
    }
}
