import EventLogFoundation
import Foundation
import TestSupport
import Testing

@testable import EventLog

/// A multi-step disk operation that the crash matrix kills at its system calls.
///
/// Each scenario prepares a log (in the test process), runs its operation in a child process whose
/// ``FaultInjector`` kills it with SIGKILL just before — or, for writes, halfway through — its n-th
/// state-changing system call, and then checks the reopened log. Whatever `n`, reopening must succeed and
/// give a consistent state: nothing that existed before the operation is lost, the operation is either
/// absent or complete where it promises atomicity, and the log works afterwards.
enum CrashScenario: String, Codable, CaseIterable, CustomTestStringConvertible {
    case segmentRoll, compaction, retention, offsetCommit, offsetCommitReadOnly, topicCreation, topicDeletion

    var testDescription: String { rawValue }

    static let clockStart: Int64 = 1_700_000_000_000

    func configuration(_ faults: FaultInjector? = nil, clock: Int64 = clockStart) -> Log.Configuration {
        Log.Configuration(clock: ManualClock(milliseconds: clock), faults: faults)
    }

    static func topic(segmentBytes: Int64 = 1024, policy: CleanupPolicy = .delete, partitions: Int = 1)
        -> TopicConfiguration
    {
        var config = TopicConfiguration(partitions: partitions)
        config.segmentBytes = segmentBytes
        config.cleanupPolicy = policy
        config.retentionMilliseconds = 60_000
        return config
    }

    static func value(_ i: Int) -> String { "value-\(i)-" + String(repeating: "v", count: i % 37) }

    /// The state before the operation.
    func prepare(_ dir: String) throws {
        let log = try Log(directory: dir, configuration: configuration())
        defer { try? log.close() }
        switch self {
        case .segmentRoll:
            try log.createTopic("t", configuration: Self.topic())
            var i = 0
            // Fill the first segment to within a record or two of its limit.
            while try log.describeTopic("t").partitions[0].bytes < 900 {
                try log.append(ProducerRecord(key: "k\(i)", value: Self.value(i)), to: "t")
                i += 1
            }
        case .compaction:
            try log.createTopic("t", configuration: Self.topic(segmentBytes: 2048, policy: .compact))
            for i in 0..<300 { try log.append(ProducerRecord(key: "key-\(i % 25)", value: "v\(i)"), to: "t") }
        case .retention:
            try log.createTopic("t", configuration: Self.topic())
            for i in 0..<200 {
                try log.append(ProducerRecord(key: "k\(i)", value: Self.value(i), timestamp: Self.clockStart), to: "t")
            }
        case .offsetCommit, .offsetCommitReadOnly:
            try log.createTopic("t", configuration: Self.topic(partitions: 2))
            for i in 0..<100 { try log.append(ProducerRecord(key: "k\(i)", value: Self.value(i)), to: "t") }
            try log.commit(group: "g", offsets: [TopicPartition("t", 0): 10, TopicPartition("t", 1): 11])
        case .topicCreation:
            try log.createTopic("a", configuration: Self.topic())
            try log.append(ProducerRecord(key: "k", value: "a-value"), to: "a")
        case .topicDeletion:
            for name in ["a", "b"] {
                try log.createTopic(name, configuration: Self.topic(partitions: 3))
                for i in 0..<30 { try log.append(ProducerRecord(key: "k\(i)", value: "\(name)-\(i)"), to: name) }
            }
        }
    }

    /// Opens the log with `faults`, arms them (`arm` is called with the injector just before the
    /// operation), and runs the operation.
    func operate(_ dir: String, faults: FaultInjector, arm: (FaultInjector) -> Void) throws {
        if self == .offsetCommitReadOnly {
            let log = try Log.openReadOnly(directory: dir, configuration: configuration(faults))
            arm(faults)
            try log.commit(group: "g", offsets: [TopicPartition("t", 0): 30, TopicPartition("t", 1): 31])
            return
        }
        let log = try Log(
            directory: dir, configuration: configuration(faults, clock: Self.clockStart + 3_600_000))
        arm(faults)
        switch self {
        case .segmentRoll:
            for round in 0..<2 {
                try log.append((0..<10).map { ProducerRecord(key: "r\(round)-\($0)", value: Self.value($0)) }, to: "t")
            }
        case .compaction, .retention:
            try log.runMaintenance(forceCompaction: true)
        case .offsetCommit:
            try log.commit(group: "g", offsets: [TopicPartition("t", 0): 30, TopicPartition("t", 1): 31])
        case .topicCreation:
            try log.createTopic("b", configuration: Self.topic(partitions: 3))
        case .topicDeletion:
            try log.deleteTopic("b")
        case .offsetCommitReadOnly:
            break
        }
        try log.close()
    }

