import EventLog
import EventLogFoundation
import Foundation
import Synchronization

/// Records copied out of their source (a log reader's batch buffer, a caller's bytes), so that a whole
/// batch stays readable while it is decoded on several threads.
///
/// Both parts are appended without `Array`'s uniqueness and capacity checks per call (this is on the
/// ingest path): the bytes go to a `ByteStorage`, the entries to memory managed here. The buffer belongs to
/// one table or one catch-up loop and is never shared, so it is a non-copyable type that frees its memory
/// when it goes away.
struct RecordBuffer: ~Copyable {
    struct Entry {
        var value: Int
        /// −1: no value.
        var valueCount: Int
        var key: Int
        /// −1: no key.
        var keyCount: Int
        var timestamp: Int64
        var offset: Int64
        var partition: Int
    }

    private var storage = ByteStorage()
    private(set) var entries: UnsafeMutablePointer<Entry>
    private(set) var count = 0
    private var entryCapacity = 256

    init() {
        entries = .allocate(capacity: entryCapacity)
    }

    deinit {
        entries.deallocate()
    }

    /// Whether the buffer holds a batch's worth (8,192 records or 4 MiB).
    var isFull: Bool { count >= 8192 || storage.count >= 1 << 22 }

    mutating func append(
        value: UnsafeRawBufferPointer?, key: UnsafeRawBufferPointer?, timestamp: Int64, offset: Int64, partition: Int
    ) {
        if count == entryCapacity {
            let grown = UnsafeMutablePointer<Entry>.allocate(capacity: entryCapacity * 2)
            grown.moveInitialize(from: entries, count: count)
            entries.deallocate()
            entries = grown
            entryCapacity *= 2
        }
        let valueStart = storage.count
        if let value { storage.append(value) }
        let keyStart = storage.count
        if let key { storage.append(key) }
        (entries + count).initialize(
            to: Entry(
                value: valueStart, valueCount: value?.count ?? -1, key: keyStart, keyCount: key?.count ?? -1,
                timestamp: timestamp, offset: offset, partition: partition))
        count += 1
    }

    /// Empties the buffer (keeping up to a batch's worth of memory).
    mutating func removeAll() {
        count = 0
        storage.count = 0
        if storage.capacity > 1 << 23 { storage = ByteStorage() }
    }

    /// The records and their bytes, valid until the buffer changes.
    var records: (entries: UnsafeBufferPointer<Entry>, bytes: UnsafeRawBufferPointer) {
        (UnsafeBufferPointer(start: entries, count: count), storage.bytes)
    }
}

extension RecordBuffer.Entry {
    func value(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        valueCount < 0 ? nil : UnsafeRawBufferPointer(rebasing: bytes[value..<value + valueCount])
    }

    func key(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        keyCount < 0 ? nil : UnsafeRawBufferPointer(rebasing: bytes[key..<key + keyCount])
    }
}

/// Parallel ingest: helper threads decode chunks of a batch while the calling thread codes strings and
/// applies rows, strictly in record order.
///
/// ```
///  chunk:   0    1    2    3    4 …      claimed in order by whichever thread is free (helpers, applier)
///  ring:  [s0] [s1] [s2] … [s7]          chunk c decodes into slot c % 8
///  applier: applies chunk 0, 1, 2 … as each becomes ready; decodes one itself when the next is not
/// ```
///
/// Invariants:
/// - Decoding reads only the record and the (immutable) decoder: dictionaries, the key map and the
///   columns are touched by the applier alone, so the table ends in exactly the state that ingesting the
///   records one by one gives (the same codes, documents, valid bits and offsets).
/// - A chunk is claimed only when it is below `applied + ring size`, so its slot's previous chunk has been
///   applied: a slot is written by one decoder at a time and never while the applier reads it.
/// - A slot's `ready` is stored (release) after its rows are written and loaded (acquire) before they are
///   read; `applied` likewise orders the applier's reads before the slot's reuse.
/// - The applier never waits for a helper that has not claimed a chunk, so a helper that starts late (or
///   never) only costs speed: the batch completes on the calling thread alone.
final class DecodeRing: @unchecked Sendable {
    static let chunkRows = 128
    static let slotCount = 8
    /// Batches smaller than this are decoded on the calling thread (the hand-off would cost more).
    static let parallelThreshold = 512

    final class Slot {
        let ready = Atomic<Int>(-1)
        let rows: UnsafeMutablePointer<StagedValue>
        let decoded: UnsafeMutablePointer<Bool>

        init(width: Int) {
            rows = .allocate(capacity: DecodeRing.chunkRows * width)
            rows.initialize(repeating: StagedValue(), count: DecodeRing.chunkRows * width)
            decoded = .allocate(capacity: DecodeRing.chunkRows)
            decoded.initialize(repeating: false, count: DecodeRing.chunkRows)
        }

        deinit {
            rows.deallocate()
            decoded.deallocate()
        }
    }

    let width: Int
    let slots: [Slot]

    init(width: Int) {
        self.width = max(1, width)
        slots = (0..<Self.slotCount).map { _ in Slot(width: max(1, width)) }
    }
}

/// One batch's shared progress (a new one per batch, so a helper that wakes late finds nothing to claim).
final class DecodeJob: @unchecked Sendable {
    let ring: DecodeRing
    /// The table's decode plan (its memory lives as long as the table, which waits for the batch).
    let plan: RowDecoder.Plan
    let entries: UnsafeBufferPointer<RecordBuffer.Entry>
    let bytes: UnsafeRawBufferPointer
    let chunks: Int
    let claimed = Atomic<Int>(0)
    let applied = Atomic<Int>(0)

