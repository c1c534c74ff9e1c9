import EventLogFoundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The in-process side of a group: its membership state machine, each member's wake-up signal, and the
/// partition leases this process holds for the group.
struct GroupRegistration {
    var membership: GroupMembership
    var wakeups: [String: AppendSignal] = [:]
    /// Lease file descriptors: held while any member here targets the partition, so handing a partition
    /// from one local member to another never lets another process in between.
    var leases: [TopicPartition: Int32] = [:]
}

/// A member of a consumer group: it reads the partitions the group assigns it, and commits its positions
/// so the group resumes where it left off.
///
/// **In one process**, members of a group share its partitions by the chosen ``AssignmentStrategy``; a
/// member joining, leaving (``close()``) or going silent for `sessionTimeout` triggers a rebalance. A
/// member gives up a partition (``Configuration/onRevoked`` is called, and with auto-commit its position
/// is committed) before another member takes it (``Configuration/onAssigned``), so no two members read a
/// partition at once. Callbacks run inside `poll`, on the caller's thread, like Kafka's.
///
/// **Across processes**, a member must also hold the partition's lease — an exclusive POSIX lock on
/// `group-commits/<group>/<topic>-<partition>.lease` — before reading it. A process therefore never reads
/// a partition another process's member holds; when that process exits or dies, the kernel releases its
/// leases and the next `poll` here takes the partitions over from the last committed offset. Within a
/// process the partitions are balanced among its members; across processes the first process to lease a
/// partition keeps it (the others stand by).
///
/// Positions start at the group's committed offset, or at ``Configuration/resetTo`` when there is none.
public final class GroupConsumer: @unchecked Sendable {
    /// How the member behaves.
    public struct Configuration: Sendable {
        /// How partitions are divided among this process's members.
        public var strategy: AssignmentStrategy = .range
        /// A member that does not poll for this long is removed from the group.
        public var sessionTimeoutMilliseconds: Int64 = 10_000
        /// Commit positions automatically this often (during `poll`), on revocation and on close; `nil`
        /// for manual commits only.
        public var autoCommitIntervalMilliseconds: Int64? = 5_000
        /// Where to start in a partition the group never committed.
        public var resetTo: StartPosition = .earliest
        /// Called with partitions this member stops reading.
        public var onRevoked: (@Sendable ([TopicPartition]) -> Void)? = nil
        /// Called with partitions this member starts reading.
        public var onAssigned: (@Sendable ([TopicPartition]) -> Void)? = nil

        /// The defaults.
        public init() {}
    }

    /// The group.
    public let group: String
    /// This member's id, unique in the process.
    public let memberId: String
    let log: Log
    let consumer: Consumer
    let configuration: Configuration
    private var pending: Set<TopicPartition> = []  // assigned by the group but leased by another process
    private var lastCommit: Int64
    private var closed = false
    /// Positions already delivered to the caller (what auto-commit commits).
    private var delivered: [TopicPartition: Int64] = [:]
    /// Positions this member last committed, so unchanged ones are not committed again.
    private var committed: [TopicPartition: Int64] = [:]

    init(log: Log, group: String, topics: [String], configuration: Configuration) throws {
        try log.validateGroup(group)
        self.log = log
        self.group = group
        self.configuration = configuration
        self.memberId = "\(group)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        self.consumer = try Consumer(log: log, assignment: [], from: configuration.resetTo)
        self.lastCommit = log.configuration.clock.milliseconds()
        var counts: [String: Int] = [:]
        for topic in topics { counts[topic] = try log.partitionCount(topic) }
        let now = log.configuration.clock.milliseconds()
        let wakeup = consumer.wakeup
        let others = log.groups.withLock { groups -> [AppendSignal] in
            var registration =
                groups[group]
                ?? GroupRegistration(
                    membership: GroupMembership(
                        strategy: configuration.strategy,
                        sessionTimeoutMilliseconds: configuration.sessionTimeoutMilliseconds))
            registration.membership.join(memberId, topics: Set(topics), partitionCounts: counts, now: now)
            registration.wakeups[memberId] = wakeup
            groups[group] = registration
            return Array(registration.wakeups.values)
        }
        for signal in others { signal.signal() }  // everyone re-syncs after a rebalance
        consumer.onDeliver = { [weak self] record in self?.delivered[record.topicPartition] = record.offset + 1 }
        consumer.idleWakeup = { [weak self] in self?.nanosecondsUntilAutoCommit() }
        consumer.beforeRead = { [weak self] in
            guard let self else { return }
            try self.checkNotClosed()
            try self.sync()
            try self.autoCommitIfDue()
        }
        try sync()
    }

