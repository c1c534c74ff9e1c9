import EventLog
import EventLogFoundation
import Services
import TestSupport
import Testing

/// Random orders against random accounts and stock, with refused payments and silent carriers, checked
/// against a plain sequential model of the saga (an independent oracle: dictionaries and arithmetic, no
/// events), then against the log-only invariants, a board rebuilt from offset 0 and a reopened write side.
@Suite struct SagaModelTests {
    struct Model {
        var balance: [String: Int64] = [:]
        var atp: [String: Int] = [:]
        var onHand: [String: Int] = [:]
        var price: [String: Int64] = [:]
        /// Orders that wait on a silent carrier: released when they time out, at the end.
        var waiting: [(account: String, stock: String, total: Int64, quantity: Int)] = []

        /// The status an order ends with when placed now.
        mutating func place(
            _ account: String, _ item: String, _ location: String, _ quantity: Int, paymentRefused: Bool,
            carrierSilent: Bool
        ) -> (SagaStatus, String?) {
            guard let unit = price[item] else { return (.compensated, "unknown item \(item)") }
            let total = unit * Int64(quantity)
            let key = "\(item)@\(location)"
            let credit = balance[account, default: 0] >= total
            let stock = atp[key, default: 0] >= quantity
            if !credit { return (.compensated, "credit declined") }
            if !stock { return (.compensated, "out of stock") }
            if paymentRefused { return (.compensated, "payment refused") }
            if carrierSilent {
                balance[account]! -= total
                atp[key]! -= quantity
                onHand[key]! -= quantity
                waiting.append((account, key, total, quantity))
                return (.compensated, "timed out waiting for ship")
            }
            balance[account]! -= total
            atp[key]! -= quantity
            onHand[key]! -= quantity
            return (.completed, nil)
        }

        mutating func timeOutAll() {
            for w in waiting {
                balance[w.account]! += w.total
                atp[w.stock]! += w.quantity
                onHand[w.stock]! += w.quantity
            }
            waiting = []
        }
    }

    @Test("random orders end as the sequential model says; invariants hold; views rebuild to the same state")
    func randomOrdersMatchTheModel() throws {
        let seed = testSeed("saga-model")
        var random = SeededGenerator(seed: seed)
        let directory = TemporaryDirectory("saga-model")
        let clock = ManualClock()
        let log = try Log(directory: directory.path)
        var configuration = OrderServices.Configuration()
        configuration.faults = .init(paymentFailureRate: 0.1, shipNoAnswerRate: 0.05)
        configuration.sagaTimeoutMilliseconds = 10_000
        configuration.checkpointEvery = 7
        let services = try OrderServices(log: log, configuration: configuration, clock: clock)
        var model = Model()
        let accounts = (0..<12).map { "a\($0)" }
        let items = (0..<6).map { "i\($0)" }
        let locations = ["x", "y"]
        for account in accounts {
            let balance = Int64.random(in: 0...20_000, using: &random)
            try services.openAccount(account, balance: balance)
            model.balance[account] = balance
        }
        for item in items.dropLast() {  // the last item is not in the catalog
            let price = Int64.random(in: 100...3_000, using: &random)
            try services.addItem(item, name: item, price: price)
            model.price[item] = price
            for location in locations {
                let quantity = Int.random(in: 0...25, using: &random)
                if quantity > 0 {
                    try services.addStock(
                        item: item, location: location, quantity: quantity, requestId: "\(item)\(location)")
                }
                model.atp["\(item)@\(location)"] = quantity
                model.onHand["\(item)@\(location)"] = quantity
            }
        }
        try services.commit()
        var expected: [String: (SagaStatus, String?)] = [:]
        for n in 0..<300 {
            let (account, item) = (accounts.randomElement(using: &random)!, items.randomElement(using: &random)!)
            let location = locations.randomElement(using: &random)!
            let quantity = Int.random(in: 1...3, using: &random)
            let id = "o\(n)"
            let faults = configuration.faults
            // The engine's faults are a pure function of the saga id: ask the same question the model asks.
            let refused = Self.hits(faults.paymentFailureRate, id, salt: 1)
            let silent = Self.hits(faults.shipNoAnswerRate, id, salt: 2)
            expected[id] = model.place(
                account, item, location, quantity, paymentRefused: refused, carrierSilent: silent)
            try services.placeOrder(account: account, item: item, location: location, quantity: quantity, id: id)
            if Int.random(in: 0..<10, using: &random) == 0 { try services.commit() }
        }
        try services.commit()
        #expect(!services.active.isEmpty || model.waiting.isEmpty)
        clock.advance(by: 10_001)
        try services.checkTimeouts()
        try services.commit()
        model.timeOutAll()

        for (id, (status, reason)) in expected {
            let order = services.orders[id]
            #expect(
                order?.status == status && order?.reason == reason,
                "order \(id): \(String(describing: order)) (seed \(seed))")
        }
        for (account, balance) in model.balance {
            #expect(services.accounts[account]?.balance == balance, "account \(account) (seed \(seed))")
            #expect(try services.materialize(account: account) == services.accounts[account], "account \(account) fold")
        }
        for (key, atp) in model.atp where atp > 0 || model.onHand[key]! > 0 {
            let parts = key.split(separator: "@").map(String.init)
            let stock = try services.materialize(stock: parts[0], at: parts[1])
            #expect(
                stock?.availableToPromise == atp && stock?.onHand == model.onHand[key], "stock \(key) (seed \(seed))")
        }
        let report = try ServiceInvariants.check(services.streams)
        #expect(report.violations == [], "seed \(seed)")
        #expect(report.completed + report.compensated == 300)
        let timeouts = expected.values.filter { $0.1?.hasPrefix("timed out") == true }.count
        #expect(report.timedOut == timeouts, "seed \(seed)")
        #expect(report.completed > 0 && report.compensated > 0, "both endings taken (seed \(seed))")

        // The query side rebuilt from offset 0 equals the write side's orders; a reopen folds to the same state.
        let board = OrderBoard(streams: services.streams)
        try board.catchUp()
        #expect(board.orders == services.orders)
        try log.close()
        let reopened = try Log(directory: directory.path)
        let again = try OrderServices(log: reopened, configuration: configuration, clock: clock)
        #expect(again.accounts == services.accounts && again.stocks == services.stocks && again.sagas == services.sagas)
        #expect(again.active.isEmpty)
        try reopened.close()
    }

    /// The engine's fault rule, restated (FNV-1a of the saga id, salted).
    static func hits(_ rate: Double, _ saga: String, salt: UInt64) -> Bool {
        guard rate > 0 else { return false }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ salt
        for byte in saga.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Double(hash % 1_000_000) / 1_000_000 < rate
    }
}
