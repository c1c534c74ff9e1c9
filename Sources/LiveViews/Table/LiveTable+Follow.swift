public import EventLog
import EventLogFoundation
import Foundation

extension LiveTable {
    /// Ingests every record of the table's topic from the saved offsets up to the end the log has now.
    ///
    /// Catch-ups of one table run one at a time (concurrent callers — HTTP queries, a follower — wait for
    /// each other), so no record is ingested twice.
    ///
    /// - Returns: How many records were read.
    @discardableResult
    public func catchUp(from log: Log, batch: Int = 8192) throws -> Int {
        catchUpLock.lock()
        defer { catchUpLock.unlock() }
        var total = 0
        let partitions = try log.partitionCount(config.topic)
        var readers: [(Int, PartitionReader)] = []
        var pending: Int64 = 0
        for partition in 0..<partitions {
            let start = lock.read { storage.offsets[partition] } ?? 0
            let reader = try log.reader(
                topic: config.topic, partition: partition, from: start == 0 ? .earliest : .offset(start))
            pending += max(0, reader.endOffset - reader.nextOffset)
            readers.append((partition, reader))
        }
        if pending > 4096 { reserveCapacity(additionalRows: Int(pending)) }
        // Records are read (and copied) outside the lock, then applied a batch per lock round; a large
        // batch is decoded on several threads.
        var buffer = RecordBuffer()
        for (partition, reader) in readers {
            let end = reader.endOffset
            while reader.nextOffset < end {
                let before = reader.nextOffset
                buffer.removeAll()
                while buffer.count < batch, reader.nextOffset < end {
                    let read = try reader.read(maxRecords: batch - buffer.count) { record in
                        buffer.append(
                            value: record.value, key: record.key, timestamp: record.timestamp, offset: record.offset,
                            partition: partition)
                    }
                    if read == 0 { break }
                }
                lock.write { writer.ingestBuffered(buffer) }
                if reader.nextOffset == before { break }
                total += Int(reader.nextOffset - before)
            }
        }
        return total
    }

    /// Keeps the table following its topic on a background thread until the returned follower is stopped;
    /// saves a snapshot through `catalog` every `snapshotEvery` seconds when it changed.
    public func follow(_ catalog: ViewCatalog, snapshotEvery: Double? = 30) -> ViewFollower {
        ViewFollower(table: self, catalog: catalog, snapshotEvery: snapshotEvery)
    }
}

/// A thread that keeps a table caught up with its topic (polling with a 1–20 ms backoff when idle).
public final class ViewFollower: Sendable {
    private let stopped = Locked(false)
    private let failure = Locked<(any Error)?>(nil)
    private let thread: WorkerThread

    init(table: LiveTable, catalog: ViewCatalog, snapshotEvery: Double?) {
        let (stopped, failure) = (self.stopped, self.failure)
        let snapshotMilliseconds = snapshotEvery.map { Int64($0 * 1000) }
        thread = WorkerThread(name: "view-\(table.name)") {
            var idle: UInt32 = 1000
            var lastSnapshot = SystemClock().milliseconds()
            var dirty = false
            while !stopped.withLock({ $0 }) {
                do {
                    let read = try table.catchUp(from: catalog.log)
                    if read > 0 {
                        dirty = true
                        idle = 1000
                    } else {
                        usleep(idle)
                        idle = min(idle * 2, 20_000)
                    }
                    let now = SystemClock().milliseconds()
                    if let every = snapshotMilliseconds, dirty, now - lastSnapshot >= every {
                        try catalog.saveSnapshot(table)
                        lastSnapshot = now
                        dirty = false
                    }
                } catch {
                    failure.withLock { $0 = error }
                    break
                }
            }
        }
    }

    /// The error that stopped the follower, if one did.
    public var error: (any Error)? { failure.withLock { $0 } }

    /// Stops following and waits for the thread to finish.
    public func stop() {
        stopped.withLock { $0 = true }
        thread.join()
    }
}
