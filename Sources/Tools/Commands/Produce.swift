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

    func validate() throws {
        if let separator, separator != "tab", separator.count != 1 {
            throw ValidationError("--separator must be one character or 'tab'")
        }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        let log = try options.openLog()
        defer { try? log.close() }
        let sep: UInt8? = separator.map { $0 == "tab" ? UInt8(ascii: "\t") : Array($0.utf8)[0] }
        var pending: [ProducerRecord] = []
        var lineNumber = 0
        var total = 0
        func flush() throws {
            guard !pending.isEmpty else { return }
            try log.append(pending, to: topic, partition: partition)
            total += pending.count
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
            if let sep {
                guard let cut = line.firstIndex(of: sep) else {
                    throw ValidationError("line \(lineNumber): no separator '\(separator!)' between key and value")
                }
                pending.append(ProducerRecord(key: Array(line[..<cut]), value: Array(line[(cut + 1)...])))
            } else {
                pending.append(ProducerRecord(value: line))
            }
            if pending.count >= batch { try flush() }
        }
        try flush()
        printError("appended \(total) records to \(topic)")
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
