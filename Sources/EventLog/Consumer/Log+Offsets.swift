import EventLogFoundation
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A consumer group's committed position in one partition: the offset of the *next* record to read.
public struct CommittedOffset: Sendable, Hashable, Codable {
    /// The next offset to read.
    public var offset: Int64
    /// Free-form metadata stored with the commit.
    public var metadata: String
    /// When it was committed (milliseconds since the epoch, by the log's clock).
    public var commitTimestamp: Int64
}

/// How far a group is behind in one partition.
public struct PartitionLag: Sendable, Hashable {
    /// The partition.
    public var topicPartition: TopicPartition
    /// The committed offset, if the group committed one.
    public var committed: Int64?
    /// The partition's log end offset.
    public var endOffset: Int64
    /// Records between the committed offset (or the log start) and the end.
    public var lag: Int64
}

/// Committed offsets.
///
/// In the writing process, a commit is a record in the compacted internal topic `__consumer_offsets`,
/// keyed `group/topic/partition` with a JSON value, appended with the `sync` durability policy: the
/// commit returns once it is on disk. The topic is replayed into memory when first used.
///
/// A read-only process (a CLI consumer next to a running service) cannot append to the log, so it
/// commits into `group-commits/<group>/<topic>-<partition>.json` (temporary file, fsync, rename). Every
/// process reads both and takes the newer commit (by commit timestamp), so commits from either side are
/// seen by the other. Group names follow the topic naming rules, so they cannot escape the directory.
extension Log {
    static let offsetsTopic = "__consumer_offsets"
    static let groupCommitsDirectory = "group-commits"

    private func offsetKey(_ group: String, _ tp: TopicPartition) -> String { "\(group)/\(tp.topic)/\(tp.partition)" }

    /// Validates a group name (Kafka's topic naming rules, for the same reason: it becomes a file name).
    func validateGroup(_ group: String) throws(EventLogError) {
        do { try TopicName.validate(group) } catch {
            throw EventLogError(.invalidConfiguration, "invalid group name '\(group.prefix(300))': \(error.message)")
        }
    }

