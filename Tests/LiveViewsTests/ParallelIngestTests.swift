import EventLog
import EventLogFoundation
import Testing

@testable import LiveViews

/// Large batches are decoded on helper threads and applied in order on the calling thread; these tests
/// hold that path to the one-record-at-a-time path, byte for byte (a table's snapshot holds its columns,
/// dictionaries, valid bits, key map, offsets and largest comparison value).
@Suite("Parallel ingest")
struct ParallelIngestTests {
    /// Tables exercising every staged form: keys from the record key, strings with escapes, nulls and
    /// missing fields, nested paths, booleans, timestamp/offset/partition columns (one of them a string),
    /// deletes, out-of-order flags, TTLs, PARTIAL merges, append-only.
    static func configs() -> [(String, TableConfig)] {
        let columns = [
            ColumnDefinition("orderId", .string, source: .key),
            ColumnDefinition("status", .string),
            ColumnDefinition("note", .string),
            ColumnDefinition("city", .string, path: "address.city"),
            ColumnDefinition("lat", .double),
            ColumnDefinition("lon", .double),
            ColumnDefinition("amount", .long),
            ColumnDefinition("paid", .boolean),
            ColumnDefinition("lastModified", .long),
            ColumnDefinition("stamp", .string, source: .timestamp),
            ColumnDefinition("recordOffset", .long, source: .offset),
            ColumnDefinition("deleted", .boolean),
            ColumnDefinition("late", .boolean),
            ColumnDefinition("location", .point, transform: "toSphericalGeography(stPoint(lon, lat))"),
        ]
        func table(_ upsert: UpsertConfig?) -> TableConfig {
            TableConfig(name: "t", topic: "t", columns: columns, upsert: upsert)
        }
        var full = UpsertConfig(mode: .full, primaryKey: ["orderId"], comparisonColumn: "lastModified")
        full.deleteColumn = "deleted"
        full.outOfOrderColumn = "late"
        full.keyTTL = 400
        full.deletedKeysTTL = 100
        var dropping = UpsertConfig(mode: .full, primaryKey: ["orderId", "status"], comparisonColumn: "lastModified")
        dropping.dropOutOfOrder = true
        var partial = UpsertConfig(mode: .partial, primaryKey: ["orderId"], comparisonColumn: "lastModified")
        partial.partialStrategies = ["amount": .increment, "lat": .max, "note": .ignore]
        return [
            ("full", table(full)), ("dropOutOfOrder", table(dropping)), ("partial", table(partial)),
            ("append", table(nil)),
        ]
    }

