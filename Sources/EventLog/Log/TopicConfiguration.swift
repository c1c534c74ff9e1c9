/// What a log does with old segments.
public struct CleanupPolicy: OptionSet, Sendable, Hashable, Codable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Delete whole segments past the retention time or size.
    public static let delete = CleanupPolicy(rawValue: 1)
    /// Keep the latest record per key (Kafka's log compaction).
    public static let compact = CleanupPolicy(rawValue: 2)
}

/// When appended data is forced to stable storage, and so what survives which failure.
///
/// | policy | survives a process crash (`kill -9`) | survives power loss / kernel panic |
/// |---|---|---|
/// | ``none`` | every acknowledged append | only what the OS wrote back by itself; the tail may be lost |
/// | ``interval(milliseconds:)`` | every acknowledged append | appends acknowledged more than the interval ago |
/// | ``sync`` | every acknowledged append | every acknowledged append |
///
/// With ``sync`` an append returns only after `fdatasync` covered it. Concurrent appenders to a partition
/// share one `fdatasync` (group commit), so durable throughput is one sync per *group*, not per record.
public struct DurabilityPolicy: Sendable, Hashable, Codable, CustomStringConvertible {
    enum Kind: String, Codable { case none, interval, sync }
    let kind: Kind
    let intervalMilliseconds: Int64

    /// Never fsync on the append path (segments are synced when they roll only under the other policies,
    /// and everything on a clean close).
    public static let none = DurabilityPolicy(kind: .none, intervalMilliseconds: 0)
    /// fsync before acknowledging, with group commit.
    public static let sync = DurabilityPolicy(kind: .sync, intervalMilliseconds: 0)
    /// fsync dirty partitions in the background at least every `milliseconds`.
    public static func interval(milliseconds: Int64) -> DurabilityPolicy {
        DurabilityPolicy(kind: .interval, intervalMilliseconds: max(1, milliseconds))
    }

    public var description: String {
        switch kind {
        case .none: "none"
        case .sync: "sync"
        case .interval: "interval:\(intervalMilliseconds)ms"
        }
    }

    /// Parses `none`, `sync` or `interval:MS`.
    public init?(_ text: String) {
        switch text.lowercased() {
        case "none": self = .none
        case "sync", "always": self = .sync
        default:
            let parts = text.lowercased().split(separator: ":")
            guard parts.count == 2, parts[0] == "interval",
                let ms = Int64(parts[1].hasSuffix("ms") ? parts[1].dropLast(2) : parts[1]), ms > 0
            else { return nil }
            self = .interval(milliseconds: ms)
        }
    }

    init(kind: Kind, intervalMilliseconds: Int64) {
        self.kind = kind
        self.intervalMilliseconds = intervalMilliseconds
    }
}

/// Per-topic settings, named and defaulted as Kafka's topic configs.
public struct TopicConfiguration: Sendable, Hashable, Codable {
    /// Number of partitions (fixed once created, as in Kafka it can only grow; growing is not supported yet).
    public var partitions: Int = 1
    /// `cleanup.policy`.
    public var cleanupPolicy: CleanupPolicy = .delete
    /// `retention.ms`; `nil` keeps forever. Default 7 days.
    public var retentionMilliseconds: Int64? = 7 * 24 * 3_600_000
    /// `retention.bytes` per partition; `nil` is unlimited.
    public var retentionBytes: Int64? = nil
    /// `segment.bytes`: roll the active segment when it would grow past this. Default 1 GiB.
    public var segmentBytes: Int64 = 1 << 30
    /// `segment.ms`: roll the active segment when it is older than this. Default 7 days.
    public var segmentMilliseconds: Int64 = 7 * 24 * 3_600_000
    /// `max.message.bytes`: largest batch accepted. Default 1 MiB + 12.
    public var maxRecordBytes: Int = 1_048_588
    /// `compression.type` for batches built by the log's convenience appends.
    public var compression: Compression = .none
    /// When appends are synced to disk.
    public var durability: DurabilityPolicy = .none
    /// `delete.retention.ms`: how long tombstones survive compaction. Default 24 hours.
    public var deleteRetentionMilliseconds: Int64 = 24 * 3_600_000
    /// `min.cleanable.dirty.ratio`.
    public var minCleanableDirtyRatio: Double = 0.5
    /// `index.interval.bytes`.
    public var indexIntervalBytes: Int = 4096

    /// The defaults, with `partitions` partitions.
    public init(partitions: Int = 1) { self.partitions = partitions }

    func validate(topic: String) throws(EventLogError) {
        func bad(_ what: String) -> EventLogError {
            EventLogError(.invalidConfiguration, "\(what) for topic '\(topic)'", topic: topic)
        }
        guard partitions >= 1 && partitions <= 10_000 else {
            throw bad("partitions must be 1...10000, got \(partitions)")
        }
        guard !cleanupPolicy.isEmpty else { throw bad("cleanup policy must be delete, compact or both") }
        guard segmentBytes >= 1024 && segmentBytes <= Int64(Int32.max) else {
            throw bad("segmentBytes must be 1024...\(Int32.max), got \(segmentBytes)")
        }
        guard segmentMilliseconds >= 1 else { throw bad("segmentMilliseconds must be positive") }
        guard maxRecordBytes >= RecordBatchHeader.size + 16 && maxRecordBytes <= 1 << 30 else {
            throw bad("maxRecordBytes must be 77...\(1 << 30), got \(maxRecordBytes)")
        }
        if let retentionMilliseconds, retentionMilliseconds < 0 { throw bad("retentionMilliseconds must be ≥ 0") }
        if let retentionBytes, retentionBytes < 0 { throw bad("retentionBytes must be ≥ 0") }
        guard deleteRetentionMilliseconds >= 0 else { throw bad("deleteRetentionMilliseconds must be ≥ 0") }
        guard (0...1).contains(minCleanableDirtyRatio) else { throw bad("minCleanableDirtyRatio must be 0...1") }
        guard indexIntervalBytes >= 1 else { throw bad("indexIntervalBytes must be positive") }
    }
}

extension Compression: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Compression(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "bad compression '\(text)'"))
        }
        self = value
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Kafka's topic naming rules: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`. A name that passes
/// cannot escape the log directory.
public enum TopicName {
    /// Throws ``EventLogError/Code/invalidTopicName`` explaining what is wrong with `name`.
    public static func validate(_ name: String) throws(EventLogError) {
        func bad(_ why: String) -> EventLogError {
            EventLogError(.invalidTopicName, "invalid topic name '\(name.prefix(300))': \(why)")
        }
        if name.isEmpty { throw bad("it is empty") }
        if name == "." || name == ".." { throw bad("'.' and '..' are not allowed") }
        if name.utf8.count > 249 { throw bad("it is \(name.utf8.count) characters long; at most 249 are allowed") }
        for (index, byte) in name.utf8.enumerated() {
            let ok =
                (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2e || byte == 0x5f || byte == 0x2d
            if !ok {
                throw bad("character \(index + 1) is not one of a-z, A-Z, 0-9, '.', '_', '-'")
            }
        }
    }
}
