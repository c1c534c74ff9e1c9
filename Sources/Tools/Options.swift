public import ArgumentParser
public import EventLog
import Foundation
public import Logging
public import Simulator

/// Options every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The log directory (default: $EVENTLOG_DIR, else ./eventlog-data).")
    var dataDir: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    var directory: String {
        dataDir ?? ProcessInfo.processInfo.environment["EVENTLOG_DIR"] ?? "./eventlog-data"
    }

    func logger() -> Logger {
        LoggingBootstrap.once(level: logLevel)
        var logger = Logger(label: "eventlog")
        logger.logLevel = logLevel
        return logger
    }

    /// Opens the log for writing; errors explain themselves.
    func openLog() throws -> Log {
        try Log(directory: directory, configuration: .init(logger: logger()))
    }

    /// Opens the log read-only, failing clearly if the directory is missing.
    ///
    /// Read commands never write the log: no recovery, no truncation, no writer lock, so a writer can start
    /// while they run (and they follow what it appends). Damage past the last valid batch stays invisible
    /// to them; `eventlog verify` reports it.
    func openLogForReading() throws -> Log {
        guard FileManager.default.fileExists(atPath: directory) else {
            throw ValidationError("no event log at '\(directory)' (use --data-dir or $EVENTLOG_DIR)")
        }
        return try Log.openReadOnly(directory: directory, configuration: .init(logger: logger()))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum LoggingBootstrap {
    // Written once by the main thread while parsing arguments, before any other thread starts.
    nonisolated(unsafe) private static var done = false
    static func once(level: Logger.Level) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension LogSink.TopicLayout: ExpressibleByArgument {}

extension Compression: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension DurabilityPolicy: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A one-line progress display on standard error, for long operations; silent when stderr is not a
/// terminal (so scripts and tests see only the final message).
final class Progress {
    private let label: String
    private let enabled = isatty(2) == 1
    private var last = DispatchTime.now().uptimeNanoseconds
    private var shown = false

    init(label: String) { self.label = label }

    /// Shows `status` at most ten times a second.
    func update(_ status: String) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - last > 100_000_000 else { return }
        last = now
        shown = true
        FileHandle.standardError.write(Data("\r\u{1B}[K\(label): \(status)".utf8))
    }

    /// Clears the progress line.
    func finish() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// Parses `earliest`, `latest`, an offset, or `ts:MILLISECONDS` (for --from and --to).
func parseStartPosition(_ text: String, option: String) throws -> StartPosition {
    switch text {
    case "earliest": return .earliest
    case "latest": return .latest
    default:
        if text.hasPrefix("ts:"), let ts = Int64(text.dropFirst(3)) { return .timestamp(ts) }
        if let offset = Int64(text), offset >= 0 { return .offset(offset) }
        throw ValidationError("\(option) must be earliest, latest, an offset or ts:MILLISECONDS; got '\(text)'")
    }
}
