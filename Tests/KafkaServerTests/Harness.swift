import EventLog
import EventLogFoundation
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `eventlog serve --kafka` on loopback for one test: the real binary in a child process, on a fresh log
/// directory and a free port, stopped with SIGTERM (it must then exit 0 after closing the log cleanly).
/// With `EVENTLOG_KAFKA_BOOTSTRAP` set, tests talk to that broker instead (a real Kafka, to check the tests
/// themselves) and skip their looks into the log.
///
/// Tests look into the log through ``log``, a read-only view opened afresh each time: the server owns the
/// directory as its writer, and a read-only process follows what it writes.
final class KafkaHarness: @unchecked Sendable {
    let directory: String
    let bootstrap: String
    private var process: BackgroundTool?
    private let arguments: [String]

    static var external: String? { ProcessInfo.processInfo.environment["EVENTLOG_KAFKA_BOOTSTRAP"] }

    static var binary: String? { eventlogBinary }

    /// - Parameters:
    ///   - topics: Created (name → partitions) before the server starts.
    ///   - arguments: More `eventlog serve` options.
    ///   - port: The port to listen on (0: any free one).
    /// The HTTP listener's address, when the server was started with `--http`.
    private(set) var http: String?

    init(
        topics: [String: Int] = [:], arguments: [String] = [], port: Int = 0, prepare: ((Log) throws -> Void)? = nil
    ) async throws {
        directory =
            FileManager.default.temporaryDirectory.path + "/kafka-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        self.arguments = arguments
        if let external = Self.external {
            (bootstrap, process) = (external, nil)
            return
        }
        if !topics.isEmpty || prepare != nil {
            let log = try Log(directory: directory)
            for (name, partitions) in topics {
                try log.createTopic(name, configuration: TopicConfiguration(partitions: partitions))
            }
            try prepare?(log)
            try log.close()
        }
        let (process, listening) = try await Self.start(directory: directory, port: port, arguments: arguments)
        self.process = process
        bootstrap = "127.0.0.1:\(listening)"
        try await readHTTPAddress()
    }

    /// With `--http`: waits for the server to print its HTTP address.
    private func readHTTPAddress() async throws {
        guard arguments.contains("--http"), let process else { return }
        func address() -> String? {
            process.stdout.range(of: #"HTTP on 127\.0\.0\.1:(\d+)"#, options: .regularExpression).map {
                "127.0.0.1:" + process.stdout[$0].split(separator: ":").last!
            }
        }
        let deadline = Date().addingTimeInterval(300)
        while address() == nil && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        http = address()  // read once more: this task may wake long after the deadline
    }

    private static func start(directory: String, port: Int, arguments: [String]) async throws -> (BackgroundTool, Int) {
        let binary = try #require(Self.binary, "build the eventlog binary first: swift build --build-tests")
        let process = try BackgroundTool(
            binary,
            ["serve", "--kafka", "127.0.0.1:\(port)", "--data-dir", directory, "--log-level", "warning"] + arguments)
        func listening() -> Int? {
            process.stdout.range(of: #"Kafka protocol on 127\.0\.0\.1:(\d+)"#, options: .regularExpression).map {
                Int(process.stdout[$0].split(separator: ":").last!)!
            }
        }
        // Generous: under ThreadSanitizer, with the whole suite running beside it, start-up can take a minute —
        // and this task may not run again until long after its deadline (the test pool's two threads busy with
        // other tests), so the output is read once more after it.
        let deadline = Date().addingTimeInterval(300)
        while listening() == nil && Date() < deadline && process.isRunning {
            try await Task.sleep(for: .milliseconds(20))
        }
        return (process, try #require(listening(), "the server did not start: \(process.stderr)"))
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and starts it again on the same port and
    /// directory; the restart recovers the log.
    func killAndRestart() async throws {
        guard let process else { return }
        kill(process.pid, SIGKILL)
        await process.waitForExit()
        var attempts = 0
        while true {
            do {
                (self.process, _) = try await Self.start(directory: directory, port: Int(port), arguments: arguments)
                try await readHTTPAddress()  // a new one when it was port 0
                return
            } catch  where attempts < 50 {
                attempts += 1  // the port may linger for a moment
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    var port: Int32 { Int32(bootstrap.split(separator: ":").last!)! }

    /// The server's process id (nil against an external broker).
    var pid: pid_t? { process?.pid }

    /// A read-only view of the server's log (nil against an external broker).
    var log: Log? {
        guard process != nil else { return nil }
        return try? Log.openReadOnly(directory: directory)
    }

    /// On a crash, the lines that say where: the message and the project's own frames; a ThreadSanitizer
    /// report whole (both accesses' stacks are needed to find a race, and most frames are in dependencies).
    static func crashLines(_ stderr: String) -> String {
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: false)
        if let start = lines.firstIndex(where: { $0.contains("WARNING: ThreadSanitizer") }) {
            let end =
                lines[start...].firstIndex(where: { $0.hasPrefix("SUMMARY: ThreadSanitizer") }) ?? lines.endIndex - 1
            return lines[start...min(end, start + 300)].joined(separator: "\n")
        }
        return lines.filter { $0.contains("rror") || $0.contains("crashed") || $0.contains("/Sources/") }
            .prefix(40).joined(separator: "\n")
    }

    /// Stops the server with SIGTERM and expects a clean exit (status 0, log closed cleanly).
    func stop() async throws {
        if let process {
            await process.stop()
            #expect(
                process.exitStatus == 0,
                "eventlog serve exited with \(process.exitStatus ?? -1): \(Self.crashLines(process.stderr))")
            #expect(process.stdout.contains("the log was closed cleanly"), "\(process.stdout)")
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a client program (kcat, python3) with `input` on stdin; killed after `timeout` seconds. It waits on
/// a thread of its own: the server under test runs in this process, on the cooperative pool, which a
/// blocking wait here could starve.
func runTool(_ executable: String, _ arguments: [String], input: String? = nil, timeout: Double = 120) async throws
    -> ToolResult
{
    let path = try #require(findExecutable(executable), "\(executable) is not installed (bash scripts/install-deps.sh)")
    return try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(
                with: Result { try runToolBlocking(path, arguments, input: input, timeout: timeout) })
        }.start()
    }
}

private func runToolBlocking(_ path: String, _ arguments: [String], input: String?, timeout: Double) throws
    -> ToolResult
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe(), stdin = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = stdin
    try process.run()
    let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    // Read both pipes concurrently so neither fills up.
    let errData = Locked<Data>(Data())
    let reader = Thread { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    killer.cancel()
    while reader.isExecuting || !reader.isFinished { usleep(1000) }
    return ToolResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData.withLock { $0 }, as: UTF8.self))
}
