/// Session windows per key: events closer than `gap` merge into one window `[first, last + gap)`.
///
/// Invariants (tested): sessions of a key never overlap; a session is emitted once, when the watermark
/// reaches its end or at completion; an event with timestamp below its source watermark (``Timestamped``;
/// or the stage's watermark, should that be higher) is late (counted, sent to the late output) — the rule
/// Jet uses for sessions, judged per partition — and so is one outside `EventTime`'s range.
final class SessionWindowProcessor<Item, Key: Hashable, Accumulator, Result>: Processor {
    struct Session {
        var start: Int64
        var end: Int64
        var accumulator: Accumulator
    }

    private let gap: Int64
    private let key: (Item) -> Key
    private let operation: AggregateOperation<Item, Accumulator, Result>
    private let ports: OutputPorts
    private var sessions: [Key: [Session]] = [:]
    private var earliestEnd = Int64.max
    private var lastWatermark = Int64.min
    private var completed = false
    private var inbox: Inbox<Timestamped<Item>>!
    private var context: ProcessorContext!
    private var emitter: Emitter<KeyedWindowResult<Key, Result>>!
    private var lateEmitter: Emitter<Item>!

    init(
        gap: Int64, key: @escaping (Item) -> Key, operation: AggregateOperation<Item, Accumulator, Result>,
        ports: OutputPorts
    ) {
        self.gap = gap
        self.key = key
        self.operation = operation
        self.ports = ports
    }

    func initialize(context: ProcessorContext) throws {
        self.context = context
        inbox = context.inbox(0)
        emitter = Emitter(context: context, ordinals: ports.main)
        lateEmitter = Emitter(context: context, ordinals: ports.late)
    }

    private func flush() -> Bool { lateEmitter.flush() && emitter.flush() }

    func process(ordinal: Int) throws {
        guard flush() else { return }
        while let item = inbox.poll() {
            let timestamp = item.timestamp
            // Outside EventTime's range a session's end could overflow: such an event is late too.
            // Late: behind the item's own source watermark (so the answer follows from the input alone) or the
            // stage's, should that be higher.
            if timestamp < max(lastWatermark, item.sourceWatermark) || !EventTime.contains(timestamp) {
                context.countLate()
                lateEmitter.buffer(item)
                guard lateEmitter.flush() else { return }
                continue
            }
            let key = self.key(item.value)
            let list = sessions.removeValue(forKey: key) ?? []
            var merged = Session(start: timestamp, end: timestamp &+ gap, accumulator: operation.create())
            operation.accumulate(&merged.accumulator, item.value)
            // Sessions are sorted by start and disjoint; merge every one overlapping [timestamp, timestamp + gap).
            var kept: [Session] = []
            kept.reserveCapacity(list.count + 1)
            for session in list {
                if session.start < merged.end && merged.start < session.end {
                    merged.start = min(merged.start, session.start)
                    merged.end = max(merged.end, session.end)
                    operation.combine(&merged.accumulator, session.accumulator)
                } else {
                    kept.append(session)
                }
            }
            let position = kept.firstIndex { $0.start > merged.start } ?? kept.endIndex
            kept.insert(merged, at: position)
            sessions[key] = kept
            earliestEnd = min(earliestEnd, merged.end)
        }
    }

    private func emit(upTo limit: Int64) {
        guard earliestEnd <= limit else { return }
        var nextEarliest = Int64.max
        for (key, list) in sessions {
            var remaining: [Session] = []
            for session in list {
                if session.end <= limit {
                    emitter.buffer(
                        Timestamped(
                            KeyedWindowResult(
                                start: session.start, end: session.end, key: key,
                                value: operation.finish(session.accumulator)), timestamp: session.end))
                } else {
                    remaining.append(session)
                    nextEarliest = min(nextEarliest, session.end)
                }
            }
            sessions[key] = remaining.isEmpty ? nil : remaining
        }
        earliestEnd = nextEarliest
    }

