import EventLog
import Logging

/// Kafka's classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup): the leader client
/// computes the assignment; the coordinator tracks members, generations and timeouts.
///
/// ```
///            join                 all members joined            leader's SyncGroup
///  empty ─────────▶ preparing ───────(or rebalance timeout)──▶ completing ──────────▶ stable
///    ▲               rebalance ◀──────────────────────────────── rebalance ◀──────────  │
///    └── last member leaves / expires        join, leave, session expiry                │
///                                  ◀─────────────────────────────────────────────────────┘
/// ```
///
/// Invariants (tested by driving it with real clients and directly):
/// - The generation increases by exactly one each time a rebalance completes; every JoinGroup answer of
///   one rebalance carries the same generation, leader and protocol, and only the leader's carries the
///   members' metadata.
/// - A rebalance completes when every member has a JoinGroup waiting, or when the longest rebalance
///   timeout of its members passes — then members without one are removed.
/// - In `completingRebalance`, followers' SyncGroup waits for the leader's; the leader's assignment is
///   handed out once, and the group becomes stable.
/// - A member not heard from (join, sync, heartbeat, commit) for its session timeout is removed, which
///   starts a rebalance; a member waiting in JoinGroup is not expired.
/// - Heartbeat answers: unknown member 25, other generation 22, rebalancing 27 (rejoin), else 0.
/// - Every waiting JoinGroup or SyncGroup is answered exactly once (with an error if its member is
///   removed or the rebalance restarts).
actor GroupCoordinator {
    enum State: String {
        case empty = "Empty", preparingRebalance = "PreparingRebalance", completingRebalance = "CompletingRebalance",
            stable = "Stable"
    }

    struct JoinAnswer: Sendable {
        var error: KafkaError
        var generation: Int32 = -1
        var protocolName: String? = nil
        var leader = ""
        var memberId = ""
        var members: [(id: String, metadata: [UInt8])] = []
    }

    struct SyncAnswer: Sendable {
        var error: KafkaError
        var assignment: [UInt8] = []
    }

    struct Member {
        var id: String
        var clientId: String
        var sessionTimeout: Int64
        var rebalanceTimeout: Int64
        var protocols: [(name: String, metadata: [UInt8])]
        var lastSeen: Int64
        var join: CheckedContinuation<JoinAnswer, Never>?
        var sync: CheckedContinuation<SyncAnswer, Never>?
        var assignment: [UInt8] = []
    }

    final class Group {
        var state = State.empty
        var generation: Int32 = 0
        var protocolType = ""
        var protocolName: String?
        var leader: String?
        var members: [String: Member] = [:]
        var joinOrder: [String] = []
        var issuedIds: Set<String> = []
        var rebalanceDeadline: Int64 = 0
    }

    private var groups: [String: Group] = [:]
    private let log: Log
    private let logger: Logger
    private var nextMemberNumber = 0
    private let clock = SystemClock()

    init(log: Log, logger: Logger) {
        self.log = log
        self.logger = logger
    }

    private func now() -> Int64 { clock.milliseconds() }

    // MARK: JoinGroup

    func join(
        group groupId: String, memberId: String, clientId: String, sessionTimeout: Int32, rebalanceTimeout: Int32,
        protocolType: String, protocols: [(name: String, metadata: [UInt8])], requireKnownMemberId: Bool
    ) async -> JoinAnswer {
        guard !groupId.isEmpty else { return JoinAnswer(error: .invalidGroupId) }
        guard (1_000...3_600_000).contains(sessionTimeout) else { return JoinAnswer(error: .invalidSessionTimeout) }
        let group = groups[groupId] ?? Group()
        groups[groupId] = group
        if !group.members.isEmpty {
            let common = commonProtocols(group, adding: protocols.map(\.name), except: memberId)
            guard protocolType == group.protocolType, !common.isEmpty else {
                return JoinAnswer(error: .inconsistentGroupProtocol)
            }
        }
        var id = memberId
        if id.isEmpty {
            nextMemberNumber += 1
            id = "\(clientId.isEmpty ? "member" : clientId)-\(nextMemberNumber)-\(UInt32.random(in: 0...UInt32.max))"
            if requireKnownMemberId {
                group.issuedIds.insert(id)
                return JoinAnswer(error: .memberIdRequired, memberId: id)
            }
        } else if group.members[id] == nil && !group.issuedIds.contains(id) {
            return JoinAnswer(error: .unknownMemberId, memberId: id)
        }
        group.issuedIds.remove(id)
        if group.members.isEmpty { group.protocolType = protocolType }
        return await withCheckedContinuation { continuation in
            var member =
                group.members[id]
                ?? Member(
                    id: id, clientId: clientId, sessionTimeout: Int64(sessionTimeout),
                    rebalanceTimeout: Int64(rebalanceTimeout < 0 ? sessionTimeout : rebalanceTimeout),
                    protocols: protocols,
                    lastSeen: now())
            if group.members[id] == nil { group.joinOrder.append(id) }
            member.protocols = protocols
            member.sessionTimeout = Int64(sessionTimeout)
            member.rebalanceTimeout = Int64(rebalanceTimeout < 0 ? sessionTimeout : rebalanceTimeout)
            member.lastSeen = now()
            member.join?.resume(returning: JoinAnswer(error: .unknownMemberId))  // a duplicate join replaces it
            member.join = continuation
            group.members[id] = member
            if group.state != .preparingRebalance { prepareRebalance(group, groupId) }
            completeRebalanceIfReady(group, groupId)
        }
    }

    private func commonProtocols(_ group: Group, adding names: [String], except memberId: String) -> [String] {
        var common = names
        for member in group.members.values where member.id != memberId {
            let theirs = Set(member.protocols.map(\.name))
            common = common.filter { theirs.contains($0) }
        }
        return common
    }

    private func prepareRebalance(_ group: Group, _ groupId: String) {
        // Syncs waiting for an assignment that will not come: tell them to rejoin.
        for id in group.members.keys {
            if let sync = group.members[id]!.sync {
                sync.resume(returning: SyncAnswer(error: .rebalanceInProgress))
                group.members[id]!.sync = nil
            }
        }
        group.state = .preparingRebalance
        group.rebalanceDeadline = now() + (group.members.values.map(\.rebalanceTimeout).max() ?? 0)
        logger.info("group rebalancing", metadata: ["group": "\(groupId)", "members": "\(group.members.count)"])
    }

    private func completeRebalanceIfReady(_ group: Group, _ groupId: String, force: Bool = false) {
        guard group.state == .preparingRebalance else { return }
        let waiting = group.members.values.filter { $0.join != nil }
        guard force || waiting.count == group.members.count else { return }
        // Members that did not rejoin in time are out.
        for member in group.members.values where member.join == nil { remove(member.id, from: group) }
        group.generation &+= 1
        if group.members.isEmpty {
            group.state = .empty
            group.leader = nil
            group.protocolName = nil
            return
        }
        if group.leader == nil || group.members[group.leader!] == nil {
            group.leader = group.joinOrder.first { group.members[$0] != nil }
        }
        let leader = group.members[group.leader!]!
        let all = group.members.values
        group.protocolName = leader.protocols.map(\.name).first { name in
            all.allSatisfy { $0.protocols.contains { $0.name == name } }
        }
        group.state = .completingRebalance
        let ordered = group.joinOrder.compactMap { group.members[$0] }
        for member in ordered {
            let metadata = ordered.map { other in
                (id: other.id, metadata: other.protocols.first { $0.name == group.protocolName }?.metadata ?? [])
            }
            group.members[member.id]!.join = nil
            group.members[member.id]!.lastSeen = now()
            member.join?.resume(
                returning: JoinAnswer(
                    error: .none, generation: group.generation, protocolName: group.protocolName,
                    leader: group.leader!, memberId: member.id, members: member.id == group.leader ? metadata : []))
        }
        logger.info(
            "group rebalanced",
            metadata: ["group": "\(groupId)", "generation": "\(group.generation)", "members": "\(ordered.count)"])
    }

    private func remove(_ id: String, from group: Group) {
        guard let member = group.members.removeValue(forKey: id) else { return }
        group.joinOrder.removeAll { $0 == id }
        member.join?.resume(returning: JoinAnswer(error: .unknownMemberId, memberId: id))
        member.sync?.resume(returning: SyncAnswer(error: .unknownMemberId))
        if group.leader == id { group.leader = nil }
    }

    // MARK: SyncGroup, Heartbeat, LeaveGroup

    func sync(group groupId: String, generation: Int32, memberId: String, assignments: [(String, [UInt8])]) async
        -> SyncAnswer
    {
        guard let group = groups[groupId], group.members[memberId] != nil else {
            return SyncAnswer(error: .unknownMemberId)
        }
        group.members[memberId]!.lastSeen = now()
        guard generation == group.generation else { return SyncAnswer(error: .illegalGeneration) }
        switch group.state {
        case .empty: return SyncAnswer(error: .unknownMemberId)
        case .preparingRebalance: return SyncAnswer(error: .rebalanceInProgress)
        case .stable: return SyncAnswer(error: .none, assignment: group.members[memberId]!.assignment)
        case .completingRebalance:
            return await withCheckedContinuation { continuation in
                group.members[memberId]!.sync?.resume(returning: SyncAnswer(error: .rebalanceInProgress))
                group.members[memberId]!.sync = continuation
                guard memberId == group.leader else { return }
                for (id, assignment) in assignments where group.members[id] != nil {
                    group.members[id]!.assignment = assignment
                }
                group.state = .stable
                for id in group.members.keys {
                    if let waiting = group.members[id]!.sync {
                        group.members[id]!.sync = nil
                        waiting.resume(returning: SyncAnswer(error: .none, assignment: group.members[id]!.assignment))
                    }
                }
            }
        }
    }

    func heartbeat(group groupId: String, generation: Int32, memberId: String) -> KafkaError {
        guard let group = groups[groupId], group.members[memberId] != nil else { return .unknownMemberId }
        group.members[memberId]!.lastSeen = now()
        if group.state == .preparingRebalance { return .rebalanceInProgress }
        guard generation == group.generation else { return .illegalGeneration }
        return .none
    }

    func leave(group groupId: String, memberIds: [String]) -> [KafkaError] {
        guard let group = groups[groupId] else { return memberIds.map { _ in .unknownMemberId } }
        let answers = memberIds.map { group.members[$0] == nil ? KafkaError.unknownMemberId : .none }
        var changed = false
        for id in memberIds where group.members[id] != nil {
            remove(id, from: group)
            changed = true
        }
        if changed { membershipChanged(group, groupId) }
        return answers
    }

    private func membershipChanged(_ group: Group, _ groupId: String) {
        if group.members.isEmpty {
            group.generation &+= 1
            group.state = .empty
            group.leader = nil
            group.protocolName = nil
        } else {
            if group.state != .preparingRebalance { prepareRebalance(group, groupId) }
            completeRebalanceIfReady(group, groupId)
        }
    }

    /// Whether `memberId` of `generation` may commit offsets now (Kafka checks the same things).
    func checkCommit(group groupId: String, generation: Int32, memberId: String) -> KafkaError {
        if generation < 0 && memberId.isEmpty {
            // A standalone commit (no group membership), allowed unless the group is active.
            guard let group = groups[groupId], !group.members.isEmpty else { return .none }
            return .unknownMemberId
        }
        guard let group = groups[groupId], group.members[memberId] != nil else { return .unknownMemberId }
        group.members[memberId]!.lastSeen = now()
        guard generation == group.generation else { return .illegalGeneration }
        // As Kafka: members of the current generation may commit while the next rebalance gathers (what
        // they processed before giving partitions up); only between join and sync is it refused.
        return group.state == .completingRebalance ? .rebalanceInProgress : .none
    }

    // MARK: Timeouts

    /// Expires silent members and overdue rebalances; called periodically.
    func tick() {
        let time = now()
        for (groupId, group) in groups {
            let expired = group.members.values.filter { $0.join == nil && time - $0.lastSeen > $0.sessionTimeout }
            for member in expired {
                logger.info("group member expired", metadata: ["group": "\(groupId)", "member": "\(member.id)"])
                remove(member.id, from: group)
            }
            if !expired.isEmpty { membershipChanged(group, groupId) }
            if group.state == .preparingRebalance && time >= group.rebalanceDeadline {
                completeRebalanceIfReady(group, groupId, force: true)
            }
        }
    }

    // MARK: Describe, list

    struct Description: Sendable {
        var state: String
        var protocolType: String
        var protocolName: String
        var members: [(id: String, clientId: String, metadata: [UInt8], assignment: [UInt8])]
    }

    func describe(_ groupId: String) -> Description? {
        guard let group = groups[groupId] else { return nil }
        let members = group.joinOrder.compactMap { group.members[$0] }.map { member in
            (
                id: member.id, clientId: member.clientId,
                metadata: member.protocols.first { $0.name == group.protocolName }?.metadata ?? [],
                assignment: member.assignment
            )
        }
        return Description(
            state: group.state.rawValue, protocolType: group.protocolType, protocolName: group.protocolName ?? "",
            members: members)
    }

    func list() -> [(String, String)] { groups.map { ($0.key, $0.value.protocolType) }.sorted { $0.0 < $1.0 } }
}
