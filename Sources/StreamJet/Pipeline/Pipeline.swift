/// A typed description of a streaming job, compiled to a ``DAG``.
///
/// ```swift
/// let pipeline = Pipeline()
/// let counts = pipeline
///     .readFrom(.topic(log, "orders", decode: OrderEvent.init))
///     .withTimestamps({ $0.lastModified }, allowedLag: 2_000)
///     .groupingKey(\.restaurantId)
///     .window(.tumbling(60_000))
///     .aggregate(.counting())
/// let collector = counts.writeTo(Sinks.collector())
/// try pipeline.submit(JobConfiguration(name: "counts")).join()
/// ```
///
/// Compilation follows Jet: consecutive stateless stages (map, filter, flatMap, mapUsing) fuse into one
/// vertex, and into the source before them; a windowed aggregation becomes two vertices (accumulate by
/// frame locally, then combine partitioned by key), unless early results are asked for, which needs the
/// single-stage form. Every stage runs one instance per worker thread unless told otherwise.
public final class Pipeline {
    private(set) var nodes: [PipelineNode] = []
    private(set) var sinks: [PipelineNode] = []

    public init() {}

    func add(_ node: PipelineNode) -> PipelineNode {
        node.id = nodes.count
        nodes.append(node)
        if node.isSink { sinks.append(node) }
        return node
    }

    /// Compiles the stages that lead to a sink into a ``DAG``.
    ///
    /// - Throws: ``StreamJetError/Code/invalidPipeline`` when the pipeline has no sink.
    public func toDAG() throws(StreamJetError) -> DAG {
        guard !sinks.isEmpty else { throw StreamJetError(.invalidPipeline, "the pipeline has no sink (use writeTo)") }
        // Nodes that feed a sink, in creation order (which is a topological order).
        var needed = Set<Int>()
        var stack = sinks
        while let node = stack.popLast() {
            guard needed.insert(node.id).inserted else { continue }
            stack.append(contentsOf: node.inputs.map(\.upstream))
        }
        let used = nodes.filter { needed.contains($0.id) }
        // Output ordinals: each consumer of a node gets its own ordinal; ports say which are main/late.
        var ports = [Int: [[Int]]]()
        var nextOrdinal = [Int: Int]()
        var edgeOrdinals: [(node: PipelineNode, input: Int, fromOrdinal: Int)] = []
        for node in used {
            for (index, input) in node.inputs.enumerated() {
                let ordinal = nextOrdinal[input.upstream.id, default: 0]
                nextOrdinal[input.upstream.id] = ordinal + 1
                var nodePorts = ports[input.upstream.id, default: [[], []]]
                nodePorts[input.port].append(ordinal)
                ports[input.upstream.id] = nodePorts
                edgeOrdinals.append((node, index, ordinal))
            }
        }
        let dag = DAG()
        var vertices = [Int: Vertex]()
        var names = Set<String>()
        for node in used {
            var name = node.name
            var suffix = 2
            while names.contains(name) {
                name = "\(node.name)-\(suffix)"
                suffix += 1
            }
            names.insert(name)
            let supplier = node.makeSupplier(OutputPorts(ordinals: ports[node.id, default: [[], []]]))
            vertices[node.id] = dag.vertex(name, localParallelism: node.localParallelism, supplier: supplier)
        }
        for (node, index, fromOrdinal) in edgeOrdinals {
            let input = node.inputs[index]
            input.connect(dag, vertices[input.upstream.id]!, fromOrdinal, vertices[node.id]!, index)
        }
        return dag
    }

    /// Compiles the pipeline and starts it.
    public func submit(_ configuration: JobConfiguration = JobConfiguration()) throws -> Job {
        try Job(dag: toDAG(), configuration: configuration)
    }
}

/// One step of a pipeline before compilation: what becomes a vertex, how its inputs connect, and (for
/// stateless steps and sources) how a following stateless step can fuse into it.
final class PipelineNode {
    var id = -1
    let name: String
    var localParallelism: Int?
    var inputs: [NodeInput] = []
    let isSink: Bool
    let hasTimestamps: Bool
    let makeSupplier: (OutputPorts) -> (Int) -> any Processor
    /// A ``ChainAppendable`` when a stateless step after this one can fuse into it.
    var fusion: AnyObject?

    init(
        name: String, localParallelism: Int? = nil, isSink: Bool = false, hasTimestamps: Bool,
        makeSupplier: @escaping (OutputPorts) -> (Int) -> any Processor
    ) {
        self.name = name
        self.localParallelism = localParallelism
        self.isSink = isSink
        self.hasTimestamps = hasTimestamps
        self.makeSupplier = makeSupplier
    }
}

struct NodeInput {
    let upstream: PipelineNode
    /// 0 for the upstream's main output, 1 for its late events.
    let port: Int
    let connect: (DAG, Vertex, Int, Vertex, Int) -> Void
}

/// How a downstream step wants its input routed.
enum InputRouting<Item> {
    /// Same instance when the parallelism matches (Jet's local, isolated edge), else round-robin.
    case local
    case unicast
    case partitioned((Item) -> Int)
    case broadcast
}

extension NodeInput {
    static func make<Item>(
        from upstream: PipelineNode, port: Int, carrying: Item.Type, routing: InputRouting<Timestamped<Item>>,
        priority: Int = 0
    ) -> NodeInput {
        NodeInput(upstream: upstream, port: port) { dag, from, fromOrdinal, to, toOrdinal in
            var edge = Edge<Timestamped<Item>>(from: from, fromOrdinal, to: to, toOrdinal)
            switch routing {
            case .local:
                edge = from.localParallelism == to.localParallelism ? edge.isolated() : edge.unicast()
            case .unicast:
                edge = edge.unicast()
            case .partitioned(let hash):
                edge.routing = .partitioned
                edge.keyHash = hash
            case .broadcast:
                edge = edge.broadcast()
            }
            dag.edge(edge.priority(priority))
        }
    }
}

/// A stage whose stateless successor can be fused into it.
protocol ChainAppendable<Output>: AnyObject {
    associatedtype Output
    func appending<Next>(_ chain: @escaping Chain<Output, Next>, name: String) -> PipelineNode
}
