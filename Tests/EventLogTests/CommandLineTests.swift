import Foundation
import Testing

@testable import EventLog

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

func runEventlog(_ arguments: [String], stdin: String? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(
        fileURLWithPath: try #require(eventlogBinary, "build the eventlog binary first: swift build --build-tests"))
    process.arguments = arguments
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self))
}

@Suite("eventlog command line", .serialized)
struct CommandLineTests {
    @Test(
        "consume reads every record of simulated logs (several seeds, durations, partition counts) and the summary ends",
        arguments: [("3", "10m", "4"), ("7", "25m", "3"), ("11", "15m", "2")])
    func consumeReadsEverySimulatedRecord(seed: String, duration: String, partitions: String) throws {
        let dir = TemporaryDirectory()
        let d = ["--data-dir", dir.path]
        // With the summary: it reads both topics back through the same reader.
        let simulated = try runEventlog(
            ["simulate", "--seed", seed, "--duration", duration, "--partitions", partitions, "--stores-per-city", "2"]
                + d)
        #expect(simulated.status == 0, "\(simulated.stderr)")
        #expect(simulated.stdout.contains("Events per simulated minute"))
        let stats = try runEventlog(["stats", "--json"] + d)
        let topics = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as! [[String: Any]]
        #expect(topics.count == 2)
        for topic in topics {
            let name = topic["topic"] as! String
            let records = (topic["records"] as! NSNumber).intValue
            var read = 0
            for partition in 0..<Int(partitions)! {
                let consumed = try runEventlog(["consume", name, "--partition", String(partition), "--json"] + d)
                #expect(consumed.status == 0, "\(consumed.stderr)")
                read += consumed.stdout.split(separator: "\n").count
            }
            #expect(read == records, "seed \(seed) \(duration): \(name) holds \(records) records, consume read \(read)")
        }
    }

