import EventLogFoundation

/// Accumulates items into frames by event time and emits either the frames (stage one of a two-stage
/// aggregation) or whole sliding/tumbling windows (stage two, or the single-stage form with early results).
///
/// ```
///  stage 1 (local):       item ──▶ frames[frameStart][key] ──(wm ≥ frame end)──▶ FramePartial
///  stage 2 (by key):  partial ──▶ frames[frameStart][key] ──(wm ≥ window end)──▶ KeyedWindowResult
/// ```
///
/// Invariants (tested against a brute-force computation):
/// - Every window `[end − size, end)` with at least one frame is emitted exactly once, when the watermark
///   reaches `end` or at completion, with the combine of its frames.
/// - Windows ending at or before ``lastWatermark`` have been emitted; frames are evicted once no window
///   still to be emitted needs them.
/// - An item whose frame ends at or before its source watermark (``Timestamped``) is late: it is counted
///   and sent to the late-events output, never folded in. The stage's own watermark never exceeds an
///   item's source watermark when the item arrives (watermarks travel behind the items read before them,
///   and a coalesced watermark is a minimum) — unless idle partitions let it pass; then the stage's counts
///   too, so a frame already emitted never takes an item. So is an item whose frame does not start within
///   `EventTime`'s range: every frame start is in that range, so `Int64.min` is free as a sentinel and
///   frame, window and watermark arithmetic cannot overflow.
final class SlidingWindowProcessor<Input, Key: Hashable, Accumulator, Result>: Processor {
    /// What the processor emits, with the closure that writes one table's entries as output items. The
    /// public API makes the closures where the types are concrete, so emitting runs specialized: a generic
    /// loop here would look up type metadata for every item it builds.
    enum Mode {
        /// Accumulate raw items and emit frames: `write(table, frameStart, destination)` initializes
        /// `table.count` partials at `destination`.
        case frames(write: (KeyTable<Key, Accumulator>, Int64, UnsafeMutablePointer<Timestamped<Partial>>) -> Void)
        /// Emit windows (finished results): `write(table, start, end, early, destination)` initializes
        /// `table.count` results of the window `[start, end)` at `destination`.
        case windows(
            write: (KeyTable<Key, Accumulator>, Int64, Int64, Bool, UnsafeMutablePointer<Timestamped<WindowResult>>)
                -> Void)
    }

    typealias Partial = FramePartial<Key, Accumulator>
    typealias WindowResult = KeyedWindowResult<Key, Result>

    private let size: Int64
    private let step: Int64
    private let offset: Int64
    private let mode: Mode
    private let isRaw: Bool
    private let keyedState: Bool
    private let frameOf: (Timestamped<Input>) -> Int64
    /// Looks the item's key up in a frame's table and folds the item in. The public API makes it where the
    /// types are concrete, so the table lookup runs specialized.
    private let foldInto: (inout KeyTable<Key, Accumulator>, Input) -> Void
    /// Folds a run of items of one frame straight from the input queue (see
    /// `WindowedStage.aggregate(_:kernels:)`), specialized like `foldInto`.
    private let foldRun:
        (UnsafeMutablePointer<Timestamped<Input>>, Int, Int64, Int64, inout KeyTable<Key, Accumulator>) -> Int
    private let create: () -> Accumulator
    private let combine: (inout Accumulator, Accumulator) -> Void
    private let deduct: ((inout Accumulator, Accumulator) -> Void)?
    private let export: (Accumulator) -> Result
    private let finish: (Accumulator) -> Result
    private let earlyPeriod: Int64?
    private let ports: OutputPorts

