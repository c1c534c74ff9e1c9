import EventLogFoundation
import Synchronization

/// Event-sourcing streams on a topic, in the style of EventStoreDB: one stream per aggregate id, appends
/// guarded by an expected version, reads of one stream without scanning the topic, idempotent appends by
/// event id, and one global order over all streams.
///
/// Storage: each event is a record of the topic keyed by its stream id, with headers `eventId` and
/// `eventType` and the event data as value. The topic has one partition, so its offsets *are* the global
/// order (the "position"). An in-memory index (stream → offsets, event id → position) is rebuilt from the
/// topic when the streams are opened (at the log's read speed) and kept current as events are appended;
/// in a read-only log it catches up with the writer before every call.
///
/// ```swift
/// let streams = try EventStreams(log: log, topic: "orders-es")
/// try streams.append(to: "order-42", events: [EventData(type: "OrderCreated", data: json)], expecting: .noStream)
/// let history = try streams.read("order-42")
/// ```
public final class EventStreams: Sendable {
    /// The version a stream must have for an append to proceed.
    public enum ExpectedVersion: Sendable, Hashable {
        /// No check.
        case any
        /// The stream must not exist yet.
        case noStream
        /// The stream must have at least one event.
        case streamExists
        /// The stream's last event must have this version (versions start at 0).
        case exactly(Int64)
    }

    /// An event to append.
    public struct EventData: Sendable, Hashable {
        /// A unique id: appending an event whose id the stream already holds is a no-op that returns the
        /// original result.
        public var id: String
        /// The event type.
        public var type: String
        /// The payload.
        public var data: [UInt8]

        /// Creates an event; `id` defaults to a random UUID-like string.
        public init(id: String? = nil, type: String, data: [UInt8]) {
            self.id = id ?? Self.randomID()
            self.type = type
            self.data = data
        }

        /// Creates an event with a UTF-8 payload.
        public init(id: String? = nil, type: String, string: String) {
            self.init(id: id, type: type, data: Array(string.utf8))
        }

        static func randomID() -> String {
            (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined(separator: "-")
        }
    }

    /// An event read back.
    public struct RecordedEvent: Sendable, Hashable {
        /// Its stream.
        public var stream: String
        /// Its version within the stream (0-based).
        public var version: Int64
        /// Its global position (the topic offset).
        public var position: Int64
        /// Its id.
        public var id: String
        /// Its type.
        public var type: String
        /// Its payload.
        public var data: [UInt8]
        /// When it was appended (milliseconds).
        public var timestamp: Int64
    }

    /// The outcome of an append.
    public struct AppendOutcome: Sendable, Hashable {
        /// The stream's version after the append (the last event's version).
        public var version: Int64
        /// Global positions of the appended events.
        public var positions: [Int64]
        /// True when every event id was already in the stream: nothing was written.
        public var wasDuplicate: Bool
    }

    struct Index {
        var streams: [String: [Int64]] = [:]
        var eventIDs = EventIDTable()
        var indexedUpTo: Int64 = 0
    }

    /// The log.
    public let log: Log
    /// The topic holding the streams.
    public let topic: String
    private let index = Locked(Index())
    private let appendLock = ConditionLock()
    /// The batch being built, reused by every append (under `appendLock`): a new builder grew a fresh buffer
    /// each time — for large batches fresh pages from the kernel, faulted in and zeroed on every append.
    private let builder = Locked(RecordBatchBuilder())

    /// Opens the streams of `topic`, creating it (one partition, no retention) in a writable log.
    ///
    /// - Throws: `.invalidConfiguration` if the topic exists with more than one partition.
    public convenience init(log: Log, topic: String) throws {
        try self.init(log: log, topic: topic, hashingIDsWith: EventIDTable.hash)
    }

    /// The hash of event ids (their UTF-8 bytes) the index files them under.
    private let hashIDBytes: @Sendable (UnsafeRawBufferPointer) -> UInt64

    private func hashID(_ id: String) -> UInt64 {
        var id = id
        return id.withUTF8 { hashIDBytes(UnsafeRawBufferPointer($0)) }
    }

