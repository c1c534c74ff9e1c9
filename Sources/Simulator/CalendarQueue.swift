import HeapModule

/// The world's queue of timed actions: a calendar (bucket) queue, popping actions in exactly the order of
/// their keys, as a binary heap would, at a fraction of the cost.
///
/// Time is cut into buckets of 64 ms. A ring of 16,384 buckets covers the next 17 minutes, where nearly
/// every action lands (driving steps and dispatch retries are seconds ahead); an action further out
/// waits in a heap until its bucket comes up. Only the bucket being drained is sorted, once, when it is
/// opened. A heap of 100,000 drivers' actions cost a dozen cache misses per operation and was the
/// simulator's busiest function.
///
/// Invariants (`b(x)` is the bucket of key `x`, `c` the current bucket):
/// - `current` holds every queued action with `b ≤ c`, sorted by key in descending order (the least is
///   last, so popping is `removeLast`).
/// - Ring slot `b % ringSize` holds the actions of bucket `b` for `c < b < c + ringSize`, unsorted.
/// - `far` holds the remaining actions; each has `b > c`, and those with `b ≤ c` are moved into `current`
///   when bucket `c` is opened.
///
/// Keys are unique (they end in a sequence number), so the order is total and matches the heap's.
struct CalendarQueue {
    typealias Element = World.Scheduled

    /// log₂ of a bucket's width in milliseconds; the key holds the time in its bits 24 and up.
    private static let bucketShift: UInt64 = 24 + 6
    private static let ringSize = 16_384

    private var ring: [[Element]] = Array(repeating: [], count: ringSize)
    private var ringCount = 0
    private var far = Heap<Element>()
    private var current: [Element] = []
    private var currentBucket: UInt64 = 0
    private(set) var count = 0

    @inline(__always)
    private static func bucket(_ element: Element) -> UInt64 { element.key >> bucketShift }

    mutating func insert(_ element: Element) {
        count += 1
        let b = Self.bucket(element)
        if b <= currentBucket {
            // Into the bucket being drained, in order: binary search in the descending array.
            var low = 0, high = current.count
            while low < high {
                let middle = (low + high) / 2
                if current[middle].key > element.key { low = middle + 1 } else { high = middle }
            }
            current.insert(element, at: low)
        } else if b - currentBucket < UInt64(Self.ringSize) {
            ring[Int(b % UInt64(Self.ringSize))].append(element)
            ringCount += 1
        } else {
            far.insert(element)
        }
    }

    /// The least queued action (opening the next non-empty bucket when the current one is drained).
    mutating func min() -> Element? {
        if current.isEmpty { openNextBucket() }
        return current.last
    }

    /// Removes and returns the least queued action.
    mutating func popMin() -> Element? {
        if current.isEmpty { openNextBucket() }
        guard let element = current.popLast() else { return nil }
        count -= 1
        return element
    }

    private mutating func openNextBucket() {
        guard count > 0 else { return }
        if ringCount == 0 {
            // Nothing in the window: jump to the first far action's bucket.
            currentBucket = Swift.max(currentBucket + 1, Self.bucket(far.min!))
        } else {
            repeat {
                currentBucket += 1
            } while ring[Int(currentBucket % UInt64(Self.ringSize))].isEmpty
                && (far.min.map { Self.bucket($0) > currentBucket } ?? true)
        }
        // `current` keeps its storage; the slot gives its up, so the ring holds no more memory than the
        // actions queued in it (swapping the arrays instead left every slot with a drained bucket's capacity).
        let slot = Int(currentBucket % UInt64(Self.ringSize))
        current.append(contentsOf: ring[slot])
        ringCount -= ring[slot].count
        ring[slot] = []
        while let first = far.min, Self.bucket(first) <= currentBucket { current.append(far.removeMin()) }
        current.sort { $0.key > $1.key }
    }
}
