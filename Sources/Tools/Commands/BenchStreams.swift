import ArgumentParser
import EventLog
import Foundation
import StreamJet

/// One W3 event: the grouping key and the event time, as the pipeline sees them.
struct RestaurantEvent: Sendable {
    var restaurantId: String
    var lastModified: Int64
}

extension RestaurantEvent {
    /// Pulls `restaurantId` and `lastModified` out of a W1 JSON value.
    @inline(__always)
    static func decode(_ bytes: UnsafeRawBufferPointer, _ scanner: JSONFields.Scanner) -> RestaurantEvent? {
        var restaurant: String?
        var time: Int64?
        scanner.scan(bytes) { key, value in
            if key.equals("restaurantId") {
                restaurant = value.string
            } else if key.equals("lastModified") {
                time = value.int64
            }
            return restaurant == nil || time == nil
        }
        guard let restaurant, let time else { return nil }
        return RestaurantEvent(restaurantId: restaurant, lastModified: time)
    }
}

extension Bench {
    /// W3: count per restaurantId per 1-minute tumbling event-time window (2 s allowed lag), either from
    /// events decoded in memory (`W3d`) or end to end from a log topic with JSON extraction (`W3`).
    func runW3(data: Dataset, decoded: Bool) throws {
        let directory = scratch ?? "/tmp/eventlog-bench-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        defer { if scratch == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let workers = self.workers ?? ProcessInfo.processInfo.activeProcessorCount
        let pipeline = Pipeline()
        let source: Stage<RestaurantEvent>
        var log: Log?
        if decoded {
            var events: [RestaurantEvent] = []
            events.reserveCapacity(data.count)
            let scanner = JSONFields.Scanner()
            for index in 0..<data.count { events.append(try data.restaurantEvent(index, scanner)) }
            source = pipeline.readFrom(.collection(events))
                .withTimestamps({ $0.lastModified }, allowedLag: 2_000)
        } else {
            let opened = try Log(directory: directory)
            log = opened
            try opened.createTopic("w1", configuration: TopicConfiguration(partitions: workers))
            // Untimed: load W1 into the topic, keyed by orderId and partitioned by key like a Kafka producer.
            let builders = (0..<workers).map { _ in RecordBatchBuilder() }
            data.forEachBatch(size: batch) { range in
                for index in range {
                    let partition = Partitioner.partition(forKey: data.key(index), partitionCount: workers)
                    data.append(record: index, to: builders[partition])
                }
                for (partition, builder) in builders.enumerated() where !builder.isEmpty {
                    try! opened.append(builder, to: "w1", partition: partition)
                    builder.reset()
                }
            }
            // Untimed, like loading: write the topic's dirty pages back now, so the kernel's writeback does
            // not share the two cores with the timed job.
            sync()
            let scanner = JSONFields.Scanner()
            source = pipeline.readFrom(
                .topic(opened, "w1", bounded: true) { record in RestaurantEvent.decode(record.value!, scanner) }
            ).withTimestamps({ $0.lastModified }, allowedLag: 2_000)
        }
        let (seconds, windows, sum) = try Self.countPerWindow(
            source, pipeline: pipeline, window: 60_000, job: "w3", workers: workers)
        guard windows == 30_000 || data.count != 1_000_000, sum == data.count else {
            throw ValidationError(
                "W3 produced \(windows) windows summing to \(sum); expected 30,000 summing to \(data.count)")
        }
        let how =
            decoded
            ? "from \(data.count) events decoded in memory (collection source)"
            : "end to end from a \(workers)-partition log topic, JSON fields extracted per record"
        report(
            decoded ? "W3d" : "W3", records: data.count, bytes: data.payloadBytes, seconds: seconds,
            notes:
                "StreamJet count per restaurantId per 1-min tumbling event-time window, lag 2 s, \(how), \(workers) workers, two-stage aggregation; windows=\(windows) sum=\(sum)"
        )
        try log?.close()
    }
}

extension Bench {
    /// W3-json: the end-to-end W3's JSON extraction on its own — every W1 value decoded into a
    /// `RestaurantEvent` (the key `String` included) on one thread, five passes, the median reported.
    func runW3JSON(data: Dataset) throws {
        var passes: [Double] = []
        var checksum = 0
        let scanner = JSONFields.Scanner()
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            for index in 0..<data.count {
                let event = try data.restaurantEvent(index, scanner)
                checksum &+= event.restaurantId.utf8.count &+ Int(truncatingIfNeeded: event.lastModified)
            }
            passes.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let seconds = passes.sorted()[passes.count / 2]
        report(
            "W3-json", records: data.count, bytes: data.payloadBytes, seconds: seconds,
            notes:
                "JSONFields.Scanner extracting restaurantId (as String) and lastModified (as Int64) from each W1 value in memory, 1 thread, median of 5 passes (\(String(format: "%.1f", seconds * 1e9 / Double(data.count))) ns/record); checksum \(checksum)"
        )
    }
}

extension Dataset {
    /// Record `index` decoded as a W3 event.
    func restaurantEvent(_ index: Int, _ scanner: JSONFields.Scanner) throws -> RestaurantEvent {
        guard let event = RestaurantEvent.decode(value(index), scanner) else {
            throw ValidationError("record \(index) has no restaurantId/lastModified")
        }
        return event
    }

    /// The value bytes of record `index`.
    func value(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: UnsafeRawPointer(bytes.baseAddress!) + starts[index], count: lengths[index])
    }

    /// The key bytes (orderId) of record `index`.
    func key(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: UnsafeRawPointer(bytes.baseAddress!) + starts[index] + 12, count: 16)
    }
}

