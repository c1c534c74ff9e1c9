import EventLog
import EventLogFoundation
import Foundation
import Logging
import ServiceLifecycle
import Simulator
import Synchronization

/// `eventlog serve --simulate`: the order-delivery simulator running inside the server, paced by the wall
/// clock, writing into the log the server owns — so event streams, queries and Kafka consumers see orders
/// move live. Its simulated clock starts at the real time; a graceful shutdown stops it after its current
/// step and flushes what it wrote before the log closes.
final class SimulationService: Service, Sendable {
    private let log: Log
    private let speed: Double
    private let restaurants: [Restaurant]
    private let configuration: SimulationConfiguration
    private let logger: Logger

    init(
        log: Log, speed: Double, restaurants: [Restaurant], configuration: SimulationConfiguration, logger: Logger
    ) {
        self.log = log
        self.speed = speed
        self.restaurants = restaurants
        self.configuration = configuration
        self.logger = logger
    }

    func run() async throws {
        var configuration = self.configuration
        configuration.startMilliseconds = SystemClock().milliseconds()
        let sink = try LogSink(log: log)
        let world = try World(
            restaurants: restaurants, configuration: configuration, sink: sink)
        let stop = Atomic<Bool>(false)
        let failure = Locked<(any Error)?>(nil)
        let start = configuration.startMilliseconds, speed = self.speed
        let box = WorldBox(world: world, sink: sink)
        let thread = WorkerThread(name: "simulator") {
            let began = DispatchTime.now().uptimeNanoseconds
            var simulated = start
            do {
                while !stop.load(ordering: .relaxed) {
                    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6
                    let target = start + Int64(elapsed * speed)
                    if target > simulated {
                        // At most one simulated second per step: a simulator slower than the speed asked (a
                        // loaded machine, a sanitizer) falls behind the clock instead of taking ever longer
                        // steps, and a shutdown waits for one short step only.
                        simulated = min(target, simulated + 1_000)
                        try box.world.run(until: simulated)
                        try box.sink.flush()
                    } else {
                        usleep(5_000)
                    }
                }
                try box.sink.flush()
            } catch {
                failure.withLock { $0 = error }
            }
        }
        logger.info("simulator running", metadata: ["speed": "\(speed)"])
        try? await gracefulShutdown()
        stop.store(true, ordering: .relaxed)
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                thread.join()
                continuation.resume()
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }
}

/// Moves the simulator's world and sink into its thread (used by that thread alone).
private struct WorldBox: @unchecked Sendable {
    let world: World
    let sink: LogSink
}