    @Test("topics, produce, consume, verify and dump work end to end; damage makes verify exit 1")
    func endToEnd() throws {
        let dir = TemporaryDirectory()
        let d = ["--data-dir", dir.path]
        #expect(
            try runEventlog(["topics", "create", "orders", "--partitions", "2", "--compression", "lz4"] + d).status == 0
        )
        let produced = try runEventlog(
            ["produce", "orders", "--separator", "tab"] + d,
            stdin: (0..<50).map { "order-\($0)\t{\"n\":\($0)}" }.joined(separator: "\n") + "\n")
        #expect(produced.status == 0, "\(produced.stderr)")
        let consumed = try runEventlog(["consume", "orders", "--json"] + d)
        #expect(consumed.status == 0)
        let lines = consumed.stdout.split(separator: "\n")
        #expect(lines.count == 50)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect((first["key"] as? String)?.hasPrefix("order-") == true)
        let listed = try runEventlog(["topics", "list"] + d)
        #expect(listed.stdout == "orders\n")
        let described = try runEventlog(["topics", "describe", "orders"] + d)
        #expect(described.stdout.contains("2 partitions"))
        let verified = try runEventlog(["verify"] + d)
        #expect(verified.status == 0)
        #expect(verified.stdout.contains("no damage"))
        let segment = segmentPath(dir.path, "orders", 0)
        #expect(try runEventlog(["dump", segment]).stdout.contains("codec lz4"))
        modifyFile(segment) { $0[40] ^= 0xff }
        let damaged = try runEventlog(["verify"] + d)
        #expect(damaged.status == 1)
        #expect(damaged.stdout.contains("DAMAGED"))
        #expect(damaged.stdout.contains("CRC"))
    }

    @Test("bad input gets a clear message and a non-zero exit")
    func badInput() throws {
        let dir = TemporaryDirectory()
        let d = ["--data-dir", dir.path]
        let missing = try runEventlog(["consume", "nope", "--data-dir", dir.path + "/absent"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no event log"))
        #expect(try runEventlog(["topics", "create", "t"] + d).status == 0)
        let unknown = try runEventlog(["consume", "nosuch"] + d)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("topic 'nosuch' does not exist"))
        let badName = try runEventlog(["topics", "create", "../escape"] + d)
        #expect(badName.stderr.contains("invalid topic name"))
        let noSeparator = try runEventlog(["produce", "t", "--separator", ","] + d, stdin: "a,b\nno-separator-here\n")
        #expect(noSeparator.status != 0)
        #expect(noSeparator.stderr.contains("line 2"))
        let longLine = try runEventlog(
            ["produce", "t", "--max-line-bytes", "100"] + d, stdin: String(repeating: "x", count: 1000) + "\n")
        #expect(longLine.status != 0)
        #expect(longLine.stderr.contains("longer than"))
        // A writer here holds the directory: a writing command in another process names this pid.
        let writer = try Log(directory: dir.path)
        let locked = try runEventlog(["topics", "create", "other"] + d)
        #expect(locked.status != 0)
        #expect(locked.stderr.contains("already open for writing by process \(getpid())"))
        #expect(try runEventlog(["topics", "list"] + d).stdout == "t\n")  // readers still work
        try writer.close()
        let badWorkload = try runEventlog(["bench", "W9"])
        #expect(badWorkload.stderr.contains("unknown workload"))
    }

    @Test("every subcommand has --help")
    func help() throws {
        for command in [
            [], ["topics"], ["topics", "create"], ["topics", "alter"], ["produce"], ["consume"], ["dump"], ["verify"],
            ["bench"],
        ] {
            let result = try runEventlog(command + ["--help"])
            #expect(result.status == 0, "\(command)")
            #expect(result.stdout.contains("USAGE"), "\(command)")
        }
    }

    @Test("bench prints one bench-peers JSON line per workload", arguments: ["W1", "W1s", "W2", "W3-json"])
    func bench(workload: String) throws {
        let dir = TemporaryDirectory()
        let input = dir.path + "/w1.jsonl"
        // A small file in the W1 shape: the key (orderId) sits at bytes 12..<28.
        let lines = (0..<3000).map { i in
            "{\"orderId\":\"order-\(String(format: "%010d", i % 500))\",\"restaurantId\":\"rest-\(i % 7)\",\"lastModified\":\(1_704_067_200_000 + i)}"
        }
        #expect(
            FileManager.default.createFile(atPath: input, contents: Data((lines.joined(separator: "\n") + "\n").utf8)))
        let result = try runEventlog([
            "bench", workload, "--input", input, "--records", "3000", "--scratch", dir.path + "/log",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        #expect(json["peer"] as? String == "eventlog")
        #expect(json["workload"] as? String == workload)
        #expect(json["records"] as? Int == 3000)
        for key in ["seconds", "records_per_s", "mb_per_s"] { #expect((json[key] as? Double ?? 0) > 0, "\(key)") }
    }

    /// Every file under `directory` with its bytes and modification time.
    static func snapshotFiles(_ directory: String) throws -> [String: (Data, Date)] {
        var files: [String: (Data, Date)] = [:]
        let enumerator = FileManager.default.enumerator(atPath: directory)!
        while let relative = enumerator.nextObject() as? String {
            let path = directory + "/" + relative
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            guard attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            files[relative] = (try Data(contentsOf: URL(fileURLWithPath: path)), attributes[.modificationDate] as! Date)
        }
        return files
    }

    /// Topic `t` with rec-1, rec-2 and rec-3 produced by three `eventlog produce` runs (a cleanly closed log),
    /// then the third batch's length field (outside the CRC) damaged. Returns the segment and its position.
    static func damagedThreeRecordLog(_ directory: String) throws -> (path: String, position: Int) {
        let d = ["--data-dir", directory]
        #expect(try runEventlog(["topics", "create", "t"] + d).status == 0)
        for i in 1...3 { #expect(try runEventlog(["produce", "t"] + d, stdin: "rec-\(i)\n").status == 0) }
        let path = segmentPath(directory, "t", 0)
        return (path, damageBatchLength(path, skipping: 2))
    }

    @Test("read commands never write: on a damaged, cleanly closed log every file keeps its bytes and mtime")
    func readCommandsNeverWrite() throws {
        let dir = TemporaryDirectory()
        let d = ["--data-dir", dir.path]
        let (path, _) = try Self.damagedThreeRecordLog(dir.path)
        // mtimes must not move: make any write visible even within the file system's timestamp granularity.
        Thread.sleep(forTimeInterval: 0.05)
        let before = try Self.snapshotFiles(dir.path)

        let consumed = try runEventlog(["consume", "t"] + d)
        #expect(consumed.status == 0, "\(consumed.stderr)")
        #expect(consumed.stdout.split(separator: "\n").map { $0.split(separator: "\t").last! } == ["rec-1", "rec-2"])
        for command in [
            ["consume", "t", "--json"], ["tail", "t", "--no-follow"], ["stats"], ["stats", "--json"], ["dump", path],
            ["topics", "list"], ["topics", "describe", "t"], ["groups", "list"], ["tables", "list"],
            ["query", "SELECT * FROM nope"],
        ] {
            _ = try runEventlog(command + d)
        }
        let verify = try runEventlog(["verify"] + d)
        #expect(verify.status == 1, "\(verify.stdout)")
        let after = try Self.snapshotFiles(dir.path)
        #expect(
            Set(after.keys) == Set(before.keys),
            "files created or removed: \(Set(after.keys).symmetricDifference(before.keys))")
        for (file, (data, mtime)) in before {
            #expect(after[file]?.0 == data, "\(file) changed")
            #expect(after[file]?.1 == mtime, "\(file) was touched")
        }
        // And the damage is still there for an operator to see.
        #expect(try runEventlog(["verify"] + d).status == 1)
    }

    @Test("a damaged cleanly closed log: produce is refused, verify reports, repair quarantines, appends go on")
    func repairFromTheCommandLine() throws {
        let dir = TemporaryDirectory()
        let d = ["--data-dir", dir.path]
        let (path, position) = try Self.damagedThreeRecordLog(dir.path)
        let refused = try runEventlog(["produce", "t"] + d, stdin: "rec-4\n")
        #expect(refused.status != 0)
        #expect(
            refused.stderr.contains("corruptData") && refused.stderr.contains("eventlog repair"), "\(refused.stderr)")
        #expect(try runEventlog(["verify"] + d).status == 1)
        let repaired = try runEventlog(["repair", "--topic", "t", "--partition", "0"] + d)
        #expect(repaired.status == 0, "\(repaired.stderr)")
        #expect(repaired.stdout.contains("quarantine-\(position)"), "\(repaired.stdout)")
        let verify = try runEventlog(["verify"] + d)
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(verify.stdout.contains("QUARANTINE \(path).quarantine-\(position)"), "\(verify.stdout)")
        #expect(try runEventlog(["produce", "t"] + d, stdin: "rec-4\n").status == 0)
        let consumed = try runEventlog(["consume", "t"] + d)
        #expect(
            consumed.stdout.split(separator: "\n").map { $0.split(separator: "\t").last! } == [
                "rec-1", "rec-2", "rec-4",
            ])
        #expect(
            try runEventlog(["repair", "--topic", "t", "--partition", "0"] + d).stdout.contains("nothing to repair"))
    }

    @Test("followers started first do not keep a writer out: tail -f and consume --follow print what a producer writes")
    func followersFirst() throws {
        let dir = TemporaryDirectory()
        let d = ["--data-dir", dir.path]
        #expect(try runEventlog(["topics", "create", "live"] + d).status == 0)
        #expect(try runEventlog(["produce", "live"] + d, stdin: "first\n").status == 0)
        var followers: [(Process, FileHandle)] = []
        for arguments in [["tail", "live"], ["consume", "live", "--follow"]] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try #require(eventlogBinary))
            process.arguments = arguments + d
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            followers.append((process, out.fileHandleForReading))
        }
        defer { for (process, _) in followers where process.isRunning { process.terminate() } }
        // Each follower has the log open once it printed the first record.
        var seen = [String](repeating: "", count: followers.count)
        for (index, (_, handle)) in followers.enumerated() {
            while !seen[index].contains("first\n") {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                seen[index] += String(decoding: chunk, as: UTF8.self)
            }
        }
        let produced = try runEventlog(
            ["produce", "live"] + d, stdin: (1...20).map { "record-\($0)" }.joined(separator: "\n") + "\n")
        #expect(produced.status == 0, "a writer must start while readers run: \(produced.stderr)")
        for (index, (_, handle)) in followers.enumerated() {
            while !seen[index].contains("record-20\n") {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                seen[index] += String(decoding: chunk, as: UTF8.self)
            }
            let lines = seen[index].split(separator: "\n").map { String($0.split(separator: "\t").last ?? "") }
            #expect(lines == ["first"] + (1...20).map { "record-\($0)" }, "follower \(index)")
        }
    }

    @Test("tail -f in another process sees everything this process appends, in order")
    func tailFollows() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("t")
        try log.append((0..<5).map { ProducerRecord(key: "k", value: "old-\($0)") }, to: "t")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(eventlogBinary))
        process.arguments = ["tail", "t", "-n", "2", "--data-dir", dir.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // This process holds the writer lock, so tail follows read-only; append while it runs.
        let expected = ["old-3", "old-4"] + (0..<300).map { "new-\($0)" }
        let appender = Thread {
            for b in 0..<30 {
                _ = try? log.append((0..<10).map { ProducerRecord(key: "k", value: "new-\(b * 10 + $0)") }, to: "t")
                usleep(1000)
            }
        }
        var received: [String] = []
        var pending = Data()
        let handle = out.fileHandleForReading
        while received.count < expected.count {
            let chunk = handle.availableData
            if chunk.isEmpty { break }  // tail exited
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                received.append(String(line.split(separator: "\t").last ?? ""))
                // Append only once tail has shown the history, so "the last 2" is well defined.
                if received.count == 2 { appender.start() }
            }
        }
        #expect(received == expected)
    }

    @Test("consume --group resumes from its commits; groups describe shows lag; reset-offsets rewinds")
    func groupsFromTheCommandLine() throws {
        let dir = TemporaryDirectory()
        let d = ["--data-dir", dir.path]
        #expect(try runEventlog(["topics", "create", "t"] + d).status == 0)
        #expect(
            try runEventlog(["produce", "t"] + d, stdin: (0..<20).map { "v\($0)" }.joined(separator: "\n") + "\n")
                .status == 0)
        let first = try runEventlog(["consume", "t", "--group", "g", "--max", "5"] + d)
        #expect(
            first.stdout.split(separator: "\n").map { String($0.split(separator: "\t").last!) }
                == (0..<5).map { "v\($0)" })
        let described = try runEventlog(["groups", "describe", "g", "--json"] + d)
        let rows = try JSONSerialization.jsonObject(with: Data(described.stdout.utf8)) as! [[String: Any]]
        #expect(rows.first?["lag"] as? Int == 15)
        let rest = try runEventlog(["consume", "t", "--group", "g"] + d)
        #expect(rest.stdout.split(separator: "\n").count == 15)
        #expect(try runEventlog(["groups", "list"] + d).stdout == "g\n")
        #expect(try runEventlog(["groups", "reset-offsets", "g", "--topic", "t", "--to", "earliest"] + d).status == 0)
        #expect(try runEventlog(["consume", "t", "--group", "g"] + d).stdout.split(separator: "\n").count == 20)
        let unknown = try runEventlog(["groups", "describe", "nobody"] + d)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no committed offsets"))
    }

    @Test("produce --json takes key, value, headers, partition and timestamp; bad lines name their number")
    func produceJSON() throws {
        let dir = TemporaryDirectory()
        let d = ["--data-dir", dir.path]
        #expect(try runEventlog(["topics", "create", "t", "--partitions", "2"] + d).status == 0)
        let input = """
            {"key":"a","value":{"status":"CREATED","n":1},"headers":{"source":"test"},"partition":1,"timestamp":1700000000000}
            {"value":"plain text","partition":0}
            """
        let produced = try runEventlog(["produce", "t", "--json", "--header", "batch=7"] + d, stdin: input + "\n")
        #expect(produced.status == 0, "\(produced.stderr)")
        let log = try Log.openReadOnly(directory: dir.path)
        let one = try log.all("t", 1)
        #expect(one.count == 1)
        #expect(one[0].keyString == "a")
        #expect(one[0].valueString == #"{"n":1,"status":"CREATED"}"#)
        #expect(one[0].timestamp == 1_700_000_000_000)
        #expect(one[0].headers == [Header(key: "batch", string: "7"), Header(key: "source", string: "test")])
        #expect(try log.all("t", 0).map(\.valueString) == ["plain text"])
        let bad = try runEventlog(["produce", "t", "--json"] + d, stdin: "{\"value\":\"ok\"}\n{not json\n")
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("line 2"))
        let unknownField = try runEventlog(["produce", "t", "--json"] + d, stdin: "{\"value\":\"v\",\"colour\":1}\n")
        #expect(unknownField.stderr.contains("unknown field 'colour'"))
        let beyond = try runEventlog(["consume", "t", "--partition", "0", "--from", "999"] + d)
        #expect(beyond.status != 0)
        #expect(beyond.stderr.contains("past the log end"))
    }

    @Test(
        "soak: simulator, StreamJet job, views, a consumer process, retention and compaction together keep every invariant"
    )
    func soak() throws {
        let dir = TemporaryDirectory()
        // A short round in the suite; EVENTLOG_SOAK_SECONDS=1800 for a long one.
        let seconds = ProcessInfo.processInfo.environment["EVENTLOG_SOAK_SECONDS"] ?? "8"
        let result = try runEventlog(["soak", "--seconds", seconds, "--data-dir", dir.path + "/soak"])
        print(result.stdout)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr.suffix(2000))")
        #expect(result.stdout.contains("soak passed: all invariants hold"))
    }

    @Test("simulate --profile original takes the first 50 San Francisco stores by store number, one driver each")
    func originalProfile() throws {
        let dir = TemporaryDirectory()
        // A store list of our own in the Kaggle format: 60 San Francisco stores in shuffled order, 5 elsewhere.
        var random = SystemRandomNumberGenerator()
        struct Row {
            var number: String
            var city: String
            var lat: Double
            var lon: Double
        }
        var rows: [Row] = []
        for k in 0..<60 {
            let lat = 37.70 + Double(k % 10) / 100
            let lon = -122.50 + Double(k / 10) / 100
            rows.append(
                Row(number: "\(1000 + (k * 37) % 60)-\(100_000 + k)", city: "San Francisco", lat: lat, lon: lon))
        }
        for k in 0..<5 {
            rows.append(Row(number: "\(1000 + k)-9", city: "Oakland", lat: 37.80, lon: -122.27 + Double(k) / 100))
        }
        rows.shuffle(using: &random)
        var csv =
            "Brand,Store Number,Store Name,Ownership Type,Street Address,City,State/Province,Country,Postcode,Phone Number,Timezone,Longitude,Latitude\n"
        for row in rows {
            csv +=
                "Starbucks,\(row.number),Store \(row.number),Company Owned,1 Main St,\(row.city),CA,US,94100,,GMT-08:00,\(row.lon),\(row.lat)\n"
        }
        let stores = dir.path + "/stores.csv"
        try csv.write(toFile: stores, atomically: true, encoding: .utf8)
        let missing = try runEventlog(["simulate", "--profile", "original", "--data-dir", dir.path + "/x"])
        #expect(missing.status != 0 && missing.stderr.contains("--stores"), "\(missing.stderr)")
        let run = try runEventlog([
            "simulate", "--profile", "original", "--stores", stores, "--duration", "20m", "--no-summary",
            "--data-dir", dir.path + "/log",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let log = try Log.openReadOnly(directory: dir.path + "/log")
        var drivers = Set<String>()
        for partition in 0..<(try log.partitionCount("drivers")) {
            for record in try log.read(topic: "drivers", partition: partition, from: 0, maxRecords: 1_000_000) {
                drivers.insert(String(decoding: record.key ?? [], as: UTF8.self))
            }
        }
        let numbers: [Int64] = rows.filter { $0.city == "San Francisco" }.compactMap {
            Int64($0.number.filter(\.isNumber))
        }
        let expected = numbers.sorted().prefix(50).map { "driver-\($0)-0" }
        #expect(drivers == Set(expected))
    }

    @Test("simulate writes orders and drivers; Ctrl-C stops it cleanly with a valid, cleanly closed log")
    func simulateAndInterrupt() throws {
        let dir = TemporaryDirectory()
        let quick = try runEventlog([
            "simulate", "--data-dir", dir.path + "/a", "--duration", "10m", "--stores-per-city", "1", "--no-summary",
        ])
        #expect(quick.status == 0, "\(quick.stderr)")
        #expect(quick.stderr.contains("orders delivered"))
        let stats = try runEventlog(["stats", "--json", "--data-dir", dir.path + "/a"])
        let rows = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as! [[String: Any]]
        #expect(Set(rows.map { $0["topic"] as! String }) == ["orders", "drivers"])
        #expect(rows.allSatisfy { ($0["records"] as? Int ?? 0) > 100 })

        // A paced run that would take hours: interrupt it once it has written something.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(eventlogBinary))
        process.arguments = [
            "simulate", "--data-dir", dir.path + "/b", "--duration", "8h", "--speed", "60", "--no-summary",
        ]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let segment = dir.path + "/b/orders-0/00000000000000000000.log"
        var waited = 0
        while fileSize(segment) <= 0 && waited < 600 {
            usleep(100_000)
            waited += 1
        }
        #expect(fileSize(segment) > 0)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
        #expect(message.contains("interrupted"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/b/" + Log.cleanShutdownFile))
        #expect(try runEventlog(["verify", "--data-dir", dir.path + "/b"]).status == 0)
    }

    @Test("tables and query: presets over produced orders, kepler.gl CSV headers, JSON, errors with a caret")
    func tablesAndQuery() throws {
        let dir = TemporaryDirectory()
        let d = ["--data-dir", dir.path]
        #expect(try runEventlog(["topics", "create", "orders", "--partitions", "2"] + d).status == 0)
        let events = (0..<30).map { i in
            "o\(i % 10)\t{\"orderId\":\"o\(i % 10)\",\"type\":\"X\",\"orderStatus\":\"S\(i / 10)\",\"orderLocationLat\":37.75\(i % 10),"
                + "\"orderLocationLon\":-122.44,\"restaurantId\":\"r\(i % 3)\",\"restaurantCity\":\"SF, CA\",\"lastModified\":\(i),"
                + "\"payload\":{\"accountId\":\"a\(i)\"}}"
        }
        #expect(
            try runEventlog(
                ["produce", "orders", "--separator", "tab"] + d, stdin: events.joined(separator: "\n") + "\n"
            ).status == 0)
        let created = try runEventlog(["tables", "create", "--preset", "orders"] + d)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try runEventlog(["tables", "list"] + d).stdout.contains("orders"))
        let describe = try runEventlog(["tables", "describe", "orders"] + d)
        #expect(describe.stdout.contains("rows 10 (stored 30"), "\(describe.stdout)")

        let kepler = """
            SELECT orderId as id, lat as point_latitude_2, lon as point_longitude_2,
                   restaurantLat as point_latitude_1, restaurantLon as point_longitude_1,
                   lastModified as start_time, status, restaurantId, accountId
            FROM orders
            WHERE ST_DISTANCE(location_st_point, ST_Point(-122.44469, 37.75680, 1)) < 6500
            LIMIT 100000
            option(skipUpsert=true)
            """
        let csv = try runEventlog(["query", "--format", "csv", kepler] + d)
        #expect(csv.status == 0, "\(csv.stderr)")
        let csvLines = csv.stdout.split(separator: "\r\n")
        #expect(
            csvLines.first
                == "id,point_latitude_2,point_longitude_2,point_latitude_1,point_longitude_1,start_time,status,restaurantId,accountId"
        )
        #expect(csvLines.count == 31)
        let json = try runEventlog(
            ["query", "--format", "json", "SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY status"]
                + d)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any]
        #expect(object["columns"] as? [String] == ["status", "n"])
        #expect((object["rows"] as? [[Any]])?.count == 1)  // every order's latest event is from the last round
        let table = try runEventlog(
            ["query", "SELECT restaurantCity, COUNT(*) FROM orders GROUP BY restaurantCity"] + d)
        #expect(table.stdout.contains("SF, CA"))

        let bad = try runEventlog(["query", "SELECT orderId\nFROM orders WHERE lat >"] + d)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("line 2, column 24"), "\(bad.stderr)")
        #expect(bad.stderr.contains("                      ^"))
        #expect(try runEventlog(["query", "SELECT * FROM nope"] + d).stderr.contains("no table 'nope'"))
        // Columns that `*` stands for are placed at the `*` (they used to carry line 0, and the caret printer
        // indexed line -1 and crashed the process).
        for sql in ["SELECT * FROM orders GROUP BY status", "SELECT *, COUNT(*) FROM orders"] {
            let star = try runEventlog(["query", sql] + d)
            #expect(star.status == 1, "\(sql): \(star.stderr)")
            #expect(star.stderr.contains("must be in GROUP BY"), "\(star.stderr)")
            #expect(star.stderr.contains("line 1, column 8") && star.stderr.contains("       ^"), "\(star.stderr)")
        }
        #expect(try runEventlog(["tables", "drop", "orders"] + d).status == 0)
        #expect(try runEventlog(["tables", "list"] + d).stdout.isEmpty)
    }
}
