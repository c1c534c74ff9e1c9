import EventLog

/// Appends captured transactions to the log exactly once, however often PostgreSQL delivers them again.
///
/// Every streamed record carries two headers: `cdc.lsn`, its transaction's end LSN (decimal), and `cdc.tx`,
/// `index/count` — its place among the records that transaction wrote to this partition. Snapshot records
/// carry neither (they carry `cdc.snapshot`).
///
/// Invariants:
/// - Transactions arrive in commit order, so end LSNs increase; the records of one transaction for one
///   partition are consecutive in that partition, in the order PostgreSQL made the changes.
/// - All of a transaction's records for one partition go into one appended batch, unless they alone exceed a
///   batch (the topic's `maxRecordBytes / 2`); then they fill consecutive batches and `cdc.tx` tells a
///   reader where the transaction ends (`index + 1 == count`).
/// - Before writing to a partition the writer knows the last record there (read once, from the log): a
///   transaction whose end LSN is below that record's is skipped, one equal to it is resumed after that
///   record's index. So a transaction delivered again after a crash — before the slot was confirmed past it —
///   adds exactly the records that were not yet appended, in every partition independently.
/// - ``write(_:)`` returns only after every record it was given is appended — durable as the topic's policy
///   says: past `kill -9` always, past power loss under `sync` (the connector's default for the topics it
///   creates) — so the caller may then confirm the slot past the last transaction.
final class CaptureWriter {
    struct Position: Equatable {
        /// End LSN of the transaction that wrote the partition's last record (0: none, or a snapshot record).
        var lsn: UInt64
        /// That record's index among its transaction's records in the partition.
        var index: Int
    }

    let log: Log
    let topicConfiguration: TopicConfiguration
    private var positions: [TopicPartition: Position] = [:]
    private var topics: [String: (partitions: Int, configuration: TopicConfiguration)] = [:]
    private var builders: [TopicPartition: RecordBatchBuilder] = [:]
    private var order: [TopicPartition] = []
    /// Records appended and records skipped as already present (statistics).
    private(set) var appended = 0
    private(set) var skipped = 0

    init(log: Log, topicConfiguration: TopicConfiguration) {
        self.log = log
        self.topicConfiguration = topicConfiguration
    }

    /// Appends the transactions' records (each transaction's in order, as ``RecordMaker`` made them).
    func write(_ transactions: [(lsn: UInt64, records: [PendingRecord])]) throws(CaptureError) {
        for (lsn, records) in transactions {
            var byPartition: [TopicPartition: [PendingRecord]] = [:]
            var partitionOrder: [TopicPartition] = []
            for record in records {
                let target = TopicPartition(record.topic, try partition(of: record))
                if byPartition[target] == nil { partitionOrder.append(target) }
                byPartition[target, default: []].append(record)
            }
            for target in partitionOrder {
                let records = byPartition[target]!
                let position = try self.position(target)
                let first: Int
                if lsn < position.lsn {
                    first = records.count
                } else if lsn == position.lsn {
                    first = position.index + 1
                } else {
                    first = 0
                }
                skipped += min(first, records.count)
                guard first < records.count else { continue }
                try add(records, from: first, lsn: lsn, to: target)
                positions[target] = Position(lsn: lsn, index: records.count - 1)
            }
        }
        try appendAll()
    }

    /// Appends snapshot records (no positions: a snapshot is redone whole after a crash).
    func writeSnapshot(_ records: [PendingRecord]) throws(CaptureError) {
        for record in records {
            let target = TopicPartition(record.topic, try partition(of: record))
            try add([record], from: 0, lsn: nil, to: target)
        }
        try appendAll()
    }

    /// Forgets what it knows of the log (after an error, so the next write reads positions afresh).
    func reset() {
        positions.removeAll()
        builders.removeAll()
        order.removeAll()
    }

    // MARK: -

    private func partition(of record: PendingRecord) throws(CaptureError) -> Int {
        let count = try topic(record.topic).partitions
        guard count > 1, let key = record.key else { return 0 }
        return Partitioner.partition(forKey: key, partitionCount: count)
    }

