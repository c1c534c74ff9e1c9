import EventLogFoundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Wakes whoever waits for new records in a partition: async tasks (consumers' `AsyncSequence`) and
/// blocked threads (`poll(timeout:)`), without a polling loop.
///
/// Invariant: `version` increases after every batch becomes visible; a waiter registered with the
/// version it last saw is resumed as soon as the version differs (so a signal between "read, found
/// nothing" and "wait" is never lost).
final class AppendSignal: Sendable {
    private struct State {
        var version: UInt64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var observers: [UInt64: @Sendable () -> Void] = [:]
    }

    private let state = Locked(State())
    private let condition = ConditionLock()
    nonisolated(unsafe) private var conditionVersion: UInt64 = 0  // guarded by condition

    var version: UInt64 { state.withLock { $0.version } }

    /// Calls `observer` (outside every lock) after each signal until it is removed.
    func addObserver(_ observer: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLock { state in
            state.nextID &+= 1
            state.observers[state.nextID] = observer
            return state.nextID
        }
    }

    func removeObserver(_ id: UInt64) {
        _ = state.withLock { $0.observers.removeValue(forKey: id) }
    }

    /// Called after a batch became visible.
    func signal() {
        let (waiters, observers) = state.withLock {
            state -> ([CheckedContinuation<Void, Never>], [@Sendable () -> Void]) in
            state.version &+= 1
            let waiting = Array(state.waiters.values)
            state.waiters.removeAll()
            return (waiting, Array(state.observers.values))
        }
        for waiter in waiters { waiter.resume() }
        for observer in observers { observer() }
        condition.withLock {
            conditionVersion &+= 1
            condition.broadcast()
        }
    }

    /// Returns when the version is no longer `seen` (immediately if it already moved), or when the task
    /// is cancelled.
    func wait(after seen: UInt64) async {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.version != seen || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Blocks the calling thread until the version is no longer `seen` or `nanoseconds` pass.
    func block(after seen: UInt64, nanoseconds: Int64) {
        if version != seen { return }
        condition.withLock {
            if version == seen { condition.wait(nanoseconds: nanoseconds) }
        }
    }
}
