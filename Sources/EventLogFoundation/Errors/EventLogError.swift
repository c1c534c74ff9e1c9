public import SystemPackage

/// An error thrown by the event log, with a stable ``Code``, a human-readable message, the underlying
/// system error where there is one, and where it happened.
///
/// Codes are an extensible struct rather than an enum so new failure kinds can be added without breaking
/// callers that switch over them: compare with `==` against the static members.
///
/// ```swift
/// do { try log.createTopic("orders") } catch let error as EventLogError where error.code == .topicAlreadyExists { … }
/// ```
public struct EventLogError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A system call failed; ``EventLogError/errno`` says why.
        public static let io = Code("io")
        /// Another process (or another `Log` in this process) holds the directory's writer lock.
        public static let directoryLocked = Code("directoryLocked")
        /// The directory does not exist or is not an event log.
        public static let directoryNotFound = Code("directoryNotFound")
        /// A topic name breaks Kafka's naming rules.
        public static let invalidTopicName = Code("invalidTopicName")
        /// A configuration value is out of range.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// The topic does not exist.
        public static let unknownTopic = Code("unknownTopic")
        /// A topic with that name already exists.
        public static let topicAlreadyExists = Code("topicAlreadyExists")
        /// The partition number is outside the topic's partitions.
        public static let unknownPartition = Code("unknownPartition")
        /// A batch or record is larger than the topic's `maxRecordBytes`.
        public static let recordTooLarge = Code("recordTooLarge")
        /// A compacted topic received a record without a key.
        public static let keyRequired = Code("keyRequired")
        /// Bytes on disk failed validation (CRC, magic, length or offset order).
        public static let corruptData = Code("corruptData")
        /// A read asked for an offset outside `[logStartOffset, logEndOffset]`.
        public static let offsetOutOfRange = Code("offsetOutOfRange")
        /// An idempotent producer sent a sequence number that does not follow its last one.
        public static let outOfOrderSequence = Code("outOfOrderSequence")
        /// An idempotent producer with an older epoch than the partition has seen.
        public static let producerFenced = Code("producerFenced")
        /// A compressed payload could not be compressed or decompressed.
        public static let compression = Code("compression")
        /// The operation needs a writable log but the log was opened read-only.
        public static let readOnly = Code("readOnly")
        /// The log has been closed.
        public static let closed = Code("closed")
        /// An event-stream append found the stream at another version than expected.
        public static let wrongExpectedVersion = Code("wrongExpectedVersion")
        /// A value could not be encoded or decoded by a typed topic.
        public static let serialization = Code("serialization")
        /// Producer input (a line for `eventlog produce`) could not be parsed.
        public static let invalidInput = Code("invalidInput")
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence that says what went wrong, for people.
    public var message: String
    /// The system error behind an ``Code/io`` failure.
    public var errno: Errno?
    /// The file involved, if any.
    public var path: String?
    /// The topic involved, if any.
    public var topic: String?
    /// The partition involved, if any.
    public var partition: Int?
    /// The record offset involved, if any.
    public var offset: Int64?
    /// The byte position within ``path``, if any.
    public var filePosition: Int64?

    /// Creates an error; the library builds these, tests and adapters may too.
    public init(
        _ code: Code, _ message: String, errno: Errno? = nil, path: String? = nil, topic: String? = nil,
        partition: Int? = nil, offset: Int64? = nil, filePosition: Int64? = nil
    ) {
        self.code = code
        self.message = message
        self.errno = errno
        self.path = path
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.filePosition = filePosition
    }

    public var description: String {
        var text = "\(code): \(message)"
        var context: [String] = []
        if let topic { context.append("topic \(topic)") }
        if let partition { context.append("partition \(partition)") }
        if let offset { context.append("offset \(offset)") }
        if let path { context.append("file \(path)") }
        if let filePosition { context.append("position \(filePosition)") }
        if let errno { context.append("errno \(errno.rawValue) (\(errno))") }
        if !context.isEmpty { text += " [" + context.joined(separator: ", ") + "]" }
        return text
    }

    package func with(topic: String, partition: Int) -> EventLogError {
        var copy = self
        if copy.topic == nil { copy.topic = topic }
        if copy.partition == nil { copy.partition = partition }
        return copy
    }
}
