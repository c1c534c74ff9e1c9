import EventLogFoundation
import Foundation
import Synchronization
import Testing

@testable import EventLog

@Suite("Consumers")
struct ConsumerTests {
    func makeLog(_ dir: String, partitions: Int = 3) throws -> Log {
        let log = try Log(directory: dir)
        try log.createTopic("t", configuration: TopicConfiguration(partitions: partitions))
        return log
    }

    @Test("poll reads every partition round-robin from a start position; seek moves one partition")
    func pollAndSeek() throws {
        let dir = TemporaryDirectory()
        let log = try makeLog(dir.path)
        for i in 0..<90 {
            try log.append(ProducerRecord(key: nil as String?, value: "v\(i)"), to: "t", partition: i % 3)
        }
        let consumer = try log.consumer(topics: ["t"], from: .earliest)
        var all: [ConsumerRecord] = []
        while true {
            let batch = try consumer.poll(maxRecords: 7)
            if batch.isEmpty { break }
            #expect(batch.count <= 7)
            all += batch
        }
        #expect(all.count == 90)
        #expect(consumer.isCaughtUp)
        for p in 0..<3 {
            #expect(all.filter { $0.partition == p }.map(\.offset) == Array(0..<30))
        }
        try consumer.seek(TopicPartition("t", 1), to: .offset(25))
        #expect(try consumer.poll().map(\.offset) == [25, 26, 27, 28, 29])
        let latest = try log.consumer(topics: ["t"], from: .latest)
        #expect(try latest.poll().isEmpty)
        try log.append(ProducerRecord(key: nil as String?, value: "new"), to: "t", partition: 2)
        #expect(try latest.poll().map(\.record.valueString) == ["new"])
    }

    @Test("poll with a timeout wakes when another thread appends")
    func blockingPoll() throws {
        let dir = TemporaryDirectory()
        let log = try makeLog(dir.path, partitions: 1)
        let consumer = try log.consumer(topics: ["t"], from: .latest)
        let appender = Thread {
            usleep(20_000)
            _ = try? log.append(ProducerRecord(value: "late"), to: "t")
        }
        appender.start()
        let records = try consumer.poll(timeout: .seconds(30))
        #expect(records.map(\.record.valueString) == ["late"])
    }

    @Test("the async sequence delivers history, says caught up, then delivers live records in order")
    func asyncEvents() async throws {
        let dir = TemporaryDirectory()
        let log = try makeLog(dir.path, partitions: 2)
        for i in 0..<10 { try log.append(ProducerRecord(key: "k\(i)", value: "old-\(i)"), to: "t") }
        let consumer = try log.consumer(topics: ["t"], from: .earliest)
        let reader = Task {
            var history: [String] = []
            var live: [String] = []
            var caughtUp = false
            for try await event in consumer.events {
                switch event {
                case .record(let record):
                    if caughtUp {
                        live.append(record.record.valueString!)
                    } else {
                        history.append(record.record.valueString!)
                    }
                case .caughtUp:
                    if !caughtUp {
                        caughtUp = true
                        Task { for i in 0..<5 { try log.append(ProducerRecord(key: "k", value: "new-\(i)"), to: "t") } }
                    }
                }
                if live.count == 5 { break }
            }
            return (history, live)
        }
        let (history, live) = try await reader.value
        #expect(Set(history) == Set((0..<10).map { "old-\($0)" }))
        #expect(live == (0..<5).map { "new-\($0)" })  // one key: one partition, in order
    }

