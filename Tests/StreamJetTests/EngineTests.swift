import Foundation
import StreamJet
import Testing

/// Emits 0..<count as fast as the outbox takes them.
final class CountingSource: Processor {
    let count: Int
    private var next = 0
    private var outbox: Outbox<Int>!
    init(count: Int) { self.count = count }
    func initialize(context: ProcessorContext) throws { outbox = context.outbox(0) }
    func complete() throws -> Bool {
        while next < count {
            guard outbox.offer(next) else { return false }
            next += 1
        }
        return true
    }
}

/// Collects what reaches input ordinals, in order, into a shared array.
final class RecordingSink: Processor {
    let received: Shared<[(ordinal: Int, value: Int)]>
    private var context: ProcessorContext!
    init(_ received: Shared<[(ordinal: Int, value: Int)]>) { self.received = received }
    func initialize(context: ProcessorContext) throws { self.context = context }
    func process(ordinal: Int) throws {
        let inbox = context.inbox(ordinal, of: Int.self)
        while let value = inbox.poll() { received.withLock { $0.append((ordinal, value)) } }
    }
}

final class Shared<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: Value
    init(_ value: Value) { storage = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&storage)
    }
}

@Suite("DAG engine")
struct EngineTests {
    @Test("a lower-priority edge is consumed completely before a higher one")
    func priorities() throws {
        let received = Shared<[(ordinal: Int, value: Int)]>([])
        let dag = DAG()
        let side = dag.vertex("side", localParallelism: 1) { _ in CountingSource(count: 5_000) }
        let main = dag.vertex("main", localParallelism: 1) { _ in CountingSource(count: 5_000) }
        let sink = dag.vertex("sink", localParallelism: 1) { _ in RecordingSink(received) }
        dag.edge(Edge<Int>(from: main, to: sink, 1))
        dag.edge(Edge<Int>(from: side, to: sink, 0).priority(-1))
        try Job(dag: dag, configuration: JobConfiguration(workers: 2)).join()
        let ordinals = received.withLock { $0.map(\.ordinal) }
        #expect(ordinals.count == 10_000)
        #expect(ordinals == Array(repeating: 0, count: 5_000) + Array(repeating: 1, count: 5_000))
    }

    @Test("partitioned edges send every item of a key to the same instance; broadcast reaches all")
    func routing() throws {
        let seen = Shared<[Int: Set<Int>]>([:])  // value % 10 -> instances
        let broadcast = Shared<[Int]>([])
        final class KeyRecorder: Processor {
            let seen: Shared<[Int: Set<Int>]>
            let broadcast: Shared<[Int]>
            var context: ProcessorContext!
            init(_ seen: Shared<[Int: Set<Int>]>, _ broadcast: Shared<[Int]>) {
                self.seen = seen
                self.broadcast = broadcast
            }
            func initialize(context: ProcessorContext) throws { self.context = context }
            func process(ordinal: Int) throws {
                let inbox = context.inbox(ordinal, of: Int.self)
                while let value = inbox.poll() {
                    if ordinal == 0 {
                        _ = seen.withLock { $0[value % 10, default: []].insert(context.index) }
                    } else {
                        broadcast.withLock { $0.append(context.index) }
                    }
                }
            }
        }
        let dag = DAG()
        let source = dag.vertex("source", localParallelism: 2) { _ in CountingSource(count: 10_000) }
        let other = dag.vertex("other", localParallelism: 1) { _ in CountingSource(count: 7) }
        let sink = dag.vertex("sink", localParallelism: 3) { _ in KeyRecorder(seen, broadcast) }
        dag.edge(Edge<Int>(from: source, to: sink).partitioned { $0 % 10 })
        dag.edge(Edge<Int>(from: other, to: sink, 1).broadcast())
        try Job(dag: dag, configuration: JobConfiguration(workers: 2)).join()
        let keys = seen.withLock { $0 }
        #expect(keys.count == 10)
        for (key, instances) in keys { #expect(instances.count == 1, "key \(key) reached \(instances)") }
        let reached = broadcast.withLock { $0 }.sorted()
        #expect(reached == [0, 1, 2].flatMap { Array(repeating: $0, count: 7) })
    }

    @Test("a failing processor fails the job with the vertex named")
    func errorPropagation() throws {
        struct Boom: Error {}
        final class Failing: Processor {
            var context: ProcessorContext!
            func initialize(context: ProcessorContext) throws { self.context = context }
            func process(ordinal: Int) throws {
                while let value = context.inbox(0, of: Int.self).poll() { if value == 500 { throw Boom() } }
            }
        }
        let dag = DAG()
        let source = dag.vertex("numbers", localParallelism: 1) { _ in CountingSource(count: 1_000_000) }
        let failing = dag.vertex("parser", localParallelism: 1) { _ in Failing() }
        dag.edge(Edge<Int>(from: source, to: failing))
        let job = try Job(dag: dag)
        #expect {
            try job.join()
        } throws: { error in
            let error = error as! StreamJetError
            return error.code == .processorFailed && error.vertex == "parser" && error.underlying is Boom
        }
    }

