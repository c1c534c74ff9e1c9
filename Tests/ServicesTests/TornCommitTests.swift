import EventLog
import EventLogFoundation
import Foundation
import Services
import TestSupport
import Testing

/// A commit cut by a crash in its middle. One commit of many sagas spans many record batches (each at most
/// 512 KB, split only between saga transitions); the test tears the log's tail at a random byte of that
/// commit, as a crash during the write would, and reopens. Recovery drops the torn batch; what is left must be
/// whole transitions — a participant's event and the saga's record of it together or not at all. The oracle
/// for that: a restarted engine re-drives exactly the steps without an answer, so if a batch had ended between
/// a participant's event and its answer, the step would be folded twice in memory (the log would refuse the
/// duplicate id) and the in-memory accounts and stock would differ from those folded from the log.
@Suite struct TornCommitTests {
    @Test func aCommitTornMidWriteLeavesWholeTransitions() throws {
        let seed = testSeed("torn-commit")
        var random = SplitMix64(seed: seed)
        let directory = TemporaryDirectory("torn-commit")
        let clock = ManualClock()
        var configuration = OrderServices.Configuration()
        configuration.sagaTimeoutMilliseconds = 1_000
        configuration.checkpointEvery = 7
        configuration.faults = OrderServices.Faults(paymentFailureRate: 0.1)
        let accounts = (0..<40).map { "a\($0)" }
        let items = (0..<10).map { "i\($0)" }
        var written: Int64 = 0
        do {
            let log = try Log(directory: directory.path)
            let services = try OrderServices(log: log, configuration: configuration, clock: clock)
            for (n, account) in accounts.enumerated() {
                try services.openAccount(account, balance: n % 5 == 0 ? 900 : 5_000_000)
            }
            for item in items {
                try services.addItem(item, name: item, price: 1_000)
                try services.addStock(item: item, location: "x", quantity: 300, requestId: "stock/\(item)")
            }
            try services.commit()
            // One commit of 2,000 sagas: about 7 MB, so some fourteen batches.
            for _ in 0..<2_000 {
                try services.placeOrder(
                    account: accounts[Int(random.next() % 40)], item: items[Int(random.next() % 10)], location: "x",
                    quantity: 1 + Int(random.next() % 3))
            }
            try services.commit()
            written = try log.offsets(topic: "services", partition: 0).end
            try log.close()
        }
        // As after a crash: no clean-shutdown marker, and the segment torn at a random byte of the commit's
        // second half — several times, each on a copy (one cut tests one batch boundary).
        try FileManager.default.removeItem(atPath: directory.path + "/.clean-shutdown")
        for attempt in 0..<6 {
            let copy = TemporaryDirectory("torn-commit-\(attempt)")
            try FileManager.default.removeItem(atPath: copy.path)
            try FileManager.default.copyItem(atPath: directory.path, toPath: copy.path)
            let segment = try #require(
                try FileManager.default.contentsOfDirectory(atPath: copy.path + "/services-0")
                    .filter { $0.hasSuffix(".log") }.sorted().last)
            let path = copy.path + "/services-0/" + segment
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            let cut = size / 2 + Int(random.next() % UInt64(size / 2))
            #expect(truncate(path, off_t(cut)) == 0)

            let log = try Log(directory: copy.path)
            defer { try? log.close() }
            let kept = try log.offsets(topic: "services", partition: 0).end
            #expect(kept < written, "the cut at byte \(cut) of \(size) removed nothing (seed \(seed))")
            let clock = ManualClock()  // each attempt from the time of the commit
            let services = try OrderServices(log: log, configuration: configuration, clock: clock)
            try services.resume()
            try services.commit()
            while !services.active.isEmpty {
                clock.advance(by: 500)
                try services.checkTimeouts()
                try services.commit()
            }
            for account in accounts {
                #expect(
                    try services.materialize(account: account) == services.accounts[account],
                    "\(account), cut at \(cut), seed \(seed)")
            }
            for item in items {
                #expect(
                    try services.materialize(stock: item, at: "x") == services.stocks["\(item)@x"],
                    "\(item), cut at \(cut), seed \(seed)")
            }
            let report = try ServiceInvariants.check(services.streams)
            #expect(report.violations == [], "cut at \(cut), seed \(seed)")
            #expect(report.unfinished == 0 && report.sagas > 0, "seed \(seed)")
            print("[torn-commit] cut at byte \(cut) of \(size): \(kept) of \(written) events kept (seed \(seed))")
        }
    }
}
