public import EventLog
import EventLogFoundation
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// `eventlog serve --kafka`: the log over Kafka's wire protocol, so Kafka clients in any language produce
/// to it and consume from it — and the same clients can later point at a Kafka cluster unchanged.
///
/// Connections (swift-nio): a frame decoder that refuses a size prefix over
/// ``KafkaServerConfiguration/maxRequestBytes`` before buffering it, then one request at a time per
/// connection, answered in order (Kafka clients match answers by order). Per-connection memory is bounded
/// by about three frames: the decoder's partial frame plus at most two decoded frames waiting (the async
/// channel's back-pressure stops reading from the socket beyond that), plus the response being written,
/// itself bounded by ``KafkaServerConfiguration/maxFetchBytes``.
///
/// Shutdown (swift-service-lifecycle, SIGTERM/SIGINT): stop accepting, let each connection finish the
/// request it is serving, close the connections; the caller then closes the log cleanly.
public final class KafkaServer: Service, Sendable {
    private let log: Log
    private let configuration: KafkaServerConfiguration
    private let logger: Logger
    private let boundPort = Locked<Int?>(nil)
    private let connections = ConnectionRegistry()
    private let metricsStore = Locked<BrokerMetrics?>(nil)
    /// Called once the socket is listening, with the port (useful with port 0).
    private let onListening: @Sendable (Int) -> Void

    public init(
        log: Log, configuration: KafkaServerConfiguration, logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.log = log
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    /// The port the server listens on, once it does.
    public var port: Int? { boundPort.withLock { $0 } }

    /// The server's counters in Prometheus text format.
    public func metricsText() -> String { metricsStore.withLock { $0 }?.render() ?? "" }

    public func run() async throws {
        // A peer that closes while its answer is being written must cost an EPIPE on that socket, not the
        // process: writes to sockets on Linux raise SIGPIPE unless it is ignored.
        signal(SIGPIPE, SIG_IGN)
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        do { try await serve(pool: pool) } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
        try await pool.shutdownGracefully()
    }

    private func serve(pool: NIOThreadPool) async throws {
        var configuration = self.configuration
        let maxRequestBytes = configuration.maxRequestBytes
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(KafkaFrameDecoder(maxBytes: maxRequestBytes)))
                    return try NIOAsyncChannel<ByteBuffer, IOData>(
                        wrappingChannelSynchronously: child,
                        configuration: .init(backPressureStrategy: .init(lowWatermark: 1, highWatermark: 2)))
                }
            }
        let port = server.channel.localAddress?.port ?? configuration.port
        if configuration.advertisedPort == nil && configuration.port == 0 { configuration.advertisedPort = port }
        boundPort.withLock { $0 = port }
        let broker = KafkaBroker(log: log, configuration: configuration, blocking: pool, logger: logger)
        metricsStore.withLock { $0 = broker.metrics }
        logger.info("kafka listener started", metadata: ["address": "\(configuration.host):\(port)"])
        onListening(port)
        let connections = self.connections
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                let metricsPath = log.directory + "/" + Self.metricsFile
                group.addTask {
                    // Session and rebalance timeouts every 100 ms; the counters to a file every second.
                    var ticks = 0
                    while !Task.isCancelled && !connections.isShuttingDown {
                        try? await Task.sleep(for: .milliseconds(100))
                        await broker.groups.tick()
                        ticks += 1
                        if ticks % 10 == 0 { Self.writeAtomically(broker.metrics.render(), to: metricsPath) }
                    }
                    Self.writeAtomically(broker.metrics.render(), to: metricsPath)
                }
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await Self.serve(connection, broker: broker, registry: connections) }
                    }
                }
            }
        } onGracefulShutdown: {
            // Stop accepting first, then close the listener once the connections it already accepted have been
            // taken from its queue (and closed by `serve`, which sees the shutdown): closing it with accepted
            // connections still queued drops them unclosed, which swift-nio traps on ("Deinited
            // NIOAsyncWriter without calling finish()", apple/swift-nio#2813).
            connections.shutDown()
            let channel = server.channel
            channel.eventLoop.execute {
                channel.setOption(.autoRead, value: false).whenComplete { _ in
                    channel.eventLoop.scheduleTask(in: .milliseconds(200)) { channel.close(promise: nil) }
                }
            }
        }
        logger.info("kafka listener stopped")
    }

    /// The file in the log directory where a running server leaves its counters (Prometheus text format),
    /// rewritten every second, so `eventlog stats` in another process can show them.
    public static let metricsFile = "kafka-server.metrics"

    /// Replaces `path` with `text` (temporary file, then rename); a failure only loses this update.
    private static func writeAtomically(_ text: String, to path: String) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if written == bytes.count { rename(temporary, path) } else { unlink(temporary) }
    }

    /// Serves one connection: a request at a time, answers in order.
    private static func serve(
        _ connection: NIOAsyncChannel<ByteBuffer, IOData>, broker: KafkaBroker, registry: ConnectionRegistry
    ) async {
        let channel = connection.channel
        let remote = channel.remoteAddress.map { "\($0)" } ?? "?"
        guard registry.add(channel) else {
            // Shutting down: close it through the async channel, which finishes its writer (dropping a
            // NIOAsyncChannel unfinished traps in swift-nio).
            try? await connection.executeThenClose { _, _ in }
            return
        }
        broker.metrics.connection(opened: true)
        defer {
            registry.remove(channel)
            broker.metrics.connection(opened: false)
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                for try await frame in inbound {
                    registry.setBusy(channel, true)
                    broker.metrics.bytesIn(frame.readableBytes + 4)
                    if let response = try await broker.handle(frame) {
                        // Written straight to the channel and awaited, so a Fetch's file regions are sent
                        // (sendfile) before their descriptors are closed, and answers leave in order.
                        defer { response.release() }
                        for part in response.parts.dropLast() { channel.write(part, promise: nil) }
                        try await channel.writeAndFlush(response.parts[response.parts.count - 1]).get()
                    }
                    // After a shutdown began, finish this request, then close.
                    if !registry.setBusy(channel, false) { break }
                }
            }
        } catch let error as KafkaProtocolError {
            broker.logger.warning(
                "closing a Kafka connection after a bad request", metadata: ["peer": "\(remote)", "error": "\(error)"])
        } catch {
            broker.logger.debug("Kafka connection ended", metadata: ["peer": "\(remote)", "error": "\(error)"])
        }
    }
}

