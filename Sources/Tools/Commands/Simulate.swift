public import ArgumentParser
import ChangeCapture
import EventLog
import Foundation
public import Simulator
import Synchronization

/// `eventlog simulate`: the order-delivery simulator writing into a log directory.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate drivers delivering orders from restaurants, writing events into the log.",
        discussion: """
            Restaurants: the built-in set (synthetic cafés in 20 US cities, the project's own) or a store
            list (--stores: Kaggle directory.csv or the Socrata US export), filtered by country, state, city,
            bounding box and count. Events go to topics 'orders' and 'drivers', keyed by id. The same --seed
            and inputs give a byte-identical log. Ctrl-C stops cleanly and leaves a valid log.

            Examples:
              eventlog simulate --duration 2h                       (built-in stores, as fast as possible)
              eventlog simulate --stores ../shared/data/directory.csv --city Seattle --speed 60
              eventlog simulate --stores All_Starbucks_Locations_in_the_US.csv --duration 30m
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var simulation: SimulationOptions
    @Option(help: "Simulated duration: e.g. 90s, 45m, 2h.") var duration: String = "1h"
    @Option(help: "'max' (as fast as possible) or a factor of real time, e.g. 60.") var speed: String = "max"
    @Option(help: "Partitions of the orders and drivers topics.") var partitions: Int = 4
    @Option(
        help:
            "'events': topics orders and drivers with each event; 'debezium': topics debezium.Order and debezium.Driver as the original's outbox router wrote them (value = the aggregate snapshot, header id = the event id)."
    )
    var topics: LogSink.TopicLayout = .events
    @Option(
        help:
            "'log': into the log directory; 'postgres': into a PostgreSQL database (--url) as the original wrote it, each simulated second one transaction of aggregate rows (orders, drivers) and outbox rows (order_event, driver_event), for `eventlog cdc postgres --outbox` to relay."
    )
    var sink: SinkKind = .log
    @Option(help: "With --sink postgres: postgres://user[:password]@host[:port]/database.") var url: String?
    @Option(help: "Compression: none, lz4, zstd or zstd:LEVEL.") var compression: Compression = .lz4
    @Option(help: "Durability: none, sync or interval:MS.") var durability: DurabilityPolicy = .none
    @Flag(help: "Do not print the results summary at the end.") var noSummary = false

    static let interrupted = Atomic<Bool>(false)

    enum SinkKind: String, ExpressibleByArgument, CaseIterable {
        case log, postgres
    }

    func validate() throws {
        _ = try parseDuration()
        _ = try parseSpeed()
        if sink == .postgres && url == nil { throw ValidationError("--sink postgres needs --url postgres://…") }
        if sink == .log && url != nil { throw ValidationError("--url is for --sink postgres") }
    }

    /// Where the events go, and the log when it is a log.
    func output() throws -> (any SimulationOutput, Log?) {
        switch sink {
        case .log:
            let log = try options.openLog()
            let sink = try LogSink(
                log: log, partitions: partitions, compression: compression, durability: durability, layout: topics)
            return (sink, log)
        case .postgres:
            let url: PostgresURL
            do { url = try PostgresURL(self.url ?? "") } catch { throw ValidationError(error.message) }
            return (try PostgresOutboxSink(url: url, logger: options.logger()), nil)
        }
    }

    func parseDuration() throws -> Int64 {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = duration.last, let factor = units[unit], let value = Double(duration.dropLast()), value > 0
        else {
            throw ValidationError("--duration must look like 90s, 45m, 2h or 1d; got '\(duration)'")
        }
        return Int64(value * factor * 1000)
    }

    func parseSpeed() throws -> Double? {
        if speed == "max" { return nil }
        guard let factor = Double(speed), factor > 0 else {
            throw ValidationError("--speed must be 'max' or a positive factor; got '\(speed)'")
        }
        return factor
    }

    func run() throws {
        let restaurants = try simulation.restaurants()
        let config = try simulation.configuration(.simulate)
        let (sink, log) = try output()
        let world = try World(restaurants: restaurants, configuration: config, sink: sink)
        let start = config.startMilliseconds
        let end = start + (try parseDuration())
        let factor = try parseSpeed()
        // Ctrl-C (or SIGTERM) ends the simulation and the summary at the next step, and the log is closed
        // cleanly; a second one exits at once (what was appended survives that, as it survives kill -9).
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { _ in
                if Simulate.interrupted.exchange(true, ordering: .relaxed) { _exit(130) }
            }
        }
        printError(
            "simulating \(restaurants.count) restaurants, \(restaurants.count * config.driversPerRestaurant) drivers, \(duration) of simulated time at speed \(speed) into \(log == nil ? "PostgreSQL" : options.directory)"
        )

        let tty = isatty(2) == 1
        let wallStart = DispatchTime.now().uptimeNanoseconds
        var lastReport = wallStart
        var lastEvents: Int64 = 0
        func report(final: Bool = false) {
            let now = DispatchTime.now().uptimeNanoseconds
            guard final || now - lastReport >= (tty ? 250_000_000 : 5_000_000_000) else { return }
            let s = world.statistics
            let rate = Double(s.events - lastEvents) / (Double(now - lastReport) / 1e9)
            lastReport = now
            lastEvents = s.events
            let a = s.activeByStatus
            let kitchen = (a[.created] ?? 0) + (a[.assigned] ?? 0) + (a[.preparing] ?? 0)
            let line =
                "sim \(clock(s.now)) | \(s.events) events (\(Int(rate))/s) | kitchen \(kitchen), ready \(a[.prepared] ?? 0), driving \((a[.driverAssigned] ?? 0) + (a[.delivering] ?? 0)) | delivered \(s.delivered) | drivers busy \(s.busyDrivers)/\(s.drivers)"
            FileHandle.standardError.write(Data((tty ? "\r\u{1B}[K" + line : line + "\n").utf8))
        }
        var simulated = start
        while simulated < end && !Self.interrupted.load(ordering: .relaxed) {
            if let factor {
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e6
                let target = min(end, start + Int64(elapsed * factor))
                if target > simulated {
                    simulated = min(target, simulated + 1000)  // short steps: Ctrl-C is seen soon on a slow machine
                    try world.run(until: simulated)
                } else {
                    usleep(5_000)
                }
            } else {
                simulated = min(end, simulated + 1000)
                try world.run(until: simulated)
            }
            report()
        }
        try sink.flush()
        report(final: true)
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e9
        printError(
            "\(Self.interrupted.load(ordering: .relaxed) ? "interrupted; " : "")wrote \(sink.appended) events in \(String(format: "%.2f", seconds)) s (\(Int(Double(sink.appended) / seconds)) events/s); \(world.statistics.delivered) orders delivered; longest delivery \(Int(world.statistics.maxDeliveryDistance)) m"
        )
        // The summary reads the event topics; the outbox layout has snapshots only.
        if self.sink == .postgres, let url = try? PostgresURL(self.url ?? "") {
            printError(
                "relay the outbox into a log: eventlog cdc postgres --url \(url) "
                    + PostgresOutboxSink.relayArguments.map { $0.hasPrefix("-") ? $0 : "'\($0)'" }.joined(
                        separator: " "))
        }
        if let log, !noSummary && topics == .events {
            try SimulationSummary.print(log: log) { Self.interrupted.load(ordering: .relaxed) }
        }
        try log?.close()
    }

    func clock(_ ms: Int64) -> String {
        let seconds = (ms / 1000) % 86_400
        return String(format: "%02d:%02d:%02d", seconds / 3600, (seconds / 60) % 60, seconds % 60)
    }
}

/// A simulation sink `eventlog simulate` can drain and count.
protocol SimulationOutput: SimulationSink {
    /// Events written so far.
    var appended: Int64 { get }
    /// Writes out everything emitted and waits for it; throws the first failure.
    func flush() throws
}

extension LogSink: SimulationOutput {}

/// What a user wants to see after a run, read back from the log: deliveries in progress by city and the
/// event rate per simulated minute.
enum SimulationSummary {
    static func field(_ name: String, in bytes: UnsafeRawBufferPointer) -> String? {
        let needle = Array("\"\(name)\":\"".utf8)
        guard bytes.count > needle.count else { return nil }
        var i = 0
        while i + needle.count <= bytes.count {
            if bytes[i] == needle[0] && zip(needle.indices, needle).allSatisfy({ bytes[i + $0] == $1 }) {
                let start = i + needle.count
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "\"") { end += 1 }
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            }
            i += 1
        }
        return nil
    }

    /// Reads both topics and prints the summary; stops reading as soon as `interrupted()` says so.
    static func print(log: Log, interrupted: () -> Bool) throws {
        var latest: [String: (status: String, city: String)] = [:]
        var perMinute: [Int64: Int] = [:]
        for topic in ["orders", "drivers"] {
            for p in 0..<(try log.partitionCount(topic)) {
                let reader = try log.reader(topic: topic, partition: p, from: .earliest)
                while !interrupted(),
                    try reader.read(
                        maxBytes: 4 << 20,
                        { record in
                            perMinute[record.timestamp / 60_000, default: 0] += 1
                            guard topic == "orders", let key = record.key, let value = record.value else { return }
                            let id = String(decoding: key, as: UTF8.self)
                            let status = field("orderStatus", in: value) ?? "?"
                            let city = field("restaurantCity", in: value) ?? latest[id]?.city ?? "?"
                            latest[id] = (status, city)
                        }) > 0
                {}
            }
        }
        let active = ["DRIVER_ASSIGNED", "ORDER_PICKED_UP", "ORDER_DELIVERING"]
        var byCity: [String: (delivering: Int, kitchen: Int, delivered: Int)] = [:]
        for (_, order) in latest {
            var row = byCity[order.city] ?? (0, 0, 0)
            if active.contains(order.status) {
                row.delivering += 1
            } else if order.status == "ORDER_DELIVERED" {
                row.delivered += 1
            } else {
                row.kitchen += 1
            }
            byCity[order.city] = row
        }
        Swift.print("\nCurrent deliveries by restaurant city (from the log):")
        Swift.print("  CITY                  ON THE WAY     WAITING  DELIVERED")
        for (city, row) in byCity.sorted(by: { ($0.value.delivering, $0.key) > ($1.value.delivering, $1.key) }).prefix(
            15)
        {
            Swift.print(
                "  \(city.padding(toLength: 20, withPad: " ", startingAt: 0))  \(pad(row.delivering, 10))  \(pad(row.kitchen, 10))  \(pad(row.delivered, 9))"
            )
        }
        Swift.print("\nEvents per simulated minute (last 10 minutes):")
        for minute in perMinute.keys.sorted().suffix(10) {
            let seconds = (minute * 60) % 86_400
            let bar = String(repeating: "#", count: min(60, perMinute[minute]! * 60 / max(1, perMinute.values.max()!)))
            Swift.print(
                "  \(String(format: "%02d:%02d", seconds / 3600, (seconds / 60) % 60))  \(pad(perMinute[minute]!, 8))  \(bar)"
            )
        }
    }
}

extension DispatchMode: ExpressibleByArgument {}
