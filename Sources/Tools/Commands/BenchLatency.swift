import ArgumentParser
import EventLog
import EventLogFoundation
import Foundation
import KafkaClient
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
            kafka: a librdkafka producer sends --rate messages per second (200 bytes, linger.ms=0,
              acks=all) to `eventlog serve --kafka` over loopback (started here on a fresh directory unless
              --brokers names a broker); a librdkafka consumer in this process receives them. Latency =
              receive time - send time (both this process's monotonic clock).
            Prints one JSON line per mode with p50/p99/max in microseconds.
            """)

    @Option(help: "Records per mode.") var records: Int = 20_000
    @Option(help: "Microseconds between appends.") var intervalMicroseconds: Int = 200
    @Option(help: "Mode: in-process, cross-process, both, or kafka.") var mode: String = "both"
    @Option(help: "kafka mode: a broker to measure instead of a fresh eventlog serve.") var brokers: String?
    @Option(help: "kafka mode: messages per second.") var rate: Int = 10_000
    @Option(help: "(internal) act as the writer child for cross-process mode, into this directory.")
    var writerFor: String?

    func run() async throws {
        if let writerFor { return try writeTimestamps(into: writerFor) }
        if mode == "in-process" || mode == "both" { try await inProcess() }
        if mode == "cross-process" || mode == "both" { try await crossProcess() }
        if mode == "kafka" { try kafka() }
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

    private func kafka() throws {
        var server: Process? = nil
        let dir = "/tmp/eventlog-latency-kafka-\(getpid())"
        defer {
            if let server {
                server.terminate()
                server.waitUntilExit()
            }
            try? FileManager.default.removeItem(atPath: dir)
        }
        var bootstrap = brokers ?? ""
        if brokers == nil {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            child.arguments = ["serve", "--kafka", "127.0.0.1:0", "--data-dir", dir]
            let output = Pipe()
            child.standardOutput = output
            try child.run()
            server = child
            var text = ""
            while !text.contains("Kafka protocol on") {
                let chunk = output.fileHandleForReading.availableData
                guard !chunk.isEmpty else { throw ValidationError("eventlog serve exited: \(text)") }
                text += String(decoding: chunk, as: UTF8.self)
            }
            let line = text.split(separator: "\n").first { $0.contains("Kafka protocol on") }!
            bootstrap = String(line.split(separator: " ").first { $0.hasPrefix("127.0.0.1:") }!)
                .trimmingCharacters(in: .punctuationCharacters.subtracting(CharacterSet(charactersIn: ":")))
        }
        let producer = try KafkaProducer(
            brokers: bootstrap, properties: [("linger.ms", "0"), ("socket.nagle.disable", "true")])
        try producer.createTopic("latency", partitions: 1)
        let consumer = try KafkaConsumer(
            brokers: bootstrap, topic: "latency",
            properties: [("fetch.wait.max.ms", "100"), ("fetch.min.bytes", "1"), ("socket.nagle.disable", "true")])
        let start = try consumer.watermarks(partition: 0).high
        try consumer.assign([0: .offset(start)])
        // Warm up: one message there and back before timing.
        try producer.produce(topic: "latency", partition: 0, key: nil, value: Array("warm-up".utf8))
        try producer.flush()
        while case .endOfPartition = try consumer.poll(timeoutMilliseconds: 1000) {}
        let count = records, interval = UInt64(1_000_000_000 / max(1, rate))
        let writer = WorkerThread(name: "bench-kafka-producer") {
            let began = Self.now()
            for i in 0..<count {
                let due = began + UInt64(i) * interval
                while case let now = Self.now(), now < due { usleep(UInt32(min(1_000, (due - now) / 1_000))) }
                var value = [UInt8](repeating: 120, count: 200)
                withUnsafeBytes(of: Self.now()) { value.replaceSubrange(0..<8, with: $0) }
                try! producer.produce(topic: "latency", partition: 0, key: nil, value: value)
            }
            try! producer.flush()
        }
        var latencies: [Double] = []
        latencies.reserveCapacity(records)
        while latencies.count < records, let event = try consumer.poll(timeoutMilliseconds: 10_000) {
            guard case .message(let message) = event, let value = message.record.value, value.count == 200 else {
                continue
            }
            let now = Self.now()
            let sent = value.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            latencies.append(Double(now > sent ? now - sent : 0) / 1000)
        }
        writer.join()
        report(
            "latency-kafka", latencies,
            note:
                "librdkafka producer (linger.ms=0, acks=all, Nagle off) -> \(brokers == nil ? "eventlog serve --kafka" : bootstrap) over loopback -> librdkafka consumer, \(rate) msgs/s of 200 B"
        )
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