    private func topic(_ name: String) throws(CaptureError) -> (partitions: Int, configuration: TopicConfiguration) {
        if let known = topics[name] { return known }
        do {
            try log.createTopicIfNeeded(name, configuration: topicConfiguration)
            let description = try log.describeTopic(name)
            let found = (description.partitions.count, description.configuration)
            topics[name] = found
            return found
        } catch {
            throw CaptureError(.invalidConfiguration, "cannot create or open topic '\(name)': \(error)")
        }
    }

    /// The partition's last record's position, read from the log the first time.
    private func position(_ target: TopicPartition) throws(CaptureError) -> Position {
        if let known = positions[target] { return known }
        var found = Position(lsn: 0, index: -1)
        do {
            let (start, end) = try log.offsets(topic: target.topic, partition: target.partition)
            if end > start {
                // The last record (a compacted-away offset reads on: then look at the tail's last batch).
                var tail = try log.read(topic: target.topic, partition: target.partition, from: end - 1, maxRecords: 1)
                if tail.isEmpty {
                    tail = try log.read(
                        topic: target.topic, partition: target.partition, from: max(start, end - 10_000),
                        maxRecords: 10_000)
                }
                if let last = tail.last { found = Self.position(of: last) }
            }
        } catch {
            throw CaptureError(.invalidConfiguration, "cannot read the end of \(target): \(error)")
        }
        positions[target] = found
        return found
    }

    static func position(of record: Record) -> Position {
        var position = Position(lsn: 0, index: -1)
        for header in record.headers {
            guard let value = header.value.map({ String(decoding: $0, as: UTF8.self) }) else { continue }
            if header.key == "cdc.lsn", let lsn = UInt64(value) { position.lsn = lsn }
            if header.key == "cdc.tx", let slash = value.firstIndex(of: "/"), let index = Int(value[..<slash]) {
                position.index = index
            }
        }
        return position
    }

    private func add(_ records: [PendingRecord], from first: Int, lsn: UInt64?, to target: TopicPartition)
        throws(CaptureError)
    {
        let configuration = try topic(target.topic).configuration
        let limit = max(configuration.maxRecordBytes / 2, 1024)
        let builder: RecordBatchBuilder
        if let existing = builders[target] {
            builder = existing
        } else {
            builder = RecordBatchBuilder(compression: configuration.compression)
            builders[target] = builder
            order.append(target)
        }
        let estimate = records[first...].reduce(0) { $0 + ($1.value?.count ?? 0) + ($1.key?.count ?? 0) + 64 }
        if !builder.isEmpty && builder.encodedSize + estimate > limit { try append(target) }
        for index in first..<records.count {
            let record = records[index]
            if !builder.isEmpty && builder.encodedSize + (record.value?.count ?? 0) > limit { try append(target) }
            var headers = record.headers
            if let lsn {
                headers.append(Header(key: "cdc.lsn", value: Array(String(lsn).utf8)))
                headers.append(Header(key: "cdc.tx", value: Array("\(index)/\(records.count)".utf8)))
            } else {
                headers.append(Header(key: "cdc.snapshot", value: Array("true".utf8)))
            }
            builder.append(key: record.key, value: record.value, timestamp: record.timestamp, headers: headers)
        }
    }

    private func append(_ target: TopicPartition) throws(CaptureError) {
        guard let builder = builders[target], !builder.isEmpty else { return }
        do {
            try log.append(builder, to: target.topic, partition: target.partition)
        } catch let error where error.code == .recordTooLarge {
            throw CaptureError(
                .recordTooLarge,
                "a change for \(target) is larger than the topic accepts (max.message.bytes "
                    + "\(topics[target.topic]?.configuration.maxRecordBytes ?? 0)); raise it with --max-record-bytes. "
                    + "Nothing was confirmed to PostgreSQL: the change is read again on restart")
        } catch {
            throw CaptureError(.database, "appending to \(target) failed: \(error)")
        }
        appended += builder.count
        builder.reset()
    }

    private func appendAll() throws(CaptureError) {
        for target in order { try append(target) }
    }
}
