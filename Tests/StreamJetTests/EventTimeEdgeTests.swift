import EventLog
import EventLogFoundation
import Foundation
import StreamJet
import Testing

/// Windows at the ends of the Int64 range, and a differential test against a brute-force model: whatever
/// the timestamps, no event crashes or hangs a job, and every event is either counted in its windows or
/// reported late, exactly once, at any parallelism.
///
/// The documented rules (`StreamJet` DocC article, "Event time"): a tumbling or sliding window stage windows
/// an event only when its frame starts within −2^62 ... 2^62 (a session stage: when its timestamp is in
/// that range) and the frame ends after the event's partition watermark (sessions: the timestamp is not
/// below it) — the highest earlier in-range timestamp of its partition minus the allowed lag; any other
/// event goes to `lateEvents` and is counted late. Timestamps outside the range do not move the watermark.
@Suite("Event time at the Int64 edges")
struct EventTimeEdgeTests {
    static let lower: Int64 = -(1 << 62)
    static let upper: Int64 = 1 << 62

    enum Shape: CustomStringConvertible {
        case sliding(size: Int64, step: Int64, offset: Int64)
        case session(gap: Int64)
        var description: String {
            switch self {
            case .sliding(let size, let step, let offset): "sliding(\(size), step \(step), offset \(offset))"
            case .session(let gap): "session(\(gap))"
            }
        }
        var definition: WindowDefinition {
            switch self {
            case .sliding(let size, let step, let offset):
                (size == step ? WindowDefinition.tumbling(size) : .sliding(size, step: step)).setOffset(offset)
            case .session(let gap): .session(gap: gap)
            }
        }
    }

    struct Outcome: Equatable {
        /// (key, start, end) → (count, sum)
        var windows: [WindowKey: [Int]] = [:]
        var late: [Reading] = []
    }

    /// Runs the events (one list per partition) from a log topic through a window stage.
    static func run(
        _ partitions: [[Reading]], _ shape: Shape, lag: Int64, workers: Int
    ) throws -> Outcome {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        defer { try? log.close() }
        try log.createTopic("events", configuration: TopicConfiguration(partitions: partitions.count))
        for (partition, events) in partitions.enumerated() where !events.isEmpty {
            try log.append(
                events.map { ProducerRecord(value: Array("\($0.key) \($0.time) \($0.value)".utf8)) }, to: "events",
                partition: partition)
        }
        let pipeline = Pipeline()
        let windowed = pipeline.readFrom(
            .topic(log, "events", bounded: true) { record -> Reading? in
                let fields = String(decoding: record.value!, as: UTF8.self).split(separator: " ")
                return Reading(key: Int(fields[0])!, time: Int64(fields[1])!, value: Int(fields[2])!)
            }
        )
        .withTimestamps({ $0.time }, allowedLag: lag)
        .groupingKey(\.key)
        .window(shape.definition)
        .aggregate(.allOf(.counting(), .summing { $0.value }))
        let results = windowed.writeTo(Sinks.collector())
        let late = windowed.lateEvents.writeTo(Sinks.collector())
        try pipeline.submit(JobConfiguration(workers: workers)).join()
        var outcome = Outcome()
        for result in results.items {
            let key = WindowKey(key: result.key, start: result.start, end: result.end)
            #expect(outcome.windows[key] == nil, "window \(key) emitted twice")
            outcome.windows[key] = [result.value.0, result.value.1]
        }
        outcome.late = late.items.sorted { ($0.key, $0.time, $0.value) < ($1.key, $1.time, $1.value) }
        return outcome
    }

    /// The frame start of `t` on the grid of `step` shifted by `offset`, or nil when it is not representable.
    static func frameStart(_ t: Int64, step: Int64, offset: Int64) -> Int64? {
        let (shifted, o1) = t.subtractingReportingOverflow(offset)
        if o1 { return nil }
        var quotient = shifted / step
        if shifted % step != 0 && shifted < 0 { quotient -= 1 }
        let (product, o2) = quotient.multipliedReportingOverflow(by: step)
        let (start, o3) = product.addingReportingOverflow(offset)
        return o2 || o3 ? nil : start
    }

