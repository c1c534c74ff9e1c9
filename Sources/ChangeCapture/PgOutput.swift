/// PostgreSQL's logical replication protocol as the built-in `pgoutput` plugin writes it (protocol version 1),
/// decoded by hand: it is the connector's hot path (every captured row passes through it) and the format is a
/// short, fixed list of messages (PostgreSQL docs, "Logical Replication Message Formats").
///
/// Why pgoutput and not wal2json: it ships with every PostgreSQL since 10 (managed services too) and is
/// Debezium's default; it marks the key columns, marks unchanged TOASTed values instead of omitting them, and
/// announces every schema change with a Relation message before the first row that uses it. wal2json needs an
/// extension package and renders JSON the connector would parse again.
///
/// Every read is bounds-checked: a malformed message throws ``CaptureError`` naming the message and the byte
/// offset; nothing traps.
public enum PgOutputMessage: Sendable, Equatable {
    case begin(finalLSN: UInt64, commitMicroseconds: Int64, xid: UInt32)
    case commit(commitLSN: UInt64, endLSN: UInt64, commitMicroseconds: Int64)
    case relation(PgRelation)
    case insert(relation: UInt32, new: [PgValue])
    /// `old` is the replica identity (key columns, `oldIsKey`) or the whole old row (REPLICA IDENTITY FULL); nil
    /// when the key did not change and identity is the default.
    case update(relation: UInt32, old: [PgValue]?, oldIsKey: Bool, new: [PgValue])
    case delete(relation: UInt32, old: [PgValue], oldIsKey: Bool)
    case truncate(relations: [UInt32], cascade: Bool, restartIdentity: Bool)
    /// Origin, Type and logical decoding messages: carried for completeness, not used.
    case other(tag: UInt8)

    /// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
    static let postgresEpochMicroseconds: Int64 = 946_684_800_000_000

    /// Decodes one message (one `data` value of `pg_logical_slot_peek_binary_changes`).
    public static func decode(_ bytes: [UInt8]) throws(CaptureError) -> PgOutputMessage {
        var reader = ByteReader(bytes: bytes)
        let tag = try reader.byte()
        switch tag {
        case UInt8(ascii: "B"):
            let lsn = try reader.uint64()
            let time = try reader.int64()
            return .begin(finalLSN: lsn, commitMicroseconds: time, xid: try reader.uint32())
        case UInt8(ascii: "C"):
            _ = try reader.byte()
            let commit = try reader.uint64()
            let end = try reader.uint64()
            return .commit(commitLSN: commit, endLSN: end, commitMicroseconds: try reader.int64())
        case UInt8(ascii: "R"):
            let oid = try reader.uint32()
            let namespace = try reader.string()
            let name = try reader.string()
            let identity = try reader.byte()
            let count = try reader.int16()
            guard count >= 0 else { throw reader.error("negative column count \(count)") }
            var columns: [PgRelation.Column] = []
            columns.reserveCapacity(Int(count))
            for _ in 0..<count {
                let flags = try reader.byte()
                let columnName = try reader.string()
                let type = try reader.uint32()
                let modifier = try reader.int32()
                columns.append(
                    PgRelation.Column(name: columnName, typeOID: type, typeModifier: modifier, isKey: flags & 1 != 0))
            }
            return .relation(
                PgRelation(
                    oid: oid, schema: namespace.isEmpty ? "pg_catalog" : namespace, name: name,
                    replicaIdentity: identity, columns: columns))
        case UInt8(ascii: "I"):
            let relation = try reader.uint32()
            try reader.expect("N")
            return .insert(relation: relation, new: try reader.tuple())
        case UInt8(ascii: "U"):
            let relation = try reader.uint32()
            var kind = try reader.byte()
            var old: [PgValue]?
            let oldIsKey = kind == UInt8(ascii: "K")
            if kind == UInt8(ascii: "K") || kind == UInt8(ascii: "O") {
                old = try reader.tuple()
                kind = try reader.byte()
            }
            guard kind == UInt8(ascii: "N") else { throw reader.error("expected 'N' in an update, found \(kind)") }
            return .update(relation: relation, old: old, oldIsKey: oldIsKey, new: try reader.tuple())
        case UInt8(ascii: "D"):
            let relation = try reader.uint32()
            let kind = try reader.byte()
            guard kind == UInt8(ascii: "K") || kind == UInt8(ascii: "O") else {
                throw reader.error("expected 'K' or 'O' in a delete, found \(kind)")
            }
            return .delete(relation: relation, old: try reader.tuple(), oldIsKey: kind == UInt8(ascii: "K"))
        case UInt8(ascii: "T"):
            let count = try reader.int32()
            guard count >= 0 else { throw reader.error("negative relation count \(count)") }
            let options = try reader.byte()
            var relations: [UInt32] = []
            for _ in 0..<count { relations.append(try reader.uint32()) }
            return .truncate(relations: relations, cascade: options & 1 != 0, restartIdentity: options & 2 != 0)
        case UInt8(ascii: "O"), UInt8(ascii: "Y"), UInt8(ascii: "M"):
            return .other(tag: tag)
        default:
            throw reader.error("unknown pgoutput message type \(tag)")
        }
    }
}

