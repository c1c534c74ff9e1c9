extension KeyedStage {
    /// Chooses the windows of an aggregation.
    public func window(_ definition: WindowDefinition) -> WindowedStage<Item, Key> {
        WindowedStage(keyed: self, definition: definition)
    }

    /// Emits, for every item, its key's aggregate so far (``AggregateOperation/export``); Jet's
    /// `rollingAggregate`.
    public func rollingAggregate<Accumulator, Result>(
        _ operation: AggregateOperation<Item, Accumulator, Result>
    ) -> Stage<KeyedValue<Key, Result>> {
        mapStateful(create: operation.create) { state, key, item in
            operation.accumulate(&state, item)
            return KeyedValue(key: key, value: operation.export(state))
        }
    }

    /// Maps each item with mutable per-key state. With `ttl`, a key's state is evicted once the watermark is
    /// `ttl` milliseconds past the key's latest event, and `onEvict` may emit a final item.
    ///
    /// - Parameters:
    ///   - ttl: Event-time milliseconds of inactivity after which a key's state is dropped; nil keeps it.
    ///   - create: Makes the state of a new key.
    ///   - map: Updates the state and returns the item to emit, or nil.
    ///   - onEvict: Called with the state, key and watermark when a key is evicted.
    public func mapStateful<State, Output>(
        ttl: Int64? = nil, create: @escaping () -> State, _ map: @escaping (inout State, Key, Item) -> Output?,
        onEvict: ((State, Key, Int64) -> Output?)? = nil
    ) -> Stage<Output> {
        let key = self.key
        let node = PipelineNode(
            name: ttl == nil ? "mapStateful" : "mapStateful-ttl", hasTimestamps: upstream.hasTimestamps
        ) {
            ports in
            { _ in StatefulMapProcessor(key: key, create: create, map: map, ttl: ttl, onEvict: onEvict, ports: ports) }
        }
        node.inputs = [partitionedInput()]
        return Stage(pipeline: pipeline, node: pipeline.add(node))
    }
}

/// A keyed stage with windows chosen; ``aggregate(_:)`` completes it.
public struct WindowedStage<Item, Key: Hashable> {
    @usableFromInline let keyed: KeyedStage<Item, Key>
    let definition: WindowDefinition

    /// Aggregates each key's items per window.
    ///
    /// Compiled like Jet: tumbling and sliding windows become two stages — accumulate by frame on the
    /// instance that produced the item, then combine partitioned by key — unless early results are asked
    /// for, which needs one stage partitioned by key. Session windows are one stage partitioned by key.
    ///
    /// - Returns: A stage of window results; its ``WindowAggregateStage/lateEvents`` stage carries the items
    ///   that arrived after their window was emitted.
    @inlinable
    public func aggregate<Accumulator, Result>(
        _ operation: AggregateOperation<Item, Accumulator, Result>
    ) -> WindowAggregateStage<Item, Key, Result> {
        aggregate(operation, kernels: WindowKernels(key: keyed.key, operation: operation))
    }

