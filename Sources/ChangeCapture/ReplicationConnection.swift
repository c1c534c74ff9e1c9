import EventLogFoundation
import Foundation
import NIOCore
import NIOPosix

/// A PostgreSQL connection in the streaming replication sub-protocol (`replication=database`), for
/// `START_REPLICATION … LOGICAL`: the server decodes the WAL once, continuously, and pushes each pgoutput message
/// as it commits — instead of the SQL polling functions, which decode the WAL again from the slot's restart
/// point (up to 15 s behind) on every call. postgres-nio does not speak this sub-protocol, so the little of
/// the frontend/backend protocol it needs is written here: the startup message, trust, cleartext-password or
/// SCRAM-SHA-256 authentication (``SCRAMClient``; MD5 and the like are refused, and the connector falls back to
/// polling), one simple query, and CopyBoth data (XLogData, keepalives, standby status updates).
///
/// Memory is bounded: received messages wait in an ``Inbox``; past ``Inbox/pauseBytes`` of them the socket is
/// no longer read (TCP backpressure reaches the walsender) until the consumer takes them.
final class ReplicationConnection: @unchecked Sendable {
    /// One backend message: its type byte and body.
    struct Message: Sendable {
        var type: UInt8
        var body: ByteBuffer
    }

    /// What the stream delivers.
    enum Event: Sendable {
        /// A pgoutput message and the WAL position of its record.
        case data(lsn: UInt64, message: [UInt8])
        /// The walsender's position: everything before it was sent; `replyRequested` asks for a status update now.
        case keepalive(walEnd: UInt64, replyRequested: Bool)
    }

    struct Refused: Error, CustomStringConvertible {
        let description: String
    }

    private let channel: any Channel
    private let inbox: Inbox