    init(
        ring: DecodeRing, plan: RowDecoder.Plan, entries: UnsafeBufferPointer<RecordBuffer.Entry>,
        bytes: UnsafeRawBufferPointer
    ) {
        self.ring = ring
        self.plan = plan
        self.entries = entries
        self.bytes = bytes
        chunks = (entries.count + DecodeRing.chunkRows - 1) / DecodeRing.chunkRows
        for slot in ring.slots { slot.ready.store(-1, ordering: .relaxed) }
    }

    /// Claims the next chunk if it is below `limit` (and the batch's end).
    func claim(below limit: Int) -> Int? {
        var chunk = claimed.load(ordering: .relaxed)
        while chunk < min(limit, chunks) {
            let (exchanged, original) = claimed.compareExchange(
                expected: chunk, desired: chunk + 1, ordering: .relaxed)
            if exchanged { return chunk }
            chunk = original
        }
        return nil
    }

    func decode(_ chunk: Int) {
        let slot = ring.slots[chunk % DecodeRing.slotCount]
        let first = chunk * DecodeRing.chunkRows
        let end = min(first + DecodeRing.chunkRows, entries.count)
        for index in first..<end {
            let entry = entries[index]
            slot.decoded[index - first] = plan.decode(
                value: entry.value(in: bytes), key: entry.key(in: bytes), timestamp: entry.timestamp,
                offset: entry.offset, partition: entry.partition, columns: nil,
                into: slot.rows + (index - first) * ring.width)
        }
        slot.ready.store(chunk, ordering: .releasing)
    }

    /// A helper's loop: decode chunks while any are left, staying within the ring.
    func help() {
        var spins = 0
        while claimed.load(ordering: .relaxed) < chunks {
            if let chunk = claim(below: applied.load(ordering: .acquiring) + DecodeRing.slotCount) {
                decode(chunk)
                spins = 0
            } else {
                spins += 1
                if spins > 64 { sched_yield() }
            }
        }
    }
}

/// Threads that help decode large batches: one fewer than the cores (at most three), started on first use
/// and parked between batches.
final class DecodeHelpers: @unchecked Sendable {
    static let shared = DecodeHelpers(count: min(3, ProcessInfo.processInfo.activeProcessorCount - 1))

    let count: Int
    private let pending = Mutex<[DecodeJob]>([])
    private let wake = DispatchSemaphore(value: 0)

    private init(count: Int) {
        self.count = max(0, count)
        for index in 0..<self.count {
            // Process-wide and parked between batches, like a runtime's worker pool: they live as long as
            // the process.
            WorkerThread.detach(name: "decode-\(index)") { [self] in
                while true {
                    wake.wait()
                    let job = pending.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                    job?.help()
                }
            }
        }
    }

    /// Asks every helper to work on `job`.
    func post(_ job: DecodeJob) {
        pending.withLock { $0.append(contentsOf: repeatElement(job, count: count)) }
        for _ in 0..<count { wake.signal() }
    }
}

extension TableWriter {
    /// Ingests buffered records in order.
    func ingestBuffered(_ buffer: borrowing RecordBuffer) {
        let (entries, bytes) = buffer.records
        let helpers = DecodeHelpers.shared
        guard entries.count >= DecodeRing.parallelThreshold, helpers.count > 0, !decoder.hasMultiValue else {
            for entry in entries {
                ingest(
                    value: entry.value(in: bytes), key: entry.key(in: bytes), timestamp: entry.timestamp,
                    offset: entry.offset, partition: entry.partition)
            }
            return
        }
        let ring = decodeRing ?? DecodeRing(width: columns.count)
        decodeRing = ring
        let job = DecodeJob(ring: ring, plan: decoder.plan, entries: entries, bytes: bytes)
        helpers.post(job)
        parallelBatches += 1
        deferringAppends = !rules.partialUpsert
        applyAll(job)
        deferringAppends = false
        staged = scratch
    }

    /// The applier's loop: apply chunks in order, decoding one whenever the next is not ready.
    private func applyAll(_ job: DecodeJob) {
        var next = 0
        var spins = 0
        while next < job.chunks {
            let slot = job.ring.slots[next % DecodeRing.slotCount]
            if slot.ready.load(ordering: .acquiring) == next {
                apply(chunk: next, slot, job)
                next += 1
                job.applied.store(next, ordering: .releasing)
                spins = 0
            } else if let chunk = job.claim(below: next + DecodeRing.slotCount) {
                job.decode(chunk)
            } else {
                spins += 1  // a helper is decoding the next chunk
                if spins > 64 { sched_yield() }
            }
        }
    }

    /// Applies a decoded chunk in record order, with each row's dictionary slots prefetched a few rows
    /// ahead so that the cache misses of large dictionaries overlap the work on the rows before it.
    private func apply(chunk: Int, _ slot: DecodeRing.Slot, _ job: DecodeJob) {
        let first = chunk * DecodeRing.chunkRows
        let count = min(DecodeRing.chunkRows, job.entries.count - first)
        let width = job.ring.width
        let plan = decoder.plan
        let ahead = 4
        for row in -ahead..<count {
            if row + ahead < count, slot.decoded[row + ahead] {
                plan.prefetchStrings(slot.rows + (row + ahead) * width, columns)
            }
            guard row >= 0 else { continue }
            let entry = job.entries[first + row]
            storage.offsets.advance(entry.partition, past: entry.offset)
            guard slot.decoded[row] else {
                noteBadRecord(partition: entry.partition, offset: entry.offset)
                continue
            }
            staged = slot.rows + row * width
            plan.resolveStrings(staged, columns)
            applyStaged()
        }
        appendDeferred()
    }
}
