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

}
