/// The items one read of a source produced, stamped with event time, waiting to go downstream in one move.
///
/// Readers append with ``append(_:lane:native:)``, which is inlinable: the public source factories
/// (``Source/topic(_:_:partitions:from:bounded:decode:)``, ``Source/collection(_:)``) build the closure that
/// decodes and appends where the item type is concrete, so the per-item work runs specialized. The engine's
/// generic code then touches the batch only once per read: it folds the per-lane summaries into the
/// watermarks and moves the items to the outbox in bulk. Written by hand because it is the hot path of
/// every source.
///
/// Invariants: `items[0..<count]` are initialized and the rest of `capacity` is not; for each lane,
/// `laneEvents[lane]` counts the items appended since ``resetLanes()`` and `laneTop[lane]` is the highest
/// of their timestamps at or below `EventTime.upperBound` (`Int64.min` when none). `laneWatermark[lane]`
/// outlives reads: the highest in-range timestamp the lane ever had minus the allowed lag (`Int64.min`
/// before the first), and each item carries its value from just before the item (Jet's per-event
/// watermark, kept per partition so lateness cannot depend on parallelism or read batching).
@usableFromInline
final class SourceBatch<Item> {
    // `@exclusivity(unchecked)` here: a batch belongs to one source tasklet's thread and no access overlaps a call
    // that could reach the same property; the runtime checks cost more than the per-item append itself.
    @usableFromInline @exclusivity(unchecked) var items: UnsafeMutablePointer<Timestamped<Item>>
    @usableFromInline @exclusivity(unchecked) var count = 0
    @usableFromInline @exclusivity(unchecked) var capacity: Int
    @usableFromInline let policy: TimestampPolicy<Item>
    /// The wall-clock time of this read (ingestion timestamps).
    @usableFromInline @exclusivity(unchecked) var now: Int64 = 0
    @usableFromInline let laneTop: UnsafeMutablePointer<Int64>
    @usableFromInline let laneEvents: UnsafeMutablePointer<Int>
    @usableFromInline let laneWatermark: UnsafeMutablePointer<Int64>
    /// The event-time policy's allowed lag (0 without event time).
    @usableFromInline let allowedLag: Int64
    let lanes: Int

    init(policy: TimestampPolicy<Item>, allowedLag: Int64, lanes: Int, capacity: Int) {
        self.policy = policy
        self.allowedLag = allowedLag
        self.lanes = lanes
        self.capacity = max(1, capacity)
        items = .allocate(capacity: self.capacity)
        laneTop = .allocate(capacity: lanes)
        laneEvents = .allocate(capacity: lanes)
        laneWatermark = .allocate(capacity: lanes)
        laneWatermark.initialize(repeating: .min, count: lanes)
        resetLanes()
    }

    deinit {
        items.deinitialize(count: count)
        items.deallocate()
        laneTop.deallocate()
        laneEvents.deallocate()
        laneWatermark.deallocate()
    }

    /// Stamps `item` by the source's event-time policy and appends it. `native` is the item's own timestamp
    /// (a record's), used by ``TimestampPolicy/native``.
    @inlinable
    func append(_ item: Item, lane: Int, native: Int64) {
        let timestamp: Int64
        switch policy {
        case .none: timestamp = .min
        case .native: timestamp = native
        case .ingestion: timestamp = now
        case .field(let extract): timestamp = extract(item)
        }
        if count == capacity { grow() }
        let watermark = laneWatermark[lane]
        (items + count).initialize(to: Timestamped(item, timestamp: timestamp, sourceWatermark: watermark))
        count += 1
        // Beyond EventTime's range a timestamp must not hide the highest one in range (it moves no watermark).
        if timestamp > laneTop[lane] && timestamp <= EventTime.upperBound { laneTop[lane] = timestamp }
        if timestamp >= EventTime.lowerBound && timestamp <= EventTime.upperBound && timestamp &- allowedLag > watermark
        {
            laneWatermark[lane] = timestamp &- allowedLag
        }
        laneEvents[lane] += 1
    }

    @usableFromInline
    func grow() {
        let grown = capacity * 2
        let fresh = UnsafeMutablePointer<Timestamped<Item>>.allocate(capacity: grown)
        fresh.moveInitialize(from: items, count: count)
        items.deallocate()
        items = fresh
        capacity = grown
    }

    /// Starts a new read's lane summaries.
    func resetLanes() {
        laneTop.update(repeating: .min, count: lanes)
        laneEvents.update(repeating: 0, count: lanes)
    }
}

/// How a source assigns event time.
@usableFromInline
enum TimestampPolicy<Item> {
    case none
    case native
    case ingestion
    case field((Item) -> Int64)
}