    /// The brute-force model of the documented rules, from the input alone. Per partition, in order: the
    /// partition's watermark is the highest in-range timestamp so far minus the lag; an event is late when
    /// its frame is out of range or ends at or before the watermark before it (sessions: when its timestamp
    /// is out of range or below that watermark). Every other event is counted in each of its windows.
    static func model(_ partitions: [[Reading]], _ shape: Shape, lag: Int64) -> Outcome {
        var outcome = Outcome()
        var windowed: [Reading] = []
        for events in partitions {
            var watermark = Int64.min
            for event in events {
                let inRange = event.time >= lower && event.time <= upper
                let late: Bool
                switch shape {
                case .sliding(_, let step, let offset):
                    if let frame = frameStart(event.time, step: step, offset: offset), frame >= lower, frame <= upper {
                        late = frame + step <= watermark
                    } else {
                        late = true
                    }
                case .session: late = !inRange || event.time < watermark
                }
                if late { outcome.late.append(event) } else { windowed.append(event) }
                if inRange { watermark = max(watermark, event.time - lag) }
            }
        }
        switch shape {
        case .sliding(let size, let step, let offset):
            for event in windowed {
                let frame = frameStart(event.time, step: step, offset: offset)!
                var start = frame - size + step
                while start <= frame {
                    let key = WindowKey(key: event.key, start: start, end: start + size)
                    let entry = outcome.windows[key] ?? [0, 0]
                    outcome.windows[key] = [entry[0] + 1, entry[1] + event.value]
                    start += step
                }
            }
        case .session(let gap):
            var byKey: [Int: [Reading]] = [:]
            for event in windowed { byKey[event.key, default: []].append(event) }
            for (key, list) in byKey {
                let sorted = list.sorted { $0.time < $1.time }
                var start = sorted[0].time, end = sorted[0].time + gap, count = 0, sum = 0
                for event in sorted {
                    if event.time >= end {
                        outcome.windows[WindowKey(key: key, start: start, end: end)] = [count, sum]
                        (start, count, sum) = (event.time, 0, 0)
                    }
                    end = max(end, event.time + gap)
                    count += 1
                    sum += event.value
                }
                outcome.windows[WindowKey(key: key, start: start, end: end)] = [count, sum]
            }
        }
        outcome.late.sort { ($0.key, $0.time, $0.value) < ($1.key, $1.time, $1.value) }
        return outcome
    }

    // MARK: The reported cases

    @Test("an event at Int64.min is reported late, before or after an ordinary one, and never kills the job")
    func int64Minimum() throws {
        let minimum = Reading(key: 1, time: .min, value: 5)
        let zero = Reading(key: 1, time: 0, value: 7)
        for order in [[zero, minimum], [minimum, zero]] {
            for shape in [Shape.sliding(size: 1024, step: 1024, offset: 0), .sliding(size: 10, step: 10, offset: 0)] {
                let outcome = try Self.run([order], shape, lag: 0, workers: 2)
                #expect(outcome.late == [minimum], "\(shape)")
                #expect(outcome.windows.values.map { $0[0] }.reduce(0, +) == 1, "\(shape): \(outcome.windows)")
            }
        }
    }

    @Test("events near Int64.min and Int64.max neither hang the job nor vanish")
    func nearTheEnds() throws {
        // Two partitions near Int64.min (combine stage at the default parallelism).
        let low = [
            [Reading(key: 1, time: .min + 1008, value: 1), Reading(key: 1, time: .min + 2008, value: 1)],
            [Reading(key: 2, time: .min + 8, value: 1)],
        ]
        for workers in [1, 2] {
            let outcome = try Self.run(low, .sliding(size: 10, step: 10, offset: 0), lag: 5, workers: workers)
            #expect(outcome.late.count == 3 && outcome.windows.isEmpty)
        }
        // Near Int64.max: tumbling(1000) used to spin for ever in the final flush.
        let high = [[Reading(key: 1, time: .max - 807, value: 1), Reading(key: 1, time: 1_000, value: 2)]]
        let outcome = try Self.run(high, .sliding(size: 1000, step: 1000, offset: 0), lag: 0, workers: 2)
        #expect(outcome.late == [Reading(key: 1, time: .max - 807, value: 1)])
        #expect(outcome.windows == [WindowKey(key: 1, start: 1000, end: 2000): [1, 2]])
        // sliding(20, 10) with one event at Int64.min + 8 used to emit nothing and report nothing.
        let one = try Self.run(
            [[Reading(key: 1, time: .min + 8, value: 1)]], .sliding(size: 20, step: 10, offset: 0), lag: 0, workers: 2)
        #expect(one.late.count == 1)
    }

