import Foundation
import Testing

@testable import EventLog

/// A fresh temporary directory per test, removed afterwards.
struct TemporaryDirectory: ~Copyable {
    let path: String
    init(_ name: String = "eventlog-test") {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/\(name)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func hexBytes(_ text: String) -> [UInt8] {
    let digits = text.filter { $0.isHexDigit }
    var bytes: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        bytes.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return bytes
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
        ProcessInfo.processInfo.environment["EVENTLOG_TEST_SEED"].flatMap(UInt64.init)
        ?? UInt64.random(in: 1...1_000_000)
    print("[\(name)] seed \(seed) (rerun with EVENTLOG_TEST_SEED=\(seed))")
    return seed
}

func fileSize(_ path: String) -> Int64 {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? -1
}

func segmentPath(_ dir: String, _ topic: String, _ partition: Int, base: Int64 = 0) -> String {
    "\(dir)/\(topic)-\(partition)/" + Segment.fileName(base, "log")
}

extension Log {
    /// Every record of a partition, read from the start.
    func all(_ topic: String, _ partition: Int = 0) throws -> [Record] {
        let reader = try reader(topic: topic, partition: partition, from: .earliest)
        var records: [Record] = []
        while try reader.read({ records.append($0.record) }) > 0 {}
        return records
    }
}
