import Foundation
import Testing

@testable import EventLog

@Suite("Producer input: lines into records")
struct ProducerInputTests {
    func lines(_ text: String, maxLineBytes: Int, piece: Int = 3) throws -> [LineReader.Line] {
        let bytes = Array(text.utf8)
        var position = 0
        var reader = LineReader(maxLineBytes: maxLineBytes) { buffer in
            let n = min(buffer.count, bytes.count - position, piece)
            buffer.copyBytes(from: bytes[position..<(position + n)])
            position += n
            return n
        }
        var result: [LineReader.Line] = []
        while true {
            let line = try reader.next()
            result.append(line)
            if line == .end { return result }
        }
    }

    @Test("lines split across reads; an over-long line is reported once and skipped to its newline")
    func lineReader() throws {
        let text = "short\n" + String(repeating: "x", count: 50) + "\nafter\nlast"
        #expect(
            try lines(text, maxLineBytes: 10) == [
                .line(Array("short".utf8)), .tooLong, .line(Array("after".utf8)),
                .line(Array("last".utf8)), .end,
            ])
        #expect(
            try lines(text, maxLineBytes: 100).map { if case .line(let l) = $0 { l.count } else { -1 } } == [
                5, 50, 5, 4, -1,
            ])
        #expect(try lines("", maxLineBytes: 10) == [.end])
        #expect(try lines("\n\n", maxLineBytes: 10) == [.line([]), .line([]), .end])
        #expect(try lines(String(repeating: "y", count: 40), maxLineBytes: 10) == [.tooLong, .end])
    }

    @Test("plain, key/value and JSON lines; errors name the line and what is wrong")
    func formats() throws {
        let plain = try ProducerInput(format: .value).parse(Array("v".utf8), lineNumber: 1)
        #expect(plain.record.key == nil && plain.record.value == Array("v".utf8) && plain.partition == nil)
        let keyed = try ProducerInput(format: .keyValue(separator: UInt8(ascii: ",")))
            .parse(Array("k,v,w".utf8), lineNumber: 1)
        #expect(keyed.record.key == Array("k".utf8) && keyed.record.value == Array("v,w".utf8))
        let json = ProducerInput(format: .json, headers: [Header(key: "fixed", string: "1")])
        let parsed = try json.parse(
            Array(#"{"key":"a","value":{"b":2,"a":1},"headers":{"z":"y"},"partition":3,"timestamp":17}"#.utf8),
            lineNumber: 1)
        #expect(parsed.record.value == Array(#"{"a":1,"b":2}"#.utf8))
        #expect(parsed.record.headers == [Header(key: "fixed", string: "1"), Header(key: "z", string: "y")])
        #expect(parsed.partition == 3 && parsed.record.timestamp == 17)
        let bad: [(ProducerInput, String, String)] = [
            (ProducerInput(format: .keyValue(separator: UInt8(ascii: "\t"))), "no-tab", "no separator tab"),
            (json, "{not json", "invalid JSON"),
            (json, "[1]", "expected a JSON object"),
            (json, #"{"colour":1}"#, "unknown field 'colour'"),
            (json, #"{"partition":-1}"#, "'partition' must be a non-negative integer"),
            (json, #"{"partition":1.5}"#, "'partition' must be a non-negative integer"),
            (json, #"{"timestamp":"soon"}"#, "'timestamp' must be milliseconds"),
            (json, #"{"headers":[1]}"#, "'headers' must be an object"),
        ]
        for (input, line, message) in bad {
            let error = #expect(throws: EventLogError.self) { try input.parse(Array(line.utf8), lineNumber: 42) }
            #expect(error?.code == .invalidInput)
            #expect(error?.message.hasPrefix("line 42: ") == true, "\(line)")
            #expect(error?.message.contains(message) == true, "\(line): \(error?.message ?? "")")
        }
    }

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
