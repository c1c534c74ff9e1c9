import EventLog
import EventLogFoundation
import Services
import TestSupport
import Testing

@Suite struct SagaTests {
    /// A log with two accounts (rich, poor), two items (one in stock, one scarce) at one location.
    static func world(
        _ directory: borrowing TemporaryDirectory, faults: OrderServices.Faults = .init(), clock: ManualClock
    ) throws -> (Log, OrderServices) {
        let log = try Log(directory: directory.path)
        var configuration = OrderServices.Configuration()
        configuration.faults = faults
        configuration.sagaTimeoutMilliseconds = 1_000
        configuration.checkpointEvery = 5
        let services = try OrderServices(log: log, configuration: configuration, clock: clock)
        if services.accounts.isEmpty {
            try services.openAccount("rich", balance: 100_000)
            try services.openAccount("poor", balance: 50)
            try services.addItem("mug", name: "Mug", price: 1_200)
            try services.addItem("rare", name: "Rare mug", price: 9_900)
            try services.addStock(item: "mug", location: "sea", quantity: 10, requestId: "s1")
            try services.addStock(item: "rare", location: "sea", quantity: 1, requestId: "s2")
            try services.commit()
        }
        return (log, services)
    }

    @Test("a saga that succeeds: every step once, money paid, stock pulled, order COMPLETED")
    func completes() throws {
        let directory = TemporaryDirectory("saga")
        let (log, services) = try Self.world(directory, clock: ManualClock())
        let id = try services.placeOrder(account: "rich", item: "mug", location: "sea", quantity: 2)
        try services.commit()
        let board = OrderBoard(streams: services.streams)
        try board.catchUp()
        let order = try #require(board.orders[id])
        #expect(order.status == .completed && order.shipped && order.total == 2_400 && order.waitingOn.isEmpty)
        let account = try #require(try services.materialize(account: "rich"))
        #expect(account.balance == 97_600 && account.held == 0 && account.paid == 2_400)
        let stock = try #require(try services.materialize(stock: "mug", at: "sea"))
        #expect(stock.onHand == 8 && stock.reserved == 0 && stock.availableToPromise == 8)
        let history = try board.history(ofSaga: id).map(\.type)
        #expect(history.first == "sagaStarted" && history.last == "sagaEnded")
        #expect(history.filter { $0 == "stepAnswered" }.count == 6)
        #expect(try ServiceInvariants.check(services.streams).violations == [])
        try log.close()
    }

    @Test("declined credit: the reservation made in parallel is released; nothing is paid or pulled")
    func declinedCredit() throws {
        let directory = TemporaryDirectory("saga")
        let (log, services) = try Self.world(directory, clock: ManualClock())
        let id = try services.placeOrder(account: "poor", item: "mug", location: "sea", quantity: 1)
        try services.commit()
        let board = OrderBoard(streams: services.streams)
        try board.catchUp()
        #expect(board.orders[id]?.status == .compensated)
        #expect(board.orders[id]?.reason == "credit declined")
        let events = try board.history(ofSaga: id)
        let compensated = events.compactMap { entry -> SagaStep? in
            if case .stepCompensated(let step, _) = entry.event { return step }
            return nil
        }
        #expect(compensated == [.inventoryReserve])
        #expect(try services.materialize(stock: "mug", at: "sea")?.reserved == 0)
        #expect(try services.materialize(account: "poor")?.balance == 50)
        #expect(try ServiceInvariants.check(services.streams).violations == [])
        try log.close()
    }