    /// Opens the streams with another hash of event ids: tests give one with many collisions, to exercise what
    /// SipHash almost never does.
    init(
        log: Log, topic: String, hashingIDsWith hashID: @escaping @Sendable (UnsafeRawBufferPointer) -> UInt64
    ) throws {
        self.log = log
        self.topic = topic
        self.hashIDBytes = hashID
        if log.isWritable {
            var config = TopicConfiguration(partitions: 1)
            config.retentionMilliseconds = nil
            try log.createTopicIfNeeded(topic, configuration: config)
        }
        guard try log.partitionCount(topic) == 1 else {
            throw EventLogError(
                .invalidConfiguration, "event streams need a topic with one partition; '\(topic)' has more",
                topic: topic)
        }
        try catchUp()
    }

    /// Indexes records appended since the last call (by this or another process).
    private func catchUp() throws {
        let from = index.withLock { $0.indexedUpTo }
        // Nothing new (the common case of a read): no reader to open. (A read-only log learns of the
        // writer's appends by reading, so it always reads.)
        if log.isWritable, try log.offsets(topic: topic, partition: 0).end <= from { return }
        let reader = try log.reader(topic: topic, partition: 0, from: .offset(from))
        var additions: [(String, String?, Int64)] = []
        while try reader.read({ record in
            guard let key = record.key else { return }
            additions.append((String(decoding: key, as: UTF8.self), Self.header("eventId", record), record.offset))
        }) > 0 {}
        let end = reader.nextOffset
        index.withLock { index in
            guard index.indexedUpTo == from else { return }  // someone else caught up meanwhile
            for (stream, id, offset) in additions {
                Self.add(offset..<offset + 1, to: &index.streams[stream, default: []])
                if let id { index.eventIDs.insert(hashID(id), offset) }
            }
            index.indexedUpTo = max(index.indexedUpTo, end)
        }
    }

    /// Appends `positions` to a stream's offsets, in place (the caller passes the dictionary's storage, so the
    /// array is not copied); returns the stream's version after them.
    @discardableResult
    private static func add(_ positions: Range<Int64>, to offsets: inout [Int64]) -> Int64 {
        offsets.append(contentsOf: positions)
        return Int64(offsets.count - 1)
    }

    /// The index of `offset` in a stream's sorted offsets (binary search), or -1.
    static func search(_ offsets: [Int64], _ offset: Int64) -> Int {
        var low = 0, high = offsets.count
        while low < high {
            let mid = (low + high) / 2
            if offsets[mid] < offset { low = mid + 1 } else { high = mid }
        }
        return low < offsets.count && offsets[low] == offset ? low : -1
    }

    private static func header(_ name: String, _ record: RecordView) -> String? {
        guard record.headerCount > 0 else { return nil }
        return record.headers.first { $0.key == name }?.value.map { String(decoding: $0, as: UTF8.self) }
    }

    /// The event a record holds.
    private static func event(_ record: RecordView, stream: String, version: Int64) -> RecordedEvent {
        RecordedEvent(
            stream: stream, version: version, position: record.offset, id: header("eventId", record) ?? "",
            type: header("eventType", record) ?? "", data: record.value.map { Array($0) } ?? [],
            timestamp: record.timestamp)
    }

    /// What `body` makes of the record at `offset`, read through `reader` (which seeks there if it is elsewhere);
    /// nil when the partition has no record at that offset.
    private static func record<T>(at offset: Int64, _ reader: PartitionReader, _ body: (RecordView) -> T) throws -> T? {
        if reader.nextOffset != offset { reader.seek(to: offset) }
        var found: T?
        while found == nil,
            try reader.read(
                maxBytes: 4096,
                { record in
                    guard found == nil, record.offset == offset else { return }
                    found = body(record)
                }) > 0
        {}
        return found
    }

    /// The version of `stream`'s last event as the index knows it, without reading the log (a caller that must
    /// not block, such as an event loop, can ask): nil when the stream is unknown, or when the index may be
    /// behind — the topic has records not yet indexed, or the log is read-only (it learns of the writer's
    /// appends only by reading). ``version(of:)`` is the answer that catches up first.
    public func indexedVersion(of stream: String) -> Int64? {
        guard log.isWritable, let end = try? log.offsets(topic: topic, partition: 0).end else { return nil }
        return index.withLock { index in
            guard index.indexedUpTo >= end else { return nil }
            return index.streams[stream].map { Int64($0.count - 1) }
        }
    }

