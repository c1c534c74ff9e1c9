import EventLog
import EventLogFoundation
import Foundation
import StreamJet
import SystemPackage
import Testing

/// The job the crash tests run: count per key per 1-second tumbling window from topic `in`, results to
/// topic `out` as "key,start,count", exactly once. `faults` apply to snapshot files only, `logFaults` to
/// the whole log (appends too) and through it to snapshots.
func runCountingJob(
    directory: String, snapshotInterval: Int64, faults: FaultInjector? = nil, logFaults: FaultInjector? = nil
) throws {
    let (job, log) = try startCountingJob(
        directory: directory, snapshotInterval: snapshotInterval, faults: faults, logFaults: logFaults)
    defer { try? log.close() }
    try job.join()
}

/// Starts the counting job; unbounded, it runs until cancelled. The log closes when the job is released.
func startCountingJob(
    directory: String, snapshotInterval: Int64, faults: FaultInjector? = nil, logFaults: FaultInjector? = nil,
    bounded: Bool = true
) throws -> (job: Job, log: Log) {
    let log = try Log(directory: directory, configuration: Log.Configuration(faults: logFaults))
    let pipeline = Pipeline()
    pipeline.readFrom(
        .topic(log, "in", bounded: bounded) { record in
            Int(String(decoding: record.value!, as: UTF8.self))!
        }
    )
    .withNativeTimestamps(allowedLag: 0)
    .groupingKey { $0 % 50 }
    .window(.tumbling(1_000))
    .aggregate(.counting())
    .writeTo(
        Sinks.topic(log, "out") { result in
            (Array("\(result.key)".utf8), Array("\(result.key),\(result.start),\(result.value)".utf8))
        })
    var configuration = JobConfiguration(
        name: "counts", workers: 2, guarantee: .exactlyOnce, snapshotIntervalMilliseconds: snapshotInterval, log: log)
    configuration.faults = faults
    return (try pipeline.submit(configuration), log)
}

/// Fills topic `in` with records `first..<count`: value i, timestamp 10·i ms. Creates the topics when
/// `first` is 0.
func fillInput(directory: String, count: Int, from first: Int = 0) throws {
    let log = try Log(directory: directory)
    if first == 0 {
        try log.createTopic("in", configuration: TopicConfiguration(partitions: 2))
        try log.createTopic("out", configuration: TopicConfiguration(partitions: 2))
    }
    for start in stride(from: first, to: count, by: 1_000) {
        let records = (start..<min(count, start + 1_000)).map {
            ProducerRecord(key: "k\($0)", value: "\($0)", timestamp: Int64($0) * 10)
        }
        try log.append(records, to: "in")
    }
    try log.close()
}

/// The expected "key,start,count" lines for `count` input records.
func expectedCounts(_ count: Int) -> [String] {
    var counts: [String: Int] = [:]
    for value in 0..<count {
        let start = Int64(value) * 10 / 1_000 * 1_000
        counts["\(value % 50),\(start)", default: 0] += 1
    }
    return counts.map { "\($0.key),\($0.value)" }.sorted()
}

func outputLines(directory: String) throws -> [String] {
    let log = try Log(directory: directory)
    defer { try? log.close() }
    var lines: [String] = []
    for partition in 0..<2 {
        let reader = try log.reader(topic: "out", partition: partition)
        while try reader.read({ lines.append(String(decoding: $0.value!, as: UTF8.self)) }) > 0 {}
    }
    return lines.sorted()
}

@Suite("Snapshots and exactly-once", .serialized)
struct SnapshotTests {
    @Test("an uninterrupted exactly-once job writes each window result once")
    func uninterrupted() throws {
        let dir = TemporaryDirectory()
        try fillInput(directory: dir.path, count: 20_000)
        try runCountingJob(directory: dir.path, snapshotInterval: 5)
        let same = try outputLines(directory: dir.path) == expectedCounts(20_000)
        #expect(same)
    }