    func tryProcessWatermark(_ watermark: Int64) throws -> Bool {
        if watermark > lastWatermark {
            emit(upTo: watermark)
            lastWatermark = watermark
        }
        return flush()
    }

    func complete() throws -> Bool {
        guard flush() else { return false }
        if !completed {
            completed = true
            emit(upTo: .max)
        }
        return flush()
    }

    func saveToSnapshot(_ snapshot: SnapshotWriter) throws -> Bool {
        guard flush() else { return false }
        for (key, list) in sessions {
            let saved = try list.map {
                SavedSession(start: $0.start, end: $0.end, accumulator: try snapshotEncode($0.accumulator))
            }
            snapshot.saveRaw(key: try snapshotEncode(key), value: try encodeJSON(saved))
        }
        return true
    }

    func restoreFromSnapshot(_ entry: SnapshotEntry) throws {
        let key = try snapshotDecode(entry.key, as: Key.self)
        guard context.owns(key) else { return }
        sessions[key] = try decodeJSON([SavedSession].self, entry.value).map {
            Session(start: $0.start, end: $0.end, accumulator: try snapshotDecode($0.accumulator, as: Accumulator.self))
        }
        earliestEnd = min(earliestEnd, sessions[key]!.map(\.end).min() ?? .max)
    }
}

struct SavedSession: Codable {
    var start: Int64
    var end: Int64
    var accumulator: [UInt8]
}

/// Keeps per-key state and emits one output per input: the engine of `rollingAggregate` and
/// `mapStateful`. State unused for `ttl` of event time behind the watermark is evicted (and `onEvict` may
/// emit a last item).
final class StatefulMapProcessor<Item, Key: Hashable, State, Output>: Processor {
    private let key: (Item) -> Key
    private let create: () -> State
    private let map: (inout State, Key, Item) -> Output?
    private let onEvict: ((State, Key, Int64) -> Output?)?
    private let ttl: Int64?
    private let ports: OutputPorts
    private var states: [Key: (state: State, lastTimestamp: Int64)] = [:]
    private var oldest = Int64.max
    private var inbox: Inbox<Timestamped<Item>>!
    private var context: ProcessorContext!
    private var emitter: Emitter<Output>!

    init(
        key: @escaping (Item) -> Key, create: @escaping () -> State, map: @escaping (inout State, Key, Item) -> Output?,
        ttl: Int64?, onEvict: ((State, Key, Int64) -> Output?)?, ports: OutputPorts
    ) {
        self.key = key
        self.create = create
        self.map = map
        self.ttl = ttl
        self.onEvict = onEvict
        self.ports = ports
    }

    func initialize(context: ProcessorContext) throws {
        self.context = context
        inbox = context.inbox(0)
        emitter = Emitter(context: context, ordinals: ports.main)
    }

    func process(ordinal: Int) throws {
        guard emitter.flush() else { return }
        while let item = inbox.poll() {
            let key = self.key(item.value)
            var entry = states.removeValue(forKey: key) ?? (create(), item.timestamp)
            let output = map(&entry.state, key, item.value)
            entry.lastTimestamp = max(entry.lastTimestamp, item.timestamp)
            states[key] = entry
            if ttl != nil { oldest = min(oldest, entry.lastTimestamp) }
            if let output {
                emitter.buffer(item.replacingValue(with: output))
                guard emitter.flush() else { return }
            }
        }
    }

    func tryProcessWatermark(_ watermark: Int64) throws -> Bool {
        guard emitter.flush() else { return false }
        guard let ttl, watermark != .min, watermark &- ttl > oldest else { return true }
        let limit = watermark &- ttl
        var nextOldest = Int64.max
        for (key, entry) in states {
            if entry.lastTimestamp < limit {
                states[key] = nil
                if let output = onEvict?(entry.state, key, watermark) {
                    emitter.buffer(Timestamped(output, timestamp: watermark))
                }
            } else {
                nextOldest = min(nextOldest, entry.lastTimestamp)
            }
        }
        oldest = nextOldest
        return emitter.flush()
    }