    /// The ids of every stream that has events, sorted.
    public func streamNames() throws -> [String] {
        try catchUp()
        return index.withLock { $0.streams.keys.sorted() }
    }

    /// The version of `stream`'s last event, or `nil` if it has none.
    public func version(of stream: String) throws -> Int64? {
        try catchUp()
        return index.withLock { $0.streams[stream].map { Int64($0.count - 1) } }
    }

    /// Appends `events` to `stream` if its version matches `expected`.
    ///
    /// - Throws: ``EventLogError/Code/wrongExpectedVersion`` with the actual version in the message;
    ///   `.invalidConfiguration` if only some of the event ids are already in the stream.
    @discardableResult
    public func append(to stream: String, events: [EventData], expecting expected: ExpectedVersion = .any) throws
        -> AppendOutcome
    {
        try append([StreamWrite(stream: stream, events: events, expecting: expected)])[0]
    }

    /// Events for one stream, in a multi-stream append.
    public struct StreamWrite: Sendable, Hashable {
        public var stream: String
        public var events: [EventData]
        public var expected: ExpectedVersion

        public init(stream: String, events: [EventData], expecting expected: ExpectedVersion = .any) {
            self.stream = stream
            self.events = events
            self.expected = expected
        }
    }

    /// Writes to several streams, appended in one go by ``append(_:writes:)``: every event's id and payload back
    /// to back in one byte buffer, so a batch of thousands of events costs a few allocations instead of a few
    /// per event (a caller that builds batches on one thread and appends them on another paid for those twice:
    /// the allocator's slow path on one side, scattered frees on the other).
    public struct Batch: Sendable {
        struct Write: Sendable {
            var stream: String
            var expected: ExpectedVersion
            /// Indexes into `events`.
            var events: Range<Int>
        }

        struct Event: Sendable {
            /// Ranges of `bytes`.
            var id: Range<Int>
            var type: String
            var data: Range<Int>
        }

        var bytes: [UInt8] = []
        var writes: [Write] = []
        var events: [Event] = []

        public init() {}

        /// A batch of `writes`.
        public init(_ writes: [StreamWrite]) {
            for write in writes {
                startWrite(to: write.stream, expecting: write.expected)
                for event in write.events { addEvent(event) }
            }
        }

        public var isEmpty: Bool { writes.isEmpty }
        /// The number of writes.
        public var writeCount: Int { writes.count }
        /// The number of events.
        public var eventCount: Int { events.count }

        /// About how many bytes the writes in `range` take in a record batch (ids, payloads, keys, headers).
        public func size(ofWrites range: Range<Int>) -> Int {
            guard !range.isEmpty else { return 0 }
            let events = writes[range.lowerBound].events.lowerBound..<writes[range.upperBound - 1].events.upperBound
            guard !events.isEmpty else { return 0 }
            var size = self.events[events.upperBound - 1].data.upperBound - self.events[events.lowerBound].id.lowerBound
            for w in range { size += writes[w].events.count * (writes[w].stream.utf8.count + 48) }
            return size
        }

        /// Starts a write to `stream`, checked against `expected` (as if the writes before it were applied); the
        /// events added next are its.
        public mutating func startWrite(to stream: String, expecting expected: ExpectedVersion = .any) {
            writes.append(Write(stream: stream, expected: expected, events: events.count..<events.count))
        }

        /// Adds an event to the write started last; `payload` appends the event's data to the bytes it is
        /// given (and nothing else). When it throws, the event is not added.
        public mutating func addEvent(id: String, type: String, payload: (inout [UInt8]) throws -> Void) throws {
            precondition(!writes.isEmpty, "an event needs a write: startWrite(to:expecting:) first")
            let start = bytes.count
            bytes.append(contentsOf: id.utf8)
            let dataStart = bytes.count
            do {
                try payload(&bytes)
            } catch {
                bytes.removeSubrange(start...)
                throw error
            }
            precondition(bytes.count >= dataStart, "an event's payload may only append to the batch's bytes")
            events.append(Event(id: start..<dataStart, type: type, data: dataStart..<bytes.count))
            writes[writes.count - 1].events = writes[writes.count - 1].events.lowerBound..<events.count
        }

