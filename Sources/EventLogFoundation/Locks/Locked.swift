#if canImport(Glibc)
    import Glibc
#endif

/// A value guarded by a pthread mutex, with `Synchronization.Mutex`'s `withLock` shape.
///
/// Why not `Mutex`: on Linux it is built on raw futex calls that ThreadSanitizer cannot see, so every
/// access inside `withLock` is reported as a race — and real races would drown in those reports.
/// pthread mutexes are intercepted by TSan, so the test suite can run under `-sanitize=thread` with
/// meaningful results. The cost is one allocation per lock (locks live as long as their owners).
///
/// Rules, as for `Mutex`: no calls out (callbacks, I/O, logging) inside `withLock`, except where a
/// type's documentation says otherwise (the partition writer lock).
package final class Locked<Value>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    package init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    package func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
