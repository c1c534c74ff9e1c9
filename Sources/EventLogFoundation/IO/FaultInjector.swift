import Synchronization
public import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Makes chosen system calls of one `Log` fail, so tests can prove what happens on a full disk or a
/// failing device.
///
/// Every file operation of the log goes through ``SystemIO``, which asks the injector (when one is
/// configured) before each call. A rule fires for the next `count` matching calls, then disarms.
///
/// ```swift
/// let faults = FaultInjector()
/// let log = try Log(directory: dir, configuration: .init(faults: faults))
/// faults.fail(.write, with: .noSpace)         // the next write returns ENOSPC
/// faults.shortWrite(bytes: 100)                // the next write stores only 100 bytes
/// faults.crash(atCall: 7, tearing: true)        // SIGKILL halfway through the 7th call from now
/// ```
///
/// For crash matrices the injector also counts every state-changing call it is asked about (all but
/// reads), so a test can learn how many steps an operation takes and then kill a child process at each.
public final class FaultInjector: Sendable {
    /// The system operations a rule can target.
    public enum Operation: Sendable, Hashable {
        case write, read, fsync, truncate, rename, open, unlink, mkdir, rmdir
    }

    struct Rule {
        var operation: Operation
        var errno: Errno?
        var shortWriteBytes: Int? = nil
        var delayMicroseconds: Int? = nil
        var remaining: Int
    }

    private let rules = Locked<[Rule]>([])
    private let injected = Atomic<Int>(0)
    private let calls = Atomic<Int>(0)
    /// The call number (of ``stateChangingCalls``) at which to kill the process; 0 when not armed.
    private let crashCall = Atomic<Int>(0)
    private let crashTearing = Atomic<Bool>(false)

    /// Creates an injector with no rules armed.
    public init() {}

    /// Makes the next `count` calls of `operation` fail with `errno`.
    public func fail(_ operation: Operation, with errno: Errno, count: Int = 1) {
        rules.withLock { $0.append(Rule(operation: operation, errno: errno, remaining: count)) }
    }

    /// Makes the next write store only its first `bytes` bytes and then fail with `ENOSPC`, as a disk that
    /// fills up in the middle of a write does.
    public func shortWrite(bytes: Int) {
        rules.withLock {
            $0.append(Rule(operation: .write, errno: .noSpace, shortWriteBytes: bytes, remaining: 1))
        }
    }

    /// Makes the next `count` calls of `operation` take `microseconds` longer (then succeed), as a slow
    /// device does: how tests show that concurrent durable appends share one fdatasync.
    public func delay(_ operation: Operation, microseconds: Int, count: Int = 1) {
        rules.withLock {
            $0.append(Rule(operation: operation, errno: nil, delayMicroseconds: microseconds, remaining: count))
        }
    }

    /// Kills the process with SIGKILL just before the `call`-th state-changing system call from now
    /// (`1` is the next one) — or, when that call is a write and `tearing` is set, just after it has
    /// stored the first half of its bytes, as a crash in the middle of a large write leaves it.
    ///
    /// A kill at a system-call boundary is exactly what `kill -9` can do to the files: the kernel keeps
    /// every completed call, the process makes no more.
    public func crash(atCall call: Int, tearing: Bool = false) {
        precondition(call >= 1, "calls are counted from 1")
        crashTearing.store(tearing, ordering: .relaxed)
        crashCall.store(calls.load(ordering: .relaxed) + call, ordering: .relaxed)
    }

    /// How many state-changing calls (every operation but reads) the injector has seen.
    public var stateChangingCalls: Int { calls.load(ordering: .relaxed) }

    /// Disarms every rule (and an armed crash).
    public func clear() {
        rules.withLock { $0.removeAll() }
        crashCall.store(0, ordering: .relaxed)
    }

    /// How many faults have fired so far.
    public var injectedCount: Int { injected.load(ordering: .relaxed) }

    /// What a call should do instead of its work: fail (a write may first store a prefix, and may then
    /// kill the process).
    package struct Fault {
        package var errno: Errno
        /// Store only this many bytes first.
        package var shortWrite: Int?
        /// After storing them, kill the process (a torn write).
        package var killAfterShortWrite = false
    }

    /// The fault to apply to this call of `operation`, if a rule fires: an error (with a short write
    /// first), or nothing after a delay. Kills the process here when an armed crash is due. `bytes` is
    /// the size of a write.
    package func check(_ operation: Operation, bytes: Int = 0) -> Fault? {
        if operation != .read {
            let call = calls.add(1, ordering: .relaxed).newValue
            if call == crashCall.load(ordering: .relaxed) {
                if operation == .write && bytes > 1 && crashTearing.load(ordering: .relaxed) {
                    return Fault(errno: .ioError, shortWrite: bytes / 2, killAfterShortWrite: true)
                }
                kill(getpid(), SIGKILL)
            }
        }
        let hit: Rule? = rules.withLock { rules in
            guard let index = rules.firstIndex(where: { $0.operation == operation }) else { return nil }
            let rule = rules[index]
            rules[index].remaining -= 1
            if rules[index].remaining <= 0 { rules.remove(at: index) }
            return rule
        }
        guard let hit else { return nil }
        injected.add(1, ordering: .relaxed)
        if let delay = hit.delayMicroseconds {
            usleep(UInt32(delay))  // outside the rules lock
            return nil
        }
        return Fault(errno: hit.errno ?? .ioError, shortWrite: hit.shortWriteBytes)
    }
}