    private var frames: [Int64: KeyTable<Key, Accumulator>] = [:]
    /// The keys of `frames` in ascending order (outside `process`, where the hot frame is taken out). Kept
    /// beside the dictionary because a combine stage whose inputs' watermarks drift apart holds thousands of
    /// frames, and sorting the keys at every watermark cost more than the windows.
    private var frameStarts: [Int64] = []
    /// Emptied tables kept for reuse (see `recycle(_:)`).
    private var spareTables: [KeyTable<Key, Accumulator>] = []
    private(set) var lastWatermark = Int64.min
    private var completed = false
    private var lastEarly: Int64 = 0
    private var inbox: Inbox<Timestamped<Input>>!
    private var context: ProcessorContext!
    private var frameEmitter: Emitter<Partial>?
    private var windowEmitter: Emitter<WindowResult>?
    private var lateEmitter: Emitter<Input>!
    /// The running window for deduct-based sliding: its end and, per key, the accumulator and the number of
    /// frames contributing to it.
    private var running: (end: Int64, entries: [Key: (Accumulator, Int)])?

    init<Item>(
        window: WindowDefinition, mode: Mode, raw: Bool, keyedState: Bool, frame: ((Timestamped<Input>) -> Int64)?,
        foldInto: @escaping (inout KeyTable<Key, Accumulator>, Input) -> Void,
        foldRun:
            @escaping (UnsafeMutablePointer<Timestamped<Input>>, Int, Int64, Int64, inout KeyTable<Key, Accumulator>)
            -> Int,
        operation: AggregateOperation<Item, Accumulator, Result>, ports: OutputPorts
    ) {
        guard case .sliding(let size, let step) = window.kind else { preconditionFailure("not a sliding window") }
        self.size = size
        self.step = step
        self.offset = window.offset
        self.mode = mode
        self.isRaw = raw
        self.keyedState = keyedState
        let offset = window.offset
        self.frameOf = frame ?? { Self.frameStart($0.timestamp, step: step, offset: offset) }
        self.foldInto = foldInto
        self.foldRun = foldRun
        self.create = operation.create
        self.combine = operation.combine
        self.deduct = size == step ? nil : operation.deduct
        self.export = operation.export
        self.finish = operation.finish
        if case .windows = mode { earlyPeriod = window.earlyResultsPeriod } else { earlyPeriod = nil }
        self.ports = ports
    }

    @inline(__always)
    static func frameStart(_ timestamp: Int64, step: Int64, offset: Int64) -> Int64 {
        let shifted = timestamp &- offset
        var quotient = shifted / step
        if shifted % step != 0 && shifted < 0 { quotient -= 1 }
        return quotient &* step &+ offset
    }

    func initialize(context: ProcessorContext) throws {
        self.context = context
        inbox = context.inbox(0)
        switch mode {
        case .frames: frameEmitter = Emitter(context: context, ordinals: ports.main)
        case .windows: windowEmitter = Emitter(context: context, ordinals: ports.main)
        }
        lateEmitter = Emitter(context: context, ordinals: ports.late)
        lastEarly = context.clock.milliseconds()
    }

    private func flush() -> Bool {
        guard lateEmitter.flush() else { return false }
        return frameEmitter?.flush() ?? windowEmitter!.flush()
    }

