import EventLog
import Foundation
import SystemPackage
import Testing

@testable import LiveViews

/// View snapshots under injected I/O faults and kill -9 at each of their system calls: the snapshot on
/// disk is always the old one or the new one, a reopened view always equals a recomputation from the log.
@Suite("View snapshots: faults and crashes", .serialized)
struct ViewSnapshotFaultTests {
    static func fill(_ log: Log, from: Int, to: Int) throws {
        for i in from..<to {
            let json = orderJSON(
                "o\(i % 300)", status: i % 3 == 0 ? "ORDER_PREPARED" : "ORDER_CREATED",
                lat: 37.7 + Double(i % 100) / 1000, lon: -122.4, time: Int64(i))
            try log.append(ProducerRecord(key: Array("o\(i % 300)".utf8), value: Array(json.utf8)), to: "orders")
        }
    }

    /// A log with 2,000 orders, the table defined, its snapshot saved, and 500 more orders after it.
    static func prepare(_ dir: String) throws {
        let log = try Log(directory: dir)
        defer { try? log.close() }
        try log.createTopic("orders", configuration: TopicConfiguration(partitions: 2))
        try fill(log, from: 0, to: 2_000)
        let catalog = ViewCatalog(log: log)
        try catalog.create(ordersConfig())
        try catalog.saveSnapshot(try catalog.open("orders"))
        try fill(log, from: 2_000, to: 2_500)
    }

    static let queries = [
        "SELECT orderId, status, lat, lastModified FROM orders ORDER BY orderId LIMIT 1000",
        "SELECT COUNT(*), SUM(lastModified), MAX(lat) FROM orders option(skipUpsert=true)",
        "SELECT COUNT(*) FROM orders WHERE ST_DISTANCE(location_st_point, ST_Point(-122.4, 37.75, 1)) < 3000",
    ]

    /// The view reopened through the catalog (snapshot plus catch-up) answers like one rebuilt from the log.
    static func expectMatchesRecomputation(_ log: Log, _ context: String) throws {
        let reopened = try ViewCatalog(log: log).open("orders")
        let fresh = try LiveTable(config: ordersConfig())
        try fresh.catchUp(from: log)
        #expect(reopened.storedRowCount == 2_500, "\(context)")
        for sql in queries {
            #expect(try reopened.query(sql) == fresh.query(sql), "\(context): \(sql)")
        }
    }

    @Test(
        "a snapshot write that fails (ENOSPC, EIO on fsync, a failing rename, a short write) reports the file, keeps the old snapshot, and works once the fault is gone"
    )
    func faults() throws {
        let dir = TemporaryDirectory()
        try Self.prepare(dir.path)
        let faults = FaultInjector()
        let log = try Log(directory: dir.path, configuration: .init(faults: faults))
        let catalog = ViewCatalog(log: log)
        let table = try catalog.open("orders")
        let arms: [(String, () -> Void)] = [
            ("ENOSPC on write", { faults.fail(.write, with: .noSpace) }),
            ("EIO on fsync", { faults.fail(.fsync, with: .ioError) }),
            ("EIO on rename", { faults.fail(.rename, with: .ioError) }),
            ("short write", { faults.shortWrite(bytes: 100) }),
        ]
        for (name, arm) in arms {
            let before = try Data(contentsOf: URL(fileURLWithPath: catalog.snapshotPath("orders")))
            arm()
            let error = #expect(throws: EventLogError.self, "\(name)") { try catalog.saveSnapshot(table) }
            #expect(error?.code == .io, "\(name)")
            #expect(error?.path?.contains("orders.snapshot") == true, "\(name): \(error?.description ?? "")")
            faults.clear()
            // The old snapshot is untouched, and a reopen (snapshot plus catch-up) is right.
            #expect(try Data(contentsOf: URL(fileURLWithPath: catalog.snapshotPath("orders"))) == before, "\(name)")
            try Self.expectMatchesRecomputation(log, name)
        }
        try catalog.saveSnapshot(table)
        let reopened = try LiveTable(config: ordersConfig())
        try reopened.restore(
            Array(FileManager.default.contents(atPath: catalog.snapshotPath("orders"))!), source: "test")
        #expect(try reopened.catchUp(from: log) == 0, "the snapshot written after the faults is current")
        try log.close()
    }

    @Test("kill -9 at each system call of a view snapshot write (mkdir, temp file, write, fsync, rename, fsync dir)")
    func crashMatrix() async throws {
        let dry = TemporaryDirectory()
        try Self.prepare(dry.path)
        let counter = FaultInjector()
        do {
            let log = try Log(directory: dry.path, configuration: .init(faults: counter))
            let catalog = ViewCatalog(log: log)
            let table = try catalog.open("orders")
            let start = counter.stateChangingCalls
            try catalog.saveSnapshot(table)
            let calls = counter.stateChangingCalls - start
            #expect(calls >= 5)
            try log.close()
            for call in 1...(calls + 1) {
                for tearing in [false, true] {
                    let dir = TemporaryDirectory()
                    try Self.prepare(dir.path)
                    await #expect(processExitsWith: .signal(SIGKILL)) {
                        [path = dir.path as String, call = call as Int, tearing = tearing as Bool] in
                        let faults = FaultInjector()
                        let log = try! Log(directory: path, configuration: .init(faults: faults))
                        let catalog = ViewCatalog(log: log)
                        let table = try! catalog.open("orders")
                        faults.crash(atCall: call, tearing: tearing)
                        try? catalog.saveSnapshot(table)
                        kill(getpid(), SIGKILL)
                    }
                    let log = try Log(directory: dir.path)
                    try Self.expectMatchesRecomputation(log, "call \(call)/\(calls)\(tearing ? " torn" : "")")
                    try log.close()
                }
            }
            print("[view-snapshot-crash-matrix] \(calls) calls, \(2 * (calls + 1)) kill points")
        }
    }
}