    deinit { try? close() }

    /// The partitions this member reads now.
    public var assignment: [TopicPartition] { consumer.assignment }

    /// Heartbeat and reconcile with the group: give up revoked partitions (committing them), take new ones
    /// once this process holds their lease.
    func sync() throws {
        let now = log.configuration.clock.milliseconds()
        let dir = "\(log.directory)/\(Log.groupCommitsDirectory)/\(group)"
        let io = log.io
        let (changes, gained, wake) = log.groups.withLock {
            groups -> (GroupMembership.Changes, [TopicPartition], [AppendSignal]) in
            guard var registration = groups[group] else { return (GroupMembership.Changes(), [], []) }
            let expired = registration.membership.expire(now: now)
            for id in expired { registration.wakeups[id] = nil }
            let changes = registration.membership.sync(memberId, now: now)
            pending.subtract(changes.revoked)
            pending.formUnion(changes.assigned)
            // Non-blocking fcntl lock calls: the only I/O under this lock, and it never waits.
            var gained: [TopicPartition] = []
            for tp in pending.sorted()
            where registration.leases[tp] != nil || Self.takeLease(tp, in: dir, io: io, into: &registration.leases) {
                pending.remove(tp)
                gained.append(tp)
            }
            let targeted = Set(registration.membership.target.values.flatMap { $0 })
            for (tp, fd) in registration.leases where !targeted.contains(tp) {
                Self.releaseLease(tp, fd: fd, in: dir, io: io)
                registration.leases[tp] = nil
            }
            groups[group] = registration
            let wake = expired.isEmpty && changes.revoked.isEmpty ? [] : Array(registration.wakeups.values)
            return (changes, gained, wake)
        }
        for signal in wake where signal !== consumer.wakeup { signal.signal() }
        if !changes.revoked.isEmpty {
            if configuration.autoCommitIntervalMilliseconds != nil { try commitDelivered(changes.revoked) }
            configuration.onRevoked?(changes.revoked.sorted())
        }
        if !changes.revoked.isEmpty || !gained.isEmpty {
            let keep = Set(consumer.assignment).subtracting(changes.revoked).union(gained)
            let committed = gained.isEmpty ? [:] : try log.committedOffsets(group: group)
            var positions: [TopicPartition: Int64] = [:]
            for tp in gained {
                if let offset = committed[tp]?.offset {
                    let (start, end) = try log.offsets(topic: tp.topic, partition: tp.partition)
                    positions[tp] = min(max(offset, start), end)
                }
            }
            try consumer.assign(Array(keep), from: configuration.resetTo, positions: positions)
            for tp in changes.revoked {
                delivered[tp] = nil
                self.committed[tp] = nil
            }
            if !gained.isEmpty { configuration.onAssigned?(gained) }
        }
    }

    private static func takeLease(
        _ tp: TopicPartition, in dir: String, io: SystemIO, into leases: inout [TopicPartition: Int32]
    ) -> Bool {
        _ = io.mkdir(io.parent(of: dir))
        _ = io.mkdir(dir)
        let path = "\(dir)/\(tp.topic)-\(tp.partition).lease"
        guard ProcessLocks.claim(path) else { return false }  // another Log of this process has it
        guard case .success(let fd) = io.open(path, flags: O_RDWR | O_CREAT | O_CLOEXEC) else {
            ProcessLocks.release(path)
            return false
        }
        guard case .success = io.tryLockExclusive(fd) else {
            io.close(fd)
            ProcessLocks.release(path)
            return false
        }
        leases[tp] = fd
        return true
    }

    private static func releaseLease(_ tp: TopicPartition, fd: Int32, in dir: String, io: SystemIO) {
        io.close(fd)
        ProcessLocks.release("\(dir)/\(tp.topic)-\(tp.partition).lease")
    }

    /// Polls the group (heartbeat, rebalance, auto-commit) and returns records of the assigned partitions.
    public func poll(maxRecords: Int = 500, timeout: Duration = .zero) throws -> [ConsumerRecord] {
        try checkNotClosed()
        return try consumer.poll(maxRecords: maxRecords, timeout: timeout)  // syncs through beforeRead
    }

