import EventLog
import NIOCore

extension KafkaBroker {
    /// OffsetCommit, OffsetFetch, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups.
    func groupRequest(_ key: ApiKey, _ request: inout WireReader, version: Int16, clientId: String) async throws
        -> ByteBuffer
    {
        var writer = body()
        switch key {
        case .joinGroup:
            let groupId = try request.string("group_id")
            let sessionTimeout = try request.int32("session_timeout_ms")
            let rebalanceTimeout = version >= 1 ? try request.int32("rebalance_timeout_ms") : sessionTimeout
            let memberId = try request.string("member_id")
            if version >= 5 { _ = try request.nullableString("group_instance_id") }
            let protocolType = try request.string("protocol_type")
            let protocols = try request.array("protocols") { request in
                (
                    name: try request.string("protocol name"),
                    metadata: Array(buffer: try request.bytes("protocol metadata"))
                )
            }
            let answer = await groups.join(
                group: groupId, memberId: memberId, clientId: clientId, sessionTimeout: sessionTimeout,
                rebalanceTimeout: rebalanceTimeout, protocolType: protocolType, protocols: protocols,
                requireKnownMemberId: version >= 4)
            if version >= 2 { writer.int32(0) }
            writer.int16(answer.error.rawValue)
            writer.int32(answer.generation)
            writer.string(answer.protocolName ?? "")
            writer.string(answer.leader)
            writer.string(answer.memberId)
            writer.array(answer.members) { writer, member in
                writer.string(member.id)
                if version >= 5 { writer.string(nil) }
                writer.bytes(member.metadata)
            }
        case .syncGroup:
            let groupId = try request.string("group_id")
            let generation = try request.int32("generation_id")
            let memberId = try request.string("member_id")
            if version >= 3 { _ = try request.nullableString("group_instance_id") }
            let assignments = try request.array("assignments") { request in
                (try request.string("member_id"), Array(buffer: try request.bytes("assignment")))
            }
            let answer = await groups.sync(
                group: groupId, generation: generation, memberId: memberId, assignments: assignments)
            if version >= 1 { writer.int32(0) }
            writer.int16(answer.error.rawValue)
            writer.bytes(answer.assignment)
        case .heartbeat:
            let groupId = try request.string("group_id")
            let generation = try request.int32("generation_id")
            let memberId = try request.string("member_id")
            if version >= 3 { _ = try request.nullableString("group_instance_id") }
            let error = await groups.heartbeat(group: groupId, generation: generation, memberId: memberId)
            if version >= 1 { writer.int32(0) }
            writer.int16(error.rawValue)
        case .leaveGroup:
            let groupId = try request.string("group_id")
            var ids: [String] = []
            if version <= 2 {
                ids = [try request.string("member_id")]
            } else {
                ids = try request.array("members") { request in
                    let id = try request.string("member_id")
                    _ = try request.nullableString("group_instance_id")
                    return id
                }
            }
            let errors = await groups.leave(group: groupId, memberIds: ids)
            if version >= 1 { writer.int32(0) }
            writer.int16(version <= 2 ? errors.first?.rawValue ?? 0 : 0)
            if version >= 3 {
                writer.array(Array(zip(ids, errors))) { writer, pair in
                    writer.string(pair.0)
                    writer.string(nil)
                    writer.int16(pair.1.rawValue)
                }
            }
        case .offsetCommit:
            try await offsetCommit(&request, version: version, into: &writer)
        case .offsetFetch:
            try await offsetFetch(&request, version: version, into: &writer)
        case .describeGroups:
            let ids = try request.array("groups") { try $0.string("group_id") }
            if version >= 3 { _ = try request.bool("include_authorized_operations") }
            if version >= 1 { writer.int32(0) }
            var described: [(String, GroupCoordinator.Description?)] = []
            for id in ids { described.append((id, await groups.describe(id))) }
            writer.array(described) { writer, entry in
                let (id, description) = entry
                writer.int16(0)
                writer.string(id)
                writer.string(description?.state ?? "Dead")
                writer.string(description?.protocolType ?? "")
                writer.string(description?.protocolName ?? "")
                writer.array(description?.members ?? []) { writer, member in
                    writer.string(member.id)
                    if version >= 4 { writer.string(nil) }
                    writer.string(member.clientId)
                    writer.string("")  // client host
                    writer.bytes(member.metadata)
                    writer.bytes(member.assignment)
                }
                if version >= 3 { writer.int32(Int32.min) }
            }
        case .listGroups:
            let active = await groups.list()
            let log = self.log
            let committed = (try? await offload { try log.groupNames() }) ?? []
            var all = Dictionary(uniqueKeysWithValues: active)
            for name in committed where all[name] == nil { all[name] = "consumer" }
            if version >= 1 { writer.int32(0) }
            writer.int16(0)
            writer.array(all.sorted { $0.key < $1.key }) { writer, entry in
                writer.string(entry.key)
                writer.string(entry.value)
            }
        default:
            throw KafkaProtocolError("\(key) is not a group request")
        }
        return writer.buffer
    }

