import EventLogFoundation
import Synchronization

/// What one maintenance pass did.
public struct MaintenanceReport: Sendable, Hashable {
    /// Segments deleted by retention.
    public var segmentsDeleted = 0
    /// Records removed by compaction.
    public var recordsCompacted: Int64 = 0
}

extension Log {
    /// Runs retention and compaction once over every partition.
    ///
    /// - Parameter forceCompaction: compact even when the dirty ratio is below the topic's minimum.
    @discardableResult
    public func runMaintenance(forceCompaction: Bool = false) throws(EventLogError) -> MaintenanceReport {
        try requireWritable()
        var report = MaintenanceReport()
        let topics = state.withLock { $0.topics }
        for topic in topics.values {
            for partition in topic.partitions {
                report.segmentsDeleted += try partition.applyRetention()
                report.recordsCompacted += try partition.compact(force: forceCompaction)
            }
        }
        return report
    }

    /// Repairs a partition found damaged in a cleanly closed log (its ``RecoveryReport/corruption``): the
    /// bytes from the damage on go into quarantine files beside the segment (at most
    /// ``Configuration/quarantineLimitBytes``), the segment is cut there, and appends are accepted again.
    ///
    /// Recovery after an unclean stop does this by itself; after a clean close damage is corruption, and
    /// only this explicit call (`eventlog repair`) cuts anything.
    ///
    /// - Returns: What was cut and where it went, or nil when the partition was not damaged.
    /// - Throws: `.readOnly`, `.unknownTopic`, `.unknownPartition`, `.io`.
    @discardableResult
    public func repair(topic: String, partition: Int) throws(EventLogError) -> RecoveryReport? {
        try requireWritable()
        return try self.partition(topic, partition).repair(quarantineLimit: configuration.quarantineLimitBytes)
    }
}
