/// How a group's partitions are divided among its members.
public enum AssignmentStrategy: String, Sendable, Hashable, Codable, CaseIterable {
    /// Kafka's range assignor: per topic, contiguous ranges of partitions to members in id order (the
    /// first `partitions % members` members get one more).
    case range
    /// Kafka's round-robin assignor: all partitions of all topics in order, dealt to members in turn
    /// (skipping members not subscribed to a topic).
    case roundRobin
    /// Sticky: members keep what they had up to a fair share (`ceil(partitions / members)`); the rest go,
    /// most constrained first, to the least-loaded eligible member.
    case sticky

    /// Divides `partitions` (topic → partition count) among `members` (id → subscribed topics).
    ///
    /// - Parameter previous: the last assignment (used by ``sticky``).
    /// - Returns: every member's partitions; each partition of a subscribed topic goes to exactly one
    ///   member subscribed to it.
    public func assign(
        partitions: [String: Int], members: [String: Set<String>], previous: [String: Set<TopicPartition>] = [:]
    ) -> [String: Set<TopicPartition>] {
        var result: [String: Set<TopicPartition>] = [:]
        for id in members.keys { result[id] = [] }
        let ids = members.keys.sorted()
        switch self {
        case .range:
            for topic in partitions.keys.sorted() {
                let subscribers = ids.filter { members[$0]!.contains(topic) }
                guard !subscribers.isEmpty, let count = partitions[topic] else { continue }
                let per = count / subscribers.count
                let extra = count % subscribers.count
                var next = 0
                for (i, id) in subscribers.enumerated() {
                    let take = per + (i < extra ? 1 : 0)
                    for p in next..<(next + take) { result[id]!.insert(TopicPartition(topic, p)) }
                    next += take
                }
            }
        case .roundRobin:
            var turn = 0
            for tp in Self.all(partitions) {
                let subscribers = ids.filter { members[$0]!.contains(tp.topic) }
                guard !subscribers.isEmpty else { continue }
                // Deal in member order, skipping members not subscribed to this topic.
                var chosen: String? = nil
                for k in 0..<ids.count {
                    let id = ids[(turn + k) % ids.count]
                    if members[id]!.contains(tp.topic) {
                        chosen = id
                        turn = (turn + k + 1) % ids.count
                        break
                    }
                }
                result[chosen!]!.insert(tp)
            }
        case .sticky:
            let all = Self.all(partitions).filter { tp in ids.contains { members[$0]!.contains(tp.topic) } }
            guard !ids.isEmpty else { return result }
            // Keep previous partitions (still valid) up to a fair share: ceil(total / members).
            let cap = (all.count + ids.count - 1) / ids.count
            var taken = Set<TopicPartition>()
            for id in ids {
                let mine = (previous[id] ?? []).filter { all.contains($0) && members[id]!.contains($0.topic) }.sorted()
                for tp in mine.prefix(cap) where !taken.contains(tp) {
                    result[id]!.insert(tp)
                    taken.insert(tp)
                }
            }
            // Place the rest, most constrained first (fewest eligible members), on the least-loaded member.
            let eligible = { (tp: TopicPartition) in ids.filter { members[$0]!.contains(tp.topic) } }
            let rest = all.filter { !taken.contains($0) }.sorted { (eligible($0).count, $0) < (eligible($1).count, $1) }
            for tp in rest {
                let target = eligible(tp).min { (result[$0]!.count, $0) < (result[$1]!.count, $1) }!
                result[target]!.insert(tp)
            }
        }
        return result
    }

    static func all(_ partitions: [String: Int]) -> [TopicPartition] {
        partitions.keys.sorted().flatMap { topic in (0..<partitions[topic]!).map { TopicPartition(topic, $0) } }
    }
}

