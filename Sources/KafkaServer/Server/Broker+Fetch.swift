import EventLog
import NIOCore

extension KafkaBroker {
    private struct FetchPartition: Sendable {
        var index: Int32
        var offset: Int64
        var maxBytes: Int32
    }

    private struct FetchedPartition: Sendable {
        var index: Int32
        var error: KafkaError
        var highWatermark: Int64 = -1
        var logStartOffset: Int64 = -1
        var regions: [EncodedBatchRegions.Region] = []
        var byteCount: Int { regions.reduce(0) { $0 + $1.count } }
    }

    /// Fetch v4–11, without fetch sessions (session id 0): whole stored batches from the one holding each
    /// fetch offset, up to the partition and response limits (the first batch always whole), long-polling
    /// up to `max_wait_ms` — woken by appends — while fewer than `min_bytes` are available.
    ///
    /// The answer is the response body as parts: buffers around the records of each partition, which are
    /// file regions of the segments, sent with `sendfile` (the bytes go from the page cache to the socket).
    func fetch(_ request: inout WireReader, version: Int16) async throws -> [IOData] {
        _ = try request.int32("replica_id")
        let maxWait = try request.int32("max_wait_ms")
        let minBytes = try request.int32("min_bytes")
        let maxBytes = try request.int32("max_bytes")
        _ = try request.int8("isolation_level")
        if version >= 7 {
            _ = try request.int32("session_id")
            _ = try request.int32("session_epoch")
        }
        let topics = try request.array("topics") { request -> (String, [FetchPartition]) in
            let name = try request.string("topic")
            let partitions = try request.array("partitions") { request -> FetchPartition in
                let index = try request.int32("partition")
                if version >= 9 { _ = try request.int32("current_leader_epoch") }
                let offset = try request.int64("fetch_offset")
                if version >= 5 { _ = try request.int64("log_start_offset") }
                return FetchPartition(index: index, offset: offset, maxBytes: try request.int32("partition_max_bytes"))
            }
            return (name, partitions)
        }
        if version >= 7 {
            _ = try request.array("forgotten_topics_data") { request in
                _ = try request.string("topic")
                _ = try request.array("partitions") { try $0.int32("partition") }
            }
        }
        if version >= 11 { _ = try request.string("rack_id") }

        let limit = min(Int(max(maxBytes, 1)), configuration.maxFetchBytes)
        var results = try await read(topics, limit: limit)
        let available = results.reduce(0) { $0 + $1.1.reduce(0) { $0 + $1.byteCount } }
        if available < Int(minBytes) && maxWait > 0 && !results.contains(where: { $0.1.contains { $0.error != .none } })
        {
            var positions: [TopicPartition: Int64] = [:]
            for (name, partitions) in topics {
                for partition in partitions { positions[TopicPartition(name, Int(partition.index))] = partition.offset }
            }
            await log.waitForRecords(positions, timeoutMilliseconds: Int64(maxWait))
            Self.close(results)
            results = try await read(topics, limit: limit)
        }

        var parts: [IOData] = []
        var writer = body()
        writer.int32(0)  // throttle
        if version >= 7 {
            writer.int16(0)
            writer.int32(0)  // session id: no fetch sessions
        }
        writer.array(results) { writer, topic in
            writer.string(topic.0)
            writer.array(topic.1) { writer, partition in
                writer.int32(partition.index)
                writer.int16(partition.error.rawValue)
                writer.int64(partition.highWatermark)
                writer.int64(partition.highWatermark)  // last stable offset: no transactions
                if version >= 5 { writer.int64(partition.logStartOffset) }
                writer.arrayCount(0)  // aborted transactions
                if version >= 11 { writer.int32(-1) }  // preferred read replica
                writer.int32(Int32(partition.byteCount))  // records: the regions that follow
                guard !partition.regions.isEmpty else { return }
                parts.append(.byteBuffer(writer.buffer))
                writer.buffer = ByteBufferAllocator().buffer(capacity: 128)
                for region in partition.regions {
                    let start = Int(region.offset)
                    parts.append(
                        .fileRegion(
                            FileRegion(
                                fileHandle: NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: region.descriptor),
                                readerIndex: start, endIndex: start + region.count)))
                }
            }
        }
        parts.append(.byteBuffer(writer.buffer))
        metrics.fetched(bytes: results.reduce(0) { $0 + $1.1.reduce(0) { $0 + $1.byteCount } })
        return parts
    }

    /// Closes the descriptors of results that will not be sent.
    private static func close(_ results: [(String, [FetchedPartition])]) {
        for (_, partitions) in results {
            for partition in partitions {
                for region in partition.regions { region.close() }
            }
        }
    }

    /// Reads every requested partition, sharing `limit` bytes in request order. The first batch of the
    /// response is whole even when over the limits (Kafka's minOneMessage), so a consumer always makes
    /// progress; after that, a partition whose next batch does not fit gets no bytes this time.
    private func read(_ topics: [(String, [FetchPartition])], limit: Int) async throws -> [(String, [FetchedPartition])]
    {
        let log = self.log
        return try await offload {
            var budget = limit
            var sentAny = false
            return topics.map { name, partitions in
                (
                    name,
                    partitions.map { partition in
                        do {
                            let share = min(Int(max(partition.maxBytes, 0)), budget)
                            let batches = try log.encodedBatchRegions(
                                topic: name, partition: Int(partition.index), from: partition.offset,
                                maxBytes: max(share, 1))
                            var regions = batches.regions
                            if sentAny && batches.byteCount > share {
                                for region in regions { region.close() }
                                regions = []
                            }
                            let count = regions.reduce(0) { $0 + $1.count }
                            if count > 0 {
                                sentAny = true
                                budget -= min(budget, count)
                            }
                            return FetchedPartition(
                                index: partition.index, error: .none, highWatermark: batches.highWatermark,
                                logStartOffset: batches.logStartOffset, regions: regions)
                        } catch {
                            let extent = try? log.offsets(topic: name, partition: Int(partition.index))
                            return FetchedPartition(
                                index: partition.index, error: Self.kafkaError(error),
                                highWatermark: extent?.end ?? -1, logStartOffset: extent?.start ?? -1)
                        }
                    }
                )
            }
        }
    }
}