    func complete() throws -> Bool { emitter.flush() }

    func saveToSnapshot(_ snapshot: SnapshotWriter) throws -> Bool {
        guard emitter.flush() else { return false }
        for (key, entry) in states {
            snapshot.saveRaw(
                key: try snapshotEncode(key),
                value: try encodeJSON(
                    SavedState(state: try snapshotEncode(entry.state), lastTimestamp: entry.lastTimestamp)))
        }
        return true
    }

    func restoreFromSnapshot(_ entry: SnapshotEntry) throws {
        let key = try snapshotDecode(entry.key, as: Key.self)
        guard context.owns(key) else { return }
        let saved = try decodeJSON(SavedState.self, entry.value)
        states[key] = (try snapshotDecode(saved.state, as: State.self), saved.lastTimestamp)
        oldest = min(oldest, saved.lastTimestamp)
    }

    struct SavedState: Codable {
        var state: [UInt8]
        var lastTimestamp: Int64
    }
}

/// Joins a stream against a bounded side input that is loaded completely first (a lower-priority edge,
/// broadcast to every instance). One output per matching side item; an outer join emits the stream item
/// with nil when nothing matches, an inner join drops it.
final class HashJoinProcessor<Item, Side, Key: Hashable, Output>: Processor {
    private let itemKey: (Item) -> Key
    private let sideKey: (Side) -> Key
    private let inner: Bool
    private let join: (Item, Side?) -> Output?
    private let ports: OutputPorts
    private var table: [Key: [Side]] = [:]
    private var sideInbox: Inbox<Timestamped<Side>>!
    private var itemInbox: Inbox<Timestamped<Item>>!
    private var emitter: Emitter<Output>!

    init(
        itemKey: @escaping (Item) -> Key, sideKey: @escaping (Side) -> Key, inner: Bool,
        join: @escaping (Item, Side?) -> Output?, ports: OutputPorts
    ) {
        self.itemKey = itemKey
        self.sideKey = sideKey
        self.inner = inner
        self.join = join
        self.ports = ports
    }

    private var context: ProcessorContext!

    func initialize(context: ProcessorContext) throws {
        self.context = context
        sideInbox = context.inbox(0)
        itemInbox = context.inbox(1)
        emitter = Emitter(context: context, ordinals: ports.main)
    }

    func process(ordinal: Int) throws {
        if ordinal == 0 {
            while let side = sideInbox.poll() { table[sideKey(side.value), default: []].append(side.value) }
            return
        }
        guard emitter.flush() else { return }
        while let item = itemInbox.poll() {
            if let matches = table[itemKey(item.value)] {
                for side in matches {
                    if let output = join(item.value, side) {
                        emitter.buffer(item.replacingValue(with: output))
                    }
                }
            } else if !inner, let output = join(item.value, nil) {
                emitter.buffer(item.replacingValue(with: output))
            }
            guard emitter.flush() else { return }
        }
    }

    func complete() throws -> Bool { emitter.flush() }

    /// Every instance holds the whole side table (it was broadcast); instance 0 saves it and every instance
    /// restores all of it, because the side input's source will not read it again.
    func saveToSnapshot(_ snapshot: SnapshotWriter) throws -> Bool {
        guard emitter.flush() else { return false }
        guard context.index == 0 else { return true }
        for (key, sides) in table {
            snapshot.saveRaw(key: try snapshotEncode(key), value: try encodeJSON(sides.map { try snapshotEncode($0) }))
        }
        return true
    }

    func restoreFromSnapshot(_ entry: SnapshotEntry) throws {
        table[try snapshotDecode(entry.key, as: Key.self)] = try decodeJSON([[UInt8]].self, entry.value).map {
            try snapshotDecode($0, as: Side.self)
        }
    }
}
