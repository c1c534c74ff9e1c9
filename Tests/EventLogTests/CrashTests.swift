import EventLogFoundation
import Foundation
import TestSupport
import Testing

@testable import EventLog

/// The value every crash-test record at `offset` carries, so recovery can tell invented records from real ones.
func crashValue(_ offset: Int64) -> String { "record-\(offset)-" + String(repeating: "z", count: Int(offset % 97)) }

/// Kills a child process with SIGKILL at random moments while it appends, many times, and checks after
/// each reopen that no acknowledged record is missing, none is invented, and offsets stay dense.
@Suite(
    "kill -9 while appending", .serialized,
    .killSuite)
struct CrashTests {
    @Test(
        "acknowledged appends survive SIGKILL under every durability policy",
        arguments: ["none", "interval:5", "sync"])
    func killWhileAppending(policy: String) async throws {
        let seed = testSeed("killWhileAppending-\(policy)")
        var generator = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let acks = dir.path + "/acks"
        let rounds = ProcessInfo.processInfo.environment["EVENTLOG_CRASH_ROUNDS"].flatMap(Int.init) ?? 8
        var lastSeenEnd: Int64 = 0
        for round in 0..<rounds {
            let delay = Int.random(in: 2_000...60_000, using: &generator)  // microseconds until SIGKILL
            let batchSeed = generator.next()
            let path = dir.path
            await #expect(processExitsWith: .signal(SIGKILL)) {
                [
                    path = path as String, acks = acks as String, policy = policy as String, delay = delay as Int,
                    batchSeed = batchSeed as UInt64
                ] in
                var generator = SeededGenerator(seed: batchSeed)
                let log = try! Log(directory: path)
                var config = TopicConfiguration()
                config.durability = DurabilityPolicy(policy)!
                config.segmentBytes = 64 * 1024  // rolls happen during the run
                try! log.createTopicIfNeeded("t", configuration: config)
                let ackFile = open(acks, O_WRONLY | O_CREAT | O_APPEND, 0o644)
                Thread.detachNewThread {
                    usleep(UInt32(delay))
                    kill(getpid(), SIGKILL)
                }
                var next = try! log.offsets(topic: "t", partition: 0).end
                let builder = RecordBatchBuilder(compression: Bool.random(using: &generator) ? .lz4 : .none)
                while true {
                    builder.reset()
                    let count = Int.random(in: 1...50, using: &generator)
                    for i in 0..<count {
                        builder.append(key: "k\(next + Int64(i))", value: crashValue(next + Int64(i)), timestamp: 1)
                    }
                    let result = try! log.append(builder, to: "t", partition: 0)
                    precondition(result.baseOffset == next)
                    next = result.lastOffset + 1
                    let line = Array("\(result.lastOffset)\n".utf8)
                    _ = line.withUnsafeBytes { write(ackFile, $0.baseAddress, $0.count) }
                }
            }
            let acknowledged =
                (try? String(contentsOfFile: acks, encoding: .utf8))?
                .split(separator: "\n").compactMap { Int64($0) }.max() ?? -1
            let log = try Log(directory: dir.path)
            #expect(!log.openedCleanly)
            let records = try log.all("t")
            #expect(records.map(\.offset) == Array(0..<Int64(records.count)), "round \(round): offsets not dense")
            #expect(
                Int64(records.count) > acknowledged,
                "round \(round): acknowledged offset \(acknowledged) lost; have \(records.count)")
            #expect(Int64(records.count) >= lastSeenEnd, "round \(round): records that were there before vanished")
            for record in records
            where record.valueString != crashValue(record.offset) || record.keyString != "k\(record.offset)" {
                Issue.record("round \(round): invented or damaged record at \(record.offset)")
                break
            }
            #expect(log.invariantViolation() == nil)
            lastSeenEnd = Int64(records.count)
            // Leave it unclean half the time (the next child recovers again), clean otherwise.
            if round % 2 == 0 {
                try log.close()
            } else {
                try log.close()
                try? FileManager.default.removeItem(atPath: dir.path + "/" + Log.cleanShutdownFile)
            }
        }
        #expect(lastSeenEnd > 0, "the children never appended anything")
        print("[killWhileAppending-\(policy)] \(rounds) kills, \(lastSeenEnd) records survived")
    }
}

@Suite("Group commit")
struct GroupCommitTests {
    @Test("concurrent durable appenders share fdatasyncs and all get dense, distinct offsets")
    func concurrentSyncAppends() async throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        var config = TopicConfiguration()
        config.durability = .sync
        try log.createTopic("t", configuration: config)
        let writers = 8
        let perWriter = 40
        try await withThrowingTaskGroup(of: [Int64].self) { group in
            for w in 0..<writers {
                group.addTask {
                    var offsets: [Int64] = []
                    for i in 0..<perWriter {
                        offsets.append(try log.append(ProducerRecord(key: "w\(w)", value: "\(w)-\(i)"), to: "t").offset)
                    }
                    return offsets
                }
            }
            var all: [Int64] = []
            for try await offsets in group { all += offsets }
            #expect(all.sorted() == Array(0..<Int64(writers * perWriter)))
        }
        let syncs = try log.statistics(topic: "t", partition: 0).syncs
        #expect(syncs >= 1 && syncs <= writers * perWriter)
        print("[group commit] \(writers * perWriter) durable appends used \(syncs) fdatasyncs")
        #expect(try log.all("t").count == writers * perWriter)
    }

    @Test("while one fdatasync is slow, the appends that arrive meanwhile share the next one")
    func appendsShareASlowSync() throws {
        let dir = TemporaryDirectory()
        let faults = FaultInjector()
        let log = try Log(directory: dir.path, configuration: .init(faults: faults))
        var config = TopicConfiguration()
        config.durability = .sync
        try log.createTopic("t", configuration: config)
        try log.append(ProducerRecord(value: "warm-up"), to: "t")
        let before = try log.statistics(topic: "t", partition: 0).syncs
        // Every sync takes 200 ms: 16 threads released together append one record each; whoever is not
        // covered by the first sync queues behind it and shares the next.
        faults.delay(.fsync, microseconds: 200_000, count: 100)
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for i in 0..<16 {
            done.enter()
            Thread {
                ready.signal()
                go.wait()
                _ = try? log.append(ProducerRecord(value: "r\(i)"), to: "t")
                done.leave()
            }.start()
        }
        for _ in 0..<16 { ready.wait() }
        for _ in 0..<16 { go.signal() }
        done.wait()
        #expect(log.partitionSyncedOffset("t", 0) == 17)
        let used = try log.statistics(topic: "t", partition: 0).syncs - before
        print("[group commit] 16 concurrent durable appends used \(used) fdatasyncs")
        #expect(used >= 1)
        #expect(used <= 4)  // leader's sync + one for everyone who queued behind it (+ slack for stragglers)
        #expect(try log.all("t").count == 17)
    }
}
