/// A directed acyclic graph of vertices (processor suppliers) joined by edges: the core job description
/// that a ``Pipeline`` compiles to and that ``JobRunner`` executes.
///
/// ```
///   ┌──────────┐ 0      isolated     0 ┌────────────┐ 0   partitioned(key)   0 ┌──────────┐
///   │ source×2 │ ─────────────────────▶ │ accumulate │ ─────────────────────▶ │ combine×2 │ ─▶ sink
///   └──────────┘                        │     ×2     │                        └──────────┘
///                                       └────────────┘
/// ```
///
/// Each vertex runs `localParallelism` processor instances. An edge connects an output ordinal of one
/// vertex to an input ordinal of another; every producing instance gets its own single-producer queue to
/// every consuming instance it can route to. Invariants checked by ``validate()``: vertex names are unique,
/// ordinals of each vertex are contiguous from 0 with one edge each, there is no cycle, and isolated
/// edges join vertices of equal parallelism.
public final class DAG {
    private(set) var vertices: [Vertex] = []
    private(set) var edges: [any AnyEdge] = []

    public init() {}

    /// Adds a vertex running `localParallelism` instances made by `supplier` (called once per instance,
    /// with the instance index).
    @discardableResult
    public func vertex(
        _ name: String, localParallelism: Int? = nil, supplier: @escaping (Int) -> any Processor
    ) -> Vertex {
        let vertex = Vertex(name: name, localParallelism: localParallelism, supplier: supplier, id: vertices.count)
        vertices.append(vertex)
        return vertex
    }

    /// Adds an edge.
    public func edge<Item>(_ edge: Edge<Item>) {
        edges.append(edge)
    }

    /// Checks the invariants in the type's discussion and resolves default parallelism.
    func validate(defaultParallelism: Int) throws(StreamJetError) {
        var names = Set<String>()
        for vertex in vertices {
            guard names.insert(vertex.name).inserted else {
                throw StreamJetError(.invalidDAG, "two vertices are named '\(vertex.name)'")
            }
            if let parallelism = vertex.localParallelism, parallelism < 1 {
                throw StreamJetError(.invalidDAG, "vertex '\(vertex.name)' has local parallelism \(parallelism)")
            }
        }
        for (label, ordinals) in [
            ("output", edges.map { ($0.source.id, $0.sourceOrdinal) }),
            ("input", edges.map { ($0.destination.id, $0.destinationOrdinal) }),
        ] {
            for vertex in vertices {
                let used = ordinals.filter { $0.0 == vertex.id }.map(\.1).sorted()
                guard used == Array(0..<used.count) else {
                    throw StreamJetError(
                        .invalidDAG,
                        "vertex '\(vertex.name)' uses \(label) ordinals \(used); they must be 0, 1, … with one edge each"
                    )
                }
            }
        }
        // Kahn's algorithm: every vertex must be reached once its producers are.
        var indegree = [Int](repeating: 0, count: vertices.count)
        for edge in edges { indegree[edge.destination.id] += 1 }
        var ready = vertices.filter { indegree[$0.id] == 0 }.map(\.id)
        var seen = 0
        while let id = ready.popLast() {
            seen += 1
            for edge in edges where edge.source.id == id {
                indegree[edge.destination.id] -= 1
                if indegree[edge.destination.id] == 0 { ready.append(edge.destination.id) }
            }
        }
        guard seen == vertices.count else { throw StreamJetError(.invalidDAG, "the DAG has a cycle") }
        for edge in edges where edge.routing == .isolated {
            let from = edge.source.localParallelism ?? defaultParallelism
            let to = edge.destination.localParallelism ?? defaultParallelism
            guard from == to else {
                throw StreamJetError(
                    .invalidDAG,
                    "isolated edge '\(edge.source.name)' → '\(edge.destination.name)' joins parallelism \(from) to \(to)"
                )
            }
        }
    }
}

/// A named step of a ``DAG``, run as `localParallelism` processor instances (default: one per worker
/// thread).
public final class Vertex {
    /// The vertex's unique name; errors and metrics use it.
    public let name: String
    /// Instances to run; nil means the job's default (one per worker thread).
    public let localParallelism: Int?
    let supplier: (Int) -> any Processor
    let id: Int

    init(name: String, localParallelism: Int?, supplier: @escaping (Int) -> any Processor, id: Int) {
        self.name = name
        self.localParallelism = localParallelism
        self.supplier = supplier
        self.id = id
    }
}

