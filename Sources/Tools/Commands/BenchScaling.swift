import ArgumentParser
import EventLog
import Foundation

extension Bench {
    /// `scaling`: the log's curves, one JSON line per point (bench-peers format plus the varied parameter):
    /// - `W1-size`: append throughput against record size, 16 B … 64 KiB values, batches of about 1 MiB;
    /// - `W1-batch`: append throughput against records per batch, 1 … 10,000 records of 200 B;
    /// - `W2-partitions`: reading 1,000,000 records of 200 B back (one reader at a time, CRC-checked)
    ///   against the number of partitions they are spread over, 1 … 64.
    ///
    /// No fsync; values are deterministic pseudo-random bytes (incompressible, like most payloads).
    /// `Benchmarks/plot.sh` turns the lines into PNG plots.
    func runScaling() throws {
        let directory = scratch ?? "/tmp/eventlog-bench-scaling-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var payload = [UInt8](repeating: 0, count: 1 << 16)
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for i in payload.indices {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            payload[i] = UInt8(truncatingIfNeeded: state)
        }

        /// Appends `count` records of `size` value bytes (16-byte keys) in batches of `batch`; returns seconds.
        func append(_ log: Log, topic: String, count: Int, size: Int, batch: Int, partitions: Int = 1) throws -> Double
        {
            let builder = RecordBatchBuilder(compression: compression)
            sync()
            let start = DispatchTime.now().uptimeNanoseconds
            try payload.withUnsafeBytes { raw in
                var done = 0
                var partition = 0
                while done < count {
                    builder.reset()
                    for i in done..<min(count, done + batch) {
                        let offset = (i &* 7_919) % (raw.count - size + 1)
                        builder.append(
                            key: UnsafeRawBufferPointer(rebasing: raw[(i % 4096)..<(i % 4096 + 16)]),
                            value: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + size)]),
                            timestamp: 1_704_067_200_000 + Int64(i))
                    }
                    try log.append(builder, to: topic, partition: partition)
                    done += batch
                    partition = (partition + 1) % partitions
                }
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }

        func freshLog(partitions: Int = 1) throws -> Log {
            try? FileManager.default.removeItem(atPath: directory)
            let log = try Log(directory: directory)
            var config = TopicConfiguration(partitions: partitions)
            config.compression = compression
            config.maxRecordBytes = 64 << 20
            try log.createTopic("t", configuration: config)
            return log
        }

        for size in [16, 64, 256, 1024, 4096, 16_384, 65_536] {
            let count = min(2_000_000, (256 << 20) / (size + 16))
            let batch = max(1, min(1000, (1 << 20) / (size + 16)))
            let log = try freshLog()
            let seconds = try append(log, topic: "t", count: count, size: size, batch: batch)
            report(
                "W1-size", records: count, bytes: count * (size + 16), seconds: seconds,
                notes:
                    "\(size)-byte values, 16-byte keys, \(batch) records per batch, no fsync, compression \(compression)",
                extra: ["record_bytes": size, "batch": batch])
            try log.close()
        }
        for batch in [1, 10, 100, 1000, 10_000] {
            let count = batch == 1 ? 200_000 : 1_000_000
            let log = try freshLog()
            let seconds = try append(log, topic: "t", count: count, size: 200, batch: batch)
            report(
                "W1-batch", records: count, bytes: count * 216, seconds: seconds,
                notes: "\(batch) records of 200 bytes per batch, no fsync, compression \(compression)",
                extra: ["record_bytes": 200, "batch": batch])
            try log.close()
        }
        for partitions in [1, 2, 4, 8, 16, 64] {
            let count = 1_000_000
            let log = try freshLog(partitions: partitions)
            _ = try append(log, topic: "t", count: count, size: 200, batch: 1000, partitions: partitions)
            var read = 0
            let start = DispatchTime.now().uptimeNanoseconds
            for partition in 0..<partitions {
                let reader = try log.reader(topic: "t", partition: partition)
                while try reader.read(maxBytes: 4 << 20, { _ in read += 1 }) > 0 {}
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            guard read == count else { throw ValidationError("read \(read) of \(count) records") }
            report(
                "W2-partitions", records: count, bytes: count * 216, seconds: seconds,
                notes: "1,000,000 records of 200 bytes over \(partitions) partitions, read back in order, CRC-checked",
                extra: ["partitions": partitions])
            try log.close()
        }
    }
}
