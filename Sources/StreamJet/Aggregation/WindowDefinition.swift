/// Which event-time windows an aggregation uses. Windows are half-open, `[start, end)`, aligned to the
/// epoch plus ``offset``.
///
/// - Tumbling: consecutive windows of `size`.
/// - Sliding: windows of `size` every `step` (`size` a multiple of `step`); each event is accumulated once,
///   into its frame of length `step`, and each window is the combine of `size / step` frames.
/// - Session: a key's events closer than `gap` form one window, `[first event, last event + gap)`.
public struct WindowDefinition: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case sliding(size: Int64, step: Int64)
        case session(gap: Int64)
    }

    let kind: Kind
    /// Shifts window boundaries away from multiples of the size (milliseconds).
    public private(set) var offset: Int64 = 0
    /// When set, open windows also emit partial results (isEarly = true) this often (wall-clock ms).
    public private(set) var earlyResultsPeriod: Int64?

    /// Consecutive windows of `size` milliseconds (1 ms to 2^59 ms).
    public static func tumbling(_ size: Int64) -> Self {
        precondition(size > 0 && size <= EventTime.maximumSpan, "window size must be 1...2^59 ms")
        return WindowDefinition(kind: .sliding(size: size, step: size))
    }

    /// Windows of `size` milliseconds starting every `step` milliseconds (`size` at most 2^59 ms).
    public static func sliding(_ size: Int64, step: Int64) -> Self {
        precondition(
            step > 0 && size > 0 && size % step == 0, "sliding window size must be a positive multiple of step")
        precondition(size <= EventTime.maximumSpan, "window size must be at most 2^59 ms")
        return WindowDefinition(kind: .sliding(size: size, step: step))
    }

    /// Session windows closing after `gap` milliseconds (1 ms to 2^59 ms) without an event for the key.
    public static func session(gap: Int64) -> Self {
        precondition(gap > 0 && gap <= EventTime.maximumSpan, "session gap must be 1...2^59 ms")
        return WindowDefinition(kind: .session(gap: gap))
    }

    /// Emit partial results of open windows every `period` milliseconds of wall-clock time.
    public func setEarlyResultsPeriod(_ period: Int64) -> Self {
        precondition(period > 0, "early results period must be positive")
        var copy = self
        copy.earlyResultsPeriod = period
        return copy
    }

    /// Shift the window grid of tumbling and sliding windows by `offset` milliseconds, `0 ≤ offset < step`
    /// (as Jet requires: any other offset names the same grid as one in that range).
    public func setOffset(_ offset: Int64) -> Self {
        guard case .sliding(_, let step) = kind else { preconditionFailure("session windows have no offset") }
        precondition(offset >= 0 && offset < step, "window offset must be in 0..<step (\(step)), got \(offset)")
        var copy = self
        copy.offset = offset
        return copy
    }
}

/// A frame's partial aggregate travelling from the accumulate stage to the combine stage.
@usableFromInline
struct FramePartial<Key, Accumulator> {
    @usableFromInline var frameStart: Int64
    @usableFromInline var key: Key
    @usableFromInline var accumulator: Accumulator

    @inlinable
    init(frameStart: Int64, key: Key, accumulator: Accumulator) {
        self.frameStart = frameStart
        self.key = key
        self.accumulator = accumulator
    }
}

/// Encodes a key or accumulator for a snapshot; a type that is not `Codable` is a clear error.
func snapshotEncode<T>(_ value: T) throws -> [UInt8] {
    guard let encodable = value as? any Encodable else {
        throw StreamJetError(
            .snapshot,
            "\(T.self) is not Codable; keys, accumulators and states must be Codable for a job with snapshots")
    }
    return try encodeJSON(encodable)
}

/// Decodes what ``snapshotEncode(_:)`` wrote.
func snapshotDecode<T>(_ bytes: [UInt8], as type: T.Type) throws -> T {
    guard let decodable = T.self as? any Decodable.Type else {
        throw StreamJetError(.snapshot, "\(T.self) is not Codable and cannot be restored from a snapshot")
    }
    return try decodeJSON(decodable, bytes) as! T
}