    @Test("sessions at the ends: no wrapped watermark, no session ending before it starts")
    func sessionsAtTheEnds() throws {
        let early = (0..<1025).map { Reading(key: 1, time: .min + 100, value: $0) }
        let outcome = try Self.run([early], .session(gap: 10), lag: 1_000, workers: 2)
        #expect(outcome.late.count == 1025 && outcome.windows.isEmpty)
        let late = [Reading(key: 1, time: .max - 4, value: 1), Reading(key: 1, time: .max - 2, value: 1)]
        let top = try Self.run([late], .session(gap: 5), lag: 0, workers: 2)
        #expect(top.late.count == 2 && top.windows.isEmpty)
        #expect(top.windows.keys.allSatisfy { $0.start < $0.end })
    }

    // MARK: Lateness follows from the input alone

    @Test("lateness does not depend on parallelism: judged by the event's own partition")
    func latenessIndependentOfParallelism() throws {
        // Partition 0 moves far ahead, then goes back; partition 1 stays behind and holds the job's watermark.
        let ahead =
            Array(repeating: Reading(key: 1, time: 1_000, value: 1), count: 1_024) + [
                Reading(key: 1, time: 500, value: 2)
            ]
        let behind = [Reading(key: 2, time: 0, value: 3)]
        let shape = Shape.sliding(size: 100, step: 100, offset: 0)
        let expected = Self.model([ahead, behind], shape, lag: 0)
        #expect(expected.late == [Reading(key: 1, time: 500, value: 2)])
        for workers in [1, 2, 4] {
            #expect(try Self.run([ahead, behind], shape, lag: 0, workers: workers) == expected, "\(workers) workers")
        }
        // With a lag that covers the step back, the event is counted, again at every parallelism.
        let covered = Self.model([ahead, behind], shape, lag: 500)
        #expect(covered.late.isEmpty && covered.windows[WindowKey(key: 1, start: 500, end: 600)] == [1, 2])
        for workers in [1, 2, 4] {
            #expect(try Self.run([ahead, behind], shape, lag: 500, workers: workers) == covered, "\(workers) workers")
        }
    }

    @Test("lateness does not depend on how reads are batched: the watermark moves with every event")
    func latenessIndependentOfReadBatches() throws {
        let shape = Shape.sliding(size: 10, step: 10, offset: 0)
        let early = Reading(key: 1, time: 0, value: 9)
        let short = [Reading(key: 1, time: 100, value: 1), early]
        let long = Array(repeating: Reading(key: 1, time: 100, value: 1), count: 1_024) + [early]
        for events in [short, long] {
            for workers in [1, 2] {
                let outcome = try Self.run([events], shape, lag: 0, workers: workers)
                #expect(outcome.late == [early], "\(events.count) events, \(workers) workers")
                #expect(outcome.windows[WindowKey(key: 1, start: 0, end: 10)] == nil)
            }
        }
        // Sessions follow the same rule: behind the partition's watermark is late.
        let sessions = try Self.run([short], .session(gap: 5), lag: 0, workers: 2)
        #expect(sessions.late == [early] && sessions.windows.count == 1)
    }