    func process(ordinal: Int) throws {
        guard flush() else { return }
        let step = self.step
        // Items mostly arrive in time order: keep the current frame's table out of `frames` while folding
        // into it, so each item costs one hash lookup instead of two.
        var hotStart = Int64.min
        var hot = KeyTable<Key, Accumulator>()
        defer { if hotStart != .min { frames[hotStart] = hot } }
        // Whole runs of the input queue: one generic step per run, the items folded by specialized code.
        while let (items, count) = inbox.contiguousItems() {
            // A raw item is windowed only when its frame starts within EventTime's range (so no frame or window
            // arithmetic can overflow, and Int64.min stays free as "no hot frame"); otherwise, like an item
            // whose frame was emitted, it is late. Items of one frame share the answer, so runs stay whole.
            let frame: Int64
            if isRaw {
                let timestamp = items[0].timestamp
                let reachable =
                    timestamp >= EventTime.lowerBound &- step && timestamp <= EventTime.upperBound &+ step
                frame = reachable ? frameOf(items[0]) : .min
            } else {
                frame = frameOf(items[0])
            }
            // Late: the frame ended at or before the watermark — the item's own source watermark (so the
            // answer follows from the input alone) or, should the stage's be higher, the stage's.
            if isRaw && (!EventTime.contains(frame) || frame &+ step <= max(lastWatermark, items[0].sourceWatermark)) {
                context.countLate()
                lateEmitter.buffer(items.move())
                inbox.consume(1)
                guard lateEmitter.flush() else { return }
                continue
            }
            if frame != hotStart { switchHot(to: frame, &hot, &hotStart) }
            let taken = foldRun(items, count, frame, frame &+ step, &hot)
            if taken > 0 {
                inbox.consume(taken)
            } else {
                // Only when the frame's end overflows Int64: fold the item on its own.
                let item = items.move()
                inbox.consume(1)
                foldInto(&hot, item.value)
            }
        }
    }

    /// Puts the hot frame's table back into `frames` and takes out `frame`'s (new when absent).
    private func switchHot(to frame: Int64, _ hot: inout KeyTable<Key, Accumulator>, _ hotStart: inout Int64) {
        if hotStart != .min { frames[hotStart] = hot }
        if let table = frames.removeValue(forKey: frame) {
            hot = table
        } else {
            hot = emptyTable()
            insertStart(frame)
        }
        hotStart = frame
    }

    /// Adds a new frame's start to `frameStarts` (usually the largest, so an append).
    private func insertStart(_ start: Int64) {
        if let last = frameStarts.last, start < last {
            var low = 0
            var high = frameStarts.count
            while low < high {
                let middle = (low + high) / 2
                if frameStarts[middle] < start { low = middle + 1 } else { high = middle }
            }
            frameStarts.insert(start, at: low)
        } else {
            frameStarts.append(start)
        }
    }

    func tryProcessWatermark(_ watermark: Int64) throws -> Bool {
        if watermark > lastWatermark {
            switch mode {
            case .frames(let write):
                emitFrames(endingBy: watermark, write)
            case .windows(let write):
                emitWindows(after: lastWatermark, upTo: watermark, early: false, write)
            }
            lastWatermark = watermark
        }
        return flush()
    }

    /// Emits, oldest first, and evicts the frames that end at or before `limit`.
    private func emitFrames(
        endingBy limit: Int64,
        _ write: (KeyTable<Key, Accumulator>, Int64, UnsafeMutablePointer<Timestamped<Partial>>) -> Void
    ) {
        let emitter = frameEmitter!
        var done = 0
        while done < frameStarts.count && frameStarts[done] &+ step <= limit {
            let start = frameStarts[done]
            let table = frames[start]!
            emitter.buffer(count: table.count) { write(table, start, $0) }
            done += 1
        }
        dropFrames(done)
    }

    /// Buffers one window result; its timestamp is the window's end.
    private func emit(
        _ emitter: Emitter<WindowResult>, _ key: Key, _ accumulator: Accumulator, end: Int64, early: Bool
    ) {
        let value = early ? export(accumulator) : finish(accumulator)
        emitter.buffer(
            Timestamped(
                KeyedWindowResult(start: end &- size, end: end, key: key, value: value, isEarly: early), timestamp: end)
        )
    }

    /// Removes the oldest `count` frames, keeping their tables for reuse.
    private func dropFrames(_ count: Int) {
        for start in frameStarts[..<count] {
            var table = frames.removeValue(forKey: start)!
            recycle(&table)
        }
        frameStarts.removeFirst(count)
    }

    /// An empty table, reused when one is spare.
    private func emptyTable() -> KeyTable<Key, Accumulator> { spareTables.popLast() ?? KeyTable() }

