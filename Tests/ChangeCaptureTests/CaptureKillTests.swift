import EventLog
import EventLogFoundation
import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Exactly once under `kill -9`: the real `eventlog cdc postgres` in a child process, killed at random moments
/// while a writer commits transactions; restarted each time. The oracle is the database: every committed
/// change must be in the log once, in commit order per key, and every transaction whole.
@Suite(
    .serialized,
    .killSuite)
struct CaptureKillTests {
    @Test func killedConnectorLosesAndRepeatsNothing() async throws {
        let binary = try #require(eventlogBinary, "build the eventlog binary first: swift build --build-tests")
        let server = try PostgresServer()
        let directory = TemporaryDirectory("cdc-kill")
        try server.psql(
            """
            CREATE TABLE accounts (id int PRIMARY KEY, version int NOT NULL);
            CREATE TABLE moves (id bigserial PRIMARY KEY, account int NOT NULL, version int NOT NULL);
            INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 50) g;
            """)
        let seed = testSeed("cdc-kill")
        var random = SeededGenerator(seed: seed)
        let writerSeed = random.next()
        // Each transaction bumps three accounts and records each bump as a move: 6 changes, 2 tables.
        let writerRandom = Mutex(SeededGenerator(seed: writerSeed))
        let writing = BackgroundLoop {
            var script = ""
            writerRandom.withLock { random in
                for _ in 0..<20 {
                    let ids = (0..<3).map { _ in String(Int.random(in: 1...50, using: &random)) }.joined(separator: ",")
                    script += """
                        BEGIN;
                        UPDATE accounts SET version = version + 1 WHERE id IN (\(ids));
                        INSERT INTO moves (account, version) SELECT id, version FROM accounts WHERE id IN (\(ids));
                        COMMIT;

                        """
                }
            }
            _ = try? server.psql(script)
        }
        let arguments = [
            "cdc", "postgres", "--data-dir", directory.path, "--url", server.url(),
            "--tables", "public.accounts,public.moves", "--log-level", "warning",
        ]
        for round in 0..<6 {
            let child = try BackgroundTool(binary, arguments)
            let started = await child.waitFor(timeout: 120) { _ in child.stdout.contains("streaming from slot") }
            try #require(started, "round \(round): the connector did not start: \(child.stderr)")
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...700, using: &random)))
            kill(child.pid, SIGKILL)
            while child.isRunning { try await Task.sleep(for: .milliseconds(1)) }
        }
        let committed = writing.stop() * 20
        #expect(committed > 100, "the writer committed while the connector was killed")
        // The last run catches up and stops cleanly.
        let last = try BackgroundTool(binary, arguments)
        let started = await last.waitFor(timeout: 120) { _ in last.stdout.contains("streaming from slot") }
        try #require(started, "the last run did not start: \(last.stderr)")
        try #require(try await CaptureHarness.waitForSlot(server, connector: last), "seed \(seed)")
        await last.stop()
        #expect(last.exitStatus == 0, "\(last.stderr)")

        let log = try Log.openReadOnly(directory: directory.path)
        defer { try? log.close() }
        // Accounts: each key's versions run from the snapshot's to the database's, each once.
        var versions: [Int: [Int]] = [:]
        let accountRecords = try CaptureHarness.records(log, "cdc.public.accounts")
        for record in accountRecords {
            guard let row = Envelope(record)?.after else { continue }
            versions[row["id"] as! Int, default: []].append(row["version"] as! Int)
        }
        for line in try server.psql("SELECT id, version FROM accounts").split(separator: "\n") {
            let parts = line.split(separator: "|").compactMap { Int($0) }
            let seen = versions[parts[0]] ?? []
            #expect(seen == Array((seen.first ?? 0)...parts[1]), "account \(parts[0]): \(seen) (seed \(seed))")
        }
        // Moves: every committed row exactly once.
        let moveRecords = try CaptureHarness.records(log, "cdc.public.moves")
        let moveIds = moveRecords.compactMap { Envelope($0)?.after?["id"] as? Int }
        let expected = try server.psql("SELECT id FROM moves ORDER BY id").split(separator: "\n").compactMap { Int($0) }
        #expect(moveIds == expected, "moves: \(moveIds.count) in the log, \(expected.count) committed (seed \(seed))")
        // Transactions are whole: a transaction's records in a partition are consecutive, indexed 0..<count.
        for records in [accountRecords, moveRecords] {
            var index = 0
            while index < records.count {
                guard let lsn = records[index].header("cdc.lsn"), let tx = records[index].header("cdc.tx") else {
                    index += 1
                    continue
                }
                let count = Int(tx.split(separator: "/")[1])!
                let group = records[index..<min(index + count, records.count)]
                #expect(
                    group.map { $0.header("cdc.tx") } == (0..<count).map { "\($0)/\(count)" }
                        && group.allSatisfy { $0.header("cdc.lsn") == lsn },
                    "a transaction at offset \(records[index].offset) is split or repeated (seed \(seed))")
                index += count
            }
        }
    }
}
