#if canImport(Glibc)
    import Glibc
#endif

/// A pthread mutex with one condition variable, for the places a thread must *wait* for another (group
/// commit followers waiting for the leader's fdatasync, a periodic thread waiting for its next tick), and
/// as a plain lock that guards no value (serializing maintenance, producer-id allocation). Every pthread
/// call's result is checked, as in ``Locked``.
package final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        mutex.initialize(to: pthread_mutex_t())
        condition.initialize(to: pthread_cond_t())
        PThread.initializeMutex(mutex)
        PThread.check(pthread_cond_init(condition, nil), "pthread_cond_init")
    }

    deinit {
        PThread.check(pthread_cond_destroy(condition), "pthread_cond_destroy")
        PThread.check(pthread_mutex_destroy(mutex), "pthread_mutex_destroy")
        mutex.deallocate()
        condition.deallocate()
    }

    package func lock() { PThread.lock(mutex) }
    package func unlock() { PThread.unlock(mutex) }
    /// Waits for a broadcast; call with the lock held.
    package func wait() { PThread.check(pthread_cond_wait(condition, mutex), "pthread_cond_wait") }
    /// Waits at most `nanoseconds`; call with the lock held.
    package func wait(nanoseconds: Int64) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let total = Int64(now.tv_nsec) + max(0, nanoseconds)
        var deadline = timespec(tv_sec: now.tv_sec + Int(total / 1_000_000_000), tv_nsec: Int(total % 1_000_000_000))
        let result = pthread_cond_timedwait(condition, mutex, &deadline)
        precondition(result == 0 || result == ETIMEDOUT, "pthread_cond_timedwait failed: error \(result)")
    }
    package func broadcast() { PThread.check(pthread_cond_broadcast(condition), "pthread_cond_broadcast") }

    package func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
