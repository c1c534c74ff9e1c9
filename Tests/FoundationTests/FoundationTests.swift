import EventLogFoundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The foundation's building blocks, each against what its documentation promises.
@Suite("Foundation: locks, threads, clock")
struct FoundationTests {
    @Test("Locked serializes concurrent updates (four threads, 20,000 increments each)")
    func lockedSerializes() {
        let counter = Locked(0)
        let threads = (0..<4).map { index in
            WorkerThread(name: "counter-\(index)") {
                for _ in 0..<20_000 { counter.withLock { $0 += 1 } }
            }
        }
        for thread in threads { thread.join() }
        #expect(counter.withLock { $0 } == 80_000)
    }

    @Test("a worker thread runs its body once; join waits for it and may be called again")
    func workerThreadJoins() {
        let runs = Locked(0)
        let thread = WorkerThread(name: "worker") {
            usleep(20_000)
            runs.withLock { $0 += 1 }
        }
        thread.join()
        #expect(runs.withLock { $0 } == 1)
        thread.join()
        #expect(runs.withLock { $0 } == 1)
    }

    @Test("a thread that joins itself (its body dropped the last reference to its owner) returns and ends")
    func selfJoin() {
        let box = Locked<WorkerThread?>(nil)
        let done = Locked(false)
        let started = Locked(false)
        let thread = WorkerThread(name: "self-join") {
            while !started.withLock({ $0 }) { usleep(1_000) }
            box.withLock { $0 }?.join()  // before the fix: EDEADLK, or a hang
            done.withLock { $0 = true }
        }
        box.withLock { $0 = thread }
        started.withLock { $0 = true }
        while !done.withLock({ $0 }) { usleep(1_000) }
        thread.join()
    }

    @Test("a periodic thread ticks until stopped, and no tick runs after stop returns")
    func periodicThreadStops() {
        let ticks = Locked(0)
        let periodic = PeriodicThread(name: "ticker", intervalMilliseconds: 1) { ticks.withLock { $0 += 1 } }
        while ticks.withLock({ $0 }) < 3 { usleep(1_000) }
        periodic.stop()
        let atStop = ticks.withLock { $0 }
        usleep(20_000)
        #expect(ticks.withLock { $0 } == atStop)
        periodic.stop()
    }

    @Test("a periodic thread with a long interval stops at once, without waiting for its next tick")
    func periodicThreadWakesToStop() {
        let ticks = Locked(0)
        let periodic = PeriodicThread(name: "slow", intervalMilliseconds: 3_600_000) { ticks.withLock { $0 += 1 } }
        periodic.stop()  // would hang for an hour if stop did not wake the thread
        #expect(ticks.withLock { $0 } == 0)
    }

    @Test("the manual clock moves only when told to; the system clock reads the epoch")
    func clocks() {
        let manual = ManualClock(milliseconds: 5)
        #expect(manual.milliseconds() == 5)
        manual.advance(by: 10)
        #expect(manual.milliseconds() == 15)
        manual.set(-3)
        #expect(manual.milliseconds() == -3)
        let now = SystemClock().milliseconds()
        #expect(now > 1_700_000_000_000)  // after November 2023
    }
}
