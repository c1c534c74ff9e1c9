import EventLogFoundation
import Foundation

/// The data set the load runs against: accounts with random balances (some poor on purpose), catalog items
/// with prices, and stock for every item at every location (some items scarce on purpose) — real stock,
/// unlike the original's loader, whose every quantity was 0.
public struct ServiceDataSet: Sendable {
    public var accounts = 1_000
    public var items = 1_000
    public var locations = 100
    /// Fraction of accounts with less than a typical order.
    public var poorAccounts = 0.05
    /// Fraction of items with at most a few units per location.
    public var scarceItems = 0.05
    public var seed: UInt64 = 1

    public init() {}

    public func accountId(_ n: Int) -> String { "a\(n)" }
    public func itemId(_ n: Int) -> String { "i\(n)" }
    public func locationId(_ n: Int) -> String { "l\(n)" }

    /// Loads what is missing (a load interrupted by a crash is completed, nothing is loaded twice: stock
    /// additions carry request ids); returns whether anything was loaded.
    @discardableResult
    public func load(into engine: ServicesEngine) throws -> Bool {
        let loaded = Locked(false)
        let data = self
        try engine.performAndWait { services in
            var random = SplitMix64(seed: data.seed)
            for n in 0..<data.accounts {
                let poor = random.nextDouble() < data.poorAccounts
                let balance = poor ? Int64(random.below(2_000)) : 50_000 + Int64(random.below(5_000_000))
                if services.account(data.accountId(n)) == nil {
                    try services.openAccount(data.accountId(n), balance: balance)
                    loaded.withLock { $0 = true }
                }
            }
            for n in 0..<data.items where services.item(data.itemId(n)) == nil {
                try services.addItem(data.itemId(n), name: "item \(n)", price: 100 + Int64(random.below(9_900)))
                loaded.withLock { $0 = true }
            }
        }
        // Stock, one commit per item.
        for n in 0..<items {
            try engine.performAndWait { services in
                var random = SplitMix64(seed: data.seed &+ UInt64(n) &* 7919)
                let scarce = random.nextDouble() < data.scarceItems
                for l in 0..<data.locations {
                    let quantity = scarce ? Int(random.below(3)) : 20 + Int(random.below(200))
                    let (item, location) = (data.itemId(n), data.locationId(l))
                    if quantity > 0 && services.stock(item: item, at: location) == nil {
                        try services.addStock(
                            item: item, location: location, quantity: quantity, requestId: "load/\(item)@\(location)")
                        loaded.withLock { $0 = true }
                    }
                }
            }
        }
        return loaded.withLock { $0 }
    }
}

/// What `eventlog services load` reports.
public struct LoadReport: Sendable, Codable {
    public var orders = 0
    public var completed = 0
    public var compensated = 0
    public var timedOut = 0
    public var failed = 0
    public var ordersPerSecond = 0.0
    public var p50Milliseconds = 0.0
    public var p99Milliseconds = 0.0
    public var invariantsOK = false
    public var violations: [String] = []

    /// One JSON line (the issue's field names).
    public var jsonLine: String {
        func number(_ x: Double) -> String { String(format: "%.1f", x) }
        return
            #"{"orders":\#(orders),"completed":\#(completed),"compensated":\#(compensated),"timed_out":\#(timedOut),"failed":\#(failed),"orders_per_s":\#(number(ordersPerSecond)),"p50_ms":\#(number(p50Milliseconds)),"p99_ms":\#(number(p99Milliseconds)),"invariants_ok":\#(invariantsOK)}"#
    }
}

/// Places orders with at most `concurrency` sagas in flight (a closed loop: a new order as soon as one ends),
/// random accounts, items, locations and quantities from `seed`.
public struct LoadDriver: Sendable {
    public var orders = 10_000
    public var concurrency = 256
    public var seed: UInt64 = 2
    public var data = ServiceDataSet()

    public init() {}

    /// Runs the orders through `engine`; returns the counts and latencies (invariants are checked separately).
    public func run(_ engine: ServicesEngine) -> LoadReport {
        let slots = DispatchSemaphore(value: concurrency)
        let finished = DispatchGroup()
        let results = Locked<(latencies: [Double], statuses: [SagaStatus: Int], timedOut: Int, failed: Int)>(
            ([], [:], 0, 0))
        var random = SplitMix64(seed: seed)
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<orders {
            slots.wait()
            finished.enter()
            let account = data.accountId(Int(random.below(UInt64(data.accounts))))
            let item = data.itemId(Int(random.below(UInt64(data.items))))
            let location = data.locationId(Int(random.below(UInt64(data.locations))))
            let quantity = 1 + Int(random.below(3))
            engine.submit(account: account, item: item, location: location, quantity: quantity) { result, ms in
                results.withLock { r in
                    switch result {
                    case .success(let order):
                        r.latencies.append(ms)
                        r.statuses[order.status, default: 0] += 1
                        if order.reason?.hasPrefix("timed out") == true { r.timedOut += 1 }
                    case .failure:
                        r.failed += 1
                    }
                }
                slots.signal()
                finished.leave()
            }
        }
        finished.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return results.withLock { r in
            var report = LoadReport()
            report.orders = orders
            report.completed = r.statuses[.completed, default: 0]
            report.timedOut = r.timedOut
            report.compensated = r.statuses[.compensated, default: 0] - r.timedOut
            report.failed = r.failed + r.statuses[.failed, default: 0]
            report.ordersPerSecond = Double(orders) / seconds
            let sorted = r.latencies.sorted()
            if !sorted.isEmpty {
                report.p50Milliseconds = sorted[sorted.count / 2]
                report.p99Milliseconds = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
            }
            return report
        }
    }
}

extension SplitMix64 {
    /// A number in `0..<n` (0 when `n` is 0).
    mutating func below(_ n: UInt64) -> UInt64 { n == 0 ? 0 : next() % n }
}