    @Test("a read-only process follows a writer in another process, seeing complete batches only")
    func crossProcessFollow() async throws {
        let dir = TemporaryDirectory()
        do {
            let log = try makeLog(dir.path, partitions: 1)
            try log.close()
        }
        let path = dir.path
        // The child writes 2,000 records in batches while this process follows read-only.
        let writer = Task.detached {
            await #expect(processExitsWith: .success) { [path = path as String] in
                let log = try! Log(directory: path)
                let builder = RecordBatchBuilder()
                for b in 0..<40 {
                    builder.reset()
                    for i in 0..<50 { builder.append(key: nil as String?, value: "r\(b * 50 + i)", timestamp: 1) }
                    try! log.append(builder, to: "t", partition: 0)
                    usleep(2_000)
                }
                try! log.close()
            }
        }
        let follower = try Log.openReadOnly(directory: dir.path)
        let consumer = try follower.consumer(topics: ["t"], from: .earliest)
        var seen: [String] = []
        for try await record in consumer.records {
            seen.append(record.record.valueString!)
            if seen.count == 2000 { break }
        }
        _ = await writer.value
        #expect(seen == (0..<2000).map { "r\($0)" })
    }

    @Test("a reader that keeps up with a writer sees every record exactly once, in order, across segment rolls")
    func tailWhileAppending() throws {
        let seed = testSeed("tailWhileAppending")
        var generator = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        var config = TopicConfiguration()
        config.segmentBytes = 16 * 1024
        try log.createTopic("t", configuration: config)
        let total = 30_000
        let sizes = (0..<total).map { _ in Int.random(in: 1...60, using: &generator) }
        let writer = Thread {
            var next = 0
            var i = 0
            while next < total {
                let count = min(sizes[i], total - next)
                try! log.append((next..<next + count).map { ProducerRecord(value: "v\($0)") }, to: "t")
                next += count
                i += 1
            }
        }
        writer.start()
        let reader = try log.reader(topic: "t", partition: 0)
        var expected: Int64 = 0
        var wrong: [String] = []
        while expected < Int64(total) {
            let n = try reader.read(maxRecords: Int.random(in: 1...500, using: &generator)) { record in
                if record.offset != expected || String(decoding: record.value!, as: UTF8.self) != "v\(expected)" {
                    wrong.append("offset \(record.offset) where \(expected) was due")
                }
                expected = record.offset + 1
            }
            if n == 0 { usleep(50) }
            if wrong.count > 3 { break }
        }
        #expect(wrong.isEmpty, "seed \(seed): \(wrong)")
        while !writer.isFinished { usleep(1_000) }
        try log.close()
    }
}