    /// Checks the state after a crash at any point of the operation (`before` is the prepared state).
    func verify(_ dir: String, before: [String: [Record]], point: String) throws {
        let log = try Log(directory: dir, configuration: configuration(clock: Self.clockStart + 3_600_000))
        defer { try? log.close() }
        #expect(log.invariantViolation() == nil, "\(point)")
        func all(_ topic: String) throws -> [Record] {
            try (0..<log.partitionCount(topic)).flatMap { try log.all(topic, $0) }
        }
        switch self {
        case .segmentRoll:
            let records = try all("t")
            let prepared = before["t"]!
            #expect(records.map(\.offset) == Array(0..<Int64(records.count)), "\(point): offsets not dense")
            #expect(Array(records.prefix(prepared.count)) == prepared, "\(point): prepared records changed")
            #expect([0, 10, 20].contains(records.count - prepared.count), "\(point): a batch is torn")
        case .compaction:
            let after = try all("t")
            let prepared = before["t"]!
            #expect(after.allSatisfy { prepared.contains($0) }, "\(point): a record was invented or changed")
            #expect(after.map(\.offset) == after.map(\.offset).sorted(), "\(point)")
            func latest(_ records: [Record]) -> [String: String] {
                Dictionary(records.map { ($0.keyString!, $0.valueString!) }, uniquingKeysWith: { $1 })
            }
            #expect(latest(after) == latest(prepared), "\(point): a key's latest value was lost")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/t-0").filter {
                $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap")
            }
            #expect(leftovers.isEmpty, "\(point): \(leftovers)")
        case .retention:
            let after = try all("t")
            let prepared = before["t"]!
            #expect(after == Array(prepared.suffix(after.count)), "\(point): retention must remove a prefix")
            #expect(try log.offsets(topic: "t", partition: 0).end == Int64(prepared.count), "\(point)")
            #expect(after.count >= 1, "\(point): the active segment is never deleted")
        case .offsetCommit, .offsetCommitReadOnly:
            let committed = try Log.openReadOnly(directory: dir).committedOffsets(group: "g")
                .mapValues(\.offset)
            let old = [TopicPartition("t", 0): Int64(10), TopicPartition("t", 1): 11]
            let new = [TopicPartition("t", 0): Int64(30), TopicPartition("t", 1): 31]
            // Each partition's commit is the old or the new one, never lost or damaged.
            for (tp, offset) in committed {
                #expect(old[tp] == offset || new[tp] == offset, "\(point): \(tp) committed \(offset)")
            }
            #expect(Set(committed.keys) == Set(old.keys), "\(point): \(committed)")
            #expect(try all("t") == before["t"]!, "\(point)")
        case .topicCreation:
            #expect(try all("a") == before["a"]!, "\(point)")
            if log.topicNames().contains("b") {
                #expect(try log.partitionCount("b") == 3, "\(point)")
            }
        case .topicDeletion:
            #expect(try all("a") == before["a"]!, "\(point)")
            if log.topicNames().contains("b") {
                #expect(try all("b") == before["b"]!, "\(point): a half-deleted topic")
            }
        }
        // The log works afterwards: the operation can be redone and new records appended.
        switch self {
        case .topicCreation: _ = try log.createTopicIfNeeded("b", configuration: Self.topic(partitions: 3))
        case .topicDeletion: if log.topicNames().contains("b") { try log.deleteTopic("b") }
        case .offsetCommit, .offsetCommitReadOnly:
            try log.commit(group: "g", offsets: [TopicPartition("t", 0): 60])
            #expect(try log.committedOffsets(group: "g")[TopicPartition("t", 0)]?.offset == 60)
        default: try log.runMaintenance(forceCompaction: true)
        }
        let topic = self == .topicCreation || self == .topicDeletion ? "a" : "t"
        let end = try log.offsets(topic: topic, partition: 0).end
        #expect(try log.append(ProducerRecord(key: "after", value: "crash"), to: topic, partition: 0).offset == end)
    }

    /// Every record of every topic, keyed by topic.
    static func snapshot(_ dir: String) throws -> [String: [Record]] {
        let log = try Log.openReadOnly(directory: dir)
        var result: [String: [Record]] = [:]
        for topic in log.topicNames() where !topic.hasPrefix("__") {
            result[topic] = try (0..<log.partitionCount(topic)).flatMap { try log.all(topic, $0) }
        }
        return result
    }
}

