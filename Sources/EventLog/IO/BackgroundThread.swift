import EventLogFoundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A dedicated thread that runs `tick` every `intervalMilliseconds` until stopped. Used for the interval
/// flusher: blocking fdatasync calls must not occupy Swift concurrency's cooperative threads.
final class BackgroundThread: Sendable {
    private final class Box: @unchecked Sendable {
        let tick: @Sendable () -> Void
        let interval: Int64
        let stopping = Atomic<Bool>(false)
        let wake = ConditionLock()
        init(tick: @escaping @Sendable () -> Void, interval: Int64) {
            self.tick = tick
            self.interval = interval
        }
    }

    private let box: Box
    private let thread: Locked<pthread_t?>

    init(intervalMilliseconds: Int64, tick: @escaping @Sendable () -> Void) {
        box = Box(tick: tick, interval: intervalMilliseconds)
        var handle = pthread_t()
        let context = Unmanaged.passRetained(box).toOpaque()
        let created = pthread_create(
            &handle, nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                while !box.stopping.load(ordering: .acquiring) {
                    box.wake.withLock {
                        if !box.stopping.load(ordering: .acquiring) {
                            box.wake.wait(nanoseconds: box.interval * 1_000_000)
                        }
                    }
                    if box.stopping.load(ordering: .acquiring) { break }
                    box.tick()
                }
                return nil
            }, context)
        thread = Locked(created == 0 ? handle : nil)
        if created != 0 { Unmanaged<Box>.fromOpaque(context).release() }
    }

    /// Stops the loop and waits for the thread to end.
    func stop() {
        box.stopping.store(true, ordering: .releasing)
        box.wake.withLock { box.wake.broadcast() }
        if let handle = thread.withLock({ value -> pthread_t? in
            let h = value
            value = nil
            return h
        }) {
            pthread_join(handle, nil)
        }
    }
}