    /// Empties `table` and keeps it for a later frame, so a stage with many short frames (or a sliding window
    /// built anew at every step) does not allocate a table's arrays each time. Keeps a few, and none whose
    /// slots would cost more to clear than to allocate.
    private func recycle(_ table: inout KeyTable<Key, Accumulator>) {
        guard spareTables.count < 4, table.slots.count <= 1 << 14 else { return }
        table.removeAll()
        spareTables.append(table)
    }

    /// The first window end after `watermark` on the grid.
    private func firstEnd(after watermark: Int64) -> Int64 {
        if watermark == .min { return .min }
        return Self.frameStart(watermark, step: step, offset: offset) &+ step
    }

    /// Emits the windows whose end is in `(after, upTo]` and that contain at least one frame; evicts the frames
    /// no later window needs (unless early).
    private func emitWindows(
        after: Int64, upTo limit: Int64, early: Bool,
        _ write: (KeyTable<Key, Accumulator>, Int64, Int64, Bool, UnsafeMutablePointer<Timestamped<WindowResult>>)
            -> Void
    ) {
        let starts = frameStarts
        guard let first = starts.first else { return }
        let emitter = windowEmitter!
        var end = max(firstEnd(after: after), first &+ step)
        var index = 0
        while end <= limit {
            let low = end &- size
            while index < starts.count && starts[index] < low { index += 1 }
            guard index < starts.count else { break }
            if starts[index] >= end {
                end = starts[index] &+ step
                continue
            }
            if size == step {
                let table = frames[starts[index]]!
                emitter.buffer(count: table.count) { write(table, end &- size, end, early, $0) }
            } else if let deduct, !early {
                slide(to: end, deduct: deduct)
                for (key, entry) in running!.entries { emit(emitter, key, entry.0, end: end, early: false) }
            } else {
                var window = emptyTable()
                var position = index
                while position < starts.count && starts[position] < end {
                    frames[starts[position]]!.forEach { key, accumulator in
                        window.fold(key, creating: create) { combine(&$0, accumulator) }
                    }
                    position += 1
                }
                emitter.buffer(count: window.count) { write(window, end &- size, end, early, $0) }
                recycle(&window)
            }
            end &+= step
        }
        guard !early else { return }
        // Windows up to `limit` are done; the next one starts at firstEnd(after: limit) - size. Deduction also
        // needs the frame that leaves the running window next.
        let keepFrom = (limit == .max ? end : firstEnd(after: limit)) &- size &- (deduct == nil ? 0 : step)
        dropFrames(starts.prefix { $0 < keepFrom }.count)
        if let current = running, current.end < keepFrom { running = nil }
    }

    /// Moves the running window to end at `end`, adding the new frame and deducting the one that left; rebuilt
    /// from the frames when the previous window was not the one just before.
    private func slide(to end: Int64, deduct: (inout Accumulator, Accumulator) -> Void) {
        if let current = running, current.end == end &- step {
            var entries = current.entries
            running = nil
            if let entering = frames[end &- step] {
                entering.forEach { key, accumulator in
                    if var entry = entries[key] {
                        combine(&entry.0, accumulator)
                        entry.1 += 1
                        entries[key] = entry
                    } else {
                        var fresh = create()
                        combine(&fresh, accumulator)
                        entries[key] = (fresh, 1)
                    }
                }
            }
            if let leaving = frames[end &- size &- step] {
                leaving.forEach { key, accumulator in
                    guard var entry = entries[key] else { return }
                    entry.1 -= 1
                    if entry.1 == 0 {
                        entries[key] = nil
                    } else {
                        deduct(&entry.0, accumulator)
                        entries[key] = entry
                    }
                }
            }
            running = (end, entries)
            return
        }
        var entries: [Key: (Accumulator, Int)] = [:]
        var start = end &- size
        while start < end {
            if let frame = frames[start] {
                frame.forEach { key, accumulator in
                    var entry = entries[key] ?? (create(), 0)
                    combine(&entry.0, accumulator)
                    entry.1 += 1
                    entries[key] = entry
                }
            }
            start &+= step
        }
        running = (end, entries)
    }

