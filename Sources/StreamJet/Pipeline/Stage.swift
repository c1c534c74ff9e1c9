/// A step of a ``Pipeline`` producing items of type `Item`; the methods add the next step.
///
/// Stateless steps fuse into the step before them when it is a source or another stateless step, so a
/// chain like `map → filter → map` costs one queue hop, not three.
public struct Stage<Item> {
    let pipeline: Pipeline
    let node: PipelineNode
    /// 0: the node's main output; 1: its late events.
    let port: Int

    init(pipeline: Pipeline, node: PipelineNode, port: Int = 0) {
        self.pipeline = pipeline
        self.node = node
        self.port = port
    }

    var hasTimestamps: Bool { node.hasTimestamps }

    /// Sets the number of instances of this stage's vertex (default: one per worker thread).
    public func setLocalParallelism(_ parallelism: Int) -> Self {
        precondition(parallelism > 0, "local parallelism must be positive")
        node.localParallelism = parallelism
        return self
    }

    func stateless<Output>(_ name: String, _ chain: @escaping Chain<Item, Output>) -> Stage<Output> {
        if port == 0, let fusable = node.fusion as? any ChainAppendable<Item> {
            return Stage<Output>(pipeline: pipeline, node: fusable.appending(chain, name: name))
        }
        return Stage<Output>(pipeline: pipeline, node: StatelessSpec(upstream: self, chain: chain).makeNode(name: name))
    }

    /// Transforms each item; the timestamp is kept.
    public func map<Output>(_ transform: @escaping (Item) -> Output) -> Stage<Output> {
        stateless("map") { item, emit in emit(item.replacingValue(with: transform(item.value))) }
    }

    /// Keeps the items for which `predicate` is true.
    public func filter(_ predicate: @escaping (Item) -> Bool) -> Stage<Item> {
        stateless("filter") { item, emit in if predicate(item.value) { emit(item) } }
    }

    /// Transforms each item and drops it when the transform returns nil.
    public func compactMap<Output>(_ transform: @escaping (Item) -> Output?) -> Stage<Output> {
        stateless("compactMap") { item, emit in
            if let output = transform(item.value) { emit(item.replacingValue(with: output)) }
        }
    }

    /// Replaces each item by the elements of a sequence, all with the item's timestamp.
    public func flatMap<S: Sequence>(_ transform: @escaping (Item) -> S) -> Stage<S.Element> {
        stateless("flatMap") { item, emit in
            for output in transform(item.value) { emit(item.replacingValue(with: output)) }
        }
    }

    /// Enriches each item with a lookup in a service shared by all instances (a live view, a map, a
    /// client); returning nil drops the item.
    ///
    /// The service must be safe to call from several worker threads at once.
    public func mapUsing<Service: Sendable, Output>(
        _ service: Service, _ transform: @escaping (Service, Item) -> Output?
    ) -> Stage<Output> {
        stateless("mapUsing") { item, emit in
            if let output = transform(service, item.value) { emit(item.replacingValue(with: output)) }
        }
    }

    /// Sees each item (for logging or debugging) and passes it on.
    public func peek(_ observe: @escaping (Item) -> Void) -> Stage<Item> {
        stateless("peek") { item, emit in
            observe(item.value)
            emit(item)
        }
    }

    /// Merges this stage's items with `other`'s into one stream (no order between the two).
    public func merge(_ other: Stage<Item>) -> Stage<Item> {
        let node = PipelineNode(name: "merge", hasTimestamps: hasTimestamps && other.hasTimestamps) { ports in
            { _ in StatelessProcessor<Item, Item>(chain: { item, emit in emit(item) }, ports: ports) }
        }
        node.inputs = [
            .make(from: self.node, port: port, carrying: Item.self, routing: .local),
            .make(from: other.node, port: other.port, carrying: Item.self, routing: .local),
        ]
        return Stage(pipeline: pipeline, node: pipeline.add(node))
    }

    /// Spreads items round-robin over the next stage's instances (breaks the local, order-keeping edge).
    public func rebalance() -> Stage<Item> {
        let node = PipelineNode(name: "rebalance", hasTimestamps: hasTimestamps) { ports in
            { _ in StatelessProcessor<Item, Item>(chain: { item, emit in emit(item) }, ports: ports) }
        }
        node.inputs = [.make(from: self.node, port: port, carrying: Item.self, routing: .unicast)]
        return Stage(pipeline: pipeline, node: pipeline.add(node))
    }

    /// Sends every item with the same key to the same instance of the next stage.
    public func rebalance<Key: Hashable>(by key: @escaping (Item) -> Key) -> Stage<Item> {
        let node = PipelineNode(name: "rebalance", hasTimestamps: hasTimestamps) { ports in
            { _ in StatelessProcessor<Item, Item>(chain: { item, emit in emit(item) }, ports: ports) }
        }
        node.inputs = [
            .make(from: self.node, port: port, carrying: Item.self, routing: .partitioned { key($0.value).hashValue })
        ]
        return Stage(pipeline: pipeline, node: pipeline.add(node))
    }

    /// Groups items by key for keyed steps: windowed aggregation, rolling aggregation, stateful mapping.
    public func groupingKey<Key: Hashable>(_ key: @escaping (Item) -> Key) -> KeyedStage<Item, Key> {
        KeyedStage(upstream: self, key: key)
    }

    /// Ends the pipeline in `sink`. With the same parallelism as this stage, each instance feeds its own
    /// sink instance, so items reach the sink in the order this stage produced them (a topic-to-topic job
    /// keeps every partition's order); with a different one they are spread round-robin.
    @discardableResult
    public func writeTo<S: Sink>(_ sink: S) -> S where S.Item == Item {
        let node = PipelineNode(
            name: sink.name, localParallelism: sink.localParallelism, isSink: true, hasTimestamps: false
        ) { _ in sink.makeProcessor }
        node.inputs = [.make(from: self.node, port: port, carrying: Item.self, routing: .local)]
        _ = pipeline.add(node)
        return sink
    }
}

/// A stage whose items are grouped by a key.
public struct KeyedStage<Item, Key: Hashable> {
    let upstream: Stage<Item>
    @usableFromInline let key: (Item) -> Key

    var pipeline: Pipeline { upstream.pipeline }

    func partitionedInput() -> NodeInput {
        let key = self.key
        return .make(
            from: upstream.node, port: upstream.port, carrying: Item.self,
            routing: .partitioned { key($0.value).hashValue })
    }
}
