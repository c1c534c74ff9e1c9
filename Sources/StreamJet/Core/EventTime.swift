/// The event times windows work with, and the longest durations a job may configure.
///
/// Window arithmetic (frame starts, window ends, a session's end, a watermark trailing the highest
/// timestamp) must never overflow Int64, and `Int64.min` must stay free as "no watermark yet". So:
/// - an event is windowed only when its frame starts in the range (sessions: its timestamp is in it); any
///   other event goes to the late-events output and is counted late — never dropped, never folded into a
///   wrapped-around window;
/// - a timestamp outside the range does not move the watermark;
/// - window sizes, steps, offsets, session gaps and allowed lags are at most ``maximumSpan``.
///
/// With timestamps in milliseconds the range is ±146 million years around 1970, and the longest span is
/// 18 million years, so real data never meets either bound; a producer's garbage timestamps (`Int64.min`,
/// `Int64.max`) are reported, not trusted.
@usableFromInline
enum EventTime {
    /// −2^62: the earliest event time windowed.
    @inlinable static var lowerBound: Int64 { -(1 << 62) }
    /// 2^62: the latest event time windowed.
    @inlinable static var upperBound: Int64 { 1 << 62 }
    /// 2^59: a sum of a timestamp in range and up to eight spans still fits in Int64.
    static var maximumSpan: Int64 { 1 << 59 }

    /// Whether `timestamp` lies in −2^62 ... 2^62.
    @inline(__always)
    static func contains(_ timestamp: Int64) -> Bool { timestamp >= lowerBound && timestamp <= upperBound }
}
