import Glibc
import Synchronization
public import SystemPackage

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
/// ```
public final class FaultInjector: Sendable {
    /// The system operations a rule can target.
    public enum Operation: Sendable, Hashable {
        case write, read, fsync, truncate, rename, open, unlink
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

    /// Disarms every rule.
    public func clear() { rules.withLock { $0.removeAll() } }

    /// How many faults have fired so far.
    public var injectedCount: Int { injected.load(ordering: .relaxed) }

    /// The fault to apply to this call of `operation`, if a rule fires: an error (with a short write
    /// first), or nothing after a delay.
    func check(_ operation: Operation) -> (errno: Errno, shortWrite: Int?)? {
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
        return (hit.errno ?? .ioError, hit.shortWriteBytes)
    }
}
