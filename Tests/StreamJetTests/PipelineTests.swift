import EventLog
import EventLogFoundation
import Foundation
import StreamJet
import Testing

/// Waits (bounded) until `condition` holds; the tests never assert on time, only use it to avoid hanging.
func eventually(_ what: String, timeoutSeconds: Double = 30, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(1_000)
    }
    Issue.record("timed out waiting for \(what)")
    return false
}

@Suite("Pipelines")
struct PipelineTests {
    @Test("consecutive stateless stages fuse into the source: one vertex, one queue hop")
    func fusion() throws {
        let pipeline = Pipeline()
        let sink = pipeline.readFrom(.collection(Array(0..<10_000))).withoutTimestamps()
            .map { $0 * 3 }.filter { $0 % 2 == 0 }.flatMap { [$0, $0 + 1] }.compactMap { $0 % 4 == 0 ? nil : $0 }
            .writeTo(Sinks.collector())
        let job = try pipeline.submit(JobConfiguration(workers: 2))
        try job.join()
        #expect(job.metrics().map(\.vertex) == ["collection", "collector"])
        var expected: [Int] = []
        for number in 0..<10_000 where (number * 3) % 2 == 0 {
            for value in [number * 3, number * 3 + 1] where value % 4 != 0 { expected.append(value) }
        }
        #expect(sink.items.sorted() == expected.sorted())
    }

    @Test("session windows merge events closer than the gap and match a brute-force computation")
    func sessions() throws {
        var generator = SeededGenerator(seed: testSeed("sessions"))
        var events: [Reading] = []
        for key in 0..<20 {
            var time = Int64.random(in: 0..<1_000, using: &generator)
            for _ in 0..<200 {
                time +=
                    Bool.random(using: &generator)
                    ? Int64.random(in: 0..<90, using: &generator) : Int64.random(in: 100..<400, using: &generator)
                events.append(Reading(key: key, time: time, value: 1))
            }
        }
        events.shuffle(using: &generator)
        let pipeline = Pipeline()
        let sink = pipeline.readFrom(.collection(events)).withTimestamps({ $0.time }, allowedLag: 1_000_000)
            .groupingKey(\.key).window(.session(gap: 100)).aggregate(.counting()).writeTo(Sinks.collector())
        try pipeline.submit(JobConfiguration(workers: 2)).join()

        var expected: [WindowKey: Int] = [:]
        for (key, group) in Dictionary(grouping: events, by: \.key) {
            let times = group.map(\.time).sorted()
            var start = times[0]
            var last = times[0]
            var count = 1
            for time in times.dropFirst() {
                if time < last + 100 {
                    count += 1
                } else {
                    expected[WindowKey(key: key, start: start, end: last + 100)] = count
                    start = time
                    count = 1
                }
                last = time
            }
            expected[WindowKey(key: key, start: start, end: last + 100)] = count
        }
        let actual = Dictionary(
            uniqueKeysWithValues: sink.items.map { (WindowKey(key: $0.key, start: $0.start, end: $0.end), $0.value) })
        #expect(actual == expected)
    }

    @Test("late events go to the side output and are counted; windows close when a partition goes quiet")
    func lateEventsAndIdlePartitions() throws {
        let clock = ManualClock(milliseconds: 0)
        let stream = TestStream<Reading>(partitions: 2)
        let pipeline = Pipeline()
        let windows = pipeline.readFrom(.stream(stream)).setLocalParallelism(1)
            .withTimestamps({ $0.time }, allowedLag: 0, idleTimeout: 5_000)
            .groupingKey(\.key).window(.tumbling(1_000)).aggregate(.counting())
        let results = windows.writeTo(Sinks.collector())
        let late = windows.lateEvents.writeTo(Sinks.collector())
        let job = try pipeline.submit(JobConfiguration(workers: 2, clock: clock))
        // Only partition 0 gets events; partition 1 stays empty. Until it counts as idle, nothing closes.
        for time in stride(from: Int64(0), to: 3_000, by: 100) {
            stream.push(Reading(key: 1, time: time, value: 1), partition: 0)
        }
        usleep(50_000)
        #expect(results.items.isEmpty, "the empty partition holds the watermark until its idle timeout")
        clock.advance(by: 6_000)
        // A new event refreshes partition 0; partition 1 is now idle and no longer holds the watermark back.
        stream.push(Reading(key: 1, time: 3_000, value: 1), partition: 0)
        guard eventually("two windows", { results.items.count >= 2 }) else { return }
        #expect(Set(results.items.map(\.start)).isSuperset(of: [0, 1_000]))
        // The whole input goes quiet: the highest watermark is forwarded, closing [2000, 3000).
        clock.advance(by: 6_000)
        guard eventually("the third window", { results.items.count >= 3 }) else { return }
        // An event for a window already emitted is late.
        stream.push(Reading(key: 1, time: 500, value: 1), partition: 1)
        guard eventually("the late event", { late.items.count == 1 }) else { return }
        #expect(late.items == [Reading(key: 1, time: 500, value: 1)])
        stream.close()
        try job.join()
        let counts = Dictionary(uniqueKeysWithValues: results.items.map { ($0.start, $0.value) })
        #expect(counts == [0: 10, 1_000: 10, 2_000: 10, 3_000: 1])
        #expect(job.metrics().map(\.lateEvents).reduce(0, +) == 1)
    }

