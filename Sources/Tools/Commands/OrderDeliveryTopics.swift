import EventLog
import LiveViews
import Logging
import Simulator

/// What `eventlog serve` sets up for the order-delivery application before it starts: the `orders` and
/// `drivers` topics with one partition (the order API keeps each aggregate as an event stream of them; a
/// topic that already exists is left as it is) and the demo's live views over them.
enum OrderDeliveryTopics {
    static func prepare(_ log: Log, logger: Logger) throws {
        for topic in SimulationTopic.allCases {
            var config = TopicConfiguration(partitions: 1)
            config.compression = .lz4
            config.retentionMilliseconds = nil
            try log.createTopicIfNeeded(topic.rawValue, configuration: config)
        }
        let catalog = ViewCatalog(log: log, logger: logger)
        let existing = Set(try catalog.list().map(\.name))
        for (name, config) in OrderDeliveryTables.all where !existing.contains(name) { try catalog.create(config) }
    }
}
