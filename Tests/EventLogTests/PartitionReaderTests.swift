import EventLogFoundation
import Foundation
import Testing

@testable import EventLog

/// Model-based tests of `PartitionReader`: whatever the batch sizes, chunk sizes (`maxBytes`), record limits,
/// seeks, appends between reads and compaction gaps, every read returns exactly what a plain reference reader
/// (the list of records written, compacted by the documented rule) holds from the reader's offset, and every
/// call either delivers a record or stands at the end of what the partition holds.
@Suite("PartitionReader: model-based reads")
struct PartitionReaderTests {
    /// One record as the model keeps it.
    struct Written: Equatable, CustomStringConvertible {
        var offset: Int64
        var key: [UInt8]
        var value: [UInt8]
        var description: String { "#\(offset) key \(key.count)B value \(value.count)B" }
    }

    /// A batch size class: tiny batches (one record, no value), ordinary, about a read chunk, larger than one.
    func recordSizes(_ generator: inout SeededGenerator, chunk: Int) -> [Int] {
        switch Int.random(in: 0..<10, using: &generator) {
        case 0...2: return [0]
        case 3...5:
            return (0..<Int.random(in: 1...20, using: &generator)).map { _ in Int.random(in: 0...300, using: &generator)
            }
        case 6...7:
            // About one chunk: the batch overhead (61 bytes + ~10 a record) lands it near the chunk size.
            let target = max(1, chunk - 61 - Int.random(in: 0...24, using: &generator))
            return [target]
        default: return [Int.random(in: chunk...(chunk * 2 + 100), using: &generator)]
        }
    }

    /// The maxBytes a read asks for: from below a batch header to beyond the default chunk.
    func maxBytes(_ generator: inout SeededGenerator, chunk: Int) -> Int {
        [1, 11, 12, 13, 61, 62, 100, chunk - 1, chunk, chunk + 1, Int.random(in: 1...(chunk * 3), using: &generator)]
            .randomElement(using: &generator)!
    }

    /// Reads once and checks the result against the model; returns how many records were delivered.
    func checkedRead(
        _ reader: PartitionReader, model: [Written], maxBytes: Int, maxRecords: Int, seed: UInt64
    ) throws -> Int {
        let from = reader.nextOffset
        var got: [Written] = []
        let n = try reader.read(maxBytes: maxBytes, maxRecords: maxRecords) { record in
            got.append(Written(offset: record.offset, key: Array(record.key!), value: Array(record.value!)))
        }
        #expect(n == got.count)
        let expected = Array(model.drop { $0.offset < from }.prefix(maxRecords))
        if n == 0 {
            // Only at the end: nothing left at or after the reader's offset.
            #expect(expected.isEmpty, "seed \(seed): read from \(from) returned nothing; \(expected.count) left")
        } else {
            #expect(n <= maxRecords)
            #expect(got == Array(expected.prefix(n)), "seed \(seed): read from \(from), maxBytes \(maxBytes)")
            // The reader moves past what it delivered (past a compacted batch's empty tail too), never past a
            // record it has not delivered.
            let following = model.first { $0.offset > got.last!.offset }?.offset ?? (model.last!.offset + 1)
            #expect(reader.nextOffset > got.last!.offset && reader.nextOffset <= following, "seed \(seed)")
        }
        return n
    }

