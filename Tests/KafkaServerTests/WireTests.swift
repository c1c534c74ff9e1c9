import Foundation
import Testing

@testable import EventLog

#if canImport(Glibc)
    import Glibc
#endif

/// The server against raw bytes: requests encoded here by hand (not by the server's codec), hostile
/// frames, and the protocol's framing rules — answers in request order, nothing for acks=0, a closed
/// connection for what cannot be served, and a log that no bad request can change.
@Suite("Kafka protocol on the wire", .serialized)
struct WireTests {
    /// A blocking TCP client.
    final class Connection {
        let fd: Int32

        init(port: Int32) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            try #require(connected == 0, "connect failed: \(errno)")
        }

        deinit { close(fd) }

        func send(_ bytes: [UInt8]) {
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                sent += n
            }
        }

        /// Reads exactly `count` bytes, or nil when the peer closed or `timeout` passed first.
        func receive(_ count: Int, timeout: Int32 = 5_000) -> [UInt8]? {
            var result: [UInt8] = []
            while result.count < count {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, timeout) == 1 else { return nil }
                var chunk = [UInt8](repeating: 0, count: count - result.count)
                let n = recv(fd, &chunk, chunk.count, 0)
                if n <= 0 { return nil }
                result += chunk[..<n]
            }
            return result
        }

        /// One response frame (without its size), or nil.
        func response(timeout: Int32 = 5_000) -> [UInt8]? {
            guard let size = receive(4, timeout: timeout) else { return nil }
            return receive(Int(UInt32(bigEndian: size.withUnsafeBytes { $0.load(as: UInt32.self) })), timeout: timeout)
        }

        /// Whether the server closed the connection (within `timeout` ms).
        func isClosed(timeout: Int32 = 5_000) -> Bool {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, timeout) == 1 else { return false }
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0) == 0
        }
    }

    /// Big-endian encoding, written independently of the server's codec.
    struct Bytes {
        var bytes: [UInt8] = []
        mutating func int8(_ v: Int8) { bytes.append(UInt8(bitPattern: v)) }
        mutating func int16(_ v: Int16) { withUnsafeBytes(of: v.bigEndian) { bytes += $0 } }
        mutating func int32(_ v: Int32) { withUnsafeBytes(of: v.bigEndian) { bytes += $0 } }
        mutating func int64(_ v: Int64) { withUnsafeBytes(of: v.bigEndian) { bytes += $0 } }
        mutating func string(_ s: String?) {
            guard let s else { return int16(-1) }
            int16(Int16(s.utf8.count))
            bytes += Array(s.utf8)
        }
        mutating func data(_ d: [UInt8]) {
            int32(Int32(d.count))
            bytes += d
        }
    }

    /// A request frame: size, header v1 (key, version, correlation, client id), body.
    static func frame(key: Int16, version: Int16, correlation: Int32, _ body: (inout Bytes) -> Void = { _ in })
        -> [UInt8]
    {
        var payload = Bytes()
        payload.int16(key)
        payload.int16(version)
        payload.int32(correlation)
        payload.string("wire-test")
        body(&payload)
        var framed = Bytes()
        framed.int32(Int32(payload.bytes.count))
        return framed.bytes + payload.bytes
    }

    static func int16(_ bytes: [UInt8], at offset: Int) -> Int16 {
        Int16(bitPattern: UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]))
    }

    static func int32(_ bytes: [UInt8], at offset: Int) -> Int32 {
        Int32(bitPattern: bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) })
    }

    /// A Produce v3 request carrying `batch` for `topic` partition 0.
    static func produce(correlation: Int32, acks: Int16, topic: String, batch: [UInt8], version: Int16 = 3) -> [UInt8] {
        frame(key: 0, version: version, correlation: correlation) { body in
            if version >= 3 { body.string(nil) }  // transactional id
            body.int16(acks)
            body.int32(5_000)
            body.int32(1)
            body.string(topic)
            body.int32(1)
            body.int32(0)
            body.data(batch)
        }
    }

    /// A valid batch of `count` records, built by the library (its format is tested elsewhere).
    static func batch(_ count: Int = 3) throws -> [UInt8] {
        let builder = RecordBatchBuilder()
        for i in 0..<count { builder.append(key: "k\(i)", value: "v\(i)", timestamp: 1_700_000_000_000 + Int64(i)) }
        return Array(try builder.seal())
    }

    /// The error code of the single partition in a Produce v3 response body (after the correlation id).
    static func produceError(_ response: [UInt8], topic: String) -> Int16 {
        // correlation(4) topics(4) name(2+n) partitions(4) index(4) error(2)
        int16(response, at: 4 + 4 + 2 + topic.utf8.count + 4 + 4)
    }

    @Test("ApiVersions of an unknown version is answered in a v0 body with UNSUPPORTED_VERSION, listing ApiVersions")
    func apiVersionsFallback() async throws {
        let server = try await KafkaHarness()
        let connection = try Connection(port: server.port)
        connection.send(Self.frame(key: 18, version: 99, correlation: 7))
        let response = try #require(connection.response())
        #expect(Self.int32(response, at: 0) == 7)
        #expect(Self.int16(response, at: 4) == 35)
        let count = Self.int32(response, at: 6)
        let keys = (0..<Int(count)).map { Self.int16(response, at: 10 + $0 * 6) }
        #expect(keys.contains(18) && keys.contains(0) && keys.contains(1))
        #expect(response.count == 10 + Int(count) * 6, "a v0 body: no throttle time, no tagged fields")
        try await server.stop()
    }

    @Test("acks=0 gets no answer; the next request on the connection is answered, in order")
    func acksZero() async throws {
        let server = try await KafkaHarness(topics: ["quiet": 1])
        let connection = try Connection(port: server.port)
        connection.send(Self.produce(correlation: 1, acks: 0, topic: "quiet", batch: try Self.batch()))
        #expect(connection.response(timeout: 500) == nil)
        connection.send(Self.frame(key: 18, version: 0, correlation: 2))
        let response = try #require(connection.response())
        #expect(Self.int32(response, at: 0) == 2)
        if let log = server.log { #expect(try log.offsets(topic: "quiet", partition: 0).end == 3) }
        try await server.stop()
    }

    @Test("a failed acks=0 produce closes the connection (the client's only signal, as Kafka does); nothing is stored")
    func acksZeroFailureCloses() async throws {
        let server = try await KafkaHarness(topics: ["quiet": 1])
        let connection = try Connection(port: server.port)
        var bad = try Self.batch()
        bad[bad.count - 1] ^= 0x01  // CRC mismatch
        connection.send(Self.produce(correlation: 1, acks: 0, topic: "quiet", batch: bad))
        #expect(connection.isClosed(), "the server kept the connection after a failed acks=0 produce")
        if let log = server.log { #expect(try log.offsets(topic: "quiet", partition: 0).end == 0) }
        let fresh = try Connection(port: server.port)
        fresh.send(Self.frame(key: 18, version: 0, correlation: 7))
        #expect(try Self.int32(#require(fresh.response()), at: 0) == 7)
        try await server.stop()
    }

    @Test("pipelined requests are answered in the order they were sent")
    func pipelining() async throws {
        let server = try await KafkaHarness()
        let connection = try Connection(port: server.port)
        var burst: [UInt8] = []
        for correlation in Int32(100)..<120 {
            burst +=
                correlation % 2 == 0
                ? Self.frame(key: 18, version: 2, correlation: correlation)
                : Self.frame(key: 3, version: 1, correlation: correlation) { $0.int32(-1) }  // all topics
        }
        connection.send(burst)
        for correlation in Int32(100)..<120 {
            let response = try #require(connection.response())
            #expect(Self.int32(response, at: 0) == correlation)
        }
        try await server.stop()
    }

    @Test("Produce v2 (message format v1) and an unknown API key close the connection; the server keeps serving")
    func refusedVersions() async throws {
        let server = try await KafkaHarness()
        let old = try Connection(port: server.port)
        old.send(Self.produce(correlation: 1, acks: 1, topic: "t", batch: try Self.batch(), version: 2))
        #expect(old.isClosed())
        let unknown = try Connection(port: server.port)
        unknown.send(Self.frame(key: 999, version: 0, correlation: 1))
        #expect(unknown.isClosed())
        let fresh = try Connection(port: server.port)
        fresh.send(Self.frame(key: 18, version: 0, correlation: 9))
        #expect(try Self.int32(#require(fresh.response()), at: 0) == 9)
        try await server.stop()
    }

    @Test("hostile frames close only their own connection: over the size cap, too small, garbage, cut off mid-frame")
    func hostileFrames() async throws {
        let server = try await KafkaHarness(arguments: ["--max-request-bytes", "\(1 << 20)"])
        let huge = try Connection(port: server.port)
        var size = Bytes()
        size.int32(2 << 20)
        huge.send(size.bytes)  // the size alone: refused before any body is buffered
        #expect(huge.isClosed())
        let tiny = try Connection(port: server.port)
        tiny.send([0, 0, 0, 2, 0, 0])
        #expect(tiny.isClosed())
        var random = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let garbage = try Connection(port: server.port)
            let body = (0..<64).map { _ in UInt8.random(in: 0...255, using: &random) }
            var framed = Bytes()
            framed.int32(Int32(body.count))
            garbage.send(framed.bytes + body)
            _ = garbage.isClosed(timeout: 200)
        }
        do {
            let cut = try Connection(port: server.port)
            var framed = Bytes()
            framed.int32(1000)
            cut.send(framed.bytes + [1, 2, 3])
        }  // closed here, mid-frame
        let fresh = try Connection(port: server.port)
        fresh.send(Self.frame(key: 18, version: 0, correlation: 5))
        #expect(try Self.int32(#require(fresh.response()), at: 0) == 5)
        try await server.stop()
    }

    /// A field of `/proc/<pid>/status`, in KiB.
    static func status(_ pid: pid_t, _ field: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    @Test("a frame's claimed size is not memory: 64 peers each claiming a 90 MiB request cost what they sent")
    func claimedSizesAreNotReserved() async throws {
        let server = try await KafkaHarness()
        let pid = try #require(server.pid)
        let warm = try Connection(port: server.port)
        warm.send(Self.frame(key: 18, version: 0, correlation: 1))
        _ = warm.response()
        let (rssBefore, sizeBefore) = (Self.status(pid, "VmRSS"), Self.status(pid, "VmSize"))
        var peers: [Connection] = []
        for _ in 0..<64 {
            let peer = try Connection(port: server.port)
            var size = Bytes()
            size.int32(90 << 20)  // under the 100 MiB cap, so the server waits for the rest
            peer.send(size.bytes + [0, 0, 0, 0] + [UInt8](repeating: 7, count: 4_096))
            peers.append(peer)
        }
        // The server is still serving, and has read what the peers sent by the time it answers after them.
        let probe = try Connection(port: server.port)
        probe.send(Self.frame(key: 18, version: 0, correlation: 2))
        #expect(try Self.int32(#require(probe.response()), at: 0) == 2)
        let (rssAfter, sizeAfter) = (Self.status(pid, "VmRSS"), Self.status(pid, "VmSize"))
        print("[claimed-sizes] server VmRSS \(rssBefore) → \(rssAfter) KiB, VmSize \(sizeBefore) → \(sizeAfter) KiB")
        // 64 × 90 MiB would be 5.6 GiB; what the peers sent is 64 × 4 KiB.
        #expect(rssAfter - rssBefore < 64 << 10, "resident memory grew by \(rssAfter - rssBefore) KiB")
        #expect(sizeAfter - sizeBefore < 1 << 20, "address space grew by \(sizeAfter - sizeBefore) KiB")
        peers.removeAll()
        try await server.stop()
    }

    @Test("invalid batches are refused with Kafka's error codes and nothing is stored")
    func invalidBatches() async throws {
        let server = try await KafkaHarness(topics: ["strict": 1])
        let connection = try Connection(port: server.port)
        let good = try Self.batch()
        var cases: [(String, [UInt8], Int16)] = []
        var crc = good
        crc[crc.count - 1] ^= 0x01
        cases.append(("flipped payload bit (CRC)", crc, 2))
        var magic = good
        magic[16] = 1
        cases.append(("magic 1", magic, 87))
        cases.append(("two batches in one partition", good + good, 87))
        cases.append(("cut short", Array(good.dropLast(5)), 87))
        cases.append(("not even a header", [1, 2, 3], 87))
        var control = good
        control[22] |= 0x20  // attributes: control bit (the CRC then fails first unless recomputed)
        cases.append(("control bit", control, 2))
        for (index, (name, batch, expected)) in cases.enumerated() {
            connection.send(Self.produce(correlation: Int32(index), acks: 1, topic: "strict", batch: batch))
            let response = try #require(connection.response(), "\(name)")
            #expect(Self.produceError(response, topic: "strict") == expected, "\(name)")
        }
        if let log = server.log { #expect(try log.offsets(topic: "strict", partition: 0).end == 0) }
        connection.send(Self.produce(correlation: 99, acks: -1, topic: "strict", batch: good))
        let accepted = try #require(connection.response())
        #expect(Self.produceError(accepted, topic: "strict") == 0)
        if let log = server.log { #expect(try log.read(topic: "strict", partition: 0, from: 0).count == 3) }
        try await server.stop()
    }

    @Test("a produce to an unknown topic with auto-creation off gets UNKNOWN_TOPIC_OR_PARTITION")
    func unknownTopic() async throws {
        let server = try await KafkaHarness(arguments: ["--no-auto-create-topics"])
        let connection = try Connection(port: server.port)
        connection.send(Self.produce(correlation: 1, acks: 1, topic: "missing", batch: try Self.batch()))
        let response = try #require(connection.response())
        #expect(Self.produceError(response, topic: "missing") == 3)
        if let log = server.log { #expect(log.topicNames().contains("missing") == false) }
        try await server.stop()
    }
}
