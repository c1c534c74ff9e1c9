import Foundation
import Testing

@testable import EventLog

#if canImport(Glibc)
    import Glibc
#endif

/// `eventlog produce` reading standard input, through the real binary.
@Suite("eventlog produce: standard input")
struct ProduceCommandTests {
    @Test("a 1 GB line on standard input: a clear error naming the line, with bounded memory")
    func gigabyteLine() throws {
        let binary = try #require(eventlogBinary, "build the eventlog binary first: swift build --build-tests")
        let dir = TemporaryDirectory()
        #expect(try runEventlog(["topics", "create", "t", "--data-dir", dir.path]).status == 0)
        #expect(try runEventlog(["produce", "t", "--data-dir", dir.path], stdin: "before\n").status == 0)
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let errorPath = dir.path + "/stderr.txt"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_addclose(&actions, fds[1])
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let arguments = [binary, "produce", "t", "--data-dir", dir.path]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        #expect(posix_spawn(&pid, binary, &actions, nil, &argv, environ) == 0)
        close(fds[0])
        // A gigabyte of one line, in 1 MiB writes, until the reader gives up (EPIPE).
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        var sent = 0
        while sent < 1 << 30 {
            let n = chunk.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            sent += n
        }
        close(fds[1])
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        let exited = status & 0x7f == 0
        #expect(exited && (status >> 8) & 0xff != 0, "produce should exit with an error, status \(status)")
        let message = try String(contentsOfFile: errorPath, encoding: .utf8)
        #expect(message.contains("line 1 of standard input is longer than --max-line-bytes"), "\(message)")
        // Memory is bounded by what produce read, and it read little: it stopped at the limit and exited,
        // so the pipe refused the rest. (The child's ru_maxrss cannot show this: Linux counts the
        // parent's memory, shared until exec, in it.)
        #expect(sent < 16 << 20, "produce kept reading: \(sent >> 20) MiB of the line were accepted")
        print("[gigabyteLine] produce stopped after \(sent >> 10) KiB of a 1 GiB line")
        #expect(try Log.openReadOnly(directory: dir.path).all("t").map(\.valueString) == ["before"])
    }
}