    @Test("window offsets outside 0..<step and negative lags are refused")
    func configurationIsChecked() async {
        await #expect(processExitsWith: .failure) { _ = WindowDefinition.tumbling(10).setOffset(10) }
        await #expect(processExitsWith: .failure) { _ = WindowDefinition.tumbling(10).setOffset(-1) }
        await #expect(processExitsWith: .failure) { _ = EventTimePolicy(allowedLag: -1) }
        await #expect(processExitsWith: .failure) { _ = WindowDefinition.tumbling(1 << 62) }
    }

    // MARK: Differential

    struct Case: CustomStringConvertible {
        var partitions: [[Reading]]
        var shape: Shape
        var lag: Int64
        var description: String {
            "\(shape), lag \(lag), \(partitions.map(\.count)) events per partition"
        }
    }

    static func makeCase(_ random: inout SeededGenerator) -> Case {
        let partitionCount = Int.random(in: 1...4, using: &random)
        let keys = Int.random(in: 1...5, using: &random)
        // In-range timestamps sit in one band of at most 10^6 ms: near 0, near either end of the range, or
        // anywhere in it.
        let bandWidth = Int64.random(in: 1...1_000_000, using: &random)
        let base: Int64 = [
            0, lower, upper - bandWidth, Int64.random(in: lower...(upper - bandWidth), using: &random), -bandWidth / 2,
        ].randomElement(using: &random)!
        let edges: [Int64] = [
            .min, .min + 1, .min + 8, .max, .max - 1, .max - 807, lower - 1, upper + 1, lower - 1_000_000,
            upper + 1_000_000,
        ]
        var partitions = [[Reading]](repeating: [], count: partitionCount)
        for i in 0..<Int.random(in: 1...400, using: &random) {
            let time =
                Int.random(in: 0..<12, using: &random) == 0
                ? edges.randomElement(using: &random)! : base + Int64.random(in: 0...bandWidth, using: &random)
            partitions[Int.random(in: 0..<partitionCount, using: &random)].append(
                Reading(key: Int.random(in: 0..<keys, using: &random), time: time, value: i))
        }
        let shape: Shape
        switch Int.random(in: 0..<3, using: &random) {
        case 0:
            let size = [1, 10, 1000, 86_400_000].randomElement(using: &random)! as Int64
            shape = .sliding(size: size, step: size, offset: Int64.random(in: 0..<size, using: &random))
        case 1:
            let step = [1, 10, 1000].randomElement(using: &random)! as Int64
            shape = .sliding(
                size: step * Int64.random(in: 2...5, using: &random), step: step,
                offset: Int64.random(in: 0..<step, using: &random))
        default:
            shape = .session(gap: [1, 10, 1000, 100_000].randomElement(using: &random)!)
        }
        // A lag that covers the band (nothing in range is late), none, or some of it (disorder makes late events).
        let lag: Int64 = [bandWidth + 1, 0, Int64.random(in: 0...bandWidth, using: &random)].randomElement(
            using: &random)!
        return Case(partitions: partitions, shape: shape, lag: lag)
    }

    @Test("random inputs with edge timestamps and disorder: results equal the brute-force model at parallelism 1 and 2")
    func differential() throws {
        let seed = testSeed("event-time-edges")
        var random = SeededGenerator(seed: seed)
        let cases = ProcessInfo.processInfo.environment["EVENTLOG_WINDOW_ORACLE_CASES"].flatMap(Int.init) ?? 200
        var mismatches = 0
        for index in 0..<cases {
            let testCase = Self.makeCase(&random)
            let expected = Self.model(testCase.partitions, testCase.shape, lag: testCase.lag)
            for workers in [1, 2] {
                let got = try Self.run(testCase.partitions, testCase.shape, lag: testCase.lag, workers: workers)
                if got != expected {
                    mismatches += 1
                    let missing = expected.windows.filter { got.windows[$0.key] != $0.value }.prefix(3)
                    Issue.record(
                        "seed \(seed) case \(index) (\(testCase)), \(workers) workers: \(got.windows.count) windows vs \(expected.windows.count), late \(got.late.count) vs \(expected.late.count); e.g. expected \(Array(missing))"
                    )
                }
            }
        }
        print("[event-time-edges] seed \(seed): \(cases) cases, \(mismatches) mismatches")
    }
}
