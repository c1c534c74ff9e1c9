import EventLog
import NIOCore

extension KafkaBroker {
    private struct PartitionProduce: Sendable {
        var index: Int32
        var records: ByteBuffer?
    }

    private struct PartitionResult: Sendable {
        var index: Int32
        var error: KafkaError
        var baseOffset: Int64 = -1
        var logStartOffset: Int64 = -1
        var message: String?
    }

    /// Produce v3–8: each partition's records must be exactly one RecordBatch v2, validated by the log as
    /// Kafka's broker validates it, stored with only its base offset and leader epoch rewritten. Returns
    /// `nil` for acks=0 (no response at all, as Kafka), and for a failed acks=0 produce throws, which closes
    /// the connection (as Kafka does).
    func produce(_ request: inout WireReader, version: Int16) async throws -> ByteBuffer? {
        let transactionalId = try request.nullableString("transactional_id")
        let acks = try request.int16("acks")
        _ = try request.int32("timeout_ms")
        let topics = try request.array("topics") { request -> (String, [PartitionProduce]) in
            let name = try request.string("topic name")
            let partitions = try request.array("partitions") { request in
                PartitionProduce(
                    index: try request.int32("partition index"), records: try request.nullableBytes("records"))
            }
            return (name, partitions)
        }
        let log = self.log
        let autoCreate = configuration.autoCreateTopics
        let defaultPartitions = configuration.defaultPartitions
        let metrics = self.metrics
        let results: [(String, [PartitionResult])]
        if transactionalId != nil || ![-1, 0, 1].contains(acks) {
            let error: KafkaError = transactionalId != nil ? .invalidRequest : .invalidRequiredAcks
            results = topics.map { name, partitions in
                (name, partitions.map { PartitionResult(index: $0.index, error: error) })
            }
        } else {
            results = try await offload {
                topics.map { name, partitions in
                    if autoCreate && TopicNameCheck.isValid(name) && (try? log.partitionCount(name)) == nil {
                        _ = try? log.createTopicIfNeeded(
                            name, configuration: TopicConfiguration(partitions: defaultPartitions))
                    }
                    return (
                        name,
                        partitions.map { partition in
                            Self.append(partition, to: name, log: log, metrics: metrics)
                        }
                    )
                }
            }
        }
        if acks == 0 {
            // No answer is due, so a failure could go unnoticed: Kafka's broker closes the connection, which
            // the client sees (and reconnects, refreshing its metadata). So does this one.
            if let failed = results.lazy.flatMap({ topic in topic.1.map { (topic.0, $0) } }).first(where: {
                $0.1.error != .none
            }) {
                throw KafkaProtocolError(
                    "a produce with acks=0 to \(failed.0)-\(failed.1.index) failed (\(failed.1.error)); closing the connection as Kafka does"
                )
            }
            return nil
        }
        var writer = body()
        writer.array(results) { writer, topic in
            writer.string(topic.0)
            writer.array(topic.1) { writer, result in
                writer.int32(result.index)
                writer.int16(result.error.rawValue)
                writer.int64(result.baseOffset)
                writer.int64(-1)  // log append time: the topic uses the producer's create time
                if version >= 5 { writer.int64(result.logStartOffset) }
                if version >= 8 {
                    writer.arrayCount(0)  // record errors
                    writer.string(result.message)
                }
            }
        }
        writer.int32(0)  // throttle
        return writer.buffer
    }

    private static func append(_ partition: PartitionProduce, to topic: String, log: Log, metrics: BrokerMetrics)
        -> PartitionResult
    {
        guard var records = partition.records, records.readableBytes > 0 else {
            return PartitionResult(index: partition.index, error: .invalidRecord, message: "no records")
        }
        do {
            let count = records.readableBytes
            let result = try records.withUnsafeMutableReadableBytes { bytes in
                try log.appendEncodedBatch(bytes, to: topic, partition: Int(partition.index))
            }
            metrics.produced(bytes: count)
            let start = (try? log.offsets(topic: topic, partition: Int(partition.index)).start) ?? -1
            return PartitionResult(
                index: partition.index, error: .none, baseOffset: result.baseOffset, logStartOffset: start)
        } catch {
            let code = kafkaError(error)
            return PartitionResult(
                index: partition.index, error: code, message: (error as? EventLogError)?.message ?? "\(error)")
        }
    }
}