    @Test("a job killed with SIGKILL at random moments and restarted gives exactly the uninterrupted results")
    func killAndRestart() async throws {
        let seed = testSeed("streamjet-kill")
        var generator = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let records = 200_000
        try fillInput(directory: dir.path, count: records)
        let rounds = ProcessInfo.processInfo.environment["STREAMJET_CRASH_ROUNDS"].flatMap(Int.init) ?? 6
        for _ in 0..<rounds {
            let delay = Int.random(in: 5_000...150_000, using: &generator)
            let path = dir.path
            await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String, delay = delay as Int] in
                Thread.detachNewThread {
                    usleep(UInt32(delay))
                    kill(getpid(), SIGKILL)
                }
                try! runCountingJob(directory: path, snapshotInterval: 10)
                // Finished before the kill: wait for it, so every round ends the same way.
                while true { sleep(1) }
            }
        }
        try runCountingJob(directory: dir.path, snapshotInterval: 10)
        let lines = try outputLines(directory: dir.path)
        let expected = expectedCounts(records)
        let same = lines == expected
        let missing = Set(expected).subtracting(lines).sorted().prefix(3)
        let duplicated = Dictionary(grouping: lines, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted().prefix(3)
        #expect(
            same,
            "after \(rounds) kills: \(lines.count) results for \(expected.count) windows; missing \(missing), duplicated \(duplicated)"
        )
        let snapshots = (try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/streamjet/counts")) ?? []
        print("[streamjet-kill] snapshot files left: \(snapshots.sorted())")
    }

    @Test(
        "failed snapshot writes (EIO on fsync, ENOSPC on write) are reported; the job runs on and results stay exactly-once"
    )
    func snapshotWriteFaults() throws {
        let dir = TemporaryDirectory()
        try fillInput(directory: dir.path, count: 20_000)
        let faults = FaultInjector()
        faults.fail(.fsync, with: .ioError)
        faults.fail(.write, with: .noSpace)
        faults.fail(.rename, with: .ioError)
        let (job, log) = try startCountingJob(directory: dir.path, snapshotInterval: 1, faults: faults, bounded: false)
        // Wait (without a deadline on speed) until both faults have failed a snapshot and a later one has
        // been written.
        var waited = 0
        while (job.snapshotFailures.count < 3 || (job.lastSnapshotID ?? 0) < 4) && waited < 60_000 {
            usleep(1_000)
            waited += 1
        }
        let failures = job.snapshotFailures
        job.cancel()
        _ = try? job.join()
        try log.close()
        #expect(failures.count == 3)
        #expect(failures.last?.code == .snapshot)
        #expect(failures.last?.message.contains("could not be written") == true, "\(failures.last?.message ?? "")")
        #expect(failures.last?.message.contains("snapshot-") == true, "the error names the file")
        #expect((job.lastSnapshotID ?? 0) >= 4, "snapshots resume once the fault is gone")
        // A restart (bounded this time) restores the last good snapshot and finishes exactly once.
        try runCountingJob(directory: dir.path, snapshotInterval: 1)
        let same = try outputLines(directory: dir.path) == expectedCounts(20_000)
        #expect(same)
    }

    @Test(
        "kill -9 at each system call of the snapshot writes (mkdir, temp file, fsync, rename, directory fsync, unlink)")
    func snapshotCrashMatrix() async throws {
        let seed = testSeed("streamjet-snapshot-crash-matrix")
        var generator = SeededGenerator(seed: seed)
        let full = ProcessInfo.processInfo.environment["EVENTLOG_CRASH_MATRIX"] == "full"
        // The first five snapshots take about 35 calls; each is killed cleanly and halfway through a write.
        var points = (1...36).flatMap { [($0, false), ($0, true)] }
        if !full { points = Array(points.shuffled(using: &generator).prefix(10)) }
        let dir = TemporaryDirectory()
        try fillInput(directory: dir.path, count: 20_000)
        for (call, tearing) in points {
            await #expect(processExitsWith: .signal(SIGKILL)) {
                [path = dir.path as String, call = call as Int, tearing = tearing as Bool] in
                let faults = FaultInjector()
                faults.crash(atCall: call, tearing: tearing)
                // Unbounded, so snapshots go on until the armed call comes.
                let running = try? startCountingJob(
                    directory: path, snapshotInterval: 1, faults: faults, bounded: false)
                withExtendedLifetime(running) { while true { sleep(1) } }
            }
        }
        try runCountingJob(directory: dir.path, snapshotInterval: 1)
        let lines = try outputLines(directory: dir.path)
        let same = lines == expectedCounts(20_000)
        #expect(same, "after kills at \(points): \(lines.count) results")
        print("[streamjet-snapshot-crash-matrix] \(points.count) kill points, seed \(seed)")
    }

    @Test(
        "a completed job leaves a final snapshot: run again, it adds nothing; given more input, it adds only its results"
    )
    func restartAfterCompletion() throws {
        let dir = TemporaryDirectory()
        try fillInput(directory: dir.path, count: 3_000)
        try runCountingJob(directory: dir.path, snapshotInterval: 1_000_000)
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/streamjet/counts")
        #expect(snapshots == ["snapshot-1.bin"], "the final snapshot, with no periodic one before it")
        try runCountingJob(directory: dir.path, snapshotInterval: 1_000_000)
        let again = try outputLines(directory: dir.path) == expectedCounts(3_000)
        #expect(again, "a rerun of a completed job publishes nothing twice")
        try fillInput(directory: dir.path, count: 4_000, from: 3_000)
        try runCountingJob(directory: dir.path, snapshotInterval: 1_000_000)
        let more = try outputLines(directory: dir.path) == expectedCounts(4_000)
        #expect(more, "the rerun resumes from where the completed job ended")
    }

    @Test("a final snapshot that cannot be written fails the exactly-once job before it publishes; a rerun publishes")
    func finalSnapshotFault() throws {
        let dir = TemporaryDirectory()
        try fillInput(directory: dir.path, count: 2_000)
        let faults = FaultInjector()
        faults.fail(.fsync, with: .ioError)
        let failure = #expect(throws: StreamJetError.self) {
            try runCountingJob(directory: dir.path, snapshotInterval: 1_000_000, faults: faults)
        }
        #expect(failure?.code == .snapshot)
        #expect(failure?.message.contains("final snapshot") == true, "\(failure?.message ?? "")")
        #expect(try outputLines(directory: dir.path).isEmpty, "nothing of the unsnapshotted epoch was published")
        try runCountingJob(directory: dir.path, snapshotInterval: 1_000_000)
        let same = try outputLines(directory: dir.path) == expectedCounts(2_000)
        #expect(same)
    }

    @Test("kill -9 at each system call of a bounded job's end (final snapshot, then publishing the last epoch)")
    func finalPublishCrashMatrix() async throws {
        // Count the state-changing calls of a whole run; with no periodic snapshot, the last ones are the
        // final snapshot's (temporary file, fsync, rename, directory fsync) and the sinks' appends.
        let probe = TemporaryDirectory()
        try fillInput(directory: probe.path, count: 2_000)
        let counter = FaultInjector()
        try runCountingJob(directory: probe.path, snapshotInterval: 1_000_000, logFaults: counter)
        let total = counter.stateChangingCalls
        #expect(total > 16)
        // Every point, killed cleanly and halfway through a write: about 3 s.
        let points = (max(1, total - 15)...total).flatMap { [($0, false), ($0, true)] }
        for (call, tearing) in points {
            let dir = TemporaryDirectory()
            try fillInput(directory: dir.path, count: 2_000)
            await #expect(processExitsWith: .signal(SIGKILL)) {
                [path = dir.path as String, call = call as Int, tearing = tearing as Bool] in
                let faults = FaultInjector()
                faults.crash(atCall: call, tearing: tearing)
                try? runCountingJob(directory: path, snapshotInterval: 1_000_000, logFaults: faults)
                kill(getpid(), SIGKILL)  // the armed call never came: end the same way
            }
            try runCountingJob(directory: dir.path, snapshotInterval: 1_000_000)
            let lines = try outputLines(directory: dir.path)
            let same = lines == expectedCounts(2_000)
            #expect(same, "killed at call \(call) of \(total) (tearing: \(tearing)): \(lines.count) results")
        }
        print("[streamjet-final-publish-crash-matrix] \(points.count) kill points of \(total) calls")
    }

    @Test("a torn or corrupt newest snapshot falls back to the previous one")
    func corruptSnapshot() throws {
        let dir = TemporaryDirectory()
        try fillInput(directory: dir.path, count: 1_000)
        let snapshots = dir.path + "/streamjet/counts"
        try FileManager.default.createDirectory(atPath: snapshots, withIntermediateDirectories: true)
        // A newest snapshot with garbage bytes must be ignored (there is no older one: start from scratch).
        try Data("SJSNAP01 garbage".utf8).write(to: URL(fileURLWithPath: snapshots + "/snapshot-7.bin"))
        try runCountingJob(directory: dir.path, snapshotInterval: 1_000_000)
        let same = try outputLines(directory: dir.path) == expectedCounts(1_000)
        #expect(same)
    }
}
