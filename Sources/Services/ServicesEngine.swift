import EventLogFoundation
import Foundation

/// Serves ``OrderServices`` to many callers: one engine thread owns the services; callers queue requests and
/// get their answer through a callback. Each round the thread takes every queued request, applies them in
/// order, times out overdue sagas, commits everything staged in **one** atomic append (a group commit), then
/// answers: a command when its round is committed, an order when its saga has ended.
///
/// Invariants: nothing is answered before it is in the log; the queue is bounded (``submit`` blocks while it is
/// full), so callers faster than the engine slow down instead of growing memory; after a failed append every
/// waiting and later request fails with that error (the services must be reopened from the log).
public final class ServicesEngine: @unchecked Sendable {
    /// An order's outcome: its view when the saga ended, and how long that took from submission (ms).
    public typealias OrderCallback = @Sendable (Result<Order, any Error>, Double) -> Void

    private enum Request {
        case order(
            id: String?, account: String, item: String, location: String, quantity: Int, submitted: UInt64,
            OrderCallback)
        case command(@Sendable (OrderServices) throws -> Void, @Sendable ((any Error)?) -> Void)
    }

    private let services: OrderServices
    private let lock = ConditionLock()
    private var queue: [Request] = []
    private var stopping = false
    private var failure: (any Error)?
    private var thread: WorkerThread?
    private let maxQueued: Int
    // Engine thread only.
    private var waiting: [String: (submitted: UInt64, callback: OrderCallback)] = [:]

    /// Starts the engine thread; `services` must not be used by anyone else from now on.
    public init(services: OrderServices, maxQueued: Int = 10_000) {
        self.services = services
        self.maxQueued = maxQueued
        thread = WorkerThread(name: "services-engine") { [self] in run() }
    }

    /// Queues an order (with its id, or the next number); `callback` runs on the engine thread when its saga
    /// ended (or placing it failed).
    public func submit(
        id: String? = nil, account: String, item: String, location: String, quantity: Int,
        _ callback: @escaping OrderCallback
    ) {
        enqueue(
            .order(
                id: id, account: account, item: item, location: location, quantity: quantity, submitted: Self.now(),
                callback))
    }

    /// Runs `body` on the engine thread; `done` runs once its events are committed (or with the error).
    public func perform(
        _ body: @escaping @Sendable (OrderServices) throws -> Void, done: @escaping @Sendable ((any Error)?) -> Void
    ) {
        enqueue(.command(body, done))
    }

    /// Runs `body` on the engine thread and waits until its events are committed.
    public func performAndWait(_ body: @escaping @Sendable (OrderServices) throws -> Void) throws {
        let result = Locked<(done: Bool, error: (any Error)?)>((false, nil))
        let signal = ConditionLock()
        perform(body) { error in
            signal.withLock {
                result.withLock { $0 = (true, error) }
                signal.broadcast()
            }
        }
        signal.withLock { while !result.withLock({ $0.done }) { signal.wait() } }
        if let error = result.withLock({ $0.error }) { throw error }
    }

    private func enqueue(_ request: Request) {
        let refused = lock.withLock { () -> (any Error)? in
            while queue.count >= maxQueued && failure == nil && !stopping { lock.wait() }
            if let failure { return failure }
            if stopping { return ServiceError("the services engine is stopped") }
            queue.append(request)
            lock.broadcast()
            return nil
        }
        if let refused {
            switch request {
            case .order(_, _, _, _, _, _, let callback): callback(.failure(refused), 0)
            case .command(_, let done): done(refused)
            }
        }
    }

    /// Finishes what is queued, then ends the thread. Sagas still waiting (on a timeout) stay in the log and are
    /// resumed when the services are opened again.
    public func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
        }
        thread?.join()
    }

    /// Sagas not ended (including those resumed from the log), as of the last round.
    public var activeSagas: Int { lock.withLock { activeCount } }
    private var activeCount = -1  // unknown until the engine has resumed the log's sagas

    /// Waits until every saga has ended (or the engine failed); rounds run at least every 20 ms, so timeouts
    /// are noticed.
    public func waitUntilIdle() throws {
        while true {
            let (active, failed, queued) = lock.withLock { (activeCount, failure, queue.count) }
            if let failed { throw failed }
            if active == 0 && queued == 0 { return }
            usleep(5_000)
        }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private func run() {
        do {
            try services.resume()
            try services.commit()
            let active = services.active.count
            lock.withLock { activeCount = active }
        } catch {
            lock.withLock { failure = error }
        }
        while true {
            let batch = lock.withLock { () -> [Request]? in
                if queue.isEmpty && !stopping && failure == nil { lock.wait(nanoseconds: 20_000_000) }
                if (stopping && queue.isEmpty) || failure != nil { return nil }
                let taken = queue
                queue.removeAll(keepingCapacity: true)
                lock.broadcast()
                return taken
            }
            guard let batch else { break }
            var done: [(@Sendable ((any Error)?) -> Void, (any Error)?)] = []
            for request in batch {
                switch request {
                case .order(let id, let account, let item, let location, let quantity, let submitted, let callback):
                    do {
                        let id = try services.placeOrder(
                            account: account, item: item, location: location, quantity: quantity, id: id)
                        waiting[id] = (submitted, callback)
                    } catch {
                        callback(.failure(error), 0)
                    }
                case .command(let body, let finished):
                    do {
                        try body(services)
                        done.append((finished, nil))
                    } catch {
                        finished(error)
                    }
                }
            }
            do {
                try services.checkTimeouts()
                try services.commit()
            } catch {
                lock.withLock { failure = error }
                for (finished, _) in done { finished(error) }
                for (_, entry) in waiting { entry.callback(.failure(error), 0) }
                waiting.removeAll()
                break
            }
            for (finished, error) in done { finished(error) }
            let now = Self.now()
            for (id, entry) in waiting where !services.active.contains(id) {
                waiting[id] = nil
                if let order = services.orders[id] {
                    entry.callback(.success(order), Double(now - entry.submitted) / 1e6)
                }
            }
            let active = services.active.count
            lock.withLock { activeCount = active }
        }
        // Whatever is still queued after a failure is refused with it.
        let (rest, error) = lock.withLock { () -> ([Request], (any Error)?) in
            let rest = queue
            queue.removeAll()
            lock.broadcast()
            return (rest, failure ?? ServiceError("the services engine is stopped"))
        }
        for request in rest {
            switch request {
            case .order(_, _, _, _, _, _, let callback): callback(.failure(error!), 0)
            case .command(_, let finished): finished(error)
            }
        }
        if let failure = lock.withLock({ failure }) {
            for (_, entry) in waiting { entry.callback(.failure(failure), 0) }
            waiting.removeAll()
        }
    }
}