    /// Records from the assigned partitions as they arrive, with ``ConsumerEvent/caughtUp`` markers.
    /// The membership is synced before each read and after every wake-up (a rebalance wakes members).
    public var events: Events { Events(member: self) }

    /// The `AsyncSequence` of a member's events; it keeps the member alive while iterated.
    public struct Events: AsyncSequence, Sendable {
        let member: GroupConsumer
        public typealias Element = ConsumerEvent
        public func makeAsyncIterator() -> Iterator {
            Iterator(member: member, inner: member.consumer.events.makeAsyncIterator())
        }

        /// Delegates to the consumer's iterator (which syncs with the group before each read).
        public struct Iterator: AsyncIteratorProtocol {
            let member: GroupConsumer
            var inner: Consumer.Events.Iterator
            public mutating func next() async throws -> ConsumerEvent? { try await inner.next() }
        }
    }

    private func autoCommitIfDue() throws {
        guard let interval = configuration.autoCommitIntervalMilliseconds else { return }
        let now = log.configuration.clock.milliseconds()
        if now - lastCommit >= interval {
            try commitDelivered(Set(consumer.assignment))
            lastCommit = now
        }
    }

    /// When an idle member has delivered records it has not committed: how long until the auto-commit is
    /// due, so the position reaches the group even if no record ever arrives again.
    private func nanosecondsUntilAutoCommit() -> UInt64? {
        guard let interval = configuration.autoCommitIntervalMilliseconds,
            delivered.contains(where: { committed[$0.key] != $0.value })
        else { return nil }
        let remaining = interval - (log.configuration.clock.milliseconds() - lastCommit)
        return UInt64(max(remaining, 0) + 1) * 1_000_000
    }

    private func commitDelivered(_ partitions: Set<TopicPartition>) throws {
        let offsets = delivered.filter { partitions.contains($0.key) && committed[$0.key] != $0.value }
        guard !offsets.isEmpty else { return }
        try log.commit(group: group, offsets: offsets)
        committed.merge(offsets) { $1 }
    }

    /// Commits the position after the last record returned from every assigned partition.
    public func commit() throws {
        try checkNotClosed()
        try commitDelivered(Set(consumer.assignment))
    }

    /// Commits explicit positions (the next offset to read) for assigned partitions.
    public func commit(_ offsets: [TopicPartition: Int64]) throws {
        try checkNotClosed()
        let assigned = Set(consumer.assignment)
        guard offsets.keys.allSatisfy(assigned.contains) else {
            throw EventLogError(.unknownPartition, "cannot commit partitions not assigned to this member")
        }
        try log.commit(group: group, offsets: offsets)
        committed.merge(offsets) { $1 }
    }

    func checkNotClosed() throws {
        if closed { throw EventLogError(.closed, "group consumer \(memberId) is closed") }
    }

    /// Leaves the group: commits (with auto-commit), releases the partitions and leases, and lets the
    /// remaining members rebalance. Idempotent.
    public func close() throws {
        guard !closed else { return }
        closed = true
        if configuration.autoCommitIntervalMilliseconds != nil { try? commitDelivered(Set(consumer.assignment)) }
        let io = log.io
        let others = log.groups.withLock { groups -> [AppendSignal] in
            guard var registration = groups[group] else { return [] }
            registration.membership.leave(memberId)
            registration.wakeups[memberId] = nil
            if registration.membership.members.isEmpty {
                let dir = "\(log.directory)/\(Log.groupCommitsDirectory)/\(group)"
                for (tp, fd) in registration.leases { Self.releaseLease(tp, fd: fd, in: dir, io: io) }
                groups[group] = nil
            } else {
                groups[group] = registration
            }
            return Array(registration.wakeups.values)
        }
        for signal in others { signal.signal() }
    }
}

extension Log {
    /// Joins `group` as a new member reading `topics`.
    public func groupConsumer(
        group: String, topics: [String], configuration: GroupConsumer.Configuration = GroupConsumer.Configuration()
    ) throws -> GroupConsumer {
        try checkOpen()
        return try GroupConsumer(log: self, group: group, topics: topics, configuration: configuration)
    }
}
