import Dispatch
package import EventLog
import Logging
import NIOCore
import NIOPosix

/// Drives the broker with raw request frames, for the libFuzzer target `Fuzz/KafkaRequest`: whatever the
/// bytes, handling must return a response, no response, or a ``KafkaProtocolError`` — never trap, and
/// never damage the log.
///
/// Each input gets a fresh broker (so group state does not leak between inputs) over one log with topic
/// auto-creation off; a request that waits (a long-poll Fetch, a JoinGroup waiting for other members) is
/// abandoned after `waitMilliseconds`.
package final class KafkaRequestFuzzer: @unchecked Sendable {
    private let log: Log
    private let pool: NIOThreadPool
    private let waitMilliseconds: Int

    package init(log: Log, waitMilliseconds: Int = 50) {
        self.log = log
        self.waitMilliseconds = waitMilliseconds
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
    }

    /// Handles one frame (without its size prefix).
    package func handle(_ frame: [UInt8]) {
        var configuration = KafkaServerConfiguration(host: "127.0.0.1", port: 9092)
        configuration.autoCreateTopics = false
        let broker = KafkaBroker(
            log: log, configuration: configuration, blocking: pool,
            logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            let response = try? await broker.handle(ByteBuffer(bytes: frame))
            response?.release()
            done.signal()
        }
        if done.wait(timeout: .now() + .milliseconds(waitMilliseconds)) == .timedOut { task.cancel() }
    }
}