        /// Adds a write of one event to `stream` — nothing when `payload` throws.
        public mutating func addWrite(
            to stream: String, expecting expected: ExpectedVersion = .any, id: String, type: String,
            payload: (inout [UInt8]) throws -> Void
        ) throws {
            startWrite(to: stream, expecting: expected)
            do {
                try addEvent(id: id, type: type, payload: payload)
            } catch {
                writes.removeLast()
                throw error
            }
        }

        /// Whether an event with id `id` is in the batch.
        public func contains(eventID id: String) -> Bool {
            let id = Array(id.utf8)
            return events.contains { bytes[$0.id].elementsEqual(id) }
        }

        /// Adds `event` to the write started last.
        public mutating func addEvent(_ event: EventData) {
            // The payload cannot throw.
            try? addEvent(id: event.id, type: event.type) { $0 += event.data }
        }

        /// Appends `other`'s writes after these.
        public mutating func append(_ other: Batch) {
            let (byteBase, eventBase) = (bytes.count, events.count)
            bytes += other.bytes
            for event in other.events {
                events.append(
                    Event(
                        id: event.id.lowerBound + byteBase..<event.id.upperBound + byteBase, type: event.type,
                        data: event.data.lowerBound + byteBase..<event.data.upperBound + byteBase))
            }
            for write in other.writes {
                var write = write
                write.events = write.events.lowerBound + eventBase..<write.events.upperBound + eventBase
                writes.append(write)
            }
        }

        /// Event `e`'s id.
        func id(_ e: Int) -> String { String(decoding: bytes[events[e].id], as: UTF8.self) }
    }

    /// Appends to several streams at once, atomically: every write's events go into one record batch, so after
    /// a crash either all of them are in the log or none is. Each write is checked as if the writes before it
    /// in `writes` had been applied (a stream may appear more than once). A write whose event ids are all
    /// already in its stream is a duplicate: it is not written again and its outcome says so.
    ///
    /// - Returns: One outcome per write, in order.
    /// - Throws: ``EventLogError/Code/wrongExpectedVersion`` when any write's expected version does not hold —
    ///   then nothing is written; `.invalidConfiguration` for an empty write, an empty stream id, an event id
    ///   given twice, or a write only some of whose ids are known.
    public func append(_ writes: [StreamWrite]) throws -> [AppendOutcome] {
        let batch = Batch(writes)
        return Array(try append(batch, writes: 0..<batch.writeCount))
    }

    /// The outcomes of a batch's writes, in order (positions made only when asked for).
    public struct BatchOutcome: Sendable, RandomAccessCollection {
        struct Written: Sendable {
            var version: Int64
            var first: Int64
            var count: Int
            /// The original positions, for a duplicate.
            var known: [Int64]?
        }
        var written: [Written] = []

        public var startIndex: Int { 0 }
        public var endIndex: Int { written.count }
        public subscript(w: Int) -> AppendOutcome {
            let o = written[w]
            return AppendOutcome(
                version: o.version, positions: o.known ?? Array(o.first..<o.first + Int64(o.count)),
                wasDuplicate: o.known != nil)
        }
    }

