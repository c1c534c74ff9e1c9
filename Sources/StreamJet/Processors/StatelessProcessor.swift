/// Runs a fused chain of stateless steps (map, filter, flatMap, mapUsing) over every input ordinal.
///
/// Outputs of one input go to a reusable buffer and then to the outboxes; when an outbox refuses, the
/// rest of the buffer waits for the next call and no further input is taken.
final class StatelessProcessor<Input, Output>: Processor {
    private let chain: Chain<Input, Output>
    private let ports: OutputPorts
    private var inboxes: [Inbox<Timestamped<Input>>] = []
    private var emitter: Emitter<Output>!

    init(chain: @escaping Chain<Input, Output>, ports: OutputPorts) {
        self.chain = chain
        self.ports = ports
    }

    func initialize(context: ProcessorContext) throws {
        inboxes = (0..<context.inboxCount).map { context.inbox($0, of: Timestamped<Input>.self) }
        emitter = Emitter(context: context, ordinals: ports.main)
    }

    func process(ordinal: Int) throws {
        let inbox = inboxes[ordinal]
        let emitter = self.emitter!
        guard emitter.flush() else { return }
        while let item = inbox.poll() {
            chain(item) { emitter.emit($0) }
            guard emitter.isFlushed else { return }
        }
    }

    func complete() throws -> Bool { emitter.flush() }
}
