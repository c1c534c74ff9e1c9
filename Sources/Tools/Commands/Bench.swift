import ArgumentParser
import EventLog
import Foundation

/// `eventlog bench`: the shared workloads of `shared/bench-peers`, one JSON line per workload.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a benchmark workload and print one JSON line (bench-peers format).",
        discussion: """
            Workloads (on the W1 dataset, one JSON order event per line, key = orderId at bytes 12..<28):
              W1   append every record in batches of --batch, no fsync (after an untimed sync(2), so dirty
                 pages left by earlier programs do not throttle this run's writes)
              W1s  append the first 100,000 records with fsync before each batch is acknowledged
              W2   read every record back in order, CRC-checked (the log is written first, untimed)
              W3   StreamJet: count per restaurantId per 1-minute tumbling event-time window, end to end
                   from a log topic (loaded untimed, one partition per worker) with JSON field extraction
              W3d  the same from events decoded in memory beforehand
              W3-json  W3's per-record decode alone: restaurantId and lastModified pulled out of every W1
                   value in memory, one thread, median of 5 passes (what the end-to-end W3 spends on JSON)
              W3-latency  100,000 events/s stamped with the wall clock into a running job with 100 ms
                   windows; prints p50/p99/max of result arrival minus window end
              W4   live views: upsert the events by orderId into a table (latest row per order), then
                   COUNT(*) within 6,500 m of (-122.44469, 37.75680) through the spatial index (answer 10,541);
                   prints ms_per_query, the full-scan and group-by times and the ingest rate
              W4-scaling  the W4 radius query against 10^3 … 10^7 synthetic points (index and full scan)
              W3-scaling  W3 from decoded events against key count (100 … 10^6) and window size (1 s … 1 h)
              scaling  append throughput against record size (16 B … 64 KiB) and batch size (1 … 10,000),
                   read throughput against partition count (1 … 64); synthetic records, no input file
              recovery  write a ~1 GiB segment, drop the clean-shutdown marker and checkpoint, time the
                   reopen that validates every batch (--records sets the size; default 4.5 passes of W1)

            Example: eventlog bench W1 --input /tmp/w1.jsonl --compression lz4
            """)

    @Argument(
        help: "Workload: W1, W1s, W2, W3, W3d, W3-json, W3-latency, W3-scaling, W4, W4-scaling, scaling or recovery.")
    var workload: String

    @Option(help: "The W1 dataset (python3 shared/bench-peers/gen_w1.py writes /tmp/w1.jsonl).")
    var input: String = "/tmp/w1.jsonl"

    @Option(help: "Records to use (default: all; 100,000 for W1s).")
    var records: Int?

    @Option(help: "Records per batch.")
    var batch: Int = 1000

    @Option(help: "Compression: none, lz4, zstd or zstd:LEVEL.")
    var compression: Compression = .none

    @Option(help: "StreamJet worker threads for W3 (default: one per core).")
    var workers: Int?

    @Option(help: "W4: radius queries to time (the full scan runs 1/20 as many, the group-by 1/4).")
    var queries: Int = 2000

    @Option(help: "Scratch directory for the log (default: a fresh one under /tmp, removed afterwards).")
    var scratch: String?

    func validate() throws {
        let known = [
            "W1", "W1s", "W2", "W3", "W3d", "W3-json", "W3-latency", "W4", "W4-scaling", "W3-scaling", "scaling",
            "recovery",
        ]
        guard known.contains(workload) else {
            throw ValidationError(
                "unknown workload '\(workload)'; expected \(known.dropLast().joined(separator: ", ")) or recovery")
        }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    func run() throws {
        if workload == "W3-latency" { return try runW3Latency() }
        if workload == "W4-scaling" { return try runW4Scaling() }
        if workload == "scaling" { return try runScaling() }
        if workload == "W3-scaling" { return try runW3Scaling() }
        let data = try Dataset(path: input, limit: records ?? (workload == "W1s" ? 100_000 : nil))
        if workload == "W3-json" { return try runW3JSON(data: data) }
        if workload == "W3" || workload == "W3d" { return try runW3(data: data, decoded: workload == "W3d") }
        if workload == "W4" { return try runW4(data: data) }
        let directory = scratch ?? "/tmp/eventlog-bench-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        defer { if scratch == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let log = try Log(directory: directory)
        var config = TopicConfiguration()
        config.compression = compression
        config.durability = workload == "W1s" ? .sync : .none
        config.maxRecordBytes = 64 << 20
        try log.createTopic("w1", configuration: config)

        if workload == "recovery" { return try recovery(log: log, data: data, directory: directory) }
        let builder = RecordBatchBuilder(compression: compression)
        // Untimed: write back dirty pages other programs (earlier benchmarks) left behind, so the kernel's
        // writeback throttling does not charge their data to this run's page-cache writes.
        sync()
        let appendStart = DispatchTime.now().uptimeNanoseconds
        data.forEachBatch(size: batch) { range in
            builder.reset()
            for i in range { data.append(record: i, to: builder) }
            try! log.append(builder, to: "w1", partition: 0)
        }
        let appendSeconds = Double(DispatchTime.now().uptimeNanoseconds - appendStart) / 1e9
        let note =
            "batch \(batch), compression \(compression), \(workload == "W1s" ? "fdatasync per batch (group commit)" : "no fsync")"
        if workload != "W2" {
            report(workload, records: data.count, bytes: data.payloadBytes, seconds: appendSeconds, notes: note)
            try log.close()
            return
        }
        let reader = try log.reader(topic: "w1", partition: 0, from: .earliest)
        var count = 0
        var bytes = 0
        let readStart = DispatchTime.now().uptimeNanoseconds
        while true {
            let n = try reader.read(maxBytes: 4 << 20) { record in
                count += 1
                bytes += (record.key?.count ?? 0) + (record.value?.count ?? 0)
            }
            if n == 0 { break }
        }
        let readSeconds = Double(DispatchTime.now().uptimeNanoseconds - readStart) / 1e9
        guard count == data.count, bytes == data.payloadBytes else {
            throw ValidationError(
                "W2 read \(count) records / \(bytes) bytes; expected \(data.count) / \(data.payloadBytes)")
        }
        report(
            "W2", records: count, bytes: bytes, seconds: readSeconds,
            notes: "read in order from page cache, CRC-32C verified per batch, compression \(compression)")
        try log.close()
    }

    /// Fills one segment to about 1 GiB, then times an unclean reopen that validates every batch.
    private func recovery(log: Log, data: Dataset, directory: String) throws {
        let builder = RecordBatchBuilder(compression: compression)
        let target: Int64 = 1 << 30
        var written: Int64 = 0
        var records = 0
        outer: while true {
            var done = false
            data.forEachBatch(size: batch) { range in
                guard !done else { return }
                builder.reset()
                for i in range { data.append(record: i, to: builder) }
                try! log.append(builder, to: "w1", partition: 0)
                written += Int64(builder.encodedSize)
                records += range.count
                if written >= target - 300_000 { done = true }
            }
            if done { break outer }
        }
        let bytes = try log.describeTopic("w1").partitions[0].bytes
        try log.close()
        try FileManager.default.removeItem(atPath: directory + "/.clean-shutdown")
        try FileManager.default.removeItem(atPath: directory + "/recovery-point-offset-checkpoint")
        let start = DispatchTime.now().uptimeNanoseconds
        let reopened = try Log(directory: directory)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let recovered = reopened.recoveryReports[0]
        guard recovered.validatedBatches > 0, recovered.truncatedBytes == 0 else {
            throw ValidationError("recovery did not validate the segment: \(recovered)")
        }
        report(
            "recovery", records: records, bytes: Int(bytes), seconds: seconds,
            notes:
                "unclean reopen of one \(bytes)-byte segment from page cache: \(recovered.validatedBatches) batches CRC-checked, indexes rebuilt; mb_per_s counts segment bytes"
        )
        try reopened.close()
    }

    func report(
        _ workload: String, records: Int, bytes: Int, seconds: Double, notes: String, extra: [String: Any] = [:]
    ) {
        let line: [String: Any] = [
            "peer": "eventlog", "workload": workload, "records": records, "seconds": seconds,
            "records_per_s": Double(records) / seconds, "mb_per_s": Double(bytes) / 1e6 / seconds, "notes": notes,
        ].merging(extra) { _, new in new }
        let json = try! JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}

/// The W1 file in memory with its line boundaries (loading is not timed).
final class Dataset {
    let bytes: UnsafeMutableRawBufferPointer
    var starts: [Int] = []
    var lengths: [Int] = []
    var count: Int { starts.count }
    private(set) var payloadBytes = 0

    init(path: String, limit: Int?) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError(
                "cannot read '\(path)'; generate it with: python3 shared/bench-peers/gen_w1.py --out \(path)")
        }
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(data.count, 1), alignment: 16)
        data.copyBytes(to: bytes.bindMemory(to: UInt8.self), count: data.count)
        var start = 0
        for i in 0..<data.count where bytes[i] == UInt8(ascii: "\n") {
            if i > start {
                guard i - start >= 28 else {
                    throw ValidationError("line \(starts.count + 1) of '\(path)' is too short for a W1 record")
                }
                starts.append(start)
                lengths.append(i - start)
                payloadBytes += 16 + (i - start)
                if let limit, starts.count == limit { break }
            }
            start = i + 1
        }
    }

    deinit { bytes.deallocate() }

    func forEachBatch(size: Int, _ body: (Range<Int>) -> Void) {
        var start = 0
        while start < count {
            body(start..<min(count, start + size))
            start += size
        }
    }

    @inline(__always)
    func append(record i: Int, to builder: RecordBatchBuilder) {
        let base = UnsafeRawPointer(bytes.baseAddress!) + starts[i]
        builder.append(
            key: UnsafeRawBufferPointer(start: base + 12, count: 16),
            value: UnsafeRawBufferPointer(start: base, count: lengths[i]),
            timestamp: 1_704_067_200_000 + Int64(i))
    }
}
