import EventLog
import Foundation
import StreamJet
import Testing

/// The job the crash tests run: count per key per 1-second tumbling window from topic `in`, results to
/// topic `out` as "key,start,count", exactly once.
func runCountingJob(directory: String, snapshotInterval: Int64) throws {
    let log = try Log(directory: directory)
    let pipeline = Pipeline()
    pipeline.readFrom(
        .topic(log, "in", bounded: true) { record in
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
    try pipeline.submit(
        JobConfiguration(
            name: "counts", workers: 2, guarantee: .exactlyOnce, snapshotIntervalMilliseconds: snapshotInterval,
            log: log)
    ).join()
    try log.close()
}

/// Fills topic `in` with `count` records: value i, timestamp 10·i ms.
func fillInput(directory: String, count: Int) throws {
    let log = try Log(directory: directory)
    try log.createTopic("in", configuration: TopicConfiguration(partitions: 2))
    try log.createTopic("out", configuration: TopicConfiguration(partitions: 2))
    for start in stride(from: 0, to: count, by: 1_000) {
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
