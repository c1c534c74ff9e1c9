public import EventLog
import EventLogFoundation
import Foundation

/// Carries price changes from the catalog's database into the services: it follows the topic a change-capture
/// connector writes for the `catalog_item` table (Debezium's envelope: `after.item_id`, `after.price`,
/// `after.last_updated_by`, `source.ts_ms`) and applies each new price with ``OrderServices/changePrice``.
///
/// - A change whose `last_updated_by` is `ownName` was made by the receiving service itself: it is counted and
///   skipped (no echo).
/// - Each change is applied with the request id `cdc/<partition>/<offset>` and its WAL position; a change no
///   newer than the item's last applied one is not applied, so following the topic again from its start (after
///   a restart) applies nothing twice and never moves a price back (`ServicesKillPriceTests` kills the server
///   mid-stream to check).
/// - The propagation latency is commit (the envelope's `source.ts_ms`) → the new price committed to the
///   services' log, in milliseconds.
public final class PriceChangeFollower: @unchecked Sendable {
    /// One change as the price page shows it.
    public struct Change: Sendable {
        public var item: String
        public var price: Int64
        public var by: String
        /// Commit → applied, ms (nil when filtered).
        public var latencyMilliseconds: Double?
        public var filtered: Bool
        /// When it was committed in the database (ms since the epoch).
        public var committed: Int64
    }

    private let log: Log
    private let topic: String
    private let engine: ServicesEngine
    private let ownName: String
    private let state = Locked<(recent: [Change], applied: Int, filtered: Int, malformed: Int)>(([], 0, 0, 0))
    private let stopping = Locked(false)
    private var thread: WorkerThread?

    /// Starts following `topic` (created by the connector; waited for when missing).
    public init(log: Log, topic: String, engine: ServicesEngine, ownName: String = "inventory") {
        self.log = log
        self.topic = topic
        self.engine = engine
        self.ownName = ownName
        thread = WorkerThread(name: "price-changes") { [self] in run() }
    }

    public func stop() {
        stopping.withLock { $0 = true }
        thread?.join()
    }

    /// The last changes, newest first, and the counts since start.
    public var snapshot: (recent: [Change], applied: Int, filtered: Int, malformed: Int) { state.withLock { $0 } }

    private func run() {
        var next: [Int: Int64] = [:]
        while !stopping.withLock({ $0 }) {
            var found = 0
            if log.topicNames().contains(topic), let partitions = try? log.partitionCount(topic) {
                for partition in 0..<partitions {
                    guard let records = try? log.read(topic: topic, partition: partition, from: next[partition] ?? 0)
                    else { continue }
                    for record in records {
                        handle(record, partition: partition)
                        next[partition] = record.offset + 1
                        found += 1
                    }
                }
            }
            if found == 0 { usleep(10_000) }
        }
    }

    private func handle(_ record: Record, partition: Int) {
        guard let value = record.value else { return }  // a tombstone
        guard let envelope = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
            let after = envelope["after"] as? [String: Any], let item = after["item_id"] as? String,
            let price = (after["price"] as? NSNumber)?.int64Value
        else {
            if (try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any])?["op"] as? String != "d" {
                state.withLock { $0.malformed += 1 }
            }
            return
        }
        let by = after["last_updated_by"] as? String ?? ""
        let source = envelope["source"] as? [String: Any]
        let committed = (source?["ts_ms"] as? NSNumber)?.int64Value ?? 0
        // The change's WAL position orders a row's changes (a snapshot row has none: 0, older than any change).
        let lsn = (source?["lsn"] as? NSNumber)?.int64Value ?? 0
        if by == ownName {
            remember(
                Change(item: item, price: price, by: by, latencyMilliseconds: nil, filtered: true, committed: committed)
            )
            return
        }
        let requestId = "cdc/\(partition)/\(record.offset)"
        let applied = Locked(false)
        do {
            try engine.performAndWait { services in
                let changed = try services.changePrice(
                    item, price: price, by: by, requestId: requestId, sourceLSN: lsn)
                applied.withLock { $0 = changed }
            }
        } catch {
            state.withLock { $0.malformed += 1 }
            return
        }
        // Already applied (the topic read again after a restart) or no change (the snapshot's rows): not news.
        guard applied.withLock({ $0 }) else { return }
        let latency = Double(SystemClock().milliseconds() - committed)
        remember(
            Change(
                item: item, price: price, by: by, latencyMilliseconds: latency, filtered: false, committed: committed))
    }

    private func remember(_ change: Change) {
        state.withLock { s in
            s.recent.insert(change, at: 0)
            if s.recent.count > 50 { s.recent.removeLast() }
            if change.filtered { s.filtered += 1 } else { s.applied += 1 }
        }
    }
}
