import ArgumentParser
import EventLog
import Foundation
import LiveViews
import Simulator
import StreamJet

/// `eventlog soak`: the whole system under load for a while, then its invariants checked.
///
/// ```
///  simulator ──▶ orders, drivers ──▶ views 'orders', 'drivers' (followers, snapshots every 2 s)
///                      │
///                      ├──▶ StreamJet job (exactly-once) ──▶ order-status (compacted)
///                      └──▶ `eventlog consume --group soak-tail --follow` in another process
///  heartbeat writer ──▶ soak-heartbeat (size retention)
///  background maintenance: retention and compaction every 250 ms
/// ```
///
/// At the end, after the writers stop: no acknowledged record is missing from any topic (after a
/// close and reopen too); each view equals the same table rebuilt from the log; the compacted topic holds
/// every order's latest status; the other process's group has consumed everything; retention deleted
/// heartbeat segments and left a dense, intact suffix; peak memory stayed under the bound.
struct Soak: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the simulator, a StreamJet job, views and a consumer process together, then check invariants.",
        discussion: """
            Exits 1 if an invariant fails. Default two minutes; longer runs: --seconds 3600.
            Example: eventlog soak --seconds 120 --data-dir /tmp/soak
            """)
    @OptionGroup var options: GlobalOptions
    @Option(help: "How long the writers run, in seconds.") var seconds: Double = 120
    @Option(help: "Simulated seconds per real second.") var speed: Double = 60
    @Option(help: "Fail if the process's resident memory ever exceeds this many MiB.") var maxRssMb: Int = 1536
    @Option(help: "Random seed of the simulation.") var seed: UInt64 = 7

    func validate() throws {
        guard seconds > 0, speed > 0, maxRssMb > 0 else {
            throw ValidationError("--seconds, --speed and --max-rss-mb must be positive")
        }
    }

    func run() throws {
        let directory = options.directory
        if FileManager.default.fileExists(atPath: directory),
            !((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).isEmpty
        {
            throw ValidationError("the soak needs an empty or new directory; '\(directory)' has files")
        }
        let log = try Log(
            directory: directory,
            configuration: .init(logger: options.logger(), maintenanceIntervalMilliseconds: 250))
        var failures: [String] = []
        func check(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { failures.append(message()) }
        }

        // Writers: the simulator and a heartbeat topic with size retention.
        var simulation = SimulationConfiguration()
        simulation.driversPerRestaurant = 4
        simulation.seed = seed
        let sink = try LogSink(log: log, partitions: 4)
        let world = try World(
            restaurants: RestaurantCatalog.builtIn(perCity: 3), configuration: simulation, sink: sink)
        var heartbeatConfig = TopicConfiguration(partitions: 1)
        heartbeatConfig.segmentBytes = 4096
        heartbeatConfig.retentionBytes = 16_384
        heartbeatConfig.retentionMilliseconds = nil
        try log.createTopic("soak-heartbeat", configuration: heartbeatConfig)
        var statusConfig = TopicConfiguration(partitions: 4)
        statusConfig.cleanupPolicy = .compact
        statusConfig.segmentBytes = 4096
        statusConfig.minCleanableDirtyRatio = 0.2
        try log.createTopic("order-status", configuration: statusConfig)

        // Readers: views with followers, a StreamJet job, a consumer in another process.
        let catalog = ViewCatalog(log: log)
        for table in [OrderDeliveryTables.orders, OrderDeliveryTables.drivers] { try catalog.create(table) }
        let views = try ["orders", "drivers"].map { try catalog.open($0) }
        let followers = views.map { $0.follow(catalog, snapshotEvery: 2) }
        let pipeline = Pipeline()
        pipeline.readFrom(
            .topic(log, "orders", bounded: false) { record in
                (record.key.map { Array($0) } ?? [], Array(Self.status(record.value).utf8))
            }
        )
        .withoutTimestamps()
        .writeTo(Sinks.topic(log, "order-status") { (key: $0.0, value: $0.1) })
        let job = try pipeline.submit(
            JobConfiguration(
                name: "soak-order-status", workers: 2, guarantee: .exactlyOnce, snapshotIntervalMilliseconds: 500,
                log: log))
        let consumer = Process()
        consumer.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        consumer.arguments = ["consume", "orders", "--group", "soak-tail", "--follow", "--data-dir", directory]
        consumer.standardOutput = FileHandle.nullDevice
        try consumer.run()

        printError("soak: \(Int(seconds)) s at \(Int(speed))× simulated time into \(directory)")
        let start = Date()
        var simulated = simulation.startMilliseconds
        var heartbeats: Int64 = 0
        var peakRSS = 0
        var lastReport = start
        while Date().timeIntervalSince(start) < seconds {
            let target = simulation.startMilliseconds + Int64(Date().timeIntervalSince(start) * speed * 1000)
            if target > simulated {
                simulated = target
                try world.run(until: simulated)
                try sink.flush()
            }
            let records = (0..<20).map { i in ProducerRecord(value: Self.heartbeat(heartbeats + Int64(i))) }
            try log.append(records, to: "soak-heartbeat")
            heartbeats += Int64(records.count)
            peakRSS = max(peakRSS, Self.residentBytes())
            if Date().timeIntervalSince(lastReport) >= 5 {
                lastReport = Date()
                printError(
                    "soak: \(Int(Date().timeIntervalSince(start))) s, \(sink.appended) events, \(views[0].storedRowCount) order rows in the view, RSS \(peakRSS >> 20) MiB"
                )
            }
            usleep(10_000)
        }
        try sink.flush()
        let acknowledged = sink.appended
        printError("soak: writers stopped after \(acknowledged) events and \(heartbeats) heartbeats; checking")

        // Everything written was acknowledged: every record is in the log.
        let ordersEnd = try Self.total(log, "orders")
        check(
            ordersEnd + (try Self.total(log, "drivers")) == acknowledged,
            "orders + drivers hold fewer than the \(acknowledged) acknowledged events")

        // The readers catch up (waiting, not timing: up to a minute).
        func eventually(_ what: String, _ condition: () throws -> Bool) rethrows {
            printError("soak: waiting for \(what)")
            let deadline = Date().addingTimeInterval(60)
            while try !condition() {
                guard Date() < deadline else { return failures.append("\(what) did not happen within 60 s") }
                usleep(20_000)
            }
        }
        eventually("the orders view catching up") { views[0].storedRowCount == Int(ordersEnd) }
        try eventually("the consumer process catching up") {
            try log.lag(group: "soak-tail", topics: ["orders"]).allSatisfy { $0.lag == 0 }
        }
        let latest = try Self.latest(log, "orders") { Self.status($0.value) }
        try eventually("order-status holding every order's latest status") {
            try Self.latest(log, "order-status") { String(decoding: $0.value!, as: UTF8.self) } == latest
        }
        for follower in followers {
            follower.stop()
            if let error = follower.error { failures.append("a view follower failed: \(error)") }
        }
        job.cancel()
        _ = try? job.join()
        consumer.interrupt()
        consumer.waitUntilExit()

        // Views equal a recomputation from the log.
        for view in views {
            _ = try view.catchUp(from: log)
            let fresh = try LiveTable(config: view.config)
            try fresh.catchUp(from: log)
            for sql in Self.checks(view.name) {
                check(try view.query(sql) == fresh.query(sql), "view \(view.name) differs from the log on: \(sql)")
            }
        }

        // Retention ran on the heartbeats and kept a dense, intact suffix; compaction ran on order-status.
        let (heartbeatStart, heartbeatEnd) = try log.offsets(topic: "soak-heartbeat", partition: 0)
        check(heartbeatEnd == heartbeats, "soak-heartbeat ends at \(heartbeatEnd), \(heartbeats) were acknowledged")
        check(heartbeatStart > 0, "retention never deleted a heartbeat segment")
        var expected = heartbeatStart
        let reader = try log.reader(topic: "soak-heartbeat", partition: 0, from: .offset(heartbeatStart))
        while try reader.read({ record in
            if record.offset != expected || record.value.map({ Array($0) }) != Self.heartbeat(record.offset) {
                failures.append("heartbeat \(record.offset) is missing or damaged")
            }
            expected = record.offset + 1
        }) > 0 {}
        var statusRecords = 0
        try Self.forEachRecord(log, "order-status") { _ in statusRecords += 1 }
        check(Int64(statusRecords) < ordersEnd, "compaction never removed an order-status record")
        check(log.invariantViolation() == nil, "log invariant: \(log.invariantViolation() ?? "")")
        try log.close()

        // A reopen sees the same.
        let reopened = try Log(directory: directory)
        check(try Self.total(reopened, "orders") == ordersEnd, "after reopening, orders lost records")
        try reopened.close()

        peakRSS = max(peakRSS, Self.residentBytes())
        check(peakRSS <= maxRssMb << 20, "peak RSS \(peakRSS >> 20) MiB is over --max-rss-mb \(maxRssMb)")
        let summary =
            "\(acknowledged) events, \(views[0].storedRowCount) order rows, \(heartbeats) heartbeats (retention kept \(heartbeatEnd - heartbeatStart)), \(statusRecords) order-status records after compaction, peak RSS \(peakRSS >> 20) MiB"
        if failures.isEmpty {
            print("soak passed: all invariants hold — \(summary)")
        } else {
            print("soak FAILED — \(summary)")
            for failure in failures { print("  - \(failure)") }
            throw ExitCode(1)
        }
    }

    static func heartbeat(_ offset: Int64) -> [UInt8] { Array("heartbeat-\(offset)".utf8) }

    /// Queries whose answers must not depend on how a view was built.
    static func checks(_ table: String) -> [String] {
        let (key, lat, lon) = table == "orders" ? ("orderId", "lat", "lon") : ("driverId", "driverLat", "driverLon")
        return [
            "SELECT COUNT(*), MAX(lastModified), SUM(lastModified) FROM \(table)",
            "SELECT COUNT(*), MAX(lastModified) FROM \(table) option(skipUpsert=true)",
            "SELECT \(key), \(lat), \(lon), lastModified FROM \(table) ORDER BY \(key) LIMIT 100000",
            "SELECT COUNT(*) FROM \(table) WHERE ST_DISTANCE(location_st_point, ST_Point(-122.4194, 37.7749, 1)) < 15000",
        ]
    }

    /// Calls `body` with every record of every partition of `topic`, in order per partition.
    static func forEachRecord(_ log: Log, _ topic: String, _ body: (RecordView) -> Void) throws {
        for p in 0..<(try log.partitionCount(topic)) {
            let reader = try log.reader(topic: topic, partition: p)
            while try reader.read(body) > 0 {}
        }
    }

    /// The sum of the end offsets of `topic`'s partitions: every record it was ever given.
    static func total(_ log: Log, _ topic: String) throws -> Int64 {
        try (0..<log.partitionCount(topic)).reduce(0) { $0 + (try log.offsets(topic: topic, partition: $1).end) }
    }

    /// An order event's orderStatus ("?" when it has none).
    static func status(_ value: UnsafeRawBufferPointer?) -> String {
        value.flatMap { SimulationSummary.field("orderStatus", in: $0) } ?? "?"
    }

    /// The latest value of every key of `topic`, as `value` reads it.
    static func latest(_ log: Log, _ topic: String, value: (RecordView) -> String) throws -> [String: String] {
        var latest: [String: String] = [:]
        try forEachRecord(log, topic) { latest[String(decoding: $0.key!, as: UTF8.self)] = value($0) }
        return latest
    }

    /// This process's resident memory, from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
