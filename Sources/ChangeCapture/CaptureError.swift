/// Why change capture stopped or refused to start. The message names what is wrong and where (the table, the
/// slot, the byte of a message); a connection string's password never appears in it.
public struct CaptureError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// `--url` or another option cannot be used as given.
        case invalidConfiguration
        /// A captured table does not exist, has no primary key (and no REPLICA IDENTITY FULL), or is not a table.
        case unsupportedTable
        /// The replication slot was dropped while the log holds changes read through it: what PostgreSQL
        /// removed since cannot be read again.
        case slotLost
        /// PostgreSQL is not set up for logical decoding (`wal_level` below `logical`, no free slot, …).
        case serverNotReady
        /// A pgoutput message did not parse.
        case malformedMessage
        /// A row is larger than the topic accepts.
        case recordTooLarge
        /// PostgreSQL reported an error for a statement (permissions, a missing object, …), or the log refused.
        case database
        /// The connection broke or the server is restarting: capture reconnects and carries on.
        case connectionLost
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
