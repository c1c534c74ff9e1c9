import EventLog
import EventLogFoundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Drains its inbox into a reusable batch and hands the batch to a closure.
final class CallbackProcessor<Item>: Processor {
    private let drain: Drain<Item>
    private let batch: ([Item]) -> Void
    private var inbox: Inbox<Timestamped<Item>>!
    private var buffer: [Item] = []

    init(drain: @escaping Drain<Item>, batch: @escaping ([Item]) -> Void) {
        self.drain = drain
        self.batch = batch
    }

    func initialize(context: ProcessorContext) throws { inbox = context.inbox(0) }

    func process(ordinal: Int) throws {
        while let (items, count) = inbox.contiguousItems() {
            drain(items, count, &buffer)
            inbox.consume(count)
        }
        if !buffer.isEmpty {
            batch(buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }
}

final class FileSinkProcessor<Item>: Processor {
    private let path: String
    private let format: (Item) -> String
    private var inbox: Inbox<Timestamped<Item>>!
    private var file: UnsafeMutablePointer<FILE>?

    init(path: String, format: @escaping (Item) -> String) {
        self.path = path
        self.format = format
    }

    var isCooperative: Bool { false }

    func initialize(context: ProcessorContext) throws {
        inbox = context.inbox(0)
        guard let file = fopen(path, "a") else {
            throw StreamJetError(
                .processorFailed, "cannot open '\(path)' for appending: \(String(cString: strerror(errno)))")
        }
        self.file = file
    }

    deinit { if let file { fclose(file) } }

    func process(ordinal: Int) throws {
        while let item = inbox.poll() {
            var line = format(item.value)
            line.append("\n")
            guard fputs(line, file) >= 0 else {
                throw StreamJetError(.processorFailed, "cannot write to '\(path)': \(String(cString: strerror(errno)))")
            }
        }
    }

    func saveToSnapshot(_ snapshot: SnapshotWriter) throws -> Bool {
        fflush(file)
        return true
    }

    func complete() throws -> Bool {
        guard fflush(file) == 0 else {
            throw StreamJetError(.processorFailed, "cannot write to '\(path)': \(String(cString: strerror(errno)))")
        }
        return true
    }
}

final class TopicSinkProcessor<Item>: Processor {
    struct Prepared: Codable {
        var epoch: Int64
        var partition: Int
        var sequence: Int32
        var keys: [[UInt8]?]
        var values: [[UInt8]?]
        var timestamps: [Int64]

        static func empty(_ partition: Int) -> Prepared {
            Prepared(epoch: 0, partition: partition, sequence: 0, keys: [], values: [], timestamps: [])
        }
    }

    struct State: Codable {
        var producerID: Int64
        var producerEpoch: Int16
        var nextSequence: [Int: Int32]
        var prepared: [Prepared]
    }

    private let log: Log
    private let topic: String
    private let encode: (Item) -> (key: [UInt8]?, value: [UInt8]?)
    private var inbox: Inbox<Timestamped<Item>>!
    private var context: ProcessorContext!
    private var partitions = 1
    private var roundRobin = 0
    private var builders: [RecordBatchBuilder] = []
    // Two-phase state (exactly-once only).
    private var producer: IdempotentProducer?
    private var epochRecords: [Prepared] = []
    private var nextSequence: [Int: Int32] = [:]
    private var prepared: [Prepared] = []

    init(log: Log, topic: String, encode: @escaping (Item) -> (key: [UInt8]?, value: [UInt8]?)) {
        self.log = log
        self.topic = topic
        self.encode = encode
    }

    private var twoPhase = false

    func initialize(context: ProcessorContext) throws {
        self.context = context
        inbox = context.inbox(0)
        twoPhase = context.guarantee == .exactlyOnce
        partitions = try log.partitionCount(topic)
        builders = (0..<partitions).map { _ in RecordBatchBuilder() }
        if twoPhase {
            producer = try log.makeIdempotentProducer()
            epochRecords = (0..<partitions).map(Prepared.empty)
        }
    }

    /// Moves the records received since the last epoch to `prepared`, giving each partition's batch the
    /// next sequence numbers of the idempotent producer.
    private func prepareEpoch(_ epoch: Int64) {
        for partition in 0..<partitions where !epochRecords[partition].keys.isEmpty {
            var records = epochRecords[partition]
            records.epoch = epoch
            records.sequence = nextSequence[partition, default: 0]
            nextSequence[partition] = Int32(
                truncatingIfNeeded: (Int64(records.sequence) + Int64(records.keys.count)) & 0x7fff_ffff)
            prepared.append(records)
            epochRecords[partition] = .empty(partition)
        }
    }

    private func partition(for key: [UInt8]?) -> Int {
        if let key { return Partitioner.partition(forKey: key, partitionCount: partitions) }
        roundRobin = (roundRobin + 1) % partitions
        return roundRobin
    }

    func process(ordinal: Int) throws {
        let now = Int64(time(nil)) * 1000
        while let item = inbox.poll() {
            let (key, value) = encode(item.value)
            let partition = partition(for: key)
            let timestamp = item.timestamp == .min ? now : item.timestamp
            if twoPhase {
                epochRecords[partition].keys.append(key)
                epochRecords[partition].values.append(value)
                epochRecords[partition].timestamps.append(timestamp)
            } else {
                builders[partition].append(key: key, value: value, timestamp: timestamp)
            }
        }
        if !twoPhase { try flushBuilders() }
    }

    private func flushBuilders() throws {
        for (partition, builder) in builders.enumerated() where !builder.isEmpty {
            try log.append(builder, to: topic, partition: partition)
            builder.reset()
        }
    }

    func saveToSnapshot(_ snapshot: SnapshotWriter) throws -> Bool {
        if twoPhase {
            prepareEpoch(snapshot.snapshotID)
            let identity = producer!.identity
            try snapshot.save(
                key: context.index,
                value: State(
                    producerID: identity.id, producerEpoch: identity.epoch, nextSequence: nextSequence,
                    prepared: prepared))
        }
        return true
    }

    func snapshotCommitted(_ id: Int64) throws {
        try commit(upTo: id)
    }

    private func commit(upTo id: Int64) throws {
        while let first = prepared.first, first.epoch <= id {
            let builder = builders[first.partition]
            builder.reset()
            for index in first.keys.indices {
                builder.append(key: first.keys[index], value: first.values[index], timestamp: first.timestamps[index])
            }
            try producer!.send(builder, sequence: first.sequence, to: topic, partition: first.partition)
            builder.reset()
            prepared.removeFirst()
        }
    }

    func restoreFromSnapshot(_ entry: SnapshotEntry) throws {
        guard try entry.key(as: Int.self) == context.index else { return }
        let state = try entry.value(as: State.self)
        producer = try log.idempotentProducer(ProducerIdentity(id: state.producerID, epoch: state.producerEpoch))
        nextSequence = state.nextSequence
        prepared = state.prepared
    }

    func finishSnapshotRestore() throws {
        // The restored snapshot is complete, so what it prepared may be published; an epoch that was already
        // appended before the crash is recognised by its sequence numbers and stored once.
        try commit(upTo: .max)
    }

    func complete() throws -> Bool {
        if twoPhase {
            // The last epoch goes into the job's final snapshot and is published when that is written
            // (``snapshotCommitted(_:)``), so a kill while publishing it is recovered like any other.
            prepareEpoch(.min)
        } else {
            try flushBuilders()
        }
        return true
    }
}