    @usableFromInline
    func aggregate<Accumulator, Result>(
        _ operation: AggregateOperation<Item, Accumulator, Result>,
        kernels: WindowKernels<Item, Key, Accumulator, Result>
    ) -> WindowAggregateStage<Item, Key, Result> {
        let upstream = keyed.upstream
        let pipeline = keyed.pipeline
        precondition(
            upstream.hasTimestamps,
            "a window needs event time: choose withTimestamps, withNativeTimestamps or withIngestionTimestamps on the source"
        )
        let key = keyed.key
        let definition = self.definition
        switch definition.kind {
        case .session(let gap):
            let node = PipelineNode(name: "session-window", hasTimestamps: true) { ports in
                { _ in SessionWindowProcessor(gap: gap, key: key, operation: operation, ports: ports) }
            }
            node.inputs = [keyed.partitionedInput()]
            return WindowAggregateStage(pipeline: pipeline, node: pipeline.add(node))
        case .sliding:
            if definition.earlyResultsPeriod != nil {
                let node = PipelineNode(name: "window", hasTimestamps: true) { ports in
                    { _ in
                        SlidingWindowProcessor<Item, Key, Accumulator, Result>(
                            window: definition, mode: .windows(write: kernels.writeResults), raw: true,
                            keyedState: true, frame: nil, foldInto: kernels.fold, foldRun: kernels.foldRun,
                            operation: operation, ports: ports)
                    }
                }
                node.inputs = [keyed.partitionedInput()]
                return WindowAggregateStage(pipeline: pipeline, node: pipeline.add(node))
            }
            let accumulate = PipelineNode(
                name: "window-accumulate", localParallelism: upstream.node.localParallelism, hasTimestamps: true
            ) { ports in
                { _ in
                    SlidingWindowProcessor<Item, Key, Accumulator, Accumulator>(
                        window: definition, mode: .frames(write: kernels.writePartials), raw: true,
                        keyedState: false, frame: nil, foldInto: kernels.fold, foldRun: kernels.foldRun,
                        operation: AggregateOperation<Item, Accumulator, Accumulator>(
                            create: operation.create, accumulate: operation.accumulate, combine: operation.combine,
                            export: { $0 }),
                        ports: ports)
                }
            }
            accumulate.inputs = [.make(from: upstream.node, port: upstream.port, carrying: Item.self, routing: .local)]
            _ = pipeline.add(accumulate)
            typealias Partial = FramePartial<Key, Accumulator>
            let combine = PipelineNode(name: "window-combine", hasTimestamps: true) { ports in
                { _ in
                    SlidingWindowProcessor<Partial, Key, Accumulator, Result>(
                        window: definition, mode: .windows(write: kernels.writeResults), raw: false,
                        keyedState: true, frame: { $0.value.frameStart }, foldInto: kernels.combine,
                        foldRun: kernels.combineRun, operation: operation, ports: ports)
                }
            }
            combine.inputs = [
                .make(
                    from: accumulate, port: 0, carrying: Partial.self, routing: .partitioned(kernels.partialHash))
            ]
            return WindowAggregateStage(
                pipeline: pipeline, node: pipeline.add(combine), lateNode: accumulate)
        }
    }
}

/// The results of a windowed aggregation, plus the late events it set aside.
public struct WindowAggregateStage<Item, Key: Hashable, Result> {
    let pipeline: Pipeline
    let node: PipelineNode
    var lateNode: PipelineNode?

    /// The window results.
    public var results: Stage<KeyedWindowResult<Key, Result>> { Stage(pipeline: pipeline, node: node) }

    /// Items that arrived after their window had been emitted (they are also counted in the vertex's
    /// `lateEvents` metric).
    public var lateEvents: Stage<Item> { Stage(pipeline: pipeline, node: lateNode ?? node, port: 1) }

    /// Ends the results in `sink` (shorthand for `results.writeTo(sink)`).
    @discardableResult
    public func writeTo<S: Sink>(_ sink: S) -> S where S.Item == KeyedWindowResult<Key, Result> {
        results.writeTo(sink)
    }
}

extension Stage {
    /// Joins each item with the items of a bounded side input that have the same key; the side input is
    /// read completely before the first item is joined. Outer: an item without a match is joined with nil.
    ///
    /// - Parameters:
    ///   - side: A bounded stage (for example a collection or a bounded topic).
    ///   - key: The item's join key.
    ///   - sideKey: The side item's join key.
    ///   - join: Makes the output of one pair; nil drops it.
    public func hashJoin<Side, Key: Hashable, Output>(
        _ side: Stage<Side>, key: @escaping (Item) -> Key, sideKey: @escaping (Side) -> Key,
        _ join: @escaping (Item, Side?) -> Output?
    ) -> Stage<Output> {
        makeJoin(side, key: key, sideKey: sideKey, inner: false, join)
    }

    /// Like ``hashJoin(_:key:sideKey:_:)`` but drops items without a match.
    public func innerHashJoin<Side, Key: Hashable, Output>(
        _ side: Stage<Side>, key: @escaping (Item) -> Key, sideKey: @escaping (Side) -> Key,
        _ join: @escaping (Item, Side) -> Output?
    ) -> Stage<Output> {
        makeJoin(side, key: key, sideKey: sideKey, inner: true) { item, side in join(item, side!) }
    }

    private func makeJoin<Side, Key: Hashable, Output>(
        _ side: Stage<Side>, key: @escaping (Item) -> Key, sideKey: @escaping (Side) -> Key, inner: Bool,
        _ join: @escaping (Item, Side?) -> Output?
    ) -> Stage<Output> {
        let node = PipelineNode(name: inner ? "inner-hash-join" : "hash-join", hasTimestamps: hasTimestamps) { ports in
            { _ in HashJoinProcessor(itemKey: key, sideKey: sideKey, inner: inner, join: join, ports: ports) }
        }
        node.inputs = [
            .make(from: side.node, port: side.port, carrying: Side.self, routing: .broadcast, priority: -1),
            .make(from: self.node, port: port, carrying: Item.self, routing: .local),
        ]
        return Stage<Output>(pipeline: pipeline, node: pipeline.add(node))
    }
}
