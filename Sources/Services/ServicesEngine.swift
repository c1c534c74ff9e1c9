import EventLog
import EventLogFoundation
import Foundation

/// Serves ``OrderServices`` to many callers: one engine thread owns the services; callers queue requests and
/// get their answer through a callback. Each round the engine thread takes every queued request, applies them
/// in order and times out overdue sagas — staging events, deciding on the in-memory state — then hands the
/// round's events to the committer thread and goes on with the next round. The committer encodes and appends
/// every round it finds waiting in one go (a group commit; atomic per saga transition), then answers: a
/// command when its round is in the log, an order when the round that ended its saga is. Two threads, so
/// deciding and writing overlap.
///
/// Invariants: nothing is answered before it is in the log; rounds reach the log in the order they were
/// staged, each expecting the stream versions the rounds before it leave; the queue and the rounds waiting
/// for the committer are bounded (``submit`` blocks while the queue is full, the engine while the committer
/// is behind), so callers faster than the log slow down instead of growing memory; a command runs only when
/// every earlier round is in the log (a retried request id is looked up there); after a failed append no
/// later round is appended, and every waiting and later request fails with that error (the services must be
/// reopened from the log).
public final class ServicesEngine: @unchecked Sendable {
    /// An order's outcome: its view when the saga ended, and how long that took from submission (ms).
    public typealias OrderCallback = @Sendable (Result<Order, any Error>, Double) -> Void

    private enum Request {
        case order(
            id: String?, account: String, item: String, location: String, quantity: Int, submitted: UInt64,
            OrderCallback)
        case command(@Sendable (OrderServices) throws -> Void, @Sendable ((any Error)?) -> Void)

        var isCommand: Bool {
            if case .command = self { return true }
            return false
        }
    }

    /// A round's events and whom to answer once they are in the log.
    private struct Round {
        var staged: StagedEvents
        var orders: [(callback: OrderCallback, order: Order, submitted: UInt64)] = []
        var commands: [@Sendable ((any Error)?) -> Void] = []
    }

    private let services: OrderServices
    private let streams: EventStreams
    private let lock = ConditionLock()
    // Under `lock`.
    private var queue: [Request] = []
    private var stopping = false
    private var failure: (any Error)?
    /// Rounds staged and not yet taken by the committer; `committing` while it appends the ones it took.
    private var rounds: [Round] = []
    private var committing = false
    private var engineEnded = false
    private var activeCount = -1  // unknown until the engine has resumed the log's sagas
    private var thread: WorkerThread?
    private var committer: WorkerThread?
    private let maxQueued: Int
    private static let maxRounds = 4
    // Engine thread only.
    private var waiting: [String: (submitted: UInt64, callback: OrderCallback)] = [:]

    /// Starts the engine thread; `services` must not be used by anyone else from now on.
    public init(services: OrderServices, maxQueued: Int = 10_000) {
        self.services = services
        streams = services.streams
        self.maxQueued = maxQueued
        committer = WorkerThread(name: "services-commit") { [self] in commitRounds() }
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

    /// Waits until every saga has ended and everything is in the log (or the engine failed); rounds run at
    /// least every 20 ms, so timeouts are noticed.
    public func waitUntilIdle() throws {
        while true {
            let (idle, failed) = lock.withLock {
                (activeCount == 0 && queue.isEmpty && rounds.isEmpty && !committing, failure)
            }
            if let failed { throw failed }
            if idle { return }
            usleep(5_000)
        }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private func run() {
        do {
            try services.resume()
            try services.commit()
            let active = services.activeCount
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
            // A command may look a request id up in the log: every earlier round must be there first.
            if batch.contains(where: \.isCommand) {
                let failed = lock.withLock { () -> Bool in
                    while (!rounds.isEmpty || committing) && failure == nil { lock.wait() }
                    return failure != nil
                }
                if failed {
                    lock.withLock { queue.insert(contentsOf: batch, at: 0) }  // refused below, with the failure
                    break
                }
            }
            var round = Round(staged: StagedEvents())
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
                        round.commands.append(finished)
                    } catch {
                        finished(error)
                    }
                }
            }
            do {
                try services.checkTimeouts()
                round.staged = try services.takeStaged()
            } catch {
                lock.withLock { if failure == nil { failure = error } }
                for finished in round.commands { finished(error) }
                break
            }
            for id in round.staged.ended {
                if let entry = waiting.removeValue(forKey: id), let order = services.order(id) {
                    round.orders.append((entry.callback, order, entry.submitted))
                }
            }
            let active = services.activeCount
            let refused = lock.withLock { () -> (any Error)? in
                while rounds.count >= Self.maxRounds && failure == nil { lock.wait() }
                if let failure { return failure }
                rounds.append(round)
                activeCount = active
                lock.broadcast()
                return nil
            }
            if let refused {
                Self.answer(round, refused)
                break
            }
        }
        lock.withLock {
            engineEnded = true
            lock.broadcast()
        }
        committer?.join()  // every round handed over is answered
        // Whatever is still queued after a failure is refused with it.
        let (rest, error) = lock.withLock { () -> ([Request], any Error) in
            let rest = queue
            queue.removeAll()
            lock.broadcast()
            return (rest, failure ?? ServiceError("the services engine is stopped"))
        }
        for request in rest {
            switch request {
            case .order(_, _, _, _, _, _, let callback): callback(.failure(error), 0)
            case .command(_, let finished): finished(error)
            }
        }
        for (_, entry) in waiting { entry.callback(.failure(error), 0) }
        waiting.removeAll()
    }

    /// The committer thread: appends every round waiting, in order, as one; then answers them. After a failed
    /// append it appends nothing more and fails every round it is handed.
    private func commitRounds() {
        while true {
            let (taken, failed) = lock.withLock { () -> ([Round], (any Error)?) in
                while rounds.isEmpty && !engineEnded { lock.wait() }
                let taken = rounds
                rounds.removeAll(keepingCapacity: true)
                committing = !taken.isEmpty
                lock.broadcast()
                return (taken, failure)
            }
            if taken.isEmpty { return }  // the engine ended and nothing is left
            var error = failed
            if error == nil {
                var staged = taken[0].staged
                for round in taken.dropFirst() { staged.append(round.staged) }
                do { try staged.append(to: streams) } catch let appendError { error = appendError }
            }
            for round in taken { Self.answer(round, error) }
            lock.withLock {
                if let error, failure == nil { failure = error }
                committing = false
                lock.broadcast()
            }
        }
    }

    /// Answers a round's commands and ended orders: with `error`, or (nil) as committed.
    private static func answer(_ round: Round, _ error: (any Error)?) {
        for finished in round.commands { finished(error) }
        let now = now()
        for (callback, order, submitted) in round.orders {
            if let error {
                callback(.failure(error), 0)
            } else {
                callback(.success(order), Double(now - submitted) / 1e6)
            }
        }
    }
}