    private func offsetCommit(_ request: inout WireReader, version: Int16, into writer: inout WireWriter) async throws {
        let groupId = try request.string("group_id")
        let generation = version >= 1 ? try request.int32("generation_id") : -1
        let memberId = version >= 1 ? try request.string("member_id") : ""
        if version >= 7 { _ = try request.nullableString("group_instance_id") }
        if (2...4).contains(version) { _ = try request.int64("retention_time_ms") }
        struct Commit { var partition: Int32; var offset: Int64; var metadata: String }
        let topics = try request.array("topics") { request -> (String, [Commit]) in
            let name = try request.string("topic")
            let partitions = try request.array("partitions") { request -> Commit in
                let partition = try request.int32("partition_index")
                let offset = try request.int64("committed_offset")
                if version >= 6 { _ = try request.int32("committed_leader_epoch") }
                if version == 1 { _ = try request.int64("commit_timestamp") }
                return Commit(
                    partition: partition, offset: offset, metadata: try request.nullableString("metadata") ?? "")
            }
            return (name, partitions)
        }
        var errors: [String: [Int32: KafkaError]] = [:]
        let membership = await groups.checkCommit(group: groupId, generation: generation, memberId: memberId)
        var byMetadata: [String: [TopicPartition: Int64]] = [:]
        for (name, commits) in topics {
            let partitions = (try? log.partitionCount(name)) ?? 0
            for commit in commits {
                var error = membership
                if error == .none && !(0..<partitions).contains(Int(commit.partition)) {
                    error = .unknownTopicOrPartition
                }
                if error == .none && !TopicNameCheck.isValid(groupId) { error = .invalidGroupId }
                errors[name, default: [:]][commit.partition] = error
                if error == .none {
                    byMetadata[commit.metadata, default: [:]][TopicPartition(name, Int(commit.partition))] =
                        commit.offset
                }
            }
        }
        let log = self.log
        let groupedCommits = byMetadata
        do {
            try await offload {
                for (metadata, offsets) in groupedCommits {
                    try log.commit(group: groupId, offsets: offsets, metadata: metadata)
                }
            }
        } catch {
            let code = Self.kafkaError(error)
            for (name, partitions) in errors {
                for (partition, current) in partitions where current == .none { errors[name]![partition] = code }
            }
        }
        if version >= 3 { writer.int32(0) }
        writer.array(topics) { writer, topic in
            writer.string(topic.0)
            writer.array(topic.1) { writer, commit in
                writer.int32(commit.partition)
                writer.int16((errors[topic.0]?[commit.partition] ?? .none).rawValue)
            }
        }
    }

