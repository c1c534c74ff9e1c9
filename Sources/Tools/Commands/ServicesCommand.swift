import ArgumentParser
import EventLog
import Foundation
import Services

/// `eventlog services`: the event-sourced account, catalog, inventory and order services and their saga.
struct ServicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "services", abstract: "Event-sourced services with an order saga that compensates.",
        subcommands: [ServicesLoad.self])
}

struct ServicesLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load accounts, items and stock if needed, place orders, wait for every saga, check the invariants.",
        discussion: """
            Ends with one JSON line: orders, completed, compensated, timed_out, failed, orders_per_s, p50_ms, \
            p99_ms, invariants_ok; exits 1 when an invariant fails. Sagas left unfinished by an earlier run \
            (killed, say) are resumed first. The invariants are checked on the log alone: money conserved, \
            stock never negative, every saga COMPLETED or COMPENSATED, no step applied twice.
            """)

    @OptionGroup var options: GlobalOptions
    @Option(help: "Orders to place.") var orders = 10_000
    @Option(help: "Sagas in flight at once (a closed loop).") var concurrency = 256
    @Option(help: "Accounts to load.") var accounts = 1_000
    @Option(help: "Items to load.") var items = 1_000
    @Option(help: "Locations per item.") var locations = 100
    @Option(help: "Fraction of payments refused.") var paymentFailureRate = 0.01
    @Option(help: "Fraction of shipments whose carrier never answers (the saga times out).") var shipNoAnswerRate =
        0.002
    @Option(help: "Saga timeout in milliseconds.") var timeoutMs: Int64 = 2_000
    @Option(help: "Seed of the orders.") var seed: UInt64 = 2
    @Option(help: "Durability of the services topic: none, sync or interval:MS.") var durability: DurabilityPolicy =
        .none

    func run() throws {
        let log = try options.openLog()
        var configuration = OrderServices.Configuration()
        configuration.faults = .init(paymentFailureRate: paymentFailureRate, shipNoAnswerRate: shipNoAnswerRate)
        configuration.sagaTimeoutMilliseconds = timeoutMs
        if !log.topicNames().contains(configuration.topic) {
            var topic = TopicConfiguration(partitions: 1)
            topic.retentionMilliseconds = nil
            topic.durability = durability
            try log.createTopic(configuration.topic, configuration: topic)
        }
        let services = try OrderServices(log: log, configuration: configuration)
        let engine = ServicesEngine(services: services)
        var data = ServiceDataSet()
        data.accounts = accounts
        data.items = items
        data.locations = locations
        let began = Date()
        if try data.load(into: engine) {
            printError(
                "loaded \(accounts) accounts, \(items) items, stock at \(locations) locations in \(String(format: "%.1f", Date().timeIntervalSince(began))) s"
            )
        }
        try engine.waitUntilIdle()  // sagas an earlier run left unfinished
        var driver = LoadDriver()
        driver.orders = orders
        driver.concurrency = concurrency
        driver.seed = seed
        driver.data = data
        var report = driver.run(engine)
        try engine.waitUntilIdle()
        engine.stop()
        let check = try ServiceInvariants.check(services.streams)
        report.invariantsOK = check.ok
        for violation in check.violations { printError("invariant violated: \(violation)") }
        printError(
            "the log holds \(check.sagas) sagas: \(check.completed) completed, \(check.compensated) compensated (\(check.timedOut) after a timeout)"
        )
        print(report.jsonLine)
        try log.close()
        if !check.ok { throw ExitCode(1) }
    }
}
