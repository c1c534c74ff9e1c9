/// Instantiates a validated ``DAG``: processors, their contexts, one queue per (producer, consumer) pair
/// of every edge, and a tasklet per processor; restores snapshot state when there is a snapshot to
/// resume from.
struct Wiring {
    var tasklets: [ProcessorTasklet] = []
    var metrics: [VertexMetrics] = []
    var inputQueuesByVertex: [[any AnyConcurrentQueue]] = []

    init(dag: DAG, configuration: JobConfiguration, coordinator: SnapshotCoordinator?) throws {
        let parallelism = dag.vertices.map { $0.localParallelism ?? configuration.workers }
        metrics = dag.vertices.map { VertexMetrics(name: $0.name) }
        inputQueuesByVertex = Array(repeating: [], count: dag.vertices.count)
        // Per vertex, per instance: inboxes and outboxes by ordinal, and input queues.
        var inboxes = dag.vertices.indices.map { Array(repeating: [AnyObject](), count: parallelism[$0]) }
        var outboxes = dag.vertices.indices.map { Array(repeating: [(Int, any AnyOutbox)](), count: parallelism[$0]) }
        var inputs = dag.vertices.indices.map {
            Array(repeating: [(queue: any AnyConcurrentQueue, ordinal: Int, priority: Int)](), count: parallelism[$0])
        }
        for edge in dag.edges.sorted(by: { $0.destinationOrdinal < $1.destinationOrdinal }) {
            let from = edge.source.id
            let to = edge.destination.id
            let queues = edge.makeQueues(producers: parallelism[from], consumers: parallelism[to])
            for producer in 0..<parallelism[from] {
                let outbox = edge.makeOutbox()
                edge.connect(outbox: outbox, queues: queues[producer].compactMap { $0 })
                outboxes[from][producer].append((edge.sourceOrdinal, outbox))
            }
            for consumer in 0..<parallelism[to] {
                inboxes[to][consumer].append(edge.makeInbox())
                for producer in 0..<parallelism[from] {
                    guard let queue = queues[producer][consumer] else { continue }
                    inputs[to][consumer].append((queue, edge.destinationOrdinal, edge.priority))
                    inputQueuesByVertex[to].append(queue)
                }
            }
        }
        for vertex in dag.vertices {
            let id = vertex.id
            let restored = coordinator?.restoredEntries(vertex: vertex.name) ?? []
            for index in 0..<parallelism[id] {
                let ordered = outboxes[id][index].sorted { $0.0 < $1.0 }.map(\.1)
                let context = ProcessorContext(
                    vertexName: vertex.name, index: index, localParallelism: parallelism[id],
                    jobName: configuration.name,
                    guarantee: configuration.guarantee, clock: configuration.clock, inboxes: inboxes[id][index],
                    outboxes: ordered, metrics: metrics[id])
                let processor = vertex.supplier(index)
                do {
                    try processor.initialize(context: context)
                    if coordinator?.restoredSnapshot ?? 0 > 0 {
                        for entry in restored { try processor.restoreFromSnapshot(entry) }
                        try processor.finishSnapshotRestore()
                    }
                } catch let error as StreamJetError {
                    var error = error
                    error.vertex = error.vertex ?? vertex.name
                    throw error
                } catch {
                    throw StreamJetError(.processorFailed, "\(error)", vertex: vertex.name, underlying: error)
                }
                tasklets.append(
                    ProcessorTasklet(
                        processor: processor, context: context, inboxes: inboxes[id][index].map { $0 as! any AnyInbox },
                        inputs: inputs[id][index], coordinator: coordinator))
            }
        }
    }
}
