import EventLogFoundation
import Foundation
import StreamJet
import Testing

@Suite("Windows")
struct WindowTests {
    /// Random events over `keys` keys, roughly in time order with up to `disorder` ms of disorder.
    static func events(count: Int, keys: Int, disorder: Int64, using generator: inout SeededGenerator) -> [Reading] {
        (0..<count).map { index in
            Reading(
                key: Int.random(in: 0..<keys, using: &generator),
                time: Int64(index) * 7 + Int64.random(in: 0...disorder, using: &generator),
                value: Int.random(in: 1...100, using: &generator))
        }
    }

    @Test(
        "tumbling and sliding windows equal a brute-force computation",
        arguments: [(1_000, 1_000), (3_000, 1_000), (500, 100), (60_000, 60_000)] as [(Int64, Int64)])
    func slidingMatchesBruteForce(size: Int64, step: Int64) throws {
        var generator = SeededGenerator(seed: testSeed("sliding \(size)/\(step)"))
        let events = Self.events(count: 20_000, keys: 37, disorder: 500, using: &generator)
        let pipeline = Pipeline()
        let results = pipeline.readFrom(.collection(events))
            .withTimestamps({ $0.time }, allowedLag: 500)
            .groupingKey(\.key)
            .window(size == step ? .tumbling(size) : .sliding(size, step: step))
            .aggregate(.allOf(.counting(), .summing { $0.value }))
        let collector = results.writeTo(Sinks.collector())
        let late = results.lateEvents.writeTo(Sinks.collector())
        try pipeline.submit(JobConfiguration(workers: 2)).join()

        #expect(late.items.isEmpty, "disorder within the allowed lag must not make events late")
        let expected = bruteForceWindows(events, size: size, step: step)
        var actual: [WindowKey: (count: Int, sum: Int)] = [:]
        for result in collector.items {
            let key = WindowKey(key: result.key, start: result.start, end: result.end)
            #expect(actual[key] == nil, "window \(key) emitted twice")
            #expect(!result.isEarly)
            actual[key] = (result.value.0, result.value.1)
        }
        #expect(actual.count == expected.count)
        for (key, value) in expected {
            let got = actual[key]
            #expect(
                got?.count == value.count && got?.sum == value.sum,
                "window \(key): \(String(describing: got)) ≠ \(value)")
        }
    }
}
