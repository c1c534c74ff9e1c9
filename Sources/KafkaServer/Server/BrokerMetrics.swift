import EventLogFoundation

/// Counters a server exposes (requests per API, bytes in and out, records produced and fetched). Behind
/// pthread locks (`Locked`), not `Mutex`, so ThreadSanitizer sees the locking.
final class BrokerMetrics: Sendable {
    private let requests = Locked<[Int16: Int]>([:])
    private let counters = Locked<
        (bytesIn: Int, bytesOut: Int, producedBytes: Int, fetchedBytes: Int, connections: Int)
    >(
        (0, 0, 0, 0, 0))

    func request(_ key: ApiKey) { requests.withLock { $0[key.rawValue, default: 0] += 1 } }
    func bytesIn(_ n: Int) { counters.withLock { $0.bytesIn += n } }
    func bytesOut(_ n: Int) { counters.withLock { $0.bytesOut += n } }
    func produced(bytes: Int) { counters.withLock { $0.producedBytes += bytes } }
    func fetched(bytes: Int) { counters.withLock { $0.fetchedBytes += bytes } }
    func connection(opened: Bool) { counters.withLock { $0.connections += opened ? 1 : -1 } }

    /// The counters as `name value` lines (Prometheus's text format, without types).
    func render() -> String {
        let perApi = requests.withLock { $0 }
        let c = counters.withLock { $0 }
        var lines = [
            "eventlog_kafka_connections \(c.connections)", "eventlog_kafka_bytes_in_total \(c.bytesIn)",
            "eventlog_kafka_bytes_out_total \(c.bytesOut)", "eventlog_kafka_produced_bytes_total \(c.producedBytes)",
            "eventlog_kafka_fetched_bytes_total \(c.fetchedBytes)",
        ]
        for key in ApiKey.allCases {
            lines.append("eventlog_kafka_requests_total{api=\"\(key)\"} \(perApi[key.rawValue] ?? 0)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
