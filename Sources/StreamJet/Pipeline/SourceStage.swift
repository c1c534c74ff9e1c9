/// A source together with the stateless steps fused after it.
final class SourceSpec<Raw, Output>: ChainAppendable {
    let pipeline: Pipeline
    let source: Source<Raw>
    let policy: TimestampPolicy<Raw>
    let eventTime: EventTimePolicy?
    let chain: Chain<Raw, Output>
    let isIdentity: Bool
    let parallelism: Int?

    init(
        pipeline: Pipeline, source: Source<Raw>, policy: TimestampPolicy<Raw>, eventTime: EventTimePolicy?,
        chain: @escaping Chain<Raw, Output>, isIdentity: Bool = false, parallelism: Int?
    ) {
        self.pipeline = pipeline
        self.source = source
        self.policy = policy
        self.eventTime = eventTime
        self.chain = chain
        self.isIdentity = isIdentity
        self.parallelism = parallelism
    }

    func appending<Next>(_ next: @escaping Chain<Output, Next>, name: String) -> PipelineNode {
        SourceSpec<Raw, Next>(
            pipeline: pipeline, source: source, policy: policy, eventTime: eventTime, chain: compose(chain, next),
            parallelism: parallelism
        ).makeNode()
    }

    func makeNode() -> PipelineNode {
        let (source, policy, eventTime, chain, isIdentity) = (
            self.source, self.policy, self.eventTime, self.chain, self.isIdentity
        )
        let node = PipelineNode(name: source.name, localParallelism: parallelism, hasTimestamps: eventTime != nil) {
            ports in
            { index in
                SourceProcessor(
                    source: source, policy: policy, eventTime: eventTime, chain: chain, isIdentity: isIdentity,
                    ports: ports, index: index)
            }
        }
        node.fusion = self
        return pipeline.add(node)
    }
}

extension Pipeline {
    /// Starts a branch of the pipeline at `source`; choose how it assigns event time next.
    public func readFrom<Item>(_ source: Source<Item>) -> SourceStage<Item> {
        SourceStage(pipeline: self, source: source)
    }
}

/// A source before its event-time policy is chosen (Jet makes stream sources choose explicitly).
public struct SourceStage<Item> {
    let pipeline: Pipeline
    let source: Source<Item>
    var parallelism: Int?

    /// Sets the number of source instances (default: one per worker thread); lanes are spread over them.
    public func setLocalParallelism(_ parallelism: Int) -> Self {
        var copy = self
        copy.parallelism = parallelism
        return copy
    }

    private func stage(_ policy: TimestampPolicy<Item>, _ eventTime: EventTimePolicy?) -> Stage<Item> {
        let spec = SourceSpec<Item, Item>(
            pipeline: pipeline, source: source, policy: policy, eventTime: eventTime,
            chain: { item, emit in emit(item) }, isIdentity: true,
            parallelism: parallelism)
        return Stage(pipeline: pipeline, node: spec.makeNode())
    }

    /// Event time from a field of the item, with watermarks trailing the highest timestamp by
    /// `allowedLag` milliseconds; a lane without events for `idleTimeout` stops holding them back.
    public func withTimestamps(
        _ timestamp: @escaping (Item) -> Int64, allowedLag: Int64, idleTimeout: Int64 = 60_000
    ) -> Stage<Item> {
        stage(.field(timestamp), EventTimePolicy(allowedLag: allowedLag, idleTimeout: idleTimeout))
    }

    /// Event time from the source's own timestamps (a log record's timestamp).
    public func withNativeTimestamps(allowedLag: Int64, idleTimeout: Int64 = 60_000) -> Stage<Item> {
        stage(.native, EventTimePolicy(allowedLag: allowedLag, idleTimeout: idleTimeout))
    }

    /// Event time is the wall-clock time the source read the item.
    public func withIngestionTimestamps(idleTimeout: Int64 = 60_000) -> Stage<Item> {
        stage(.ingestion, EventTimePolicy(allowedLag: 0, idleTimeout: idleTimeout))
    }

    /// No event time: windows cannot follow, but everything else can.
    public func withoutTimestamps() -> Stage<Item> {
        stage(.none, nil)
    }
}