@Suite("Committed offsets and consumer groups")
struct GroupTests {
    @Test(
        "assignors divide partitions as Kafka's do, and sticky keeps what it can",
        arguments: AssignmentStrategy.allCases)
    func assignors(strategy: AssignmentStrategy) {
        let partitions = ["a": 5, "b": 3]
        let members: [String: Set<String>] = ["m1": ["a", "b"], "m2": ["a", "b"], "m3": ["a"]]
        let result = strategy.assign(partitions: partitions, members: members)
        let all = result.values.flatMap { $0 }
        #expect(all.count == 8)
        #expect(Set(all).count == 8)  // each partition exactly once
        #expect(result["m3"]!.allSatisfy { $0.topic == "a" })
        // With equal subscriptions, round-robin and sticky are balanced to within one partition.
        let equal = strategy.assign(
            partitions: partitions, members: ["m1": ["a", "b"], "m2": ["a", "b"], "m3": ["a", "b"]])
        let loads = equal.values.map(\.count)
        if strategy != .range { #expect(loads.max()! - loads.min()! <= 1) }
        if strategy == .range {
            #expect(
                result["m1"]! == [
                    TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0), TopicPartition("b", 1),
                ])
        }
        // Adding a member: sticky moves only what balance requires.
        var more = members
        more["m4"] = ["a", "b"]
        let next = strategy.assign(partitions: partitions, members: more, previous: result)
        #expect(Set(next.values.flatMap { $0 }).count == 8)
        if strategy == .sticky {
            let moved = members.keys.reduce(0) { $0 + result[$1]!.subtracting(next[$1]!).count }
            #expect(moved == next["m4"]!.count)
        }
    }

    @Test("the membership state machine rebalances on join, leave and session timeout, never double-owning")
    func membership() {
        var group = GroupMembership(strategy: .roundRobin, sessionTimeoutMilliseconds: 1000)
        let counts = ["t": 4]
        group.join("a", topics: ["t"], partitionCounts: counts, now: 0)
        #expect(group.sync("a", now: 0).assigned.count == 4)
        group.join("b", topics: ["t"], partitionCounts: counts, now: 10)
        // b gets nothing until a gives up what moved.
        #expect(group.sync("b", now: 10).assigned.isEmpty)
        let aChanges = group.sync("a", now: 20)
        #expect(aChanges.revoked.count == 2)
        #expect(group.sync("b", now: 30).assigned.count == 2)
        #expect(group.owned(by: "a").isDisjoint(with: group.owned(by: "b")))
        // a goes silent: after the session timeout b takes everything.
        #expect(group.expire(now: 500).isEmpty)
        _ = group.sync("b", now: 900)
        #expect(group.expire(now: 1200) == ["a"])
        #expect(group.sync("b", now: 1200).assigned.count == 2)
        #expect(group.owned(by: "b").count == 4)
        group.leave("b")
        #expect(group.members.isEmpty)
        #expect(group.owner.isEmpty)
    }

    @Test("commits are durable across reopen, lag is reported, reset moves them; bad input is refused")
    func committedOffsets() throws {
        let dir = TemporaryDirectory()
        do {
            let log = try Log(directory: dir.path)
            try log.createTopic("t", configuration: TopicConfiguration(partitions: 2))
            for i in 0..<10 {
                try log.append(ProducerRecord(key: nil as String?, value: "\(i)"), to: "t", partition: i % 2)
            }
            try log.commit(group: "g", offsets: [TopicPartition("t", 0): 3])
            try log.commit(group: "g", offsets: [TopicPartition("t", 0): 4, TopicPartition("t", 1): 5])
            let past = #expect(throws: EventLogError.self) {
                try log.commit(group: "g", offsets: [TopicPartition("t", 0): 99])
            }
            #expect(past?.code == .offsetOutOfRange)
            let badName = #expect(throws: EventLogError.self) {
                try log.commit(group: "../x", offsets: [TopicPartition("t", 0): 1])
            }
            #expect(badName?.code == .invalidConfiguration)
            try log.close()
        }
        let log = try Log(directory: dir.path)
        let committed = try log.committedOffsets(group: "g")
        #expect(committed[TopicPartition("t", 0)]?.offset == 4)
        #expect(committed[TopicPartition("t", 1)]?.offset == 5)
        #expect(try log.groupNames() == ["g"])
        let lag = try log.lag(group: "g")
        #expect(lag.map(\.lag) == [1, 0])
        try log.resetOffsets(group: "g", topic: "t", to: .earliest)
        #expect(try log.lag(group: "g").map(\.lag) == [5, 5])
    }

    @Test("members of one group split the partitions, hand them over on leave, and resume from commits")
    func groupConsumers() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("t", configuration: TopicConfiguration(partitions: 4))
        for i in 0..<400 { try log.append(ProducerRecord(key: "k\(i)", value: "\(i)"), to: "t") }
        var config = GroupConsumer.Configuration()
        config.strategy = .range
        let revoked = Locked<[TopicPartition]>([])
        config.onRevoked = { tps in revoked.withLock { $0 += tps } }
        let a = try log.groupConsumer(group: "g", topics: ["t"], configuration: config)
        #expect(a.assignment.count == 4)
        let b = try log.groupConsumer(group: "g", topics: ["t"], configuration: config)
        _ = try a.poll(maxRecords: 0)  // a gives up two partitions
        _ = try b.poll(maxRecords: 0)  // b takes them
        #expect(a.assignment.count == 2)
        #expect(b.assignment.count == 2)
        #expect(Set(a.assignment).isDisjoint(with: Set(b.assignment)))
        #expect(revoked.withLock { $0.count } == 2)
        var seen: [String] = []
        for member in [a, b] {
            while true {
                let records = try member.poll(maxRecords: 50)
                if records.isEmpty { break }
                seen += records.map { $0.record.valueString! }
            }
            try member.commit()
        }
        #expect(seen.count == 400)
        #expect(Set(seen).count == 400)
        try b.close()
        _ = try a.poll(maxRecords: 0)
        #expect(a.assignment.count == 4)
        #expect(try a.poll().isEmpty)  // b's partitions resume after b's commits: nothing re-delivered
        #expect(try log.lag(group: "g").allSatisfy { $0.lag == 0 })
    }

    @Test("a group member in another, read-only process respects leases, commits durably, and hands over")
    func crossProcessGroup() async throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("t", configuration: TopicConfiguration(partitions: 2))
        for i in 0..<100 {
            try log.append(ProducerRecord(key: nil as String?, value: "\(i)"), to: "t", partition: i % 2)
        }
        let path = dir.path
        // While a member here holds both partitions' leases, a member in another process gets nothing.
        let holder = try log.groupConsumer(group: "cli", topics: ["t"])
        #expect(holder.assignment.count == 2)
        await #expect(processExitsWith: .success) { [path = path as String] in
            let follower = try! Log.openReadOnly(directory: path)
            let member = try! follower.groupConsumer(group: "cli", topics: ["t"])
            precondition(member.assignment.isEmpty, "took a partition leased by another process")
            precondition(try! member.poll().isEmpty)
        }
        try holder.close()
        // Now the other process takes both, reads everything and commits into its commit files.
        await #expect(processExitsWith: .success) { [path = path as String] in
            let follower = try! Log.openReadOnly(directory: path)
            let member = try! follower.groupConsumer(group: "cli", topics: ["t"])
            var count = 0
            while true {
                let records = try! member.poll(maxRecords: 30)
                if records.isEmpty { break }
                count += records.count
            }
            precondition(count == 100, "read \(count)")
            try! member.commit()
        }
        let committed = try log.committedOffsets(group: "cli")
        #expect(committed[TopicPartition("t", 0)]?.offset == 50)
        #expect(committed[TopicPartition("t", 1)]?.offset == 50)
        #expect(try log.lag(group: "cli").allSatisfy { $0.lag == 0 })
        // The child exited, so its leases are free: a member here resumes from its commits.
        let member = try log.groupConsumer(group: "cli", topics: ["t"])
        #expect(member.assignment.count == 2)
        #expect(try member.poll().isEmpty)
    }

    @Test("an idle member commits what it delivered once the auto-commit interval passes, with no new records")
    func idleAutoCommit() async throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("t")
        try log.append((0..<30).map { ProducerRecord(key: "k\($0)", value: "v") }, to: "t")
        var config = GroupConsumer.Configuration()
        config.autoCommitIntervalMilliseconds = 50
        let member = try log.groupConsumer(group: "idle", topics: ["t"], configuration: config)
        let reading = Task {
            var seen = 0
            for try await event in member.events {
                if case .record = event { seen += 1 }
            }
            return seen
        }
        // Waiting for the commit, not timing it: the iterator is idle from the 30th record on.
        var committed: Int64? = nil
        for _ in 0..<500 where committed != 30 {
            try await Task.sleep(nanoseconds: 10_000_000)
            committed = try log.committedOffsets(group: "idle")[TopicPartition("t", 0)]?.offset
        }
        reading.cancel()
        #expect(try await reading.value == 30)
        #expect(committed == 30)
        try member.close()
    }
}

