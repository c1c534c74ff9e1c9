import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where every module reads "now" from — the log (retention, segment age, default record timestamps),
/// StreamJet (idle timeouts, early results, snapshot intervals) and LiveViews (SQL `now()`, snapshot
/// intervals) — so tests and simulations can drive time deterministically with a ``ManualClock``.
public protocol WallClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func milliseconds() -> Int64
}

/// The system's real-time clock (`CLOCK_REALTIME`).
public struct SystemClock: WallClock {
    /// Creates the wall clock.
    public init() {}
    public func milliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

/// A clock that moves only when told to.
public final class ManualClock: WallClock {
    private let now: Atomic<Int64>
    /// Creates a clock reading `milliseconds`.
    public init(milliseconds: Int64 = 1_700_000_000_000) { now = Atomic(milliseconds) }
    public func milliseconds() -> Int64 { now.load(ordering: .relaxed) }
    /// Moves the clock forward by `milliseconds`.
    public func advance(by milliseconds: Int64) { now.add(milliseconds, ordering: .relaxed) }
    /// Sets the clock.
    public func set(_ milliseconds: Int64) { now.store(milliseconds, ordering: .relaxed) }
}
