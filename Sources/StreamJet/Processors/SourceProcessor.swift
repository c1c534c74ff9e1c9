import EventLogFoundation

/// Reads a ``Source``, stamps event time, keeps one watermark per lane, runs the stateless steps fused
/// into the source, and emits items and watermarks in order.
///
/// Snapshot state is the reader's position, saved only when everything read before it has been emitted,
/// so the barrier that follows separates exactly the items before the position from those after.
final class SourceProcessor<Raw, Output>: Processor {
    private let source: Source<Raw>
    private let policy: TimestampPolicy<Raw>
    private let eventTime: EventTimePolicy?
    private let chain: Chain<Raw, Output>
    /// Whether `chain` passes items through unchanged (no stateless step fused): then `Raw` is `Output`.
    private let isIdentity: Bool
    private let ports: OutputPorts
    private let index: Int
    private var reader: (any SourceReader<Raw>)!
    private var batch: SourceBatch<Raw>!
    private var emitter: Emitter<Output>!
    /// `emitter` seen with the reader's item type, when the chain is the identity: a read's batch then
    /// goes to the outbox in one move.
    private var rawEmitter: Emitter<Raw>?
    private var context: ProcessorContext!
    private var watermarks: PartitionWatermarks?
    private var pendingControl: WatermarkCoalescer.Output?
    private var exhausted = false
    static var batchLimit: Int { 1024 }

    init(
        source: Source<Raw>, policy: TimestampPolicy<Raw>, eventTime: EventTimePolicy?,
        chain: @escaping Chain<Raw, Output>, isIdentity: Bool, ports: OutputPorts, index: Int
    ) {
        precondition(!isIdentity || Raw.self == Output.self, "an identity chain must not change the item type")
        self.source = source
        self.policy = policy
        self.eventTime = eventTime
        self.chain = chain
        self.isIdentity = isIdentity
        self.ports = ports
        self.index = index
    }

    var isCooperative: Bool { source.isCooperative }

    func initialize(context: ProcessorContext) throws {
        self.context = context
        reader = try source.makeReader(context.index, context.localParallelism)
        batch = SourceBatch(
            policy: policy, allowedLag: eventTime?.allowedLag ?? 0, lanes: reader.laneCount, capacity: Self.batchLimit)
        emitter = Emitter(context: context, ordinals: ports.main)
        if isIdentity { rawEmitter = unsafeDowncast(emitter as AnyObject, to: Emitter<Raw>.self) }
        if let eventTime {
            watermarks = PartitionWatermarks(
                partitions: reader.laneCount, policy: eventTime, now: context.clock.milliseconds())
        }
    }

    func complete() throws -> Bool {
        guard emitter.flush(), flushControl() else { return false }
        if exhausted { return true }
        let now = context.clock.milliseconds()
        let batch = self.batch!
        batch.now = now
        exhausted = try reader.read(limit: Self.batchLimit, into: batch) { lane in watermarks?.finish(partition: lane) }
        if watermarks != nil {
            for lane in 0..<batch.lanes where batch.laneEvents[lane] > 0 {
                _ = watermarks!.observe(partition: lane, timestamp: batch.laneTop[lane], now: now)
            }
        }
        batch.resetLanes()
        if let rawEmitter {
            rawEmitter.emit(moving: batch.items, count: batch.count)
        } else {
            let emitter = self.emitter!
            for index in 0..<batch.count {
                chain((batch.items + index).move()) { emitter.emit($0) }
            }
        }
        batch.count = 0
        pendingControl = watermarks?.poll(now: now)
        guard emitter.flush(), flushControl() else { return false }
        return exhausted
    }

    private func flushControl() -> Bool {
        guard let control = pendingControl else { return true }
        let sent: Bool
        switch control {
        case .watermark(let watermark): sent = context.offerWatermark(watermark)
        case .idle: sent = context.offerIdle()
        }
        if sent { pendingControl = nil }
        return sent
    }

    func saveToSnapshot(_ snapshot: SnapshotWriter) throws -> Bool {
        guard emitter.flush(), flushControl() else { return false }
        try snapshot.save(key: context.index, value: reader.position())
        return true
    }

    func restoreFromSnapshot(_ entry: SnapshotEntry) throws {
        guard try entry.key(as: Int.self) == context.index else { return }
        try reader.restore(entry.value(as: [Int64].self))
    }
}
