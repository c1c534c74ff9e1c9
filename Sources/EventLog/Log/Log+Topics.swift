import EventLogFoundation
import Foundation
import Synchronization

/// A topic's name, configuration and per-partition offsets.
public struct TopicDescription: Sendable, Hashable {
    /// The topic's name.
    public var name: String
    /// Its configuration.
    public var configuration: TopicConfiguration
    /// For each partition: first offset still stored, the next offset to be assigned, and bytes on disk.
    public var partitions: [PartitionDescription]
}

/// One partition's extent.
public struct PartitionDescription: Sendable, Hashable {
    /// The partition number.
    public var partition: Int
    /// The oldest offset still stored.
    public var logStartOffset: Int64
    /// The offset the next appended record gets.
    public var logEndOffset: Int64
    /// Number of segment files.
    public var segments: Int
    /// Bytes of segment files.
    public var bytes: Int64
}

extension Log {
    /// Creates a topic.
    ///
    /// - Throws: `.invalidTopicName` (Kafka's rules: `[a-zA-Z0-9._-]{1,249}`, not `.`/`..`),
    ///   `.topicAlreadyExists`, `.invalidConfiguration`, `.io`.
    public func createTopic(_ name: String, configuration: TopicConfiguration = TopicConfiguration())
        throws(EventLogError)
    {
        try requireWritable()
        try TopicName.validate(name)
        try configuration.validate(topic: name)
        if state.withLock({ $0.topics[name] != nil }) {
            throw EventLogError(.topicAlreadyExists, "topic '\(name)' already exists", topic: name)
        }
        try removeLeftoversOfDeletedTopic(name)
        try writeTopicConfiguration(name, configuration)
        let partitions = try Self.openPartitions(
            topic: name, configuration: configuration, directory: directory, io: io, options: self.configuration,
            writable: true, cleanShutdown: true)
        try io.check(io.fsyncDirectory(directory), "fsync directory", path: directory)
        let created = partitions
        let raced = state.withLock { state -> Bool in
            if state.topics[name] != nil { return true }
            state.topics[name] = Topic(configuration: configuration, partitions: created)
            return false
        }
        if raced { throw EventLogError(.topicAlreadyExists, "topic '\(name)' already exists", topic: name) }
    }

    /// Creates the topic unless it exists; returns whether it was created.
    @discardableResult
    public func createTopicIfNeeded(_ name: String, configuration: TopicConfiguration = TopicConfiguration())
        throws(EventLogError) -> Bool
    {
        do throws(EventLogError) {
            try createTopic(name, configuration: configuration)
            return true
        } catch  where error.code == .topicAlreadyExists {
            return false
        }
    }

    private func writeTopicConfiguration(_ name: String, _ configuration: TopicConfiguration) throws(EventLogError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(configuration) } catch {
            throw EventLogError(.invalidConfiguration, "cannot encode configuration: \(error)", topic: name)
        }
        try io.writeFileAtomically(Self.topicConfigPath(directory, name), Array(data))
    }

    /// The names of all topics, sorted.
    public func topicNames() -> [String] { state.withLock { $0.topics.keys.sorted() } }

    /// Describes a topic.
    public func describeTopic(_ name: String) throws(EventLogError) -> TopicDescription {
        let topic: Topic? = state.withLock { $0.topics[name] }
        guard let topic else { throw EventLogError(.unknownTopic, "topic '\(name)' does not exist", topic: name) }
        return TopicDescription(
            name: name, configuration: topic.configuration,
            partitions: topic.partitions.map { partition in
                let (start, end) = partition.offsets
                let segments = partition.segments
                return PartitionDescription(
                    partition: partition.index, logStartOffset: start, logEndOffset: end, segments: segments.count,
                    bytes: segments.reduce(0) { $0 + $1.size })
            })
    }

    /// Changes a topic's configuration. The partition count cannot change.
    ///
    /// - Parameter update: Receives the current configuration to modify.
    public func alterTopic(_ name: String, _ update: (inout TopicConfiguration) -> Void) throws(EventLogError) {
        try requireWritable()
        let topic: Topic? = state.withLock { $0.topics[name] }
        guard let topic else { throw EventLogError(.unknownTopic, "topic '\(name)' does not exist", topic: name) }
        var configuration = topic.configuration
        update(&configuration)
        try configuration.validate(topic: name)
        guard configuration.partitions == topic.configuration.partitions else {
            throw EventLogError(
                .invalidConfiguration,
                "the partition count of '\(name)' cannot change (\(topic.configuration.partitions) → \(configuration.partitions))",
                topic: name)
        }
        try writeTopicConfiguration(name, configuration)
        for partition in topic.partitions { partition.configuration.withLock { $0 = configuration } }
        let updated = configuration
        state.withLock { $0.topics[name]?.configuration = updated }
    }

    /// Deletes a topic and all its data. Readers that hold its segments keep reading them until they let go.
    public func deleteTopic(_ name: String) throws(EventLogError) {
        try requireWritable()
        let topic: Topic? = state.withLock { $0.topics.removeValue(forKey: name) }
        guard let topic else { throw EventLogError(.unknownTopic, "topic '\(name)' does not exist", topic: name) }
        // Rename the directories first (so a crash never leaves half a topic), then drop the config, then delete.
        var renamed: [String] = []
        for partition in topic.partitions {
            let target = partition.directory + ".deleted"
            if case .success = io.rename(partition.directory, target) { renamed.append(target) }
        }
        try io.check(
            io.unlink(Self.topicConfigPath(directory, name)), "delete topic configuration",
            path: Self.topicConfigPath(directory, name))
        try io.check(io.fsyncDirectory(directory), "fsync directory", path: directory)
        for path in renamed { Self.removeTree(path, io: io) }
    }

    /// Removes `<name>-<n>.deleted` directories that an earlier deletion of the same name could not
    /// remove: left in place, the next open would take them for an interrupted deletion of the new topic.
    private func removeLeftoversOfDeletedTopic(_ name: String) throws(EventLogError) {
        guard case .success(let names) = io.listDirectory(directory) else { return }
        for entry in names where Self.topicOfPartitionDirectory(entry).map({ $0.topic == name && $0.deleted }) == true {
            let path = directory + "/" + entry
            Self.removeTree(path, io: io)
            if io.exists(path) {
                throw EventLogError(
                    .io, "cannot remove '\(path)', left by an earlier deletion of topic '\(name)'", path: path,
                    topic: name)
            }
        }
    }

    /// The number of partitions of `topic`.
    public func partitionCount(_ topic: String) throws(EventLogError) -> Int {
        let found: Topic? = state.withLock { $0.topics[topic] }
        guard let found else { throw EventLogError(.unknownTopic, "topic '\(topic)' does not exist", topic: topic) }
        return found.partitions.count
    }
}
