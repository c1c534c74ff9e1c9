/// An error from a live table or a query: a stable ``Code``, a message naming what is wrong and where
/// (table, column, topic/partition/offset, or line and column of a query).
public struct ViewError: Error, Sendable, CustomStringConvertible, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A table definition is inconsistent.
        public static let invalidConfig = Code("invalidConfig")
        /// No table has that name.
        public static let noSuchTable = Code("noSuchTable")
        /// A table with that name exists already.
        public static let tableExists = Code("tableExists")
        /// A record could not be turned into a row.
        public static let badRecord = Code("badRecord")
        /// A query does not parse; ``ViewError/line`` and ``ViewError/column`` point at the spot.
        public static let syntax = Code("syntax")
        /// A query parses but cannot run (unknown column, wrong argument types, bad coordinates).
        public static let query = Code("query")
        /// A table snapshot could not be written or read.
        public static let snapshot = Code("snapshot")
    }

    public var code: Code
    public var message: String
    /// For query errors: the 1-based line and column.
    public var line: Int?
    public var column: Int?

    public init(_ code: Code, _ message: String, line: Int? = nil, column: Int? = nil) {
        self.code = code
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String {
        if let line, let column { return "\(code) at line \(line), column \(column): \(message)" }
        return "\(code): \(message)"
    }
}