/// The open connections, so a shutdown can close idle ones at once and busy ones after their request.
final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: (channel: any Channel, busy: Bool)] = [:]
        var shuttingDown = false
    }

    private let state = Locked(State())

    var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// Registers a connection; false once a shutdown began.
    func add(_ channel: any Channel) -> Bool {
        state.withLock { state in
            guard !state.shuttingDown else { return false }
            state.channels[ObjectIdentifier(channel)] = (channel, false)
            return true
        }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Marks the connection busy or idle; returns false when it should close now (shutting down).
    @discardableResult
    func setBusy(_ channel: any Channel, _ busy: Bool) -> Bool {
        state.withLock { state in
            state.channels[ObjectIdentifier(channel)]?.busy = busy
            return !state.shuttingDown
        }
    }

    /// Begins the shutdown: idle connections close now; busy ones close after their current request.
    func shutDown() {
        let idle = state.withLock { state -> [any Channel] in
            state.shuttingDown = true
            return state.channels.values.filter { !$0.busy }.map(\.channel)
        }
        for channel in idle { channel.close(promise: nil) }
    }
}

/// Splits the byte stream into request frames: a big-endian int32 size, then that many bytes.
///
/// A size below the smallest request header (10 bytes) or above `maxBytes` is a protocol error that
/// closes the connection before anything more is buffered.
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maxBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else {
            return .needMoreData
        }
        guard size >= 10, Int(size) <= maxBytes else {
            throw KafkaProtocolError("request frame of \(size) bytes (allowed: 10 to \(maxBytes))")
        }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(size))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // A peer that vanished mid-frame: drop the partial frame.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        return .needMoreData
    }
}
