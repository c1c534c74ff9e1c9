/// The per-item work of the window stages, built by the inlinable ``WindowedStage/aggregate(_:)`` where the
/// item, key and accumulator types are concrete, so it runs specialized. The window processors are generic
/// classes called through `any Processor`; in their own code every item would cost generic-metadata lookups.
@usableFromInline
struct WindowKernels<Item, Key: Hashable, Accumulator, Result> {
    @usableFromInline typealias Table = KeyTable<Key, Accumulator>
    @usableFromInline typealias Partial = FramePartial<Key, Accumulator>

    /// Folds one item into a frame's table.
    @usableFromInline let fold: (inout Table, Item) -> Void
    /// Folds `items[0..<count]` into a frame's table while their timestamps lie in `[start, end)` and their
    /// source watermarks lie below `end`, moving each one out, and returns how many it took.
    @usableFromInline let foldRun: (UnsafeMutablePointer<Timestamped<Item>>, Int, Int64, Int64, inout Table) -> Int
    /// Folds one frame partial into the combine stage's table.
    @usableFromInline let combine: (inout Table, Partial) -> Void
    /// Folds partials of frame `start` from the queue, like `foldRun`.
    @usableFromInline let combineRun:
        (UnsafeMutablePointer<Timestamped<Partial>>, Int, Int64, Int64, inout Table) -> Int
    /// The hash of a partial's key, which routes it to its combine instance.
    @usableFromInline let partialHash: (Timestamped<Partial>) -> Int
    /// Writes a frame's entries as partials timestamped with the frame's start.
    @usableFromInline let writePartials: (Table, Int64, UnsafeMutablePointer<Timestamped<Partial>>) -> Void
    /// Writes a window's entries as results of the window `[start, end)` (early or final).
    @usableFromInline let writeResults:
        (Table, Int64, Int64, Bool, UnsafeMutablePointer<Timestamped<KeyedWindowResult<Key, Result>>>) -> Void

    @inlinable
    init(key: @escaping (Item) -> Key, operation: AggregateOperation<Item, Accumulator, Result>) {
        let create = operation.create
        let accumulate = operation.accumulate
        let combine = operation.combine
        let export = operation.export
        let finish = operation.finish
        fold = { table, item in table.fold(key(item), creating: create) { accumulate(&$0, item) } }
        foldRun = { items, count, start, end, table in
            var index = 0
            while index < count {
                let timestamp = items[index].timestamp
                // An item whose source watermark reached the frame's end is late: the processor decides.
                guard timestamp >= start && timestamp < end && items[index].sourceWatermark < end else { break }
                let item = (items + index).move().value
                table.fold(key(item), creating: create) { accumulate(&$0, item) }
                index += 1
            }
            return index
        }
        self.combine = { table, partial in
            table.fold(partial.key, creating: create) { combine(&$0, partial.accumulator) }
        }
        combineRun = { items, count, start, _, table in
            var index = 0
            while index < count && items[index].value.frameStart == start {
                let partial = (items + index).move().value
                table.fold(partial.key, creating: create) { combine(&$0, partial.accumulator) }
                index += 1
            }
            return index
        }
        partialHash = { $0.value.key.hashValue }
        writePartials = { table, start, destination in
            table.initialize(destination) { key, accumulator in
                Timestamped(FramePartial(frameStart: start, key: key, accumulator: accumulator), timestamp: start)
            }
        }
        writeResults = { table, start, end, early, destination in
            table.initialize(destination) { key, accumulator in
                Timestamped(
                    KeyedWindowResult(
                        start: start, end: end, key: key,
                        value: early ? export(accumulator) : finish(accumulator), isEarly: early),
                    timestamp: end)
            }
        }
    }
}