@Suite("Event-sourcing streams")
struct EventStreamTests {
    @Test("expected versions guard appends; one stream reads without the others; event ids are idempotent")
    func streams() throws {
        let dir = TemporaryDirectory()
        do {
            let log = try Log(directory: dir.path)
            let streams = try EventStreams(log: log, topic: "orders-es")
            try streams.append(
                to: "order-1", events: [.init(id: "e1", type: "Created", string: "{}")], expecting: .noStream)
            try streams.append(
                to: "order-2", events: [.init(id: "e2", type: "Created", string: "{}")], expecting: .noStream)
            let second = try streams.append(
                to: "order-1",
                events: [
                    .init(id: "e3", type: "Paid", string: "{\"amount\":5}"),
                    .init(id: "e4", type: "Shipped", string: "{}"),
                ],
                expecting: .exactly(0))
            #expect(second.version == 2)
            #expect(second.positions == [2, 3])
            let wrong = #expect(throws: EventLogError.self) {
                try streams.append(to: "order-1", events: [.init(type: "X", string: "")], expecting: .exactly(0))
            }
            #expect(wrong?.code == .wrongExpectedVersion)
            #expect(wrong?.message.contains("actual 2") == true)
            let exists = #expect(throws: EventLogError.self) {
                try streams.append(to: "order-9", events: [.init(type: "X", string: "")], expecting: .streamExists)
            }
            #expect(exists?.message.contains("no stream") == true)
            let retry = try streams.append(
                to: "order-1",
                events: [
                    .init(id: "e3", type: "Paid", string: "{\"amount\":5}"),
                    .init(id: "e4", type: "Shipped", string: "{}"),
                ],
                expecting: .exactly(0))
            #expect(retry.wasDuplicate)
            #expect(retry.positions == [2, 3])
            try log.close()
        }
        let log = try Log(directory: dir.path)
        let streams = try EventStreams(log: log, topic: "orders-es")  // index rebuilt from the topic
        let history = try streams.read("order-1")
        #expect(history.map(\.type) == ["Created", "Paid", "Shipped"])
        #expect(history.map(\.version) == [0, 1, 2])
        #expect(history.map(\.position) == [0, 2, 3])
        #expect(try streams.read("order-1", fromVersion: 1, maxCount: 1).map(\.id) == ["e3"])
        #expect(try streams.version(of: "order-2") == 0)
        #expect(try streams.version(of: "nope") == nil)
        #expect(try streams.readAll().map(\.stream) == ["order-1", "order-2", "order-1", "order-1"])
        #expect(
            try streams.append(to: "order-1", events: [.init(type: "Delivered", string: "{}")], expecting: .exactly(2))
                .version == 3)
    }
}
