import ArgumentParser
import EventLog
import Foundation

/// `eventlog produce`: lines from standard input become records.
struct Produce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append lines from standard input as records.",
        discussion: """
            Each line is a value; with --separator, the text before the first separator is the key.
            Example: printf 'order-1\\t{"status":"CREATED"}\\n' | eventlog produce orders --separator tab
            """)
    @OptionGroup var options: GlobalOptions
    @Argument(help: "Topic name.") var topic: String
    @Option(help: "Key/value separator: a character, or 'tab'.") var separator: String?
    @Option(help: "Write every record to this partition (default: by key, murmur2).") var partition: Int?
    @Option(help: "Lines per batch.") var batch: Int = 1000
    @Option(help: "Longest accepted line in bytes.") var maxLineBytes: Int = 1 << 20
    @Flag(help: "Each line is a JSON object with key, value, headers, partition and timestamp.") var json = false
    @Option(name: .customLong("header"), help: "A header NAME=VALUE added to every record (repeatable).")
    var headers: [String] = []

    func validate() throws {
        if let separator, separator != "tab", separator.count != 1 {
            throw ValidationError("--separator must be one character or 'tab'")
        }
        if json && separator != nil { throw ValidationError("--json and --separator cannot be combined") }
        for header in headers where !header.contains("=") {
            throw ValidationError("--header must be NAME=VALUE; got '\(header)'")
        }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        let log = try options.openLog()
        defer { try? log.close() }
        let sep: UInt8? = separator.map { $0 == "tab" ? UInt8(ascii: "\t") : Array($0.utf8)[0] }
        let fixedHeaders = headers.map { text -> Header in
            let cut = text.firstIndex(of: "=")!
            return Header(key: String(text[..<cut]), string: String(text[text.index(after: cut)...]))
        }
        var pending: [ProducerRecord] = []
        var pendingPartition: Int? = partition
        var lineNumber = 0
        var total = 0
        let progress = Progress(label: "produce \(topic)")
        func flush() throws {
            guard !pending.isEmpty else { return }
            try log.append(pending, to: topic, partition: pendingPartition)
            total += pending.count
            progress.update("\(total) records")
            pending.removeAll(keepingCapacity: true)
        }
        var reader = LineReader(fd: 0, maxLineBytes: maxLineBytes)
        lines: while true {
            let line: [UInt8]
            switch try reader.next() {
            case .end: break lines
            case .tooLong:
                throw ValidationError(
                    "line \(lineNumber + 1) of standard input is longer than --max-line-bytes \(maxLineBytes)")
            case .line(let bytes): line = bytes
            }
            lineNumber += 1
            if json {
                let (record, recordPartition) = try parseJSON(line, lineNumber: lineNumber, extraHeaders: fixedHeaders)
                let target = recordPartition ?? partition
                if target != pendingPartition {
                    try flush()
                    pendingPartition = target
                }
                pending.append(record)
            } else if let sep {
                guard let cut = line.firstIndex(of: sep) else {
                    throw ValidationError("line \(lineNumber): no separator '\(separator!)' between key and value")
                }
                pending.append(
                    ProducerRecord(key: Array(line[..<cut]), value: Array(line[(cut + 1)...]), headers: fixedHeaders))
            } else {
                pending.append(ProducerRecord(value: line, headers: fixedHeaders))
            }
            if pending.count >= batch { try flush() }
        }
        try flush()
        progress.finish()
        printError("appended \(total) records to \(topic)")
    }

    /// One `--json` line: the record and an optional explicit partition.
    func parseJSON(_ line: [UInt8], lineNumber: Int, extraHeaders: [Header]) throws -> (ProducerRecord, Int?) {
        let object: [String: Any]
        do {
            guard
                let parsed = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed])
                    as? [String: Any]
            else { throw ValidationError("line \(lineNumber): expected a JSON object") }
            object = parsed
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("line \(lineNumber): invalid JSON (\((error as NSError).localizedDescription))")
        }
        func bytes(_ value: Any?, field: String) throws -> [UInt8]? {
            switch value {
            case nil, is NSNull: return nil
            case let text as String: return Array(text.utf8)
            case let other?:
                guard JSONSerialization.isValidJSONObject(other) || other is NSNumber else {
                    throw ValidationError("line \(lineNumber): field '\(field)' is not a string or JSON value")
                }
                let data = try JSONSerialization.data(withJSONObject: other, options: [.sortedKeys, .fragmentsAllowed])
                return Array(data)
            }
        }
        let known: Set<String> = ["key", "value", "headers", "partition", "timestamp"]
        if let unknown = object.keys.first(where: { !known.contains($0) }) {
            throw ValidationError(
                "line \(lineNumber): unknown field '\(unknown)'; expected key, value, headers, partition, timestamp")
        }
        var headers = extraHeaders
        if let map = object["headers"] {
            guard let map = map as? [String: Any] else {
                throw ValidationError("line \(lineNumber): 'headers' must be an object")
            }
            for (name, value) in map.sorted(by: { $0.key < $1.key }) {
                headers.append(Header(key: name, value: try bytes(value, field: "headers.\(name)")))
            }
        }
        var recordPartition: Int? = nil
        if let p = object["partition"] {
            guard let number = p as? Int, number >= 0 else {
                throw ValidationError("line \(lineNumber): 'partition' must be a non-negative integer")
            }
            recordPartition = number
        }
        var timestamp: Int64? = nil
        if let t = object["timestamp"] {
            guard let number = t as? Int64 ?? (t as? Int).map(Int64.init) else {
                throw ValidationError("line \(lineNumber): 'timestamp' must be milliseconds since the epoch")
            }
            timestamp = number
        }
        return (
            ProducerRecord(
                key: try bytes(object["key"], field: "key"), value: try bytes(object["value"], field: "value"),
                timestamp: timestamp, headers: headers), recordPartition
        )
    }
}

/// Reads lines from a file descriptor with bounded memory: an over-long line is reported, not buffered.
struct LineReader {
    let fd: Int32
    let maxLineBytes: Int
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var start = 0
    private var end = 0
    private var eof = false

    init(fd: Int32, maxLineBytes: Int) {
        self.fd = fd
        self.maxLineBytes = maxLineBytes
    }

    enum Line {
        case line([UInt8])
        case tooLong
        case end
    }

    /// The next line without its newline; `.tooLong` for a line over the limit (which is not buffered).
    mutating func next() throws -> Line {
        var line: [UInt8] = []
        while true {
            if let newline = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n")) {
                line += buffer[start..<newline]
                start = newline + 1
                return line.count > maxLineBytes ? .tooLong : .line(line)
            }
            line += buffer[start..<end]
            start = 0
            end = 0
            if line.count > maxLineBytes { return .tooLong }
            if eof { return line.isEmpty ? .end : .line(line) }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw ValidationError("reading standard input failed: errno \(errno)") }
            if n == 0 { eof = true } else { end = n }
        }
    }
}