    func tryProcess() throws -> Bool {
        guard flush() else { return false }
        guard let period = earlyPeriod, case .windows(let write) = mode else { return true }
        let now = context.clock.milliseconds()
        guard now - lastEarly >= period else { return true }
        lastEarly = now
        emitWindows(after: lastWatermark, upTo: .max, early: true, write)
        return flush()
    }

    func complete() throws -> Bool {
        guard flush() else { return false }
        if !completed {
            completed = true
            switch mode {
            case .frames(let write):
                emitFrames(endingBy: .max, write)
            case .windows(let write):
                emitWindows(after: lastWatermark, upTo: .max, early: false, write)
                frames = [:]
                frameStarts = []
            }
        }
        return flush()
    }

    // MARK: Snapshots
    //
    // Entry keys start with a tag byte: 0 = one key's frames (keyed state, restored by the key's owner),
    // 1 = one instance's whole state (local state, restored by the same index), 2 = an instance's watermark.

    func saveToSnapshot(_ snapshot: SnapshotWriter) throws -> Bool {
        guard flush() else { return false }
        snapshot.saveRaw(key: [2] + (try snapshotEncode(context.index)), value: try snapshotEncode(lastWatermark))
        if keyedState {
            var byKey: [Key: [(Int64, Accumulator)]] = [:]
            for (start, frame) in frames {
                frame.forEach { key, accumulator in byKey[key, default: []].append((start, accumulator)) }
            }
            for (key, list) in byKey {
                snapshot.saveRaw(
                    key: [0] + (try snapshotEncode(key)),
                    value: try encodeJSON(list.map { SavedFrame(start: $0.0, accumulator: try snapshotEncode($0.1)) }))
            }
        } else {
            var list: [SavedFrame] = []
            for (start, frame) in frames {
                try frame.forEach { key, accumulator in
                    list.append(
                        SavedFrame(
                            start: start, key: try snapshotEncode(key), accumulator: try snapshotEncode(accumulator)))
                }
            }
            snapshot.saveRaw(key: [1] + (try snapshotEncode(context.index)), value: try encodeJSON(list))
        }
        return true
    }

    func restoreFromSnapshot(_ entry: SnapshotEntry) throws {
        guard let tag = entry.key.first else { return }
        let payload = Array(entry.key.dropFirst())
        switch tag {
        case 0:
            let key = try snapshotDecode(payload, as: Key.self)
            guard context.owns(key) else { return }
            for saved in try decodeJSON([SavedFrame].self, entry.value) {
                frames[saved.start, default: KeyTable()].set(
                    key, try snapshotDecode(saved.accumulator, as: Accumulator.self))
            }
        case 1:
            guard try snapshotDecode(payload, as: Int.self) == context.index else { return }
            for saved in try decodeJSON([SavedFrame].self, entry.value) {
                let key = try snapshotDecode(saved.key ?? [], as: Key.self)
                frames[saved.start, default: KeyTable()].set(
                    key, try snapshotDecode(saved.accumulator, as: Accumulator.self))
            }
        case 2:
            // Every instance saw the same watermarks before an aligned barrier; without alignment the smallest
            // is the safe choice (windows may be emitted again, never skipped).
            let watermark = try snapshotDecode(entry.value, as: Int64.self)
            restoredWatermark = min(restoredWatermark ?? .max, watermark)
        default:
            throw StreamJetError(.snapshot, "unknown window state entry tag \(tag)")
        }
    }

    private var restoredWatermark: Int64?

    func finishSnapshotRestore() throws {
        frameStarts = frames.keys.sorted()
        if let restoredWatermark { lastWatermark = restoredWatermark }
    }
}

struct SavedFrame: Codable {
    var start: Int64
    var key: [UInt8]?
    var accumulator: [UInt8]
}
