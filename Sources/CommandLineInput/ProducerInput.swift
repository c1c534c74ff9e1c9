public import EventLog
import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Turns lines of text into records, as `eventlog produce` does: each line is a value, or a key and a
/// value around a separator, or a JSON object with `key`, `value`, `headers`, `partition` and `timestamp`.
///
/// Errors name the line: `invalidInput: line 7: no separator ',' between key and value`.
public struct ProducerInput: Sendable {
    /// How a line becomes a record.
    public enum Format: Sendable, Hashable {
        /// The whole line is the value; no key.
        case value
        /// The bytes before the first `separator` are the key, the rest the value.
        case keyValue(separator: UInt8)
        /// A JSON object with `key`, `value` (strings, or any JSON, stored as compact sorted JSON),
        /// `headers` (an object), `partition` and `timestamp` (epoch milliseconds).
        case json
    }

    /// How lines are read.
    public var format: Format
    /// Headers added to every record (before a JSON line's own).
    public var headers: [Header]

    /// Creates a parser.
    public init(format: Format, headers: [Header] = []) {
        self.format = format
        self.headers = headers
    }

    /// The record of one line (without its newline) and, for JSON lines that name one, its partition.
    ///
    /// - Throws: ``EventLogError/Code/invalidInput`` naming `lineNumber` and what is wrong.
    public func parse(_ line: [UInt8], lineNumber: Int) throws(EventLogError) -> (
        record: ProducerRecord, partition: Int?
    ) {
        switch format {
        case .value:
            return (ProducerRecord(value: line, headers: headers), nil)
        case .keyValue(let separator):
            guard let cut = line.firstIndex(of: separator) else {
                let shown = separator == UInt8(ascii: "\t") ? "tab" : "'\(Character(Unicode.Scalar(separator)))'"
                throw Self.error(lineNumber, "no separator \(shown) between key and value")
            }
            return (ProducerRecord(key: Array(line[..<cut]), value: Array(line[(cut + 1)...]), headers: headers), nil)
        case .json:
            return try parseJSON(line, lineNumber: lineNumber)
        }
    }

    private static func error(_ lineNumber: Int, _ message: String) -> EventLogError {
        EventLogError(.invalidInput, "line \(lineNumber): \(message)")
    }

    private func parseJSON(_ line: [UInt8], lineNumber: Int) throws(EventLogError) -> (ProducerRecord, Int?) {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed])
        } catch {
            throw Self.error(lineNumber, "invalid JSON (\((error as NSError).localizedDescription))")
        }
        guard let object = parsed as? [String: Any] else { throw Self.error(lineNumber, "expected a JSON object") }
        let known: Set<String> = ["key", "value", "headers", "partition", "timestamp"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw Self.error(
                lineNumber, "unknown field '\(unknown)'; expected key, value, headers, partition, timestamp")
        }
        func bytes(_ value: Any?, field: String) throws(EventLogError) -> [UInt8]? {
            switch value {
            case nil, is NSNull: return nil
            case let text as String: return Array(text.utf8)
            case let other?:
                guard JSONSerialization.isValidJSONObject(other) || other is NSNumber,
                    let data = try? JSONSerialization.data(
                        withJSONObject: other, options: [.sortedKeys, .fragmentsAllowed])
                else { throw Self.error(lineNumber, "field '\(field)' is not a string or JSON value") }
                return Array(data)
            }
        }
        var recordHeaders = headers
        if let map = object["headers"] {
            guard let map = map as? [String: Any] else { throw Self.error(lineNumber, "'headers' must be an object") }
            for (name, value) in map.sorted(by: { $0.key < $1.key }) {
                recordHeaders.append(Header(key: name, value: try bytes(value, field: "headers.\(name)")))
            }
        }
        var partition: Int? = nil
        if let p = object["partition"] {
            guard let number = Self.integer(p), number >= 0, number <= Int64(Int32.max) else {
                throw Self.error(lineNumber, "'partition' must be a non-negative integer")
            }
            partition = Int(number)
        }
        var timestamp: Int64? = nil
        if let t = object["timestamp"] {
            guard let number = Self.integer(t) else {
                throw Self.error(lineNumber, "'timestamp' must be milliseconds since the epoch")
            }
            timestamp = number
        }
        let record = ProducerRecord(
            key: try bytes(object["key"], field: "key"), value: try bytes(object["value"], field: "value"),
            timestamp: timestamp, headers: recordHeaders)
        return (record, partition)
    }

    /// A JSON number that is exactly an integer in Int64's range.
    private static func integer(_ value: Any) -> Int64? {
        value as? Int64 ?? (value as? Int).map(Int64.init)
    }
}

/// Splits a byte stream into lines with bounded memory: a line longer than `maxLineBytes` is reported as
/// ``Line/tooLong`` as soon as the limit is passed and then skipped to its newline, never buffered whole — so a 1 GB line costs no more
/// memory than a short one.
public struct LineReader {
    /// One step of the stream.
    public enum Line: Equatable {
        /// A line without its newline (a final line may lack one).
        case line([UInt8])
        /// A line over the limit, which was skipped.
        case tooLong
        /// The end of the stream.
        case end
    }

    private let read: (UnsafeMutableRawBufferPointer) -> Int
    private let maxLineBytes: Int
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0
    private var end = 0
    private var eof = false
    /// Inside a line already reported as too long: discard up to its newline.
    private var skipping = false

    /// Reads lines from a file descriptor (standard input is 0).
    public init(fd: Int32, maxLineBytes: Int) {
        self.init(maxLineBytes: maxLineBytes) { buffer in Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Reads lines from `read`, which fills a buffer and returns the bytes read, 0 at the end or -1 (with
    /// `errno`) on failure.
    public init(maxLineBytes: Int, read: @escaping (UnsafeMutableRawBufferPointer) -> Int) {
        self.maxLineBytes = max(maxLineBytes, 0)
        self.read = read
    }

    /// The next line, `.tooLong` for one over the limit (reported as soon as the limit is passed; the next
    /// call skips the rest of it), or `.end`.
    ///
    /// - Throws: ``EventLogError/Code/io`` when reading fails.
    public mutating func next() throws(EventLogError) -> Line {
        var line: [UInt8] = []
        while true {
            if let newline = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n")) {
                let skipped = skipping
                skipping = false
                if !skipped { line += buffer[start..<newline] }
                start = newline + 1
                if skipped { continue }
                return line.count > maxLineBytes ? .tooLong : .line(line)
            }
            if !skipping { line += buffer[start..<end] }
            start = 0
            end = 0
            if !skipping && line.count > maxLineBytes {
                skipping = true
                return .tooLong
            }
            if eof {
                skipping = false
                return line.isEmpty ? .end : .line(line)
            }
            let n = buffer.withUnsafeMutableBytes { read($0) }
            if n < 0 {
                let code = Errno(rawValue: errno)
                if code == .interrupted { continue }
                throw EventLogError(.io, "read failed: \(code)", errno: code)
            }
            if n == 0 { eof = true } else { end = n }
        }
    }
}
