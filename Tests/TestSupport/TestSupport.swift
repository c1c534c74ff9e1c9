public import EventLogFoundation
import Foundation
public import Testing

/// A fresh temporary directory per test, removed afterwards.
public struct TemporaryDirectory: ~Copyable {
    public let path: String
    public init(_ name: String = "eventlog-test") {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/\(name)-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A seeded generator so randomized tests can print and replay their seed: the project's SplitMix64.
public typealias SeededGenerator = SplitMix64

/// A random seed for a randomized test, printed with how to rerun it (`EVENTLOG_TEST_SEED` fixes it).
public func testSeed(_ name: String) -> UInt64 {
    let seed =
        ProcessInfo.processInfo.environment["EVENTLOG_TEST_SEED"].flatMap(UInt64.init)
        ?? UInt64.random(in: 1...1_000_000)
    print("[\(name)] seed \(seed) (rerun with EVENTLOG_TEST_SEED=\(seed))")
    return seed
}

/// Whether the suite runs under ThreadSanitizer (`scripts/tsan.sh` sets `EVENTLOG_TSAN`). The `kill -9` suites
/// are disabled there: they check durability, which the plain run does, while the code they kill is race-checked
/// in process by the other suites, and their child processes, several times slower under TSan, made that pass
/// the longest part of CI.
public let underThreadSanitizer = ProcessInfo.processInfo.environment["EVENTLOG_TSAN"] != nil

extension Trait where Self == ConditionTrait {
    /// A `kill -9` suite: disabled under ThreadSanitizer (see ``underThreadSanitizer``).
    public static var killSuite: Self {
        .disabled(
            if: underThreadSanitizer,
            "kill -9 checks durability, which the plain run does; the code it kills is race-checked in process")
    }
}

/// The `eventlog` binary built next to the test bundle (`swift build --build-tests` builds it).
public let eventlogBinary: String? = {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [here, here.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("eventlog").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}()