/// The membership of one consumer group, as a pure state machine: events in (join, leave, heartbeat,
/// time passing), decisions out (what each member must give up and take). Time is a parameter, so
/// tests drive it deterministically.
///
/// Invariants:
/// - `target` is the strategy's assignment for the current members; it changes (and `generation`
///   increases) only when membership or subscriptions change.
/// - A partition is *owned* by at most one member at a time. A member gives up what it owns outside its
///   target before anyone else may take it (``sync(_:now:)``), so two members never read one partition at
///   once — a member that stops calling `sync` loses its partitions after `sessionTimeout`.
public struct GroupMembership: Sendable, Equatable {
    /// A member's subscription and liveness.
    public struct Member: Sendable, Equatable {
        /// The topics it subscribed to.
        public var topics: Set<String>
        /// When it last called `sync` (milliseconds).
        public var lastSeen: Int64
    }

    /// What a member must do after a `sync`.
    public struct Changes: Sendable, Equatable {
        /// Partitions it must stop reading (commit first).
        public var revoked: Set<TopicPartition> = []
        /// Partitions it now owns.
        public var assigned: Set<TopicPartition> = []
    }

    /// The assignment strategy.
    public let strategy: AssignmentStrategy
    /// How long a member may go without `sync` before it is removed.
    public let sessionTimeoutMilliseconds: Int64
    /// Current members by id.
    public private(set) var members: [String: Member] = [:]
    /// Increases with every rebalance.
    public private(set) var generation = 0
    /// The desired assignment.
    public private(set) var target: [String: Set<TopicPartition>] = [:]
    /// Who owns each partition now.
    public private(set) var owner: [TopicPartition: String] = [:]
    /// Partition counts of the topics members subscribe to.
    public private(set) var partitionCounts: [String: Int] = [:]

    /// Creates an empty group.
    public init(strategy: AssignmentStrategy, sessionTimeoutMilliseconds: Int64) {
        self.strategy = strategy
        self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
    }

    /// Adds (or re-subscribes) a member and rebalances.
    public mutating func join(_ id: String, topics: Set<String>, partitionCounts counts: [String: Int], now: Int64) {
        for (topic, count) in counts { partitionCounts[topic] = count }
        members[id] = Member(topics: topics, lastSeen: now)
        rebalance()
    }

    /// Removes a member, releasing what it owned, and rebalances.
    public mutating func leave(_ id: String) {
        guard members.removeValue(forKey: id) != nil else { return }
        owner = owner.filter { $0.value != id }
        rebalance()
    }

    /// Removes members silent for longer than the session timeout; returns their ids.
    @discardableResult
    public mutating func expire(now: Int64) -> [String] {
        let dead = members.filter { now - $0.value.lastSeen > sessionTimeoutMilliseconds }.keys.sorted()
        for id in dead {
            members[id] = nil
            owner = owner.filter { $0.value != id }
        }
        if !dead.isEmpty { rebalance() }
        return dead
    }

    /// A member's heartbeat: records it alive and reconciles what it owns with its target — it gives up
    /// partitions no longer its own and takes those of its target that nobody owns.
    public mutating func sync(_ id: String, now: Int64) -> Changes {
        guard var member = members[id] else { return Changes() }
        member.lastSeen = now
        members[id] = member
        var changes = Changes()
        let mine = target[id] ?? []
        for (tp, holder) in owner where holder == id && !mine.contains(tp) {
            owner[tp] = nil
            changes.revoked.insert(tp)
        }
        for tp in mine where owner[tp] == nil {
            owner[tp] = id
            changes.assigned.insert(tp)
        }
        return changes
    }

    /// What `id` owns now.
    public func owned(by id: String) -> Set<TopicPartition> { Set(owner.filter { $0.value == id }.keys) }

    private mutating func rebalance() {
        let subscriptions = members.mapValues(\.topics)
        let counts = partitionCounts.filter { topic, _ in subscriptions.values.contains { $0.contains(topic) } }
        target = strategy.assign(partitions: counts, members: subscriptions, previous: target)
        generation += 1
    }
}