    /// Appends the writes `range` of `batch`, atomically, as ``append(_:)-([StreamWrite])`` does.
    @discardableResult
    public func append(_ batch: Batch, writes range: Range<Int>) throws -> BatchOutcome {
        guard !range.isEmpty else { return BatchOutcome() }
        for w in range {
            guard !batch.writes[w].events.isEmpty else {
                throw EventLogError(.invalidConfiguration, "no events to append", topic: topic)
            }
            guard !batch.writes[w].stream.isEmpty else {
                throw EventLogError(.invalidConfiguration, "a stream id cannot be empty", topic: topic)
            }
        }
        let writes = batch.writes[range]
        let events = writes.first!.events.lowerBound..<writes.last!.events.upperBound
        return try appendLock.withLock {
            try catchUp()
            // Decide every write against the index plus the writes before it; write nothing until all pass.
            var outcomes = BatchOutcome()
            outcomes.written = Array(repeating: .init(version: 0, first: 0, count: 0), count: writes.count)
            var pending: [String: Int64] = [:]  // stream → events this batch adds
            var toWrite: [Int] = []
            // Each id's hash, computed once (looked up now, filed after the write), by event index - events.lowerBound.
            let hashes = batch.bytes.withUnsafeBytes { bytes in
                batch.events[events].map { hashIDBytes(UnsafeRawBufferPointer(rebasing: bytes[$0.id])) }
            }
            func hash(_ e: Int) -> UInt64 { hashes[e - events.lowerBound] }
            // An id given twice repeats a hash: only when some hash repeats are the ids themselves compared.
            let someHashRepeats = Self.someRepeat(hashes)
            var newIDs: Set<String> = []
            // One look at the index: each write's stream length, and whether any of its ids' hashes is known.
            let (lengths, maybeKnown) = index.withLock { index in
                (
                    writes.map { index.streams[$0.stream].map { Int64($0.count) } ?? 0 },
                    writes.map { write in write.events.contains { index.eventIDs.contains(hash($0)) } }
                )
            }
            for (n, write) in writes.enumerated() {
                let existing = lengths[n]
                // No id known (the common case), else each one confirmed against the log.
                if maybeKnown[n] {
                    let known = try write.events.map { e in try located(batch.id(e), hash: hash(e)) }
                    if known.allSatisfy({ $0 != nil }) {  // a duplicate
                        guard known.allSatisfy({ $0!.stream == write.stream }) else {
                            throw EventLogError(
                                .invalidConfiguration, "event ids already belong to another stream", topic: topic)
                        }
                        outcomes.written[n] = .init(
                            version: known.last!!.version, first: 0, count: 0, known: known.map { $0!.position })
                        continue
                    }
                    if known.contains(where: { $0 != nil }) {
                        throw EventLogError(
                            .invalidConfiguration,
                            "some of these event ids are already in stream '\(write.stream)' and some are not",
                            topic: topic)
                    }
                }
                if someHashRepeats {
                    for e in write.events where !newIDs.insert(batch.id(e)).inserted {
                        throw EventLogError(
                            .invalidConfiguration, "event id '\(batch.id(e))' is given twice in one append",
                            topic: topic)
                    }
                }
                let count = existing + pending[write.stream, default: 0]
                let current: Int64? = count == 0 ? nil : count - 1
                let ok: Bool
                switch write.expected {
                case .any: ok = true
                case .noStream: ok = current == nil
                case .streamExists: ok = current != nil
                case .exactly(let v): ok = current == v
                }
                guard ok else {
                    throw EventLogError(
                        .wrongExpectedVersion,
                        "wrong expected version for stream '\(write.stream)': expected \(write.expected), actual \(current.map(String.init) ?? "no stream")",
                        topic: topic)
                }
                pending[write.stream, default: 0] += Int64(write.events.count)
                toWrite.append(n)
            }
            guard !toWrite.isEmpty else { return outcomes }
            let result = try builder.withLock { builder in
                builder.reset()
                let now = log.configuration.clock.milliseconds()
                batch.bytes.withUnsafeBytes { bytes in
                    for n in toWrite {
                        var stream = writes[writes.startIndex + n].stream
                        stream.withUTF8 { key in
                            for e in writes[writes.startIndex + n].events {
                                let event = batch.events[e]
                                var type = event.type
                                type.withUTF8 { type in
                                    builder.append(
                                        key: UnsafeRawBufferPointer(key),
                                        value: UnsafeRawBufferPointer(rebasing: bytes[event.data]), timestamp: now,
                                        headers: ("eventId", UnsafeRawBufferPointer(rebasing: bytes[event.id])),
                                        ("eventType", UnsafeRawBufferPointer(type)))
                                }
                            }
                        }
                    }
                }
                return try log.append(builder, to: topic, partition: 0)
            }
            // Index what was just written without reading it back — unless someone else appended meanwhile.
            let indexed = index.withLock { index -> Bool in
                guard index.indexedUpTo == result.baseOffset else { return false }
                var offset = result.baseOffset
                for n in toWrite {
                    let write = writes[writes.startIndex + n]
                    let count = write.events.count
                    let last = Self.add(offset..<offset + Int64(count), to: &index.streams[write.stream, default: []])
                    for e in write.events {
                        index.eventIDs.insert(hash(e), offset + Int64(e - write.events.lowerBound))
                    }
                    outcomes.written[n] = .init(version: last, first: offset, count: count)
                    offset += Int64(count)
                }
                index.indexedUpTo = offset
                return true
            }
            if indexed { return outcomes }
            try catchUp()
            var offset = result.baseOffset
            for n in toWrite {
                let write = writes[writes.startIndex + n]
                let count = write.events.count
                let last = write.events.upperBound - 1
                guard let located = try located(batch.id(last), hash: hash(last)) else {
                    throw EventLogError(
                        .corruptData, "an event just appended to '\(write.stream)' is not in the index",
                        topic: topic)
                }
                outcomes.written[n] = .init(version: located.version, first: offset, count: count)
                offset += Int64(count)
            }
            return outcomes
        }
    }