    @Test("missing stock releases the authorization; a refused payment refunds nothing and releases in reverse")
    func missingStockAndRefusedPayment() throws {
        let directory = TemporaryDirectory("saga")
        let clock = ManualClock()
        let (log, services) = try Self.world(directory, clock: clock)
        let scarce = try services.placeOrder(account: "rich", item: "rare", location: "sea", quantity: 2)
        try services.commit()
        #expect(services.orders[scarce]?.status == .compensated && services.orders[scarce]?.reason == "out of stock")
        #expect(services.accounts["rich"]?.balance == 100_000 && services.accounts["rich"]?.held == 0)
        try log.close()

        // Every payment refused: authorize and reserve succeed, then payment fails while pull succeeds.
        let (log2, refusing) = try Self.world(
            directory, faults: .init(paymentFailureRate: 1), clock: clock)
        let id = try refusing.placeOrder(account: "rich", item: "mug", location: "sea", quantity: 1)
        try refusing.commit()
        let board = OrderBoard(streams: refusing.streams)
        try board.catchUp()
        let steps = try board.history(ofSaga: id).compactMap { entry -> SagaStep? in
            if case .stepCompensated(let step, _) = entry.event { return step }
            return nil
        }
        #expect(steps == [.pullInventory, .inventoryReserve, .creditAuthorize], "last first")
        #expect(board.orders[id]?.status == .compensated && board.orders[id]?.reason == "payment refused")
        let stock = try #require(try refusing.materialize(stock: "mug", at: "sea"))
        #expect(stock.onHand == 10 && stock.reserved == 0)
        #expect(try refusing.materialize(account: "rich")?.balance == 100_000)
        #expect(try ServiceInvariants.check(refusing.streams).violations == [])
        try log2.close()
    }

    @Test("a carrier that never answers: the order waits on ship, times out, and every step is compensated")
    func timesOut() throws {
        let directory = TemporaryDirectory("saga")
        let clock = ManualClock()
        let (log, services) = try Self.world(directory, faults: .init(shipNoAnswerRate: 1), clock: clock)
        let id = try services.placeOrder(account: "rich", item: "mug", location: "sea", quantity: 3)
        try services.commit()
        let board = OrderBoard(streams: services.streams)
        try board.catchUp()
        #expect(board.orders[id]?.status == .inProgress && board.orders[id]?.waitingOn == ["ship"])
        #expect(try ServiceInvariants.check(services.streams, requireFinished: false).ok)
        try services.checkTimeouts()
        try services.commit()
        #expect(services.orders[id]?.status == .inProgress, "not yet due")
        clock.advance(by: 1_001)
        try services.checkTimeouts()
        try services.commit()
        try board.catchUp()
        #expect(board.orders[id]?.status == .compensated)
        #expect(board.orders[id]?.reason == "timed out waiting for ship")
        let types = try board.history(ofSaga: id).map(\.type)
        #expect(types.contains("compensationStarted") && types.last == "sagaEnded")
        let report = try ServiceInvariants.check(services.streams)
        #expect(report.violations == [] && report.timedOut == 1)
        try log.close()
    }

    @Test("commands refuse bad input with a reason; nothing is staged")
    func badInput() throws {
        let directory = TemporaryDirectory("saga")
        let (log, services) = try Self.world(directory, clock: ManualClock())
        #expect(throws: ServiceError.self) { try services.openAccount("rich", balance: 1) }
        #expect(throws: ServiceError.self) { try services.withdraw("poor", 51) }
        #expect(throws: ServiceError.self) { try services.deposit("nobody", 5) }
        #expect(throws: ServiceError.self) {
            try services.placeOrder(account: "rich", item: "mug", location: "sea", quantity: 0)
        }
        #expect(services.stagedCount == 0)
        // An unknown item fails the price lookup: COMPENSATED with nothing to compensate.
        let id = try services.placeOrder(account: "rich", item: "ghost", location: "sea", quantity: 1)
        try services.commit()
        #expect(services.orders[id]?.status == .compensated && services.orders[id]?.reason == "unknown item ghost")
        try services.transfer(from: "rich", to: "poor", 1_000, requestId: "t1")
        try services.commit()
        #expect(services.accounts["poor"]?.balance == 1_050 && services.accounts["rich"]?.balance == 99_000)
        #expect(try ServiceInvariants.check(services.streams).violations == [])
        try log.close()
    }
}