/// A table as pgoutput describes it (a Relation message): sent before the first change to it in each decoding
/// session and again whenever its definition changed.
public struct PgRelation: Sendable, Equatable {
    public struct Column: Sendable, Equatable {
        public var name: String
        public var typeOID: UInt32
        public var typeModifier: Int32
        /// Part of the replica identity (the primary key, unless REPLICA IDENTITY says otherwise).
        public var isKey: Bool
    }
    public var oid: UInt32
    public var schema: String
    public var name: String
    /// `d` default (primary key), `n` nothing, `f` full, `i` index.
    public var replicaIdentity: UInt8
    public var columns: [Column]

    public var qualifiedName: String { schema + "." + name }
}

/// One column's value in a row.
public enum PgValue: Sendable, Equatable {
    case null
    /// A TOASTed value the change did not touch: PostgreSQL does not send it.
    case unchangedToast
    /// The value in PostgreSQL's text output format.
    case text([UInt8])
}

/// A bounds-checked big-endian reader over one message.
struct ByteReader {
    let bytes: [UInt8]
    var position = 0

    func error(_ message: String) -> CaptureError {
        let tag = bytes.first.map { String(UnicodeScalar($0)) } ?? "?"
        return CaptureError(.malformedMessage, "pgoutput message '\(tag)' at byte \(position): \(message)")
    }

    mutating func take(_ count: Int) throws(CaptureError) -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - position >= count else {
            throw error("needs \(count) bytes, \(bytes.count - position) left")
        }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func byte() throws(CaptureError) -> UInt8 { try take(1).first! }

    mutating func expect(_ character: Unicode.Scalar) throws(CaptureError) {
        let found = try byte()
        guard found == UInt8(ascii: character) else { throw error("expected '\(character)', found \(found)") }
    }

    mutating func uint64() throws(CaptureError) -> UInt64 {
        try take(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
    mutating func int64() throws(CaptureError) -> Int64 { Int64(bitPattern: try uint64()) }
    mutating func uint32() throws(CaptureError) -> UInt32 {
        try take(4).reduce(0) { $0 << 8 | UInt32($1) }
    }
    mutating func int32() throws(CaptureError) -> Int32 { Int32(bitPattern: try uint32()) }
    mutating func int16() throws(CaptureError) -> Int16 {
        let two = try take(2)
        return Int16(bitPattern: UInt16(two.first!) << 8 | UInt16(two.last!))
    }

    /// A NUL-terminated string.
    mutating func string() throws(CaptureError) -> String {
        guard let end = bytes[position...].firstIndex(of: 0) else { throw error("unterminated string") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    mutating func tuple() throws(CaptureError) -> [PgValue] {
        let count = try int16()
        guard count >= 0 else { throw error("negative column count \(count)") }
        var values: [PgValue] = []
        values.reserveCapacity(Int(count))
        for _ in 0..<count {
            switch try byte() {
            case UInt8(ascii: "n"): values.append(.null)
            case UInt8(ascii: "u"): values.append(.unchangedToast)
            case UInt8(ascii: "t"), UInt8(ascii: "b"):
                let length = try int32()
                values.append(.text(Array(try take(Int(length)))))
            case let kind: throw error("unknown column kind \(kind)")
            }
        }
        return values
    }
}
