import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real PostgreSQL server (Debian's `postgresql` package) for one test: its own cluster in a temporary
/// directory, on loopback and a free port, `wal_level=logical`, trust authentication for the user `eventlog`.
/// Stopped (immediate mode) and deleted by ``stop()`` or when released.
///
/// PostgreSQL refuses to run as root; when the tests are root (CI), the cluster belongs to the `postgres`
/// user the Debian package creates, and the server runs as that user.
public final class PostgresServer: @unchecked Sendable {
    public let directory: String
    public let port: Int
    public let user = "eventlog"
    private let bin: String
    private var stopped = false

    /// The directory of PostgreSQL's programs (psql, pg_recvlogical, …).
    public var binDirectory: String { bin }

    /// `postgres://eventlog@127.0.0.1:PORT/DATABASE`.
    public func url(database: String = "postgres") -> String { "postgres://\(user)@127.0.0.1:\(port)/\(database)" }

    /// The directory holding `initdb`, `pg_ctl` and `psql`, if PostgreSQL is installed.
    public static var binaries: String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init)
            .sorted()
        return versions.last.map { "\(root)/\($0)/bin" }
    }

    public init(settings: [String: String] = [:]) throws {
        guard let bin = Self.binaries else {
            throw ToolError("PostgreSQL is not installed (apt-get install postgresql): bash scripts/install-deps.sh")
        }
        self.bin = bin
        directory =
            FileManager.default.temporaryDirectory.path
            + "/postgres-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        port = Self.freePort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try Self.run("/bin/chown", ["postgres", directory]) }
        try runAsOwner(
            "\(bin)/initdb", ["-D", "\(directory)/data", "-A", "trust", "-U", user, "-E", "UTF8", "--no-sync"])
        try start(settings: settings)
    }

    /// Starts the server (again, after ``kill()``).
    public func start(settings: [String: String] = [:]) throws {
        var options = [
            "listen_addresses": "127.0.0.1", "port": "\(port)", "wal_level": "logical",
            "max_replication_slots": "10", "max_wal_senders": "10", "unix_socket_directories": "'\(directory)'",
            "fsync": "off", "full_page_writes": "off",
        ]
        for (key, value) in settings { options[key] = value }
        let text = options.sorted { $0.key < $1.key }.map { "-c \($0.key)=\($0.value)" }.joined(separator: " ")
        do {
            try runAsOwner(
                "\(bin)/pg_ctl", ["-D", "\(directory)/data", "-o", text, "-l", "\(directory)/log", "-w", "start"],
                capture: false)
        } catch {
            throw ToolError("\(error)\n\(serverLog)")
        }
        stopped = false
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: no shutdown checkpoint; recovery on the next start).
    public func kill() throws {
        try runAsOwner("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-m", "immediate", "-w", "stop"])
        stopped = true
    }

    /// Runs SQL with psql and returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        // Long statements go through a file: one argument may not exceed 128 KiB (E2BIG).
        let file = directory + "/statement-\(UInt64.random(in: 0...UInt64.max)).sql"
        try sql.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try Self.run(
            "\(bin)/psql",
            [
                "-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", database, "-X", "-q", "-A", "-t", "-v",
                "ON_ERROR_STOP=1",
                "-f", file,
            ])
    }

    /// The server's log (for failure messages).
    public var serverLog: String { (try? String(contentsOfFile: "\(directory)/log", encoding: .utf8)) ?? "" }

    public func stop() {
        if !stopped { try? kill() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    private func runAsOwner(_ tool: String, _ arguments: [String], capture: Bool = true) throws {
        if getuid() == 0 {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments, capture: capture)
        } else {
            try Self.run(tool, arguments, capture: capture)
        }
    }

    /// Runs a program to its end. (Not Foundation's `Process`: its `waitUntilExit` missed the exit of a child
    /// whose own child — the server — lives on.) Output goes to files, never pipes a server could inherit.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], capture: Bool = true) throws -> String {
        let child = try BackgroundTool(tool, arguments)
        while child.isRunning { usleep(2000) }
        guard child.exitStatus == 0 else {
            throw ToolError(
                "\(tool) \(arguments.joined(separator: " ")) exited \(child.exitStatus.map(String.init) ?? "by a signal"): "
                    + child.stderr)
        }
        return capture ? child.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : ""
    }

    /// A port nothing listens on now (bind to 0, read it, close).
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
