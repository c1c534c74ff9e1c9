import EventLog
import Logging
import NIOCore
import NIOPosix

/// What `eventlog serve --kafka` listens on and how it behaves.
public struct KafkaServerConfiguration: Sendable {
    /// The address to listen on.
    public var host: String
    public var port: Int
    /// The address clients are told to connect to (Metadata, FindCoordinator); default: the listening one.
    public var advertisedHost: String?
    public var advertisedPort: Int?
    /// Whether Metadata and Produce create unknown topics, as Kafka's `auto.create.topics.enable`.
    public var autoCreateTopics = true
    /// Partitions of an auto-created topic (Kafka's `num.partitions`).
    public var defaultPartitions = 1
    /// The largest request frame accepted (Kafka's `socket.request.max.bytes`); a larger size prefix
    /// closes the connection before anything is buffered.
    public var maxRequestBytes = 100 << 20
    /// The most record bytes one Fetch response carries, whatever the client asks for.
    public var maxFetchBytes = 64 << 20

    public init(host: String = "127.0.0.1", port: Int = 9092) {
        self.host = host
        self.port = port
    }

    var advertised: (host: String, port: Int32) { (advertisedHost ?? host, Int32(advertisedPort ?? port)) }
}

/// Answers Kafka requests from one log. One broker (node 0) that leads every partition, coordinates every
/// group and is its own controller.
///
/// Each connection hands it one request at a time (``handle(_:)``), so answers leave in request order.
/// Log calls that may block (appends waiting for fdatasync, reads) run on a thread pool, never on the
/// event loop or the cooperative pool.
final class KafkaBroker: Sendable {
    let log: Log
    let configuration: KafkaServerConfiguration
    let groups: GroupCoordinator
    let blocking: NIOThreadPool
    let logger: Logger
    let metrics = BrokerMetrics()

    init(log: Log, configuration: KafkaServerConfiguration, blocking: NIOThreadPool, logger: Logger) {
        self.log = log
        self.configuration = configuration
        self.blocking = blocking
        self.logger = logger
        groups = GroupCoordinator(log: log, logger: logger)
    }