    private init(channel: any Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    /// Connects and authenticates. Throws ``Refused`` when the server wants an authentication this client does not
    /// speak or refuses replication connections (the caller polls instead); other errors are connection errors.
    static func connect(_ url: PostgresURL, applicationName: String) async throws -> ReplicationConnection {
        let inbox = Inbox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MessageDecoder()))
                    try channel.pipeline.syncOperations.addHandler(InboxHandler(inbox: inbox))
                }
            }
            .connect(host: url.host, port: url.port).get()
        let connection = ReplicationConnection(channel: channel, inbox: inbox)
        do {
            try await connection.startup(url, applicationName: applicationName)
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    /// Ends the stream politely (CopyDone, Terminate) and waits for the socket to close, so the walsender
    /// lets go of the slot promptly.
    func close() async {
        if channel.isActive {
            send(UInt8(ascii: "c")) { _ in }
            send(UInt8(ascii: "X")) { _ in }
        }
        try? await channel.close()
    }

    /// A C string: the bytes and a NUL (the protocol's `String`).
    private static func cString(_ text: String, into buffer: inout ByteBuffer) {
        buffer.writeString(text)
        buffer.writeInteger(UInt8(0))
    }

    private func send(_ type: UInt8?, _ body: (inout ByteBuffer) -> Void) {
        var buffer = channel.allocator.buffer(capacity: 64)
        if let type { buffer.writeInteger(type) }
        let lengthAt = buffer.writerIndex
        buffer.writeInteger(Int32(0))
        body(&buffer)
        buffer.setInteger(Int32(buffer.writerIndex - lengthAt), at: lengthAt)
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// The next backend message, waiting for one.
    private var pending: ArraySlice<Message> = []
    private func next() async throws -> Message {
        if pending.isEmpty { pending = try await inbox.take()[...] }
        return pending.removeFirst()
    }

    private func startup(_ url: PostgresURL, applicationName: String) async throws {
        var scram: SCRAMClient?
        send(nil) { buffer in
            buffer.writeInteger(Int32(196_608))  // protocol 3.0
            for (key, value) in [
                ("user", url.user), ("database", url.database), ("replication", "database"),
                ("application_name", applicationName),
            ] {
                Self.cString(key, into: &buffer)
                Self.cString(value, into: &buffer)
            }
            buffer.writeInteger(UInt8(0))
        }
        while true {
            var message = try await next()
            switch message.type {
            case UInt8(ascii: "R"):
                let code = message.body.readInteger(as: Int32.self) ?? -1
                switch code {
                case 0: continue  // AuthenticationOk
                case 3:  // cleartext password
                    guard let password = url.password else {
                        throw Refused(description: "the server wants a password and the URL has none")
                    }
                    send(UInt8(ascii: "p")) { Self.cString(password, into: &$0) }
                case 10:  // SASL: the mechanisms offered
                    var offered: [String] = []
                    while let name = message.body.readNullTerminatedString(), !name.isEmpty { offered.append(name) }
                    guard offered.contains("SCRAM-SHA-256"), let password = url.password else {
                        throw Refused(
                            description: "SASL mechanisms \(offered) (the client speaks SCRAM-SHA-256, with a password)"
                        )
                    }
                    scram = SCRAMClient(password: password)
                    let first = scram!.first
                    send(UInt8(ascii: "p")) { buffer in
                        Self.cString("SCRAM-SHA-256", into: &buffer)
                        buffer.writeInteger(Int32(first.count))
                        buffer.writeBytes(first)
                    }
                case 11:  // SASL continue: the server-first message
                    guard scram != nil else { throw Refused(description: "SASL continue without a SASL start") }
                    let final = try scram!.final(Array(buffer: message.body))
                    send(UInt8(ascii: "p")) { $0.writeBytes(final) }
                case 12:  // SASL final: the server's signature
                    guard let scram else { throw Refused(description: "SASL final without a SASL start") }
                    try scram.verify(Array(buffer: message.body))
                default:
                    throw Refused(description: "authentication method \(code) is not spoken by the replication client")
                }
            case UInt8(ascii: "E"):
                throw Refused(description: Self.errorText(message.body))
            case UInt8(ascii: "Z"):
                return  // ReadyForQuery
            default:
                continue  // ParameterStatus, BackendKeyData, NoticeResponse
            }
        }
    }

    /// Starts streaming the slot from its confirmed position.
    func startReplication(slot: String, publication: String) async throws {
        let quotedPublication = "\"" + publication.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        let sql =
            "START_REPLICATION SLOT \"\(slot.replacingOccurrences(of: "\"", with: "\"\""))\" LOGICAL 0/0 "
            + "(proto_version '1', publication_names '\(quotedPublication.replacingOccurrences(of: "'", with: "''"))')"
        send(UInt8(ascii: "Q")) { Self.cString(sql, into: &$0) }
        while true {
            let message = try await next()
            switch message.type {
            case UInt8(ascii: "W"): return  // CopyBothResponse
            case UInt8(ascii: "E"):
                let text = Self.errorText(message.body)
                // 42704: the slot does not exist; anything else (the slot still active for an abandoned
                // session's walsender, say) is worth another try.
                throw CaptureError(
                    text.contains(" 42704:") ? .slotLost : .connectionLost, "START_REPLICATION failed: \(text)")
            default: continue
            }
        }
    }

    /// The events received since the last call, at most `limit` messages' worth (the rest wait for the next
    /// call), waiting until there is at least one.
    func events(limit: Int) async throws -> [Event] {
        var out: [Event] = []
        if pending.isEmpty { pending = try await inbox.take()[...] }
        let messages = pending.prefix(max(limit, 1))
        pending = pending.dropFirst(messages.count)
        for var message in messages {
            switch message.type {
            case UInt8(ascii: "d"):
                guard let kind = message.body.readInteger(as: UInt8.self) else { continue }
                if kind == UInt8(ascii: "w") {
                    guard let start = message.body.readInteger(as: UInt64.self),
                        message.body.readInteger(as: UInt64.self) != nil,  // the server's WAL end
                        message.body.readInteger(as: Int64.self) != nil  // its clock
                    else { throw CaptureError(.malformedMessage, "a cut XLogData message") }
                    out.append(.data(lsn: start, message: Array(buffer: message.body)))
                } else if kind == UInt8(ascii: "k") {
                    guard let end = message.body.readInteger(as: UInt64.self),
                        message.body.readInteger(as: Int64.self) != nil,
                        let reply = message.body.readInteger(as: UInt8.self)
                    else { throw CaptureError(.malformedMessage, "a cut keepalive message") }
                    out.append(.keepalive(walEnd: end, replyRequested: reply != 0))
                }
            case UInt8(ascii: "E"):
                throw CaptureError(.connectionLost, "the walsender stopped: \(Self.errorText(message.body))")
            case UInt8(ascii: "c"), UInt8(ascii: "C"), UInt8(ascii: "Z"):
                throw CaptureError(.connectionLost, "the walsender ended the replication stream")
            default:
                continue
            }
        }
        inbox.consumed(channel)
        return out
    }

    /// Confirms everything before `flushed` (a standby status update); with `replyRequested` the server answers
    /// with a keepalive at once.
    func confirm(_ flushed: UInt64, replyRequested: Bool = false) {
        let micros = PostgresCapture.wallMicroseconds() - PgOutputMessage.postgresEpochMicroseconds
        send(UInt8(ascii: "d")) { buffer in
            buffer.writeInteger(UInt8(ascii: "r"))
            buffer.writeInteger(flushed)  // written
            buffer.writeInteger(flushed)  // flushed
            buffer.writeInteger(flushed)  // applied
            buffer.writeInteger(micros)
            buffer.writeInteger(UInt8(replyRequested ? 1 : 0))
        }
    }

    /// An ErrorResponse's severity, code and message.
    static func errorText(_ body: ByteBuffer) -> String {
        var body = body
        var fields: [UInt8: String] = [:]
        while let code = body.readInteger(as: UInt8.self), code != 0, let text = body.readNullTerminatedString() {
            fields[code] = text
        }
        return
            "\(fields[UInt8(ascii: "S")] ?? "ERROR") \(fields[UInt8(ascii: "C")] ?? ""): \(fields[UInt8(ascii: "M")] ?? "?")"
    }

    /// Splits the byte stream into backend messages (type byte, Int32 length including itself, body).
    struct MessageDecoder: ByteToMessageDecoder {
        typealias InboundOut = Message
        /// Larger messages are refused (a row this large is refused by the connector anyway).
        static let maxMessageBytes = 1 << 30

        mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
            guard buffer.readableBytes >= 5,
                let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
                let length = buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self)
            else { return .needMoreData }
            guard length >= 4, Int(length) <= Self.maxMessageBytes else {
                throw CaptureError(.malformedMessage, "a backend message claims \(length) bytes")
            }
            guard buffer.readableBytes >= 1 + Int(length) else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: 5)
            let body = buffer.readSlice(length: Int(length) - 4)!
            context.fireChannelRead(NIOAny(Message(type: type, body: body)))
            return .continue
        }
    }

    /// Messages between the event loop and the consumer, bounded by bytes.
    final class Inbox: @unchecked Sendable {
        static let pauseBytes = 32 << 20
        private struct State {
            var messages: [Message] = []
            var bytes = 0
            var failure: (any Error)?
            var waiter: CheckedContinuation<[Message], any Error>?
            var paused = false
        }
        private let state = Locked(State())

        /// Called on the event loop; returns whether reading should pause.
        func add(_ message: Message) -> Bool {
            state.withLock { s in
                s.messages.append(message)
                s.bytes += message.body.readableBytes + 5
                if s.bytes > Self.pauseBytes { s.paused = true }
                return s.paused
            }
        }

        /// Wakes the consumer with what arrived (on channelReadComplete).
        func flush() {
            let (waiter, messages) = state.withLock { s -> (CheckedContinuation<[Message], any Error>?, [Message]) in
                guard let waiter = s.waiter, !s.messages.isEmpty else { return (nil, []) }
                s.waiter = nil
                defer {
                    s.messages = []
                    s.bytes = 0
                }
                return (waiter, s.messages)
            }
            waiter?.resume(returning: messages)
        }

        func fail(_ error: any Error) {
            let waiter = state.withLock { s -> CheckedContinuation<[Message], any Error>? in
                if s.failure == nil { s.failure = error }
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume(throwing: error)
        }

        /// Waits for messages; a cancelled task stops waiting at once (a shutdown need not wait for the next
        /// keepalive).
        func take() async throws -> [Message] {
            try await withTaskCancellationHandler {
                try await waitForMessages()
            } onCancel: {
                fail(CancellationError())
            }
        }

        private func waitForMessages() async throws -> [Message] {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { s -> Result<[Message], any Error>? in
                    if !s.messages.isEmpty {
                        defer {
                            s.messages = []
                            s.bytes = 0
                        }
                        return .success(s.messages)
                    }
                    if let failure = s.failure { return .failure(failure) }
                    s.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        }

        /// After the consumer took messages: resume reading if it was paused.
        func consumed(_ channel: any Channel) {
            let resume = state.withLock { s -> Bool in
                guard s.paused, s.bytes < Self.pauseBytes / 2 else { return false }
                s.paused = false
                return true
            }
            if resume {
                channel.eventLoop.execute {
                    channel.setOption(ChannelOptions.autoRead, value: true).whenSuccess { channel.read() }
                }
            }
        }
    }

    final class InboxHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = Message
        let inbox: Inbox
        init(inbox: Inbox) { self.inbox = inbox }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if inbox.add(unwrapInboundIn(data)) {
                _ = context.channel.setOption(ChannelOptions.autoRead, value: false)
            }
        }

        func channelReadComplete(context: ChannelHandlerContext) { inbox.flush() }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            inbox.fail(CaptureError(.connectionLost, "the replication connection failed: \(error)"))
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            inbox.fail(CaptureError(.connectionLost, "the replication connection closed"))
        }
    }
}