/// How an edge chooses the consuming instance of each item.
public enum RoutingKind: Sendable, Hashable {
    /// Round-robin over the consumers, skipping full queues (does not keep order).
    case unicast
    /// Instance i feeds instance i (keeps order; equal parallelism on both sides).
    case isolated
    /// Every item with the same key goes to the same instance.
    case partitioned
    /// Every consumer gets every item.
    case broadcast
}

/// An edge of a ``DAG`` carrying items of type `Item` from an output ordinal to an input ordinal.
///
/// ```swift
/// dag.edge(Edge<Order>(from: source, to: counter).partitioned { $0.restaurantId })
/// ```
public struct Edge<Item> {
    let source: Vertex
    let sourceOrdinal: Int
    let destination: Vertex
    let destinationOrdinal: Int
    var routing: RoutingKind = .unicast
    var keyHash: ((Item) -> Int)?
    /// Lower numbers are consumed completely before higher ones start (hash joins load their side input
    /// this way).
    var priority = 0
    var queueCapacity = 1024

    /// An edge from output `fromOrdinal` of `source` to input `toOrdinal` of `destination`, unicast by
    /// default: `Edge<Order>(from: parse, to: join, 1)`.
    public init(from source: Vertex, _ fromOrdinal: Int = 0, to destination: Vertex, _ toOrdinal: Int = 0) {
        self.source = source
        self.sourceOrdinal = fromOrdinal
        self.destination = destination
        self.destinationOrdinal = toOrdinal
    }

    /// Routes each item to the instance that owns its key.
    public func partitioned<Key: Hashable>(by key: @escaping (Item) -> Key) -> Self {
        var copy = self
        copy.routing = .partitioned
        copy.keyHash = { key($0).hashValue }
        return copy
    }

    /// Instance i feeds instance i.
    public func isolated() -> Self {
        var copy = self
        copy.routing = .isolated
        return copy
    }

    /// Every consumer instance receives every item.
    public func broadcast() -> Self {
        var copy = self
        copy.routing = .broadcast
        return copy
    }

    /// Round-robin (the default).
    public func unicast() -> Self {
        var copy = self
        copy.routing = .unicast
        return copy
    }

    /// Sets the priority: all edges of a lower priority into the same vertex are consumed to completion
    /// before any edge of a higher one.
    public func priority(_ priority: Int) -> Self {
        var copy = self
        copy.priority = priority
        return copy
    }

    /// Sets the capacity of each queue of this edge (a power of two; default 1024).
    public func queueCapacity(_ capacity: Int) -> Self {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "queue capacity must be a power of two")
        var copy = self
        copy.queueCapacity = capacity
        return copy
    }
}

/// The type-erased edge the runner wires.
protocol AnyEdge {
    var source: Vertex { get }
    var sourceOrdinal: Int { get }
    var destination: Vertex { get }
    var destinationOrdinal: Int { get }
    var routing: RoutingKind { get }
    var priority: Int { get }
    func makeInbox() -> AnyObject
    func makeOutbox() -> any AnyOutbox
    /// Creates the queues: `[producer][consumer]`, nil where the routing never sends.
    func makeQueues(producers: Int, consumers: Int) -> [[(any AnyConcurrentQueue)?]]
    func connect(outbox: any AnyOutbox, queues: [any AnyConcurrentQueue])
}

extension Edge: AnyEdge {
    func makeInbox() -> AnyObject { Inbox<Item>() }
    func makeOutbox() -> any AnyOutbox { Outbox<Item>() }

    func makeQueues(producers: Int, consumers: Int) -> [[(any AnyConcurrentQueue)?]] {
        (0..<producers).map { producer in
            (0..<consumers).map { consumer -> (any AnyConcurrentQueue)? in
                if routing == .isolated && producer != consumer { return nil }
                return ConcurrentQueue<Item>(capacity: queueCapacity)
            }
        }
    }

    func connect(outbox: any AnyOutbox, queues: [any AnyConcurrentQueue]) {
        let outbox = outbox as! Outbox<Item>
        outbox.queues = queues.map { $0 as! ConcurrentQueue<Item> }
        switch routing {
        case .isolated: outbox.route = .isolated
        case .unicast: outbox.route = queues.count == 1 ? .isolated : .unicast
        case .broadcast: outbox.route = .broadcast
        case .partitioned: outbox.route = queues.count == 1 ? .isolated : .partitioned(keyHash!)
        }
    }

}