    @Test("every read returns what a reference reader does, and makes progress or is at the end", arguments: 0..<12)
    func modelBased(round: Int) throws {
        let seed = testSeed("PartitionReader.modelBased-\(round)")
        var generator = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        defer { try? log.close() }
        // A small chunk makes the chunk logic meet every kind of batch boundary in a small log.
        let chunk = [256, 1024, 4096, 1 << 16].randomElement(using: &generator)!
        let compacted = round % 3 == 2
        var config = TopicConfiguration(partitions: 1)
        config.maxRecordBytes = 1 << 22
        config.segmentBytes = Int64([2048, 16 * 1024, 1 << 20].randomElement(using: &generator)!)
        config.compression = [Compression.none, .lz4].randomElement(using: &generator)!
        if compacted { config.cleanupPolicy = .compact }
        config.retentionMilliseconds = nil
        try log.createTopic("t", configuration: config)

        var model: [Written] = []
        var nextKey = 0
        func appendBatch() throws {
            let sizes = recordSizes(&generator, chunk: chunk)
            var records: [ProducerRecord] = []
            for size in sizes {
                // Compacted topics repeat keys so compaction removes records and leaves offset gaps.
                let key = compacted ? "k\(Int.random(in: 0..<6, using: &generator))" : "k\(nextKey)"
                nextKey += 1
                let value = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
                records.append(ProducerRecord(key: Array(key.utf8), value: value))
            }
            let positions = try log.append(records, to: "t", partition: 0)
            for (record, position) in zip(records, positions) {
                model.append(Written(offset: position.offset, key: record.key!, value: record.value!))
            }
        }
        for _ in 0..<Int.random(in: 5...40, using: &generator) { try appendBatch() }

        if compacted {
            // The documented rule: in sealed segments only the latest record of each key stays (no tombstones
            // here); the active segment is untouched.
            let activeBase = try activeSegmentBase(dir.path, "t", 0)
            try log.runMaintenance(forceCompaction: true)
            var latest: [[UInt8]: Int64] = [:]
            for record in model where record.offset < activeBase { latest[record.key] = record.offset }
            model.removeAll { $0.offset < activeBase && latest[$0.key] != $0.offset }
        }

        // Reads from every batch boundary and a random offset inside each batch, with random limits.
        var starts = Set(model.map(\.offset))
        starts.insert(0)
        starts.insert(model.last!.offset + 1)
        for from in starts.sorted() {
            let reader = try log.reader(topic: "t", partition: 0, from: .offset(from))
            var total = 0
            while true {
                let n = try checkedRead(
                    reader, model: model, maxBytes: maxBytes(&generator, chunk: chunk),
                    maxRecords: Bool.random(using: &generator) ? .max : Int.random(in: 1...7, using: &generator),
                    seed: seed)
                if n == 0 { break }
                total += n
            }
            #expect(total == model.count { $0.offset >= from }, "seed \(seed): from \(from)")
        }

        // One long-lived reader: reads interleaved with appends and seeks to any offset.
        let reader = try log.reader(topic: "t", partition: 0, from: .earliest)
        for _ in 0..<200 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0:
                try appendBatch()
            case 1:
                reader.seek(to: Int64.random(in: 0...(model.last!.offset + 1), using: &generator))
            default:
                _ = try checkedRead(
                    reader, model: model, maxBytes: maxBytes(&generator, chunk: chunk),
                    maxRecords: Int.random(in: 1...50, using: &generator), seed: seed)
            }
        }
        #expect(log.invariantViolation() == nil)
    }

    @Test("a reader that follows a writer thread reads every record once, in order, whatever the chunk size")
    func concurrentWriter() throws {
        let seed = testSeed("PartitionReader.concurrentWriter")
        var generator = SeededGenerator(seed: seed)
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        defer { try? log.close() }
        var config = TopicConfiguration(partitions: 1)
        config.maxRecordBytes = 1 << 22
        config.segmentBytes = 16 * 1024
        try log.createTopic("t", configuration: config)
        // The writer's records are fixed in advance, so the reader knows the record at every offset.
        var batches: [[ProducerRecord]] = []
        var values: [[UInt8]] = []
        for _ in 0..<400 {
            let sizes = recordSizes(&generator, chunk: 512)
            let batch = sizes.map { size in
                let value = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
                values.append(value)
                return ProducerRecord(key: Array("k\(values.count)".utf8), value: value)
            }
            batches.append(batch)
        }
        let toWrite = batches
        let writer = Thread {
            for batch in toWrite { _ = try? log.append(batch, to: "t", partition: 0) }
        }
        writer.start()
        let reader = try log.reader(topic: "t", partition: 0, from: .earliest)
        var next = 0
        while next < values.count {
            let n = try reader.read(
                maxBytes: maxBytes(&generator, chunk: 512), maxRecords: Int.random(in: 1...100, using: &generator)
            ) {
                record in
                #expect(record.offset == Int64(next), "seed \(seed)")
                #expect(Array(record.value!) == values[next], "seed \(seed): offset \(next)")
                next += 1
            }
            if n == 0 { #expect(reader.nextOffset <= reader.endOffset) }
        }
        #expect(try reader.read { _ in } == 0)
    }
}

/// The base offset of a partition's newest segment, from the segment files' names.
func activeSegmentBase(_ dir: String, _ topic: String, _ partition: Int) throws -> Int64 {
    try FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(topic)-\(partition)")
        .filter { $0.hasSuffix(".log") }
        .compactMap { Int64($0.dropLast(4)) }
        .max() ?? 0
}