    /// Runs `body` on the blocking pool.
    func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await blocking.runIfActive(body)
    }

    /// Decodes one request frame (without its size prefix) and returns the response frame (with it), or
    /// `nil` when the request expects none (Produce with acks=0).
    ///
    /// - Throws: ``KafkaProtocolError`` when the request cannot be decoded or its version is refused: the
    ///   caller closes the connection.
    func handle(_ frame: ByteBuffer) async throws -> ResponseFrame? {
        var header = WireReader(frame, flexible: false)
        let rawKey = try header.int16("api_key")
        let version = try header.int16("api_version")
        let correlation = try header.int32("correlation_id")
        let clientId = try header.nullableString("client_id") ?? ""  // int16 length, even in header v2
        guard let key = ApiKey(rawValue: rawKey) else {
            throw KafkaProtocolError("unknown API key \(rawKey)")
        }
        metrics.request(key)
        logger.trace("request", metadata: ["api": "\(key)", "version": "\(version)", "correlation": "\(correlation)"])
        if key == .apiVersions && !key.versions.contains(version) {
            // An unknown ApiVersions version gets a v0 body with UNSUPPORTED_VERSION, so the client retries.
            return ResponseFrame(
                respond(correlation, flexibleHeader: false, flexible: false) {
                    apiVersionsBody(&$0, version: 0, error: .unsupportedVersion)
                })
        }
        guard key.servedVersions.contains(version) else {
            throw KafkaProtocolError("\(key) version \(version) is not supported (served: \(key.servedVersions))")
        }
        let flexible = key.isFlexible(version)
        var request = WireReader(header.buffer, flexible: flexible)
        if flexible { try request.taggedFields() }
        // ApiVersions responses always use header v0 (clients parse them before knowing versions).
        let flexibleHeader = flexible && key != .apiVersions
        if key == .apiVersions {
            if version >= 3 {
                _ = try request.string("client_software_name")
                _ = try request.string("client_software_version")
                try request.taggedFields()
            }
            return ResponseFrame(
                respond(correlation, flexibleHeader: false, flexible: flexible) {
                    apiVersionsBody(&$0, version: version, error: .none)
                })
        }
        if key == .fetch {
            // Fetch answers with file regions (sendfile) after a header whose size covers them.
            let parts = try await fetch(&request, version: version)
            let size = parts.reduce(0) { $0 + $1.readableBytes }
            var header = respond(correlation, flexibleHeader: flexibleHeader, flexible: flexible) { _ in }
            header.setInteger(Int32(header.readableBytes - 4 + size), at: header.readerIndex, endianness: .big)
            metrics.bytesOut(size)
            return ResponseFrame(parts: [.byteBuffer(header)] + parts)
        }
        guard let body = try await answer(key, &request, version: version, clientId: clientId) else {
            return nil  // Produce with acks=0
        }
        return ResponseFrame(
            respond(correlation, flexibleHeader: flexibleHeader, flexible: flexible) {
                $0.buffer.writeImmutableBuffer(body)
            })
    }

    /// The response body of every API but ApiVersions; `nil` when none is due.
    private func answer(_ key: ApiKey, _ request: inout WireReader, version: Int16, clientId: String) async throws
        -> ByteBuffer?
    {
        switch key {
        case .metadata: try await metadata(&request, version: version)
        case .produce: try await produce(&request, version: version)
        case .fetch: throw KafkaProtocolError("Fetch is answered by handle")
        case .listOffsets: try await listOffsets(&request, version: version)
        case .findCoordinator: try findCoordinator(&request, version: version)
        case .initProducerId: try await initProducerId(&request, version: version)
        case .createTopics, .deleteTopics: try await topicAdministration(key, &request, version: version)
        case .apiVersions: throw KafkaProtocolError("ApiVersions is answered by handle")
        case .offsetCommit, .offsetFetch, .joinGroup, .syncGroup, .heartbeat, .leaveGroup, .describeGroups,
            .listGroups:
            try await groupRequest(key, &request, version: version, clientId: clientId)
        }
    }

    /// Builds a response frame: size, correlation id, (tagged fields), body.
    private func respond(
        _ correlation: Int32, flexibleHeader: Bool, flexible: Bool, _ body: (inout WireWriter) -> Void
    ) -> ByteBuffer {
        var writer = WireWriter(ByteBufferAllocator().buffer(capacity: 256), flexible: flexible)
        writer.int32(0)  // size, patched below
        writer.int32(correlation)
        if flexibleHeader { writer.unsignedVarint(0) }
        body(&writer)
        writer.buffer.setInteger(
            Int32(writer.buffer.readableBytes - 4), at: writer.buffer.readerIndex, endianness: .big)
        metrics.bytesOut(writer.buffer.readableBytes)
        return writer.buffer
    }

    /// A body writer in the request's encoding.
    /// One response frame: buffers, and for Fetch the file regions of the stored batches, sent with
    /// `sendfile`. Whoever takes one sends it and then calls ``release()``, which closes the regions'
    /// descriptors (duplicates made for this response).
    struct ResponseFrame: Sendable {
        let parts: [IOData]

        init(parts: [IOData]) { self.parts = parts }
        init(_ buffer: ByteBuffer) { parts = [.byteBuffer(buffer)] }

        /// The frame's bytes, the size prefix included.
        var byteCount: Int { parts.reduce(0) { $0 + $1.readableBytes } }

        func release() {
            for case .fileRegion(let region) in parts { try? region.fileHandle.close() }
        }
    }

    func body(flexible: Bool = false) -> WireWriter {
        WireWriter(ByteBufferAllocator().buffer(capacity: 256), flexible: flexible)
    }

    // MARK: ApiVersions

    private func apiVersionsBody(_ writer: inout WireWriter, version: Int16, error: KafkaError) {
        writer.int16(error.rawValue)
        writer.array(ApiKey.allCases) { writer, key in
            writer.int16(key.rawValue)
            writer.int16(key.versions.lowerBound)
            writer.int16(key.versions.upperBound)
            writer.taggedFields()
        }
        if version >= 1 { writer.int32(0) }  // throttle
        writer.taggedFields()
    }

    // MARK: Metadata

    private func metadata(_ request: inout WireReader, version: Int16) async throws -> ByteBuffer {
        let requested: [String]?
        if let count = try request.arrayCount("topics") {
            var names: [String] = []
            for _ in 0..<count { names.append(try request.string("topic name")) }
            // v0: an empty list means every topic.
            requested = version == 0 && names.isEmpty ? nil : names
        } else {
            requested = nil
        }
        var allowCreate = true
        if version >= 4 { allowCreate = try request.bool("allow_auto_topic_creation") }
        if version >= 8 {
            _ = try request.bool("include_cluster_authorized_operations")
            _ = try request.bool("include_topic_authorized_operations")
        }
        let names = requested ?? log.topicNames()
        if let requested, allowCreate && configuration.autoCreateTopics {
            let log = self.log
            let partitions = configuration.defaultPartitions
            try await offload {
                for name in requested where (try? log.partitionCount(name)) == nil {
                    _ = try? log.createTopicIfNeeded(name, configuration: TopicConfiguration(partitions: partitions))
                }
            }
        }
        var writer = body()
        if version >= 3 { writer.int32(0) }  // throttle
        let (host, port) = configuration.advertised
        writer.arrayCount(1)
        writer.int32(0)  // node id
        writer.string(host)
        writer.int32(port)
        if version >= 1 { writer.string(nil) }  // rack
        if version >= 2 { writer.string("eventlog") }  // cluster id
        if version >= 1 { writer.int32(0) }  // controller id
        writer.arrayCount(names.count)
        for name in names {
            let partitions = try? log.partitionCount(name)
            let error: KafkaError =
                partitions != nil ? .none : (TopicNameCheck.isValid(name) ? .unknownTopicOrPartition : .invalidTopic)
            writer.int16(error.rawValue)
            writer.string(name)
            if version >= 1 { writer.bool(name.hasPrefix("__")) }  // internal
            writer.arrayCount(partitions ?? 0)
            for index in 0..<(partitions ?? 0) {
                writer.int16(0)
                writer.int32(Int32(index))
                writer.int32(0)  // leader
                if version >= 7 { writer.int32(0) }  // leader epoch
                writer.array([Int32(0)]) { $0.int32($1) }  // replicas
                writer.array([Int32(0)]) { $0.int32($1) }  // in-sync replicas
                if version >= 5 { writer.arrayCount(0) }  // offline replicas
            }
            if version >= 8 { writer.int32(Int32.min) }  // topic authorized operations: not computed
        }
        if version >= 8 { writer.int32(Int32.min) }  // cluster authorized operations (v8–10)
        return writer.buffer
    }

    // MARK: ListOffsets

    private func listOffsets(_ request: inout WireReader, version: Int16) async throws -> ByteBuffer {
        _ = try request.int32("replica_id")
        if version >= 2 { _ = try request.int8("isolation_level") }
        struct Query { var partition: Int32; var timestamp: Int64 }
        let topics = try request.array("topics") { request -> (String, [Query]) in
            let name = try request.string("topic")
            let partitions = try request.array("partitions") { request -> Query in
                let partition = try request.int32("partition_index")
                if version >= 4 { _ = try request.int32("current_leader_epoch") }
                let timestamp = try request.int64("timestamp")
                if version == 0 { _ = try request.int32("max_num_offsets") }
                return Query(partition: partition, timestamp: timestamp)
            }
            return (name, partitions)
        }
        let log = self.log
        let answers = try await offload {
            topics.map { name, queries in
                (
                    name,
                    queries.map { query -> (Int32, KafkaError, Int64, Int64) in
                        do {
                            let (start, end) = try log.offsets(topic: name, partition: Int(query.partition))
                            switch query.timestamp {
                            case -2: return (query.partition, .none, -1, start)
                            case -1: return (query.partition, .none, -1, end)
                            default:
                                let offset = try log.offset(
                                    topic: name, partition: Int(query.partition), forTimestamp: query.timestamp)
                                return offset >= end
                                    ? (query.partition, .none, -1, -1)
                                    : (query.partition, .none, query.timestamp, offset)
                            }
                        } catch {
                            return (query.partition, KafkaBroker.kafkaError(error), -1, -1)
                        }
                    }
                )
            }
        }
        var writer = body()
        if version >= 2 { writer.int32(0) }
        writer.array(answers) { writer, topic in
            writer.string(topic.0)
            writer.array(topic.1) { writer, answer in
                writer.int32(answer.0)
                writer.int16(answer.1.rawValue)
                if version == 0 {
                    writer.array(answer.3 >= 0 ? [answer.3] : []) { $0.int64($1) }
                } else {
                    writer.int64(answer.2)
                    writer.int64(answer.3)
                    if version >= 4 { writer.int32(0) }  // leader epoch
                }
            }
        }
        return writer.buffer
    }

    // MARK: FindCoordinator, InitProducerId

    private func findCoordinator(_ request: inout WireReader, version: Int16) throws -> ByteBuffer {
        _ = try request.string("key")
        let keyType = version >= 1 ? try request.int8("key_type") : 0
        var writer = body()
        if version >= 1 { writer.int32(0) }
        let (host, port) = configuration.advertised
        let error: KafkaError = keyType == 0 ? .none : .coordinatorNotAvailable  // transactions: none here
        writer.int16(error.rawValue)
        if version >= 1 { writer.string(error == .none ? nil : "transaction coordinators are not supported") }
        writer.int32(error == .none ? 0 : -1)
        writer.string(error == .none ? host : "")
        writer.int32(error == .none ? port : -1)
        return writer.buffer
    }

    private func initProducerId(_ request: inout WireReader, version: Int16) async throws -> ByteBuffer {
        let transactionalId = try request.nullableString("transactional_id")
        _ = try request.int32("transaction_timeout_ms")
        var writer = body()
        writer.int32(0)
        if transactionalId != nil {
            writer.int16(KafkaError.invalidRequest.rawValue)  // no transactions
            writer.int64(-1)
            writer.int16(-1)
            return writer.buffer
        }
        let log = self.log
        do {
            let identity = try await offload { try log.makeIdempotentProducer().identity }
            writer.int16(0)
            writer.int64(identity.id)
            writer.int16(identity.epoch)
        } catch {
            writer.int16(Self.kafkaError(error).rawValue)
            writer.int64(-1)
            writer.int16(-1)
        }
        return writer.buffer
    }

    // MARK: Errors

    /// The Kafka error code for a log error.
    static func kafkaError(_ error: any Error) -> KafkaError {
        guard let error = error as? EventLogError else { return .unknownServerError }
        switch error.code {
        case .unknownTopic, .unknownPartition: return .unknownTopicOrPartition
        case .invalidTopicName: return .invalidTopic
        case .offsetOutOfRange: return .offsetOutOfRange
        case .recordTooLarge: return .messageTooLarge
        case .corruptData: return .corruptMessage
        case .compression: return .unsupportedCompressionType
        case .invalidInput, .keyRequired: return .invalidRecord
        case .outOfOrderSequence: return .outOfOrderSequence
        case .producerFenced: return .invalidProducerEpoch
        case .topicAlreadyExists: return .topicAlreadyExists
        case .io: return .kafkaStorageError
        default: return .unknownServerError
        }
    }
}

/// Kafka's topic naming rule, to tell an invalid name from an unknown one.
enum TopicNameCheck {
    static func isValid(_ name: String) -> Bool {
        (try? TopicName.validate(name)) != nil
    }
}