    /// Whether some value occurs twice (an open-addressing set of the values, sized for them: no sort).
    static func someRepeat(_ values: [UInt64]) -> Bool {
        var capacity = 16
        while capacity < values.count * 2 { capacity *= 2 }
        var slots = [UInt64](repeating: 0, count: capacity)
        var zeroSeen = false
        let mask = capacity - 1
        for value in values {
            if value == 0 {
                if zeroSeen { return true }
                zeroSeen = true
                continue
            }
            var slot = Int(truncatingIfNeeded: value ^ (value >> 29)) & mask
            while slots[slot] != 0 {
                if slots[slot] == value { return true }
                slot = (slot + 1) & mask
            }
            slots[slot] = value
        }
        return false
    }

    /// The stream and version of the event with id `id`, if any stream holds it.
    public func locate(eventID id: String) throws -> (stream: String, version: Int64)? {
        try catchUp()
        return try located(id, hash: hashID(id)).map { ($0.stream, $0.version) }
    }

    /// Where the index files the event with id `id`: the table's candidates for its hash, confirmed against
    /// the events in the log (a read only when the hash is known — a duplicate, or a rare shared hash).
    private func located(_ id: String, hash: UInt64) throws -> (stream: String, version: Int64, position: Int64)? {
        for position in index.withLock({ $0.eventIDs.candidates(of: hash) }) {
            let reader = try log.reader(topic: topic, partition: 0, from: .offset(position))
            let found = try Self.record(at: position, reader) { record in
                (id: Self.header("eventId", record), stream: record.key.map { String(decoding: $0, as: UTF8.self) })
            }
            guard let found, found.id == id, let stream = found.stream else { continue }
            let version = index.withLock { index in index.streams[stream].map { Self.search($0, position) } ?? -1 }
            return (stream, Int64(version), position)
        }
        return nil
    }

    /// Reads `stream` forward from `version`, at most `maxCount` events, without scanning other streams.
    public func read(_ stream: String, fromVersion version: Int64 = 0, maxCount: Int = .max) throws -> [RecordedEvent] {
        try catchUp()
        let offsets = index.withLock { $0.streams[stream] ?? [] }
        guard version >= 0, version < Int64(offsets.count) else { return [] }
        let wanted = offsets[Int(version)..<min(offsets.count, Int(version) + max(0, min(maxCount, offsets.count)))]
        let reader = try log.reader(topic: topic, partition: 0, from: .offset(wanted.first!))
        var events: [RecordedEvent] = []
        var next = version
        for offset in wanted {
            guard let event = try Self.record(at: offset, reader, { Self.event($0, stream: stream, version: next) })
            else {
                throw EventLogError(
                    .corruptData, "event \(next) of stream '\(stream)' is missing at offset \(offset)",
                    topic: topic, partition: 0, offset: offset)
            }
            events.append(event)
            next += 1
        }
        return events
    }

    /// Reads every stream's events in global order from `position`.
    public func readAll(fromPosition position: Int64 = 0, maxCount: Int = 1000) throws -> [RecordedEvent] {
        try catchUp()
        let reader = try log.reader(topic: topic, partition: 0, from: .offset(position))
        var events: [RecordedEvent] = []
        while events.count < maxCount,
            try reader.read({ record in
                guard events.count < maxCount, let key = record.key else { return }
                let stream = String(decoding: key, as: UTF8.self)
                let version =
                    index.withLock { index in index.streams[stream].map { Self.search($0, record.offset) } } ?? -1
                events.append(Self.event(record, stream: stream, version: Int64(version)))
            }) > 0
        {}
        return events
    }
}
