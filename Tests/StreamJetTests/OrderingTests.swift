import EventLog
import Foundation
import StreamJet
import Testing

@Suite("Per-partition order")
struct OrderingTests {
    @Test(
        "a topic-to-topic job keeps each partition's order while a writer appends",
        arguments: [ProcessingGuarantee.none, .exactlyOnce])
    func topicToTopic(guarantee: ProcessingGuarantee) throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopic("in", configuration: TopicConfiguration(partitions: 4))
        try log.createTopic("out", configuration: TopicConfiguration(partitions: 4))
        let pipeline = Pipeline()
        pipeline.readFrom(.topic(log, "in", bounded: false) { ($0.key.map { Array($0) } ?? [], Array($0.value!)) })
            .withoutTimestamps()
            .writeTo(Sinks.topic(log, "out") { (key: $0.0, value: $0.1) })
        let job = try pipeline.submit(
            JobConfiguration(
                name: "order", workers: 2, guarantee: guarantee, snapshotIntervalMilliseconds: 5, log: log))
        let total = 20_000
        for start in stride(from: 0, to: total, by: 100) {
            try log.append(
                (start..<start + 100).map { ProducerRecord(key: "k\($0 % 37)", value: "\($0)") }, to: "in")
        }
        func values(_ topic: String) throws -> [String: [Int]] {
            var result: [String: [Int]] = [:]
            for p in 0..<4 {
                let reader = try log.reader(topic: topic, partition: p)
                while try reader.read({
                    result[String(decoding: $0.key!, as: UTF8.self), default: []].append(
                        Int(String(decoding: $0.value!, as: UTF8.self))!)
                }) > 0 {}
            }
            return result
        }
        func published() throws -> Int64 {
            try (0..<4).reduce(0) { $0 + (try log.offsets(topic: "out", partition: $1).end) }
        }
        // Waiting for the output (exactly-once publishes at each snapshot), not timing it.
        let deadline = Date().addingTimeInterval(120)
        while try published() < Int64(total) && Date() < deadline { usleep(2_000) }
        let count = try published()
        #expect(count == Int64(total), "published \(count) of \(total)")
        job.cancel()
        _ = try? job.join()
        let input = try values("in")
        let output = try values("out")
        for (key, sequence) in input {
            let got = output[key] ?? []
            let firstDifference =
                (0..<min(got.count, sequence.count)).first { got[$0] != sequence[$0] } ?? min(got.count, sequence.count)
            #expect(
                got == sequence,
                "key \(key): \(got.count) of \(sequence.count) values; first difference at \(firstDifference): \(got[firstDifference...].prefix(6)) vs \(sequence[firstDifference...].prefix(6))"
            )
        }
        try log.close()
    }
}