    /// Reads new records of the internal topic into the in-memory table.
    private func loadCommittedFromTopic() throws -> [String: CommittedOffset] {
        try committed.withLock { cache in
            if cache.reader == nil {
                guard state.withLock({ $0.topics[Self.offsetsTopic] }) != nil else { return cache.table }
                cache.reader = try reader(topic: Self.offsetsTopic, partition: 0, from: .earliest)
            }
            let decoder = JSONDecoder()
            while try cache.reader!.read({ record in
                guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) else { return }
                if let value = record.value, let commit = try? decoder.decode(CommittedOffset.self, from: Data(value)) {
                    cache.table[key] = commit
                } else {
                    cache.table[key] = nil  // tombstone: offsets deleted
                }
            }) > 0 {}
            return cache.table
        }
    }

    /// The committed offsets of `group`, from the internal topic and from other processes' commit files.
    public func committedOffsets(group: String) throws -> [TopicPartition: CommittedOffset] {
        try validateGroup(group)
        var result: [TopicPartition: CommittedOffset] = [:]
        let prefix = group + "/"
        for (key, commit) in try loadCommittedFromTopic() where key.hasPrefix(prefix) {
            let parts = key.dropFirst(prefix.count).split(separator: "/")
            guard parts.count == 2, let partition = Int(parts[1]) else { continue }
            result[TopicPartition(String(parts[0]), partition)] = commit
        }
        for (tp, commit) in fileCommits(group: group)
        where commit.commitTimestamp > (result[tp]?.commitTimestamp ?? .min) {
            result[tp] = commit
        }
        return result
    }

    private func fileCommits(group: String) -> [TopicPartition: CommittedOffset] {
        let dir = "\(directory)/\(Self.groupCommitsDirectory)/\(group)"
        guard case .success(let names) = io.listDirectory(dir) else { return [:] }
        var result: [TopicPartition: CommittedOffset] = [:]
        let decoder = JSONDecoder()
        for name in names where name.hasSuffix(".json") {
            let stem = name.dropLast(5)
            guard let dash = stem.lastIndex(of: "-"), let partition = Int(stem[stem.index(after: dash)...]),
                let bytes = try? io.readFile(dir + "/" + name),
                let commit = try? decoder.decode(CommittedOffset.self, from: Data(bytes))
            else { continue }
            result[TopicPartition(String(stem[..<dash]), partition)] = commit
        }
        return result
    }

    /// Commits positions for `group`: each offset is the next record the group will read. Durable when
    /// it returns (see the type's discussion for where it is stored).
    public func commit(group: String, offsets: [TopicPartition: Int64], metadata: String = "") throws {
        try validateGroup(group)
        guard !offsets.isEmpty else { return }
        for (tp, offset) in offsets {
            let (start, end) = try self.offsets(topic: tp.topic, partition: tp.partition)
            guard offset >= 0 && offset <= end else {
                throw EventLogError(
                    .offsetOutOfRange,
                    "cannot commit offset \(offset) for \(tp): the partition holds \(start)..<\(end)",
                    topic: tp.topic, partition: tp.partition, offset: offset)
            }
        }
        let now = configuration.clock.milliseconds()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if isWritable {
            if state.withLock({ $0.topics[Self.offsetsTopic] }) == nil {
                var config = TopicConfiguration(partitions: 1)
                config.cleanupPolicy = .compact
                config.durability = .sync
                config.segmentBytes = 16 << 20
                try createTopicIfNeeded(Self.offsetsTopic, configuration: config)
            }
            let records = try offsets.sorted { $0.key < $1.key }.map { tp, offset in
                ProducerRecord(
                    key: Array(offsetKey(group, tp).utf8),
                    value: Array(
                        try encoder.encode(CommittedOffset(offset: offset, metadata: metadata, commitTimestamp: now))))
            }
            try append(records, to: Self.offsetsTopic, partition: 0)
        } else {
            let dir = "\(directory)/\(Self.groupCommitsDirectory)/\(group)"
            try io.check(io.mkdir("\(directory)/\(Self.groupCommitsDirectory)"), "create", path: dir)
            try io.check(io.mkdir(dir), "create", path: dir)
            for (tp, offset) in offsets {
                let bytes = Array(
                    try encoder.encode(CommittedOffset(offset: offset, metadata: metadata, commitTimestamp: now)))
                try io.writeFileAtomically("\(dir)/\(tp.topic)-\(tp.partition).json", bytes)
            }
        }
    }

    /// Groups that have committed offsets.
    public func groupNames() throws -> [String] {
        var names = Set(
            try loadCommittedFromTopic().keys.compactMap { $0.split(separator: "/").first.map(String.init) })
        if case .success(let dirs) = io.listDirectory("\(directory)/\(Self.groupCommitsDirectory)") {
            names.formUnion(dirs.filter { !fileCommits(group: $0).isEmpty })
        }
        return names.sorted()
    }

    /// The group's lag on every partition of the topics it has committed to (or of `topics`).
    public func lag(group: String, topics: [String]? = nil) throws -> [PartitionLag] {
        let committed = try committedOffsets(group: group)
        let names = topics ?? Array(Set(committed.keys.map(\.topic))).sorted()
        var result: [PartitionLag] = []
        for topic in names {
            for p in 0..<(try partitionCount(topic)) {
                let tp = TopicPartition(topic, p)
                let (start, end) = try offsets(topic: topic, partition: p)
                let position = committed[tp]?.offset
                result.append(
                    PartitionLag(
                        topicPartition: tp, committed: position, endOffset: end,
                        lag: end - max(position ?? start, start)))
            }
        }
        return result
    }

    /// Sets the group's committed offsets for every partition of `topic` to `position`.
    public func resetOffsets(group: String, topic: String, to position: StartPosition) throws {
        var offsets: [TopicPartition: Int64] = [:]
        for p in 0..<(try partitionCount(topic)) {
            offsets[TopicPartition(topic, p)] = try partition(topic, p).resolve(position)
        }
        try commit(group: group, offsets: offsets, metadata: "reset")
    }
}

/// The replayed internal offsets topic.
struct CommittedCache {
    var table: [String: CommittedOffset] = [:]
    var reader: PartitionReader? = nil
}
