import EventLogFoundation
import Foundation
import Testing

@testable import StreamJet

@Suite("Queues and batches")
struct QueueTests {
    /// Strings long enough to live on the heap, so a double move or a lost item shows up as a wrong value
    /// (or a crash) rather than passing silently.
    static func item(_ n: Int) -> String { "item-\(n)-with-a-heap-allocated-tail" }

    @Test(
        "bulk offers take what fits, keep the rest in the caller's buffer, and interleave with single items and control items in order"
    )
    func bulkOffers() {
        var generator = SeededGenerator(seed: testSeed("queue bulk offers"))
        let queue = ConcurrentQueue<String>(capacity: 16)
        // The model: what the queue holds, oldest first (.some: data, .none: a watermark).
        var model: [String?] = []
        var produced = 0
        let source = UnsafeMutablePointer<String>.allocate(capacity: 40)
        defer { source.deallocate() }
        for _ in 0..<2_000 {
            switch Int.random(in: 0..<5, using: &generator) {
            case 0, 1:
                let count = Int.random(in: 0...40, using: &generator)
                for index in 0..<count { (source + index).initialize(to: Self.item(produced + index)) }
                let free = 16 - model.count
                let taken = queue.offer(moving: source, count: count)
                #expect(taken == min(count, free), "took \(taken) of \(count) with \(free) free")
                for index in 0..<taken { model.append(Self.item(produced + index)) }
                // What was refused is still the caller's, intact.
                for index in taken..<count { #expect(source[index] == Self.item(produced + index)) }
                (source + taken).deinitialize(count: count - taken)
                produced += taken
            case 2:
                let accepted = queue.offer(Self.item(produced))
                #expect(accepted == (model.count < 16))
                if accepted {
                    model.append(Self.item(produced))
                    produced += 1
                }
            case 3:
                if queue.offerControl(.watermark(Int64(produced))) { model.append(nil) }
            default:
                for _ in 0..<Int.random(in: 0...20, using: &generator) {
                    guard let head = model.first else {
                        #expect(queue.poll() == nil)
                        break
                    }
                    if let expected = head {
                        #expect(queue.poll() == expected)
                    } else {
                        #expect(queue.poll() == nil, "a data poll stops at a control item")
                        #expect(queue.pollControl() != nil)
                    }
                    model.removeFirst()
                }
            }
            #expect(queue.count == model.count)
        }
    }

    @Test("a source's batches reach a sink that takes a few items per call: complete, once, in each instance's order")
    func batchesUnderBackpressure() throws {
        /// Takes at most 100 items per call, so the source keeps finding its queue partly full: its batch
        /// goes in part and the rest waits in its emitter.
        struct TrickleSink: Sink {
            typealias Item = Int
            let received: Shared<[Int]>
            var name: String { "trickle" }
            var localParallelism: Int? { nil }
            func makeProcessor(index: Int) -> any Processor { Trickle(received: received) }
        }
        final class Trickle: Processor {
            let received: Shared<[Int]>
            var inbox: Inbox<Timestamped<Int>>!
            init(received: Shared<[Int]>) { self.received = received }
            func initialize(context: ProcessorContext) throws { inbox = context.inbox(0) }
            func process(ordinal: Int) throws {
                var taken: [Int] = []
                while taken.count < 100, let item = inbox.poll() { taken.append(item.value) }
                received.withLock { $0.append(contentsOf: taken) }
            }
        }
        let received = Shared<[Int]>([])
        let pipeline = Pipeline()
        pipeline.readFrom(.collection(Array(0..<30_000))).withoutTimestamps().writeTo(TrickleSink(received: received))
        // Source and sink run two instances each, joined by isolated edges.
        try pipeline.submit(JobConfiguration(name: "trickle", workers: 2)).join()
        let values = received.withLock { $0 }
        #expect(values.count == 30_000)
        #expect(Set(values).count == 30_000)
        // Instance i reads elements i, i + 2, …: each instance's items arrive in source order.
        for instance in 0..<2 {
            let sequence = values.filter { $0 % 2 == instance }
            #expect(sequence == sequence.sorted(), "instance \(instance) out of order")
        }
    }
}
