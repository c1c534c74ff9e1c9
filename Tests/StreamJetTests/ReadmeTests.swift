import EventLog
import StreamJet
import Testing

@Suite("README sample")
struct StreamJetReadmeTests {
    @Test("the README's StreamJet sample compiles and runs")
    func readmeSample() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        try log.createTopicIfNeeded("orders", configuration: TopicConfiguration(partitions: 4))
        for index in 0..<600 {
            let value = #"{"orderId":"o\#(index)","restaurantId":"r\#(index % 3)","status":"CREATED"}"#
            try log.append(
                ProducerRecord(key: "o\(index)", value: value, timestamp: Int64(index) * 1_000), to: "orders")
        }
        // --- README StreamJet sample (keep in sync) ---
        let pipeline = Pipeline()
        let json = JSONFields.Scanner()  // learns the records' key order, then matches keys in a few word compares
        let perMinute =
            pipeline
            .readFrom(
                .topic(log, "orders", bounded: true) { record in  // bounded: stop at today's end of the topic
                    var restaurant: String?
                    json.scan(record.value!) { key, value in
                        if key.equals("restaurantId") { restaurant = value.string }
                        return restaurant == nil  // stop scanning once found
                    }
                    return restaurant
                }
            )
            .withNativeTimestamps(allowedLag: 2_000)  // event time = record timestamp, 2 s out of order allowed
            .groupingKey { $0 }
            .window(.tumbling(60_000))
            .aggregate(.counting())
        let results = perMinute.writeTo(Sinks.collector())
        let late = perMinute.lateEvents.writeTo(Sinks.collector())
        try pipeline.submit(JobConfiguration(name: "orders-per-minute")).join()
        for window in results.items { print(window) }  // "[0, 60000) r1 = 20"
        // --- end ---
        #expect(results.items.count == 30)
        #expect(results.items.allSatisfy { $0.value == 20 })
        #expect(late.items.isEmpty)
    }
}
