import ArgumentParser
import CommandLineInput
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
        let fixedHeaders = headers.map { text -> Header in
            let cut = text.firstIndex(of: "=")!
            return Header(key: String(text[..<cut]), string: String(text[text.index(after: cut)...]))
        }
        let format: ProducerInput.Format =
            if json {
                .json
            } else if let separator {
                .keyValue(separator: separator == "tab" ? UInt8(ascii: "\t") : Array(separator.utf8)[0])
            } else {
                .value
            }
        let input = ProducerInput(format: format, headers: fixedHeaders)
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
            let (record, recordPartition) = try input.parse(line, lineNumber: lineNumber)
            let target = recordPartition ?? partition
            if target != pendingPartition {
                try flush()
                pendingPartition = target
            }
            pending.append(record)
            if pending.count >= batch { try flush() }
        }
        try flush()
        progress.finish()
        printError("appended \(total) records to \(topic)")
    }
}
