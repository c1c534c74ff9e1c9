/// How the records of a batch are compressed on disk (attributes bits 0–2 of RecordBatch v2).
public enum Compression: Sendable, Hashable, CustomStringConvertible {
    /// Stored as is.
    case none
    /// LZ4 frame with independent blocks, as Kafka's readers require.
    case lz4
    /// A zstd frame at the given level (Kafka's default is 3; 1 is faster *and* smaller on order-event JSON).
    case zstd(level: Int32)

    /// zstd at level 3, Kafka's default.
    public static let zstd = Compression.zstd(level: 3)

    var attributeBits: Int16 {
        switch self {
        case .none: 0
        case .lz4: 3
        case .zstd: 4
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .lz4: "lz4"
        case .zstd(let level): level == 3 ? "zstd" : "zstd:\(level)"
        }
    }

    /// Parses `none`, `lz4`, `zstd` or `zstd:LEVEL`.
    public init?(_ text: String) {
        switch text.lowercased() {
        case "none", "uncompressed": self = .none
        case "lz4": self = .lz4
        case "zstd": self = .zstd
        default:
            let parts = text.lowercased().split(separator: ":")
            guard parts.count == 2, parts[0] == "zstd", let level = Int32(parts[1]), (-7...22).contains(level)
            else { return nil }
            self = .zstd(level: level)
        }
    }
}
