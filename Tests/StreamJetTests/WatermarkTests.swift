import Testing

@testable import StreamJet

@Suite("Watermarks")
struct WatermarkTests {
    @Test("the coalesced watermark is the minimum over active queues, emitted only when it rises")
    func coalescesMinimum() {
        var coalescer = WatermarkCoalescer(queueCount: 3)
        #expect(coalescer.observeWatermark(0, 10) == [])
        #expect(coalescer.observeWatermark(1, 20) == [])
        #expect(coalescer.observeWatermark(2, 5) == [.watermark(5)])
        #expect(coalescer.observeWatermark(2, 15) == [.watermark(10)])
        #expect(coalescer.observeWatermark(2, 12) == [], "a lower watermark on a queue never lowers the output")
        #expect(coalescer.observeWatermark(0, 30) == [.watermark(15)])
    }

    @Test("idle queues are left out; when all are idle the highest watermark goes out, then one idle")
    func idleQueues() {
        var coalescer = WatermarkCoalescer(queueCount: 2)
        _ = coalescer.observeWatermark(0, 100)
        #expect(coalescer.observeWatermark(1, 40) == [.watermark(40)])
        #expect(coalescer.observeIdle(1) == [.watermark(100)], "an idle queue no longer holds the minimum back")
        #expect(coalescer.observeWatermark(0, 150) == [.watermark(150)])
        #expect(coalescer.observeIdle(0) == [.idle])
        #expect(coalescer.observeIdle(0) == [], "idle is sent once")
        // Queue 1 wakes up with an event: it is active again at its old watermark (40), which cannot lower the output.
        coalescer.observeEvent(1)
        #expect(coalescer.observeWatermark(1, 120) == [])
        #expect(coalescer.observeWatermark(1, 200) == [.watermark(200)])
    }

    @Test("all idle with no new watermark sends only idle; a finished queue stops holding the minimum")
    func doneQueues() {
        var coalescer = WatermarkCoalescer(queueCount: 2)
        #expect(coalescer.observeWatermark(0, 10) == [])
        #expect(coalescer.queueDone(1) == [.watermark(10)])
        #expect(coalescer.observeIdle(0) == [.idle])
        #expect(coalescer.queueDone(0) == [])
        // Finishing in either order gives the same last watermark.
        var first = WatermarkCoalescer(queueCount: 2)
        _ = first.observeWatermark(0, 999)
        _ = first.queueDone(0)
        #expect(first.queueDone(1) == [.watermark(999)])
    }

    @Test("per-partition watermarks trail the top timestamp by the lag; an empty partition goes idle")
    func partitionWatermarks() {
        var marks = PartitionWatermarks(
            partitions: 2, policy: EventTimePolicy(allowedLag: 100, idleTimeout: 1_000), now: 0)
        _ = marks.observe(partition: 0, timestamp: 1_000, now: 10)
        #expect(marks.poll(now: 10) == nil, "partition 1 has no events yet and is not idle yet")
        #expect(marks.poll(now: 999) == nil)
        // Partition 1 has been silent for the idle timeout: partition 0 alone decides.
        #expect(marks.poll(now: 1_000) == .watermark(900))
        _ = marks.observe(partition: 1, timestamp: 500, now: 1_001)
        #expect(marks.poll(now: 1_001) == nil, "partition 1 is active again at 400 < 900: no regression")
        _ = marks.observe(partition: 1, timestamp: 2_000, now: 1_002)
        _ = marks.observe(partition: 0, timestamp: 1_500, now: 1_002)
        #expect(marks.poll(now: 1_002) == .watermark(1_400))
        let late = marks.observe(partition: 0, timestamp: 1_300, now: 1_003)
        #expect(late, "an event behind the watermark is late")
        // Everything goes quiet: the highest partition watermark goes out, then idle.
        #expect(marks.poll(now: 5_000) == .watermark(1_900))
        #expect(marks.poll(now: 5_001) == .idle)
        #expect(marks.poll(now: 5_002) == nil)
    }

    @Test("a finished partition does not hold the watermark back")
    func finishedPartition() {
        var marks = PartitionWatermarks(partitions: 2, policy: EventTimePolicy(allowedLag: 0), now: 0)
        _ = marks.observe(partition: 0, timestamp: 50, now: 0)
        _ = marks.observe(partition: 1, timestamp: 10, now: 0)
        #expect(marks.poll(now: 0) == .watermark(10))
        marks.finish(partition: 1)
        #expect(marks.poll(now: 0) == .watermark(50))
        _ = marks.observe(partition: 0, timestamp: 80, now: 0)
        marks.finish(partition: 0)
        #expect(marks.poll(now: 0) == .watermark(80), "when all have finished the last watermark still goes out")
        #expect(marks.poll(now: 0) == nil)
    }
}
