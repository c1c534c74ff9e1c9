import Benchmark
import EventLog
import Foundation

/// Hot paths of the log with allocation counts: `ENABLE_BENCHMARKS=1 swift package benchmark`.
///
/// Records are order-event JSON of W1's shape (about 222 bytes, 16-byte keys), built once outside the
/// measured region. Each iteration appends or reads one 1,000-record batch, so "mallocs per iteration"
/// is mallocs per batch (the goal is at most one).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3), maxIterations: 100_000)

    let values: [[UInt8]] = (0..<1000).map { i in
        Array(
            #"{"orderId":"order-\#(String(format: "%010d", i))","restaurantId":"rest-0434","accountId":"acct-0037352","status":"CREATED","lat":37.678402,"lon":-122.526794,"restaurantLat":37.678365,"restaurantLon":-122.526967,"lastModified":1704067200633}"#
                .utf8)
    }

    func fill(_ builder: RecordBatchBuilder) {
        builder.reset()
        for value in values {
            value.withUnsafeBytes { raw in
                builder.append(
                    key: UnsafeRawBufferPointer(rebasing: raw[12..<28]), value: raw, timestamp: 1_704_067_200_000)
            }
        }
    }

    for compression in [Compression.none, .lz4, .zstd(level: 1)] {
        Benchmark("append 1,000-record batch (\(compression))", configuration: .init(scalingFactor: .kilo)) {
            benchmark in
            let directory = NSTemporaryDirectory() + "eventlog-bench-\(UUID().uuidString)"
            let log = try Log(directory: directory)
            var config = TopicConfiguration()
            config.compression = compression
            try log.createTopic("w1", configuration: config)
            let builder = RecordBatchBuilder(compression: compression)
            fill(builder)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                try log.append(builder, to: "w1", partition: 0)
            }
            benchmark.stopMeasurement()
            try log.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    Benchmark("read 1,000-record batches (CRC verified)", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let directory = NSTemporaryDirectory() + "eventlog-bench-\(UUID().uuidString)"
        let log = try Log(directory: directory)
        try log.createTopic("w1")
        let builder = RecordBatchBuilder()
        fill(builder)
        for _ in 0..<benchmark.scaledIterations.count { try log.append(builder, to: "w1", partition: 0) }
        let reader = try log.reader(topic: "w1", partition: 0, from: .earliest)
        var bytes = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try reader.read(maxBytes: 200_000) { record in bytes &+= record.value?.count ?? 0 }
        }
        benchmark.stopMeasurement()
        blackHole(bytes)
        try log.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
