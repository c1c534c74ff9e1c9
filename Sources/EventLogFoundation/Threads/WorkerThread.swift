#if canImport(Glibc)
    import Glibc
#endif

/// The one way the package starts a thread: a named pthread running `body` once, which its owner joins.
///
/// Why threads and not Swift concurrency: these loops block (fdatasync, poll, waiting for a condition),
/// and blocking calls must not occupy the cooperative pool's few threads.
///
/// Invariants: the thread runs `body` exactly once; ``join()`` returns after `body` has returned (or at
/// once when called from the thread itself), and joining again (or from several callers) is harmless; a thread nobody joins is detached when its
/// handle is released, so it never leaks a pthread. Creating a thread can fail only when the system is
/// out of threads or memory — the process stops with the error then, as it would on allocation failure.
package final class WorkerThread: Sendable {
    private final class Context: @unchecked Sendable {
        let body: @Sendable () -> Void
        let name: String
        init(_ body: @escaping @Sendable () -> Void, name: String) {
            self.body = body
            self.name = name
        }
    }

    /// The pthread until someone joins it (`nil` afterwards).
    private let handle: Locked<pthread_t?>

    /// Starts a thread named `name` (at most 15 bytes are shown by `top -H`, `perf` and debuggers).
    package init(name: String, _ body: @escaping @Sendable () -> Void) {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Context(body, name: name)).toOpaque()
        let created = pthread_create(
            &thread, nil,
            { raw in
                let context = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
                nameThread(context.name)
                context.body()
                return nil
            }, context)
        precondition(created == 0, "pthread_create failed for thread \(name): error \(created)")
        handle = Locked(thread)
    }

    deinit {
        if let thread = handle.withLock({ $0 }) { pthread_detach(thread) }
    }

    /// Waits until the thread's body has returned. Called from the thread itself (its body released the
    /// last reference to an owner that stops it in `deinit`), it returns at once and the thread is detached:
    /// it ends when its body returns.
    package func join() {
        guard
            let thread = handle.withLock({ value -> pthread_t? in
                defer { value = nil }
                return value
            })
        else { return }
        if pthread_equal(thread, pthread_self()) != 0 {
            PThread.check(pthread_detach(thread), "pthread_detach")
            return
        }
        PThread.check(pthread_join(thread, nil), "pthread_join")
    }

    /// Starts a thread that nobody joins: it ends when `body` returns.
    package static func detach(name: String, _ body: @escaping @Sendable () -> Void) {
        _ = WorkerThread(name: name, body)
    }
}

/// A thread that runs `tick` every `intervalMilliseconds` until stopped (the log's interval flusher and
/// maintenance). ``stop()`` wakes it at once and returns after the last tick has finished.
package final class PeriodicThread: Sendable {
    private final class State: Sendable {
        let stopping = Locked(false)
        let wake = ConditionLock()
    }

    private let state = State()
    private let thread: WorkerThread

    package init(name: String, intervalMilliseconds: Int64, tick: @escaping @Sendable () -> Void) {
        let state = self.state
        thread = WorkerThread(name: name) {
            while true {
                let stop = state.wake.withLock {
                    if !state.stopping.withLock({ $0 }) {
                        state.wake.wait(nanoseconds: intervalMilliseconds * 1_000_000)
                    }
                    return state.stopping.withLock { $0 }
                }
                if stop { return }
                tick()
            }
        }
    }

    /// Stops the loop and waits for the thread to end.
    package func stop() {
        state.wake.withLock {
            state.stopping.withLock { $0 = true }
            state.wake.broadcast()
        }
        thread.join()
    }
}

/// Names the calling thread; harmless where /proc is missing.
private func nameThread(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY)
    guard fd >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}
