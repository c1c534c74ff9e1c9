import EventLog
import EventLogFoundation
import Foundation
import Services
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `kill -9` in the middle of sagas: `eventlog services load` in a child process, killed at random moments
/// (while loading, placing orders, compensating, waiting on timeouts) and started again each time. Every
/// restart resumes the sagas in flight; at the end every saga has ended, money is conserved, stock never went
/// negative and no step was applied twice — checked by the command itself and again here, on the log alone.
@Suite(
    .serialized,
    .killSuite)
struct ServicesKillTests {
    /// Events in the services topic so far (0 before it exists).
    static func written(_ directory: String) -> Int64 {
        guard let log = try? Log.openReadOnly(directory: directory) else { return 0 }
        defer { try? log.close() }
        return (try? log.offsets(topic: "services", partition: 0).end) ?? 0
    }

    @Test func killedServicesFinishOrCompensateEverySaga() async throws {
        let binary = try #require(eventlogBinary, "build the eventlog binary first: swift build --build-tests")
        let seed = testSeed("services-kill")
        var random = SeededGenerator(seed: seed)
        let directory = TemporaryDirectory("services-kill")
        let common = [
            "services", "load", "--data-dir", directory.path, "--accounts", "300", "--items", "60", "--locations", "8",
            "--timeout-ms", "300", "--payment-failure-rate", "0.05", "--ship-no-answer-rate", "0.02",
        ]
        var kills = 0
        for round in 0..<6 {
            // Kill once this run has written something (a fixed delay raced the machine's speed), a little later.
            let before = Self.written(directory.path)
            let child = try BackgroundTool(binary, common + ["--orders", "5000", "--seed", "\(round + 1)"])
            let wanted = before + Int64.random(in: 1...4_000, using: &random)
            if await killWhen(child, { [path = directory.path] in Self.written(path) >= wanted }) {
                kills += 1
            } else {
                #expect(child.exitStatus == 0, "round \(round) failed on its own: \(child.stderr)")
            }
            await child.waitForExit()
        }
        #expect(kills >= 3, "the runs ended before they were killed; the test proves little (seed \(seed))")
        // The last run resumes whatever is in flight, places a few more orders and checks the invariants.
        let last = try BackgroundTool(binary, common + ["--orders", "200", "--seed", "99"])
        await last.waitForExit(timeout: 300)
        #expect(last.exitStatus == 0, "\(last.stderr)")
        #expect(last.stdout.contains(#""invariants_ok":true"#), "\(last.stdout) \(last.stderr) (seed \(seed))")

        let log = try Log.openReadOnly(directory: directory.path)
        defer { try? log.close() }
        let report = try ServiceInvariants.check(try EventStreams(log: log, topic: "services"))
        #expect(report.violations == [], "seed \(seed)")
        #expect(report.unfinished == 0 && report.sagas > 200, "\(report.sagas) sagas (seed \(seed))")
        print(
            "[services-kill] \(kills) kills, \(report.sagas) sagas: \(report.completed) completed, \(report.compensated) compensated (\(report.timedOut) timed out)"
        )
    }
}
