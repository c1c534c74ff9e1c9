/// Merges the watermarks of several input queues into one, exactly as Jet's `WatermarkCoalescer` does.
///
/// Invariants (tested in `WatermarkTests`):
/// - The output is monotone: a watermark is emitted only when it exceeds the last one emitted.
/// - It is the minimum over the queues that are neither idle nor done.
/// - When every queue that is not done is idle, the highest watermark seen goes out first (if it is new),
///   then a single `.idle`; an event or watermark from an idle queue makes it active again.
/// - A finished queue no longer holds the minimum back; once every queue has finished, the highest
///   watermark seen goes out, so the output does not depend on the order in which inputs finished.
struct WatermarkCoalescer {
    enum Output: Equatable {
        case watermark(Int64)
        case idle
    }

    private var watermarks: [Int64]
    private var idle: [Bool]
    private var done: [Bool]
    private(set) var lastEmitted = Int64.min
    private var topObserved = Int64.min
    private var idleEmitted = false

    init(queueCount: Int) {
        watermarks = Array(repeating: .min, count: queueCount)
        idle = Array(repeating: false, count: queueCount)
        done = Array(repeating: false, count: queueCount)
    }

    func isIdle(_ queue: Int) -> Bool { idle[queue] }

    /// An item arrived on `queue`: an idle queue becomes active again (keeping its old watermark).
    mutating func observeEvent(_ queue: Int) {
        if idle[queue] {
            idle[queue] = false
            idleEmitted = false
        }
    }

    mutating func observeWatermark(_ queue: Int, _ watermark: Int64) -> [Output] {
        idle[queue] = false
        idleEmitted = false
        watermarks[queue] = max(watermarks[queue], watermark)
        topObserved = max(topObserved, watermark)
        return check()
    }

    mutating func observeIdle(_ queue: Int) -> [Output] {
        idle[queue] = true
        return check()
    }

    mutating func queueDone(_ queue: Int) -> [Output] {
        done[queue] = true
        return check()
    }

    private mutating func check() -> [Output] {
        var minimum = Int64.max
        var anyActive = false
        var anyIdle = false
        for index in watermarks.indices where !done[index] {
            if idle[index] {
                anyIdle = true
            } else {
                anyActive = true
                minimum = min(minimum, watermarks[index])
            }
        }
        if anyActive {
            guard minimum > lastEmitted else { return [] }
            lastEmitted = minimum
            return [.watermark(minimum)]
        }
        // Every queue is idle or done: forward the highest watermark seen (no input can undercut it now),
        // then, if some are merely idle, a single idle marker.
        var output: [Output] = []
        if topObserved > lastEmitted {
            lastEmitted = topObserved
            output.append(.watermark(topObserved))
        }
        if anyIdle && !idleEmitted {
            idleEmitted = true
            output.append(.idle)
        }
        return output
    }
}

/// How a source derives event time and watermarks: the Jet `limitingLag` policy with an idle timeout.
public struct EventTimePolicy: Sendable {
    /// How far behind the highest timestamp seen the watermark trails, in milliseconds: events up to this
    /// much out of order are not late.
    public var allowedLag: Int64
    /// A partition with no events for this long (wall-clock milliseconds) stops holding the watermark back.
    public var idleTimeout: Int64

    /// - Parameters:
    ///   - allowedLag: 0 to 2^59 milliseconds.
    ///   - idleTimeout: Wall-clock milliseconds.
    public init(allowedLag: Int64, idleTimeout: Int64 = 60_000) {
        precondition(
            allowedLag >= 0 && allowedLag <= EventTime.maximumSpan, "allowedLag must be 0...2^59 ms, got \(allowedLag)")
        self.allowedLag = allowedLag
        self.idleTimeout = idleTimeout
    }
}

/// The watermark state of one source processor: one watermark per source partition, the minimum over the
/// partitions that are not idle, and idle detection by wall-clock time.
///
/// Invariants (tested in `WatermarkTests`):
/// - Each partition's watermark is `max(previous, topTimestamp − allowedLag)`: monotone.
/// - The emitted watermark is monotone and is the minimum over partitions that are neither idle nor
///   finished; a partition that has never had an event counts as idle once `idleTimeout` has passed since
///   the source started, so an empty partition cannot stall the job.
/// - When every remaining partition is idle, the highest partition watermark goes out first, then
///   `.idle` once — so windows close even when the input goes quiet. When every partition has finished,
///   the highest watermark goes out (and no idle marker: `done` follows).
struct PartitionWatermarks {
    private var policy: EventTimePolicy
    private var top: [Int64]
    private var watermark: [Int64]
    private var lastEvent: [Int64]
    private var finished: [Bool]
    private(set) var lastEmitted = Int64.min
    private var idleEmitted = false

    init(partitions: Int, policy: EventTimePolicy, now: Int64) {
        self.policy = policy
        top = Array(repeating: .min, count: partitions)
        watermark = Array(repeating: .min, count: partitions)
        lastEvent = Array(repeating: now, count: partitions)
        finished = Array(repeating: false, count: partitions)
    }

    /// Records an event's timestamp. Returns true when the event is behind the emitted watermark (late).
    /// A timestamp outside `EventTime`'s range does not move the watermark.
    @inline(__always)
    mutating func observe(partition: Int, timestamp: Int64, now: Int64) -> Bool {
        if timestamp > top[partition] && EventTime.contains(timestamp) {
            top[partition] = timestamp
            let candidate = timestamp &- policy.allowedLag
            if candidate > watermark[partition] { watermark[partition] = candidate }
        }
        lastEvent[partition] = now
        return timestamp < lastEmitted
    }

    /// The partition has no more events (a bounded source reached its end).
    mutating func finish(partition: Int) { finished[partition] = true }

    /// The watermark or idle marker to emit now, if any.
    mutating func poll(now: Int64) -> WatermarkCoalescer.Output? {
        var minimum = Int64.max
        var highest = Int64.min
        var anyActive = false
        for index in watermark.indices {
            highest = max(highest, watermark[index])
            if !finished[index] && now - lastEvent[index] < policy.idleTimeout {
                anyActive = true
                minimum = min(minimum, watermark[index])
            }
        }
        if anyActive {
            idleEmitted = false
            guard minimum > lastEmitted, minimum != .min else { return nil }
            lastEmitted = minimum
            return .watermark(minimum)
        }
        if highest > lastEmitted {
            lastEmitted = highest
            return .watermark(highest)
        }
        guard !idleEmitted, finished.contains(false) else { return nil }
        idleEmitted = true
        return .idle
    }
}
