import ArgumentParser
import EventLog
import Foundation
import Synchronization

/// `eventlog bench-latency`: how long a record takes from `append` to a waiting consumer.
struct BenchLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-latency",
        abstract: "Measure append-to-consumer latency, in one process and across processes.",
        discussion: """
            in-process: a thread appends one record at a time (no fsync); an async consumer in the same
              process receives it. Latency = receive time - the moment append returned.
            cross-process: a child process appends; this process follows the directory read-only
              (inotify wake-ups). Latency = receive time - the child's clock just before append
              (CLOCK_MONOTONIC is shared by all processes).
            Prints one JSON line per mode with p50/p99/max in microseconds.
            """)

    @Option(help: "Records per mode.") var records: Int = 20_000
    @Option(help: "Microseconds between appends.") var intervalMicroseconds: Int = 200
    @Option(help: "Mode: in-process, cross-process or both.") var mode: String = "both"
    @Option(help: "(internal) act as the writer child for cross-process mode, into this directory.")
    var writerFor: String?

    func run() async throws {
        if let writerFor { return try writeTimestamps(into: writerFor) }
        if mode == "in-process" || mode == "both" { try await inProcess() }
        if mode == "cross-process" || mode == "both" { try await crossProcess() }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private func inProcess() async throws {
        let dir = "/tmp/eventlog-latency-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try Log(directory: dir)
        try log.createTopic("lat")
        let returned = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: records)
        for i in 0..<records { (returned + i).initialize(to: Atomic(0)) }
        defer {
            returned.deinitialize(count: records)
            returned.deallocate()
        }
        let box = UnsafeSendable(returned)
        let count = records, interval = intervalMicroseconds
        let consumer = try log.consumer(topics: ["lat"], from: .earliest)
        let writer = WorkerThread(name: "bench-writer") {
            let builder = RecordBatchBuilder()
            for i in 0..<count {
                builder.reset()
                builder.append(key: nil as [UInt8]?, value: [UInt8](repeating: 120, count: 200), timestamp: 0)
                _ = try! log.append(builder, to: "lat", partition: 0)
                box.value[i].store(Self.now(), ordering: .releasing)
                usleep(UInt32(interval))
            }
        }
        var received = [UInt64](repeating: 0, count: records)
        var n = 0
        for try await record in consumer.records {
            received[Int(record.offset)] = Self.now()
            n += 1
            if n == records { break }
        }
        var latencies: [Double] = []
        for i in 0..<records {
            var sent = box.value[i].load(ordering: .acquiring)
            while sent == 0 { sent = box.value[i].load(ordering: .acquiring) }
            latencies.append(Double(received[i] > sent ? received[i] - sent : 0) / 1000)
        }
        report(
            "latency-in-process", latencies,
            note: "append returned -> async consumer received, one 200-byte record per append, no fsync")
        writer.join()
        try log.close()
    }

    private func crossProcess() async throws {
        let dir = "/tmp/eventlog-latency-x-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let log = try Log(directory: dir)
            try log.createTopic("lat")
            try log.close()
        }
        let follower = try Log.openReadOnly(directory: dir)
        let consumer = try follower.consumer(topics: ["lat"], from: .earliest)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = [
            "bench-latency", "--writer-for", dir, "--records", "\(records)",
            "--interval-microseconds", "\(intervalMicroseconds)",
        ]
        try child.run()
        var latencies: [Double] = []
        for try await record in consumer.records {
            let now = Self.now()
            let sent = UInt64(record.record.valueString!.prefix { $0 != " " })!
            latencies.append(Double(now > sent ? now - sent : 0) / 1000)
            if latencies.count == records { break }
        }
        child.waitUntilExit()
        report(
            "latency-cross-process", latencies,
            note: "child process append -> read-only follower in this process (inotify), one record per append")
    }

    private func writeTimestamps(into dir: String) throws {
        let log = try Log(directory: dir)
        let builder = RecordBatchBuilder()
        for _ in 0..<records {
            builder.reset()
            builder.append(
                key: nil as String?, value: "\(Self.now()) " + String(repeating: "x", count: 180), timestamp: 0)
            try log.append(builder, to: "lat", partition: 0)
            usleep(UInt32(intervalMicroseconds))
        }
        try log.close()
    }

    private func report(_ workload: String, _ latencies: [Double], note: String) {
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        printJSON([
            "peer": "eventlog", "workload": workload, "records": sorted.count, "p50_us": percentile(0.5),
            "p99_us": percentile(0.99), "max_us": sorted.last ?? 0, "notes": note,
        ])
    }
}

/// Moves a pointer into a `@Sendable` closure (the benchmark's threads share one preallocated array).
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