@Suite(
    "Crash matrix: kill -9 at every system call of multi-step disk operations", .serialized,
    .killSuite)
struct CrashMatrixTests {
    @Test(arguments: CrashScenario.allCases)
    func crashMatrix(_ scenario: CrashScenario) async throws {
        // How many state-changing calls the operation makes, from a run without a crash.
        let dry = TemporaryDirectory()
        try scenario.prepare(dry.path)
        let counter = FaultInjector()
        var start = 0
        try scenario.operate(dry.path, faults: counter) { start = $0.stateChangingCalls }
        let calls = counter.stateChangingCalls - start
        #expect(calls > 0)
        // Every call (and just after the last), each killed cleanly and halfway through; seeded sampling
        // unless EVENTLOG_CRASH_MATRIX=full.
        var points = (1...calls + 1).flatMap { [($0, false), ($0, true)] }
        let seed = testSeed("crash-matrix-\(scenario.rawValue)")
        if ProcessInfo.processInfo.environment["EVENTLOG_CRASH_MATRIX"] != "full" && points.count > 20 {
            var generator = SeededGenerator(seed: seed)
            points = Array(points.shuffled(using: &generator).prefix(20)).sorted {
                ($0.0, $0.1 ? 1 : 0) < ($1.0, $1.1 ? 1 : 0)
            }
        }
        for (call, tearing) in points {
            let dir = TemporaryDirectory()
            try scenario.prepare(dir.path)
            let before = try CrashScenario.snapshot(dir.path)
            await #expect(processExitsWith: .signal(SIGKILL)) {
                [
                    path = dir.path as String, scenario = scenario as CrashScenario, call = call as Int,
                    tearing = tearing as Bool
                ] in
                try? scenario.operate(path, faults: FaultInjector()) { $0.crash(atCall: call, tearing: tearing) }
                kill(getpid(), SIGKILL)  // past the last call: the crash comes after the operation
            }
            try scenario.verify(dir.path, before: before, point: "call \(call)/\(calls)\(tearing ? " torn" : "")")
        }
        print("[crash-matrix] \(scenario.rawValue): \(calls) calls, \(points.count) kill points, seed \(seed)")
    }
}

@Suite("Topic deletion leftovers")
struct DeletionLeftoverTests {
    @Test("a topic re-created over an earlier deletion's leftovers is not taken for an interrupted deletion")
    func recreateOverLeftovers() throws {
        let dir = TemporaryDirectory()
        do {
            let log = try Log(directory: dir.path)
            try log.createTopic("b")
            try log.append(ProducerRecord(key: "k", value: "old"), to: "b")
            try log.deleteTopic("b")
            // As if removing the renamed directory had failed.
            try FileManager.default.createDirectory(
                atPath: dir.path + "/b-0.deleted", withIntermediateDirectories: true)
            try Data("stale".utf8).write(to: URL(fileURLWithPath: dir.path + "/b-0.deleted/00000000000000000000.log"))
            try log.createTopic("b")
            try log.append(ProducerRecord(key: "k", value: "new"), to: "b")
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/b-0.deleted"))
            try log.close()
        }
        let log = try Log(directory: dir.path)
        #expect(try log.all("b").map(\.valueString) == ["new"])
    }
}
