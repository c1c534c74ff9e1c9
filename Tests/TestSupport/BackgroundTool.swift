import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process failed to start.
public struct ToolError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Starts a client program in the background (a group member); `stop()` sends SIGTERM and waits.
///
/// Spawned with posix_spawn and an empty signal mask: the test process blocks SIGTERM in some threads,
/// and a child started by Foundation's `Process` inherits that mask — kcat would then never see the
/// SIGTERM that makes it leave its group.
public final class BackgroundTool: @unchecked Sendable {
    public let pid: pid_t
    private let outFile: String
    private let errFile: String

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        let base = FileManager.default.temporaryDirectory.path + "/tool-\(UInt64.random(in: 0...UInt64.max))"
        outFile = base + ".out"
        errFile = base + ".err"
        guard let path = findExecutable(executable) else { throw ToolError("\(executable) is not installed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child = pid_t()
        let environmentStrings = environment.map { variables in
            variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer { for pointer in environmentStrings ?? [] { free(pointer) } }
        let result =
            environmentStrings.map { posix_spawn(&child, path, &actions, &attributes, argv, $0) }
            ?? posix_spawn(&child, path, &actions, &attributes, argv, environ)
        guard result == 0 else { throw ToolError("posix_spawn \(path) failed: \(result)") }
        pid = child
    }

    public var stdout: String { (try? String(contentsOfFile: outFile, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "" }

    private var exited = false
    /// The exit status once the program ended normally (nil while running or when a signal ended it).
    public private(set) var exitStatus: Int32?

    /// Whether the program is still running (reaps it once it ended).
    public var isRunning: Bool {
        if exited { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exited = true
            if status & 0x7f == 0 { exitStatus = (status >> 8) & 0xff }
        }
        return !exited
    }

    /// Waits until `condition` holds on stderr (kcat reports rebalances there), at most `timeout` seconds.
    public func waitFor(timeout: Double = 60, _ condition: (String) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(stderr) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return condition(stderr)
    }

    /// Sends SIGTERM (kcat then leaves its group) and waits for the exit without blocking a thread.
    public func stop() async {
        if isRunning { kill(pid, SIGTERM) }
        for _ in 0..<1200 where isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        if isRunning {
            kill(pid, SIGKILL)
            while isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        }
    }

    /// Waits for the program to end by itself (at most `timeout` seconds).
    public func waitForExit(timeout: Double = 30) async {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
    }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(atPath: outFile)
        try? FileManager.default.removeItem(atPath: errFile)
    }
}

public func findExecutable(_ name: String) -> String? {
    if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
        let path = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Kills `child` with SIGKILL as soon as `condition` holds, watched from a thread of its own: a watcher on Swift
/// concurrency's pool can be starved for seconds by tests blocking its threads, and a child that ends within that
/// time was never killed. Returns whether it killed the child (false: the child ended first).
public func killWhen(_ child: BackgroundTool, _ condition: @escaping @Sendable () -> Bool) async -> Bool {
    await withCheckedContinuation { continuation in
        Thread {
            while child.isRunning {
                if condition() {
                    kill(child.pid, SIGKILL)
                    continuation.resume(returning: true)
                    return
                }
                usleep(5_000)  // each look may open a log, which competes with the child
            }
            continuation.resume(returning: false)
        }.start()
    }
}

/// Repeats `body` on a thread of its own (not Swift concurrency's pool, which blocking work would starve) until
/// ``stop()``, which returns how many rounds ran.
public final class BackgroundLoop: @unchecked Sendable {
    private let lock = NSCondition()
    private var stopping = false
    private var finished = false
    private var rounds = 0

    public init(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            while !lock.withLock({ stopping }) {
                body()
                lock.withLock { rounds += 1 }
            }
            lock.withLock {
                finished = true
                lock.broadcast()
            }
        }
        thread.start()
    }

    /// Stops the loop after its current round and returns the number of rounds.
    public func stop() -> Int {
        lock.withLock {
            stopping = true
            while !finished { lock.wait() }
            return rounds
        }
    }
}