    private func offsetFetch(_ request: inout WireReader, version: Int16, into writer: inout WireWriter) async throws {
        let groupId = try request.string("group_id")
        var requested: [(String, [Int32])]? = nil
        if let count = try request.arrayCount("topics") {
            var topics: [(String, [Int32])] = []
            for _ in 0..<count {
                let name = try request.string("topic")
                topics.append((name, try request.array("partition_indexes") { try $0.int32("partition") }))
            }
            requested = topics
        }
        let log = self.log
        let committed = (try? await offload { try log.committedOffsets(group: groupId) }) ?? [:]
        let topics: [(String, [Int32])] =
            requested
            ?? Dictionary(grouping: committed.keys, by: \.topic).map { name, partitions in
                (name, partitions.map { Int32($0.partition) }.sorted())
            }.sorted { $0.0 < $1.0 }
        if version >= 3 { writer.int32(0) }
        writer.array(topics) { writer, topic in
            writer.string(topic.0)
            writer.array(topic.1) { writer, partition in
                let entry = committed[TopicPartition(topic.0, Int(partition))]
                writer.int32(partition)
                writer.int64(entry?.offset ?? -1)
                if version >= 5 { writer.int32(-1) }  // leader epoch
                writer.string(entry?.metadata ?? "")
                writer.int16(0)
            }
        }
        if version >= 2 { writer.int16(0) }
    }

    /// CreateTopics and DeleteTopics.
    func topicAdministration(_ key: ApiKey, _ request: inout WireReader, version: Int16) async throws -> ByteBuffer {
        var writer = body()
        let log = self.log
        if key == .createTopics {
            struct Creation { var name: String; var partitions: Int32 }
            let topics = try request.array("topics") { request -> Creation in
                let name = try request.string("name")
                let partitions = try request.int32("num_partitions")
                _ = try request.int16("replication_factor")
                _ = try request.array("assignments") { request in
                    _ = try request.int32("partition_index")
                    _ = try request.array("broker_ids") { try $0.int32("broker id") }
                }
                _ = try request.array("configs") { request in
                    _ = try request.string("config name")
                    _ = try request.nullableString("config value")
                }
                return Creation(name: name, partitions: partitions)
            }
            _ = try request.int32("timeout_ms")
            let validateOnly = version >= 1 ? try request.bool("validate_only") : false
            let defaultPartitions = configuration.defaultPartitions
            let results = try await offload {
                topics.map { topic -> (String, KafkaError, String?) in
                    let partitions = topic.partitions == -1 ? defaultPartitions : Int(topic.partitions)
                    guard partitions >= 1 else { return (topic.name, .invalidPartitions, "partitions must be ≥ 1") }
                    guard TopicNameCheck.isValid(topic.name) else {
                        return (topic.name, .invalidTopic, "invalid topic name")
                    }
                    if validateOnly {
                        return
                            (log.partitionCountIfPresent(topic.name) != nil
                            ? (topic.name, .topicAlreadyExists, "exists") : (topic.name, .none, nil))
                    }
                    do {
                        try log.createTopic(topic.name, configuration: TopicConfiguration(partitions: partitions))
                        return (topic.name, .none, nil)
                    } catch {
                        return (topic.name, Self.kafkaError(error), (error as? EventLogError)?.message)
                    }
                }
            }
            if version >= 2 { writer.int32(0) }
            writer.array(results) { writer, result in
                writer.string(result.0)
                writer.int16(result.1.rawValue)
                if version >= 1 { writer.string(result.2) }
            }
        } else {
            let names = try request.array("topic_names") { try $0.string("topic name") }
            _ = try request.int32("timeout_ms")
            let results = try await offload {
                names.map { name -> (String, KafkaError) in
                    do {
                        try log.deleteTopic(name)
                        return (name, .none)
                    } catch {
                        return (name, Self.kafkaError(error))
                    }
                }
            }
            if version >= 1 { writer.int32(0) }
            writer.array(results) { writer, result in
                writer.string(result.0)
                writer.int16(result.1.rawValue)
            }
        }
        return writer.buffer
    }
}

extension Log {
    fileprivate func partitionCountIfPresent(_ name: String) -> Int? { try? partitionCount(name) }
}
