import FoundationEssentials

/// Collects the state a processor saves for one snapshot as key/value entries.
///
/// Keys matter for restore: every instance of a vertex is offered every entry of that vertex and keeps
/// those whose key it owns (see ``ProcessorContext/owns(_:)``), so a job can restore with the same keys
/// routed the same way.
public final class SnapshotWriter {
    fileprivate(set) var entries: [SnapshotEntry] = []
    let snapshotID: Int64

    init(snapshotID: Int64) { self.snapshotID = snapshotID }

    /// Saves one entry.
    public func save<Key: Encodable, Value: Encodable>(key: Key, value: Value) throws {
        entries.append(SnapshotEntry(key: try encodeJSON(key), value: try encodeJSON(value)))
    }
}

/// One saved key/value pair of a processor's state.
public struct SnapshotEntry: Sendable, Hashable, Codable {
    /// The encoded key.
    public var key: [UInt8]
    /// The encoded value.
    public var value: [UInt8]

    /// Decodes the key.
    public func key<Key: Decodable>(as type: Key.Type) throws -> Key {
        try decodeJSON(Key.self, key)
    }

    /// Decodes the value.
    public func value<Value: Decodable>(as type: Value.Type) throws -> Value {
        try decodeJSON(Value.self, value)
    }
}

func encodeJSON<T: Encodable>(_ value: T) throws -> [UInt8] { Array(try JSONEncoder().encode(value)) }

func decodeJSON<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(bytes))
}

extension SnapshotWriter {
    /// Saves an entry already encoded.
    func saveRaw(key: [UInt8], value: [UInt8]) { entries.append(SnapshotEntry(key: key, value: value)) }
}
