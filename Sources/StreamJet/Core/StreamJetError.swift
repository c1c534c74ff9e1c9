/// An error from StreamJet: a stable ``Code``, a message, and where it happened (the vertex that failed).
public struct StreamJetError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; an extensible set compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The DAG breaks one of its invariants (see ``DAG``).
        public static let invalidDAG = Code("invalidDAG")
        /// A processor threw; ``StreamJetError/vertex`` names it and ``StreamJetError/underlying`` has the
        /// error.
        public static let processorFailed = Code("processorFailed")
        /// The job was cancelled.
        public static let cancelled = Code("cancelled")
        /// A snapshot could not be written or read.
        public static let snapshot = Code("snapshot")
        /// A pipeline is used in a way it does not support.
        public static let invalidPipeline = Code("invalidPipeline")
        /// An input value could not be decoded.
        public static let decoding = Code("decoding")
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong, in words.
    public var message: String
    /// The vertex whose processor failed, when one did.
    public var vertex: String?
    /// The error the processor threw, when there is one.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, vertex: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.vertex = vertex
        self.underlying = underlying
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let vertex { text = "\(code) in vertex '\(vertex)': \(message)" }
        return text
    }
}