    @Test("early results report open windows before they close")
    func earlyResults() throws {
        let clock = ManualClock(milliseconds: 0)
        let stream = TestStream<Reading>()
        let pipeline = Pipeline()
        let sink = pipeline.readFrom(.stream(stream)).withTimestamps({ $0.time }, allowedLag: 0)
            .groupingKey(\.key).window(WindowDefinition.tumbling(10_000).setEarlyResultsPeriod(100))
            .aggregate(.counting()).writeTo(Sinks.collector())
        let job = try pipeline.submit(JobConfiguration(workers: 2, clock: clock))
        for time in 0..<5 { stream.push(Reading(key: 7, time: Int64(time), value: 1)) }
        _ = eventually("the events to be read") { job.metrics().contains { $0.vertex == "window" && $0.itemsIn == 5 } }
        clock.advance(by: 200)
        guard eventually("an early result", { !sink.items.isEmpty }) else { return }
        #expect(sink.items.first == KeyedWindowResult(start: 0, end: 10_000, key: 7, value: 5, isEarly: true))
        stream.close()
        try job.join()
        #expect(sink.items.last == KeyedWindowResult(start: 0, end: 10_000, key: 7, value: 5, isEarly: false))
    }

    @Test("rollingAggregate emits the running aggregate per key; mapStateful evicts by event-time TTL")
    func keyedState() throws {
        let events = (0..<1_000).map { Reading(key: $0 % 4, time: Int64($0), value: $0) }
        let pipeline = Pipeline()
        let stage = pipeline.readFrom(.collection(events)).setLocalParallelism(1).withTimestamps(
            { $0.time }, allowedLag: 0)
        let rolling = stage.groupingKey(\.key).rollingAggregate(.summing { $0.value }).writeTo(Sinks.collector())
        // Key 9 appears once at t=0; it is evicted once the watermark passes 0 + 100.
        let evicted = stage.merge(
            pipeline.readFrom(.collection([Reading(key: 9, time: 0, value: 1)])).withTimestamps(
                { $0.time }, allowedLag: 0)
        )
        .groupingKey(\.key)
        .mapStateful(
            ttl: 100, create: { 0 },
            { (count: inout Int, _: Int, _: Reading) -> String? in
                count += 1
                return nil
            }, onEvict: { count, key, _ in "\(key):\(count)" }
        )
        .writeTo(Sinks.collector())
        try pipeline.submit(JobConfiguration(workers: 2)).join()
        for key in 0..<4 {
            let sums = rolling.items.filter { $0.key == key }.map(\.value)
            let values = events.filter { $0.key == key }.map(\.value)
            #expect(sums.count == 250)
            #expect(sums.max() == values.reduce(0, +))
        }
        #expect(evicted.items.contains("9:1"))
    }

    @Test("hash joins load the side input first; outer keeps unmatched items, inner drops them")
    func hashJoins() throws {
        let pipeline = Pipeline()
        let names = pipeline.readFrom(.collection([(1, "one"), (2, "two"), (2, "deux")])).withoutTimestamps()
        let numbers = pipeline.readFrom(.collection([1, 2, 3])).withoutTimestamps()
        let outer = numbers.hashJoin(names, key: { $0 }, sideKey: { $0.0 }) { number, side in
            "\(number)=\(side?.1 ?? "-")"
        }
        .writeTo(Sinks.collector())
        let inner = numbers.innerHashJoin(names, key: { $0 }, sideKey: { $0.0 }) { number, side in "\(number)=\(side.1)"
        }
        .writeTo(Sinks.collector())
        try pipeline.submit(JobConfiguration(workers: 2)).join()
        #expect(outer.items.sorted() == ["1=one", "2=deux", "2=two", "3=-"])
        #expect(inner.items.sorted() == ["1=one", "2=deux", "2=two"])
    }

    @Test("pipelines chain through log topics, decoding records straight from the log")
    func topics() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("in", configuration: TopicConfiguration(partitions: 3))
        try log.createTopic("out", configuration: TopicConfiguration(partitions: 2))
        for index in 0..<3_000 {
            try log.append(ProducerRecord(key: "k\(index % 10)", value: "\(index)", timestamp: Int64(index)), to: "in")
        }
        let first = Pipeline()
        first.readFrom(.topic(log, "in", bounded: true) { Int(String(decoding: $0.value!, as: UTF8.self))! })
            .withNativeTimestamps(allowedLag: 0)
            .map { $0 * 2 }
            .writeTo(Sinks.topic(log, "out") { (Array("k\($0 % 7)".utf8), Array(String($0).utf8)) })
        try first.submit(JobConfiguration(workers: 2)).join()

        let second = Pipeline()
        let sink = second.readFrom(.records(log, "out", bounded: true)).withNativeTimestamps(allowedLag: 0)
            .map { Int($0.valueString!)! }.writeTo(Sinks.collector())
        try second.submit().join()
        #expect(sink.items.sorted() == (0..<3_000).map { $0 * 2 })
    }
}