    @Test("invalid DAGs are rejected with a message")
    func validation() {
        let cycle = DAG()
        let a = cycle.vertex("a") { _ in CountingSource(count: 1) }
        let b = cycle.vertex("b") { _ in CountingSource(count: 1) }
        cycle.edge(Edge<Int>(from: a, to: b))
        cycle.edge(Edge<Int>(from: b, to: a))
        #expect(throws: StreamJetError.self) { try Job(dag: cycle) }

        let gap = DAG()
        let c = gap.vertex("c") { _ in CountingSource(count: 1) }
        let d = gap.vertex("d") { _ in CountingSource(count: 1) }
        gap.edge(Edge<Int>(from: c, to: d, 1))
        #expect { try Job(dag: gap) } throws: { "\($0)".contains("ordinals [1]") }

        let isolated = DAG()
        let e = isolated.vertex("e", localParallelism: 2) { _ in CountingSource(count: 1) }
        let f = isolated.vertex("f", localParallelism: 3) { _ in CountingSource(count: 1) }
        isolated.edge(Edge<Int>(from: e, to: f).isolated())
        #expect { try Job(dag: isolated) } throws: { "\($0)".contains("parallelism 2 to 3") }
    }

    @Test("a slow consumer holds the producer back: queues stay bounded and nothing is lost")
    func backpressure() throws {
        let total = Shared(0)
        final class SlowSink: Processor {
            let total: Shared<Int>
            var context: ProcessorContext!
            init(_ total: Shared<Int>) { self.total = total }
            func initialize(context: ProcessorContext) throws { self.context = context }
            func process(ordinal: Int) throws {
                let inbox = context.inbox(0, of: Int.self)
                var taken = 0
                while taken < 64, inbox.poll() != nil { taken += 1 }
                total.withLock { $0 += taken }
                usleep(200)
            }
        }
        let dag = DAG()
        let source = dag.vertex("source", localParallelism: 1) { _ in CountingSource(count: 50_000) }
        let sink = dag.vertex("sink", localParallelism: 1) { _ in SlowSink(total) }
        dag.edge(Edge<Int>(from: source, to: sink).queueCapacity(256))
        let job = try Job(dag: dag, configuration: JobConfiguration(workers: 2))
        var maxDepth = 0
        while !job.isFinished {
            for metrics in job.metrics() where metrics.vertex == "sink" { maxDepth = max(maxDepth, metrics.queueDepth) }
            usleep(1_000)
        }
        try job.join()
        #expect(total.withLock { $0 } == 50_000)
        #expect(maxDepth <= 256, "the queue never holds more than its capacity")
        #expect(maxDepth > 0)
    }

    @Test("cancelling an unbounded job ends it with a cancelled error")
    func cancel() throws {
        let stream = TestStream<Int>()
        let pipeline = Pipeline()
        pipeline.readFrom(.stream(stream)).withoutTimestamps().writeTo(Sinks.collector())
        let job = try pipeline.submit()
        stream.push(1)
        job.cancel()
        #expect { try job.join() } throws: { ($0 as? StreamJetError)?.code == .cancelled }
    }
}
