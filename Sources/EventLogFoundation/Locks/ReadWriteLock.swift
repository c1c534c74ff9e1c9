#if canImport(Glibc)
    import Glibc
#endif

/// A POSIX read-write lock: many readers or one writer. Every pthread call's result is checked.
package final class ReadWriteLock: @unchecked Sendable {
    private let handle = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

    package init() {
        handle.initialize(to: pthread_rwlock_t())
        PThread.check(pthread_rwlock_init(handle, nil), "pthread_rwlock_init")
    }

    deinit {
        PThread.check(pthread_rwlock_destroy(handle), "pthread_rwlock_destroy")
        handle.deallocate()
    }

    package func read<T>(_ body: () throws -> T) rethrows -> T {
        PThread.check(pthread_rwlock_rdlock(handle), "pthread_rwlock_rdlock")
        defer { PThread.check(pthread_rwlock_unlock(handle), "pthread_rwlock_unlock") }
        return try body()
    }

    package func write<T>(_ body: () throws -> T) rethrows -> T {
        PThread.check(pthread_rwlock_wrlock(handle), "pthread_rwlock_wrlock")
        defer { PThread.check(pthread_rwlock_unlock(handle), "pthread_rwlock_unlock") }
        return try body()
    }
}
