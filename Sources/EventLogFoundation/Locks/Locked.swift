#if canImport(Glibc)
    import Glibc
#endif

/// A value guarded by a pthread mutex, with `Synchronization.Mutex`'s `withLock` shape.
///
/// Why not `Mutex`: on Linux it is built on raw futex calls that ThreadSanitizer cannot see, so every
/// access inside `withLock` is reported as a race — and real races would drown in those reports.
/// pthread mutexes are intercepted by TSan, so the test suite can run under `-sanitize=thread` with
/// meaningful results.
///
/// The value and the mutex share one allocation (the storage's header is the value, its single element
/// the mutex), and every pthread call's result is checked: a failing lock call means memory corruption or
/// a misuse (in debug builds the mutex is error-checking, so relocking or unlocking from the wrong
/// thread is caught), and the process stops with the error rather than running unguarded.
///
/// Rules, as for `Mutex`: no calls out (callbacks, I/O, logging) inside `withLock`, except where a
/// type's documentation says otherwise (the partition writer lock).
package struct Locked<Value>: @unchecked Sendable {
    private final class Storage: ManagedBuffer<Value, pthread_mutex_t> {
        deinit {
            withUnsafeMutablePointers { _, mutex in
                let result = pthread_mutex_destroy(mutex)
                precondition(result == 0, "pthread_mutex_destroy failed: \(result)")
                mutex.deinitialize(count: 1)
            }
        }
    }

    private let storage: Storage

    package init(_ value: Value) {
        storage = Storage.create(minimumCapacity: 1) { _ in value } as! Storage
        storage.withUnsafeMutablePointerToElements { mutex in
            mutex.initialize(to: pthread_mutex_t())
            PThread.initializeMutex(mutex)
        }
    }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    package func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        try storage.withUnsafeMutablePointers { (value, mutex) throws(E) -> Result in
            PThread.lock(mutex)
            defer { PThread.unlock(mutex) }
            return try body(&value.pointee)
        }
    }
}

/// The pthread calls the locks make, each result checked.
enum PThread {
    static func initializeMutex(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
        var attributes = pthread_mutexattr_t()
        check(pthread_mutexattr_init(&attributes), "pthread_mutexattr_init")
        defer { pthread_mutexattr_destroy(&attributes) }
        #if DEBUG
            check(
                pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK)), "pthread_mutexattr_settype")
        #endif
        check(pthread_mutex_init(mutex, &attributes), "pthread_mutex_init")
    }

    @inline(__always)
    static func lock(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
        check(pthread_mutex_lock(mutex), "pthread_mutex_lock")
    }

    @inline(__always)
    static func unlock(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
        check(pthread_mutex_unlock(mutex), "pthread_mutex_unlock")
    }

    @inline(__always)
    static func check(_ result: Int32, _ call: StaticString) {
        precondition(result == 0, "\(call) failed: error \(result)")
    }
}