    /// A random record: mostly order-like JSON with escapes, nulls and missing fields; now and then not a
    /// JSON object at all.
    static func record(_ random: inout SeededGenerator) -> (value: String, key: String?, timestamp: Int64) {
        func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        let key: String? = random.next() % 50 == 0 ? nil : "order-\(random.next() % 300)"
        let timestamp = Int64(random.next() % 1_000_000)
        if random.next() % 40 == 0 { return (pick(["not json", "[1,2]", "", "{\"orderId\":"]), key, timestamp) }
        var fields: [String] = []
        if random.next() % 10 != 0 {
            fields.append(#""status":"\#(pick(["CREATED", "PREPARING", "ON_THE_WAY", "DELIVERED", "caf\u{e9}"]))""#)
        }
        fields.append(
            #""note":\#(pick([#""plain""#, #""with \"quotes\" and \\ slash""#, #""\u00e9t\u00e9""#, "null", "42"]))"#)
        if random.next() % 5 != 0 {
            fields.append(#""address":{"zip":"94110","city":"\#(pick(["SF", "LA", "NYC"]))"}"#)
        }
        if random.next() % 8 != 0 {
            fields.append(#""lat":\#(Double(random.next() % 18_000) / 100 - 90)"#)
            fields.append(
                #""lon":\#(random.next() % 7 == 0 ? "null" : "\(Double(random.next() % 36_000) / 100 - 180)")"#)
        }
        fields.append(#""amount":\#(pick(["1", "25", "-3", "2.5e1", "null", "\"x\""]))"#)
        fields.append(#""paid":\#(pick(["true", "false", "null", "1"]))"#)
        fields.append(#""lastModified":\#(random.next() % 1000)"#)
        if random.next() % 12 == 0 { fields.append(#""deleted":true"#) }
        fields.append(#""extra":{"nested":[1,{"status":"ignored"}]}"#)
        var shuffled = fields
        for i in shuffled.indices.reversed() where i > 0 { shuffled.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        return ("{" + shuffled.joined(separator: ",") + "}", key, timestamp)
    }

    /// The first difference between two tables' stored state (documents, dictionaries, valid bits, key
    /// map, offsets), or nil.
    static func difference(_ a: LiveTable, _ b: LiveTable) -> String? {
        if let violation = a.invariantViolation() ?? b.invariantViolation() { return violation }
        guard a.storedRowCount == b.storedRowCount else {
            return "\(a.storedRowCount) vs \(b.storedRowCount) documents"
        }
        for (index, (x, y)) in zip(a.storage.columns, b.storage.columns).enumerated() {
            if x.dictionary.strings != y.dictionary.strings { return "column \(index)'s dictionaries differ" }
            for doc in 0..<Int32(a.storedRowCount) where x.value(doc) != y.value(doc) {
                return "column \(x.name) document \(doc): \(x.value(doc)) vs \(y.value(doc))"
            }
        }
        if a.storage.valid.words != b.storage.valid.words { return "valid bits differ" }
        func keys(_ table: LiveTable) -> [String] {
            var result: [String] = []
            table.storage.keys.forEach { key, entry in
                result.append("\((0..<4).map { key[$0] }) \(entry.doc) \(entry.comparison) \(entry.deleted)")
            }
            return result.sorted()
        }
        if keys(a) != keys(b) { return "key maps differ" }
        if a.nextOffsets != b.nextOffsets { return "offsets \(a.nextOffsets) vs \(b.nextOffsets)" }
        if a.writer.largestComparisonSeen != b.writer.largestComparisonSeen {
            return "largest comparison values differ"
        }
        return nil
    }

    @Test(
        "batches decoded on helper threads leave the exact state of one-by-one ingest (every upsert mode, seeded)",
        arguments: configs().map(\.0))
    func batchesMatchOneByOne(_ name: String) throws {
        let seed = testSeed("parallelIngest.\(name)")
        var random = SeededGenerator(seed: seed)
        let config = Self.configs().first { $0.0 == name }!.1
        let records = (0..<6000).map { _ in Self.record(&random) }

        let single = try LiveTable(config: config)
        for (offset, record) in records.enumerated() {
            single.ingest(json: record.value, key: record.key, timestamp: record.timestamp, offset: Int64(offset))
        }
        let batched = try LiveTable(config: config)
        var index = 0
        while index < records.count {
            // Batch sizes on both sides of the parallel threshold.
            let size = min(records.count - index, Int(random.next() % 2) == 0 ? Int(random.next() % 300) + 1 : 2500)
            batched.ingestBatch { ingest in
                for record in records[index..<index + size] {
                    var value = record.value, key = record.key
                    value.withUTF8 { v in
                        if key != nil {
                            key!.withUTF8 { k in
                                ingest(UnsafeRawBufferPointer(v), UnsafeRawBufferPointer(k), record.timestamp)
                            }
                        } else {
                            ingest(UnsafeRawBufferPointer(v), nil, record.timestamp)
                        }
                    }
                }
            }
            index += size
        }
        if DecodeHelpers.shared.count > 0 {
            #expect(batched.parallelBatches > 0, "seed \(seed): the parallel path was not taken")
        }
        #expect(single.parallelBatches == 0)
        #expect(batched.skippedRecords == single.skippedRecords, "seed \(seed)")
        let difference = Self.difference(batched, single)
        #expect(difference == nil, "seed \(seed): \(name): \(difference ?? "")")
        let query =
            "SELECT orderId, status, note, city, amount, paid, stamp FROM t ORDER BY orderId, recordOffset LIMIT 10000"
        #expect(try batched.query(query) == single.query(query), "seed \(seed)")
    }

    @Test("a catch-up from the log (records copied, decoded in parallel) matches reading records one by one")
    func catchUpMatchesOneByOne() throws {
        let seed = testSeed("parallelIngest.catchUp")
        var random = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("t", configuration: TopicConfiguration(partitions: 2))
        for _ in 0..<5000 {
            let record = Self.record(&random)
            try log.append(
                ProducerRecord(key: record.key.map { Array($0.utf8) }, value: Array(record.value.utf8)), to: "t")
        }
        let config = Self.configs()[0].1
        let caughtUp = try LiveTable(config: config)
        #expect(try caughtUp.catchUp(from: log, batch: 3000) == 5000)
        let single = try LiveTable(config: config)
        for partition in 0..<2 {
            let reader = try log.reader(topic: "t", partition: partition, from: .earliest)
            while try reader.read({ single.ingest($0, partition: partition) }) > 0 {}
        }
        if DecodeHelpers.shared.count > 0 { #expect(caughtUp.parallelBatches > 0, "seed \(seed)") }
        let difference = Self.difference(caughtUp, single)
        #expect(difference == nil, "seed \(seed): \(difference ?? "")")
    }
}
