/// A stateless step (or fused run of them) waiting to be compiled, able to absorb the next one.
final class StatelessSpec<Input, Output>: ChainAppendable {
    let upstream: Stage<Input>
    let chain: Chain<Input, Output>
    let pipeline: Pipeline

    init(upstream: Stage<Input>, chain: @escaping Chain<Input, Output>) {
        self.upstream = upstream
        self.chain = chain
        self.pipeline = upstream.pipeline
    }

    func appending<Next>(_ next: @escaping Chain<Output, Next>, name: String) -> PipelineNode {
        StatelessSpec<Input, Next>(upstream: upstream, chain: compose(chain, next)).makeNode(name: name)
    }

    func makeNode(name: String) -> PipelineNode {
        let chain = self.chain
        let node = PipelineNode(
            name: name, localParallelism: upstream.node.localParallelism, hasTimestamps: upstream.node.hasTimestamps
        ) {
            ports in { _ in StatelessProcessor(chain: chain, ports: ports) }
        }
        node.inputs = [.make(from: upstream.node, port: upstream.port, carrying: Input.self, routing: .local)]
        node.fusion = self
        return pipeline.add(node)
    }
}