extension Bench {
    /// W3 latency: events stamped with the wall clock stream in at a steady rate; each 100 ms tumbling
    /// window's results are timed from the window's end (when the watermark can first pass it) to their
    /// arrival at the sink.
    func runW3Latency() throws {
        let clock = SystemClock()
        let workers = self.workers ?? ProcessInfo.processInfo.activeProcessorCount
        let stream = TestStream<RestaurantEvent>(partitions: workers)
        let arrivals = LatencyRecorder()
        let pipeline = Pipeline()
        pipeline.readFrom(.stream(stream)).withTimestamps({ $0.lastModified }, allowedLag: 0)
            .groupingKey(\.restaurantId).window(.tumbling(100)).aggregate(.counting())
            .writeTo(Sinks.callback { result in arrivals.record(end: result.end, arrival: clock.milliseconds()) })
        let job = try pipeline.submit(JobConfiguration(name: "w3-latency", workers: workers, clock: clock))
        let rate = 100_000  // events per second
        let seconds = 5
        let restaurants = (0..<500).map { "rest-\($0)" }
        let start = clock.milliseconds()
        var sent = 0
        while clock.milliseconds() - start < Int64(seconds * 1000) {
            let due = Int(clock.milliseconds() - start) * rate / 1000
            while sent < due {
                stream.push(
                    RestaurantEvent(restaurantId: restaurants[sent % 500], lastModified: clock.milliseconds()),
                    partition: sent % workers)
                sent += 1
            }
            usleep(200)
        }
        let closed = clock.milliseconds()
        stream.close()
        try job.join()
        // Windows still open at the end are flushed by completion, not by a watermark: leave them out.
        let latencies = arrivals.latencies(endingBefore: closed)
        guard !latencies.isEmpty else { throw ValidationError("no window results arrived") }
        func percentile(_ p: Double) -> Int64 { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        report(
            "W3-latency", records: sent, bytes: 0, seconds: Double(seconds),
            notes:
                "StreamJet: \(rate) events/s stamped with the wall clock into \(workers) stream partitions, 500 keys, 100 ms tumbling windows, lag 0; latency = result arrival at the sink - window end (ms resolution), over \(latencies.count) results",
            extra: ["p50_ms": percentile(0.5), "p99_ms": percentile(0.99), "max_ms": latencies.last!])
    }
}

/// Collects latencies from the sink's worker thread.
final class LatencyRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [(end: Int64, arrival: Int64)] = []
    func record(end: Int64, arrival: Int64) { lock.withLock { values.append((end, arrival)) } }
    func latencies(endingBefore limit: Int64) -> [Int64] {
        lock.withLock { values.filter { $0.end <= limit }.map { $0.arrival - $0.end }.sorted() }
    }
}

extension Bench {
    /// Runs count-per-restaurant-per-window over `source` and times the job: seconds, results, their sum.
    static func countPerWindow(
        _ source: Stage<RestaurantEvent>, pipeline: Pipeline, window: Int64, job: String, workers: Int
    ) throws -> (seconds: Double, windows: Int, sum: Int) {
        let results = source.groupingKey(\.restaurantId).window(.tumbling(window)).aggregate(.counting())
            .writeTo(Sinks.collector())
        let start = DispatchTime.now().uptimeNanoseconds
        try pipeline.submit(JobConfiguration(name: job, workers: workers)).join()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let windows = results.items
        return (seconds, windows.count, windows.reduce(0) { $0 + $1.value })
    }

    /// W3-scaling: the W3 job (count per key per tumbling event-time window, from events decoded in
    /// memory) on 1,000,000 synthetic events spread evenly over 5 hours, against the number of keys
    /// (100 … 1,000,000, 1-minute windows) and the window size (1 s … 1 h, 1,000 keys): one JSON line each.
    func runW3Scaling() throws {
        let count = 1_000_000
        let workers = self.workers ?? ProcessInfo.processInfo.activeProcessorCount
        func run(keys: Int, window: Int64, workload: String, extra: [String: Any]) throws {
            let names = (0..<keys).map { "r\($0)" }
            let events = (0..<count).map { i in
                RestaurantEvent(
                    restaurantId: names[Int((UInt64(i) &* 2_654_435_761) % UInt64(keys))],
                    lastModified: 1_704_067_200_000 + Int64(i) * 18)
            }
            let pipeline = Pipeline()
            let source = pipeline.readFrom(.collection(events)).withTimestamps({ $0.lastModified }, allowedLag: 2_000)
            let (seconds, windows, sum) = try Self.countPerWindow(
                source, pipeline: pipeline, window: window, job: "w3-scaling", workers: workers)
            guard sum == count else { throw ValidationError("\(workload): windows sum to \(sum), not \(count)") }
            report(
                workload, records: count, bytes: 0, seconds: seconds,
                notes:
                    "\(keys) keys, \(window) ms tumbling windows, \(windows) results summing to \(count); decoded events, \(workers) workers",
                extra: extra.merging(["results": windows]) { $1 })
        }
        for keys in [100, 1_000, 10_000, 100_000, 1_000_000] {
            try run(keys: keys, window: 60_000, workload: "W3-keys", extra: ["keys": keys, "window_ms": 60_000])
        }
        for window: Int64 in [1_000, 10_000, 60_000, 600_000, 3_600_000] {
            try run(keys: 1_000, window: window, workload: "W3-window", extra: ["keys": 1_000, "window_ms": window])
        }
    }
}
