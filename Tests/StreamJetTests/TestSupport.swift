import Foundation
import StreamJet

/// A fresh temporary directory per test, removed afterwards.
struct TemporaryDirectory: ~Copyable {
    let path: String
    init(_ name: String = "streamjet-test") {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/\(name)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A seeded generator so randomized tests can print and replay their seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func testSeed(_ name: String) -> UInt64 {
    let seed =
        ProcessInfo.processInfo.environment["STREAMJET_TEST_SEED"].flatMap(UInt64.init)
        ?? UInt64.random(in: 1...1_000_000)
    print("[\(name)] seed \(seed) (rerun with STREAMJET_TEST_SEED=\(seed))")
    return seed
}

/// A test event: a key, an event time and a value to sum.
struct Reading: Sendable, Hashable, Codable {
    var key: Int
    var time: Int64
    var value: Int
}

/// A clock the test moves by hand.
final class ManualStreamClock: StreamClock, @unchecked Sendable {
    private let lock = NSLock()
    private var now: Int64 = 0
    func milliseconds() -> Int64 { lock.withLock { now } }
    func advance(_ milliseconds: Int64) { lock.withLock { now += milliseconds } }
}

/// The expected results of windows of `size` every `step` over `events`, by brute force.
func bruteForceWindows(_ events: [Reading], size: Int64, step: Int64) -> [WindowKey: (count: Int, sum: Int)] {
    var result: [WindowKey: (count: Int, sum: Int)] = [:]
    for event in events {
        // Every window end e on the grid with e - size <= time < e.
        var end = (event.time / step + 1) * step
        while end - size <= event.time {
            let key = WindowKey(key: event.key, start: end - size, end: end)
            var entry = result[key] ?? (0, 0)
            entry.count += 1
            entry.sum += event.value
            result[key] = entry
            end += step
        }
    }
    return result
}

struct WindowKey: Hashable, CustomStringConvertible {
    var key: Int
    var start: Int64
    var end: Int64
    var description: String { "\(key)@[\(start),\(end))" }
}
