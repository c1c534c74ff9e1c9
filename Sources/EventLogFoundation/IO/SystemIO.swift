import Synchronization
package import SystemPackage

#if canImport(Glibc)
    package import Glibc
#elseif canImport(Musl)
    package import Musl
#elseif canImport(Darwin)
    package import Darwin
#endif

/// The one layer through which the log makes system calls.
///
/// Every call retries on `EINTR`, returns `Result<T, Errno>`, and first asks the optional
/// ``FaultInjector`` whether it should fail instead, which is how tests produce `ENOSPC`, `EIO` and short
/// writes on real files. Nothing else in the package calls `open`, `pwrite`, `fdatasync` and friends.
package struct SystemIO: Sendable {
    package let faults: FaultInjector?

    package init(faults: FaultInjector? = nil) { self.faults = faults }

    @inline(__always)
    private func injected(_ operation: FaultInjector.Operation) -> Errno? {
        guard let faults else { return nil }
        return faults.check(operation)?.errno
    }

    @inline(__always)
    private static func retrying<T: BinaryInteger>(_ body: () -> T) -> Result<T, Errno> {
        while true {
            let result = body()
            if result >= 0 { return .success(result) }
            let error = Errno(rawValue: errno)
            if error != .interrupted { return .failure(error) }
        }
    }

    package func open(_ path: String, flags: Int32, mode: mode_t = 0o644) -> Result<Int32, Errno> {
        if let error = injected(.open) { return .failure(error) }
        return Self.retrying { Glibc.open(path, flags, mode) }
    }

    package func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// Closes a descriptor this layer handed out.
    package static func closeDescriptor(_ fd: Int32) { _ = Glibc.close(fd) }

    /// A new descriptor of the same open file, close-on-exec.
    package func duplicate(_ fd: Int32) -> Result<Int32, Errno> {
        if let error = injected(.open) { return .failure(error) }
        return Self.retrying { fcntl(fd, F_DUPFD_CLOEXEC, 0) }
    }

    /// Reads up to `count` bytes at `offset`; returns fewer only at end of file.
    package func pread(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, offset: Int64) -> Result<
        Int, Errno
    > {
        if let error = injected(.read) { return .failure(error) }
        var done = 0
        while done < count {
            let result = Self.retrying { Glibc.pread(fd, buffer + done, count - done, off_t(offset) + off_t(done)) }
            switch result {
            case .failure(let error): return .failure(error)
            case .success(0): return .success(done)
            case .success(let n): done += n
            }
        }
        return .success(done)
    }

    /// Writes all `count` bytes at `offset`, looping over partial writes. On failure some prefix may have
    /// been written; the caller truncates back.
    package func pwrite(_ fd: Int32, _ buffer: UnsafeRawPointer, count: Int, offset: Int64) -> Result<Void, Errno> {
        var limit = count
        var fault: FaultInjector.Fault? = nil
        if let faults, let hit = faults.check(.write, bytes: count) {
            guard let short = hit.shortWrite else { return .failure(hit.errno) }
            limit = min(short, count)
            fault = hit
        }
        var done = 0
        while done < limit {
            let result = Self.retrying { Glibc.pwrite(fd, buffer + done, limit - done, off_t(offset) + off_t(done)) }
            switch result {
            case .failure(let error): return .failure(error)
            case .success(let n): done += n
            }
        }
        if let fault {
            if fault.killAfterShortWrite { kill(getpid(), SIGKILL) }
            return .failure(fault.errno)
        }
        return .success(())
    }

    package func fdatasync(_ fd: Int32) -> Result<Void, Errno> {
        if let error = injected(.fsync) { return .failure(error) }
        #if canImport(Darwin)
            return Self.retrying { Darwin.fsync(fd) }.map { _ in () }
        #else
            return Self.retrying { Glibc.fdatasync(fd) }.map { _ in () }
        #endif
    }

    package func fsync(_ fd: Int32) -> Result<Void, Errno> {
        if let error = injected(.fsync) { return .failure(error) }
        return Self.retrying { Glibc.fsync(fd) }.map { _ in () }
    }

    package func ftruncate(_ fd: Int32, _ length: Int64) -> Result<Void, Errno> {
        if let error = injected(.truncate) { return .failure(error) }
        return Self.retrying { Glibc.ftruncate(fd, off_t(length)) }.map { _ in () }
    }

    package func fileSize(_ fd: Int32) -> Result<Int64, Errno> {
        var info = stat()
        return Self.retrying { fstat(fd, &info) }.map { _ in Int64(info.st_size) }
    }

    package func rename(_ from: String, _ to: String) -> Result<Void, Errno> {
        if let error = injected(.rename) { return .failure(error) }
        return Self.retrying { Glibc.rename(from, to) }.map { _ in () }
    }

    package func unlink(_ path: String) -> Result<Void, Errno> {
        if let error = injected(.unlink) { return .failure(error) }
        return Self.retrying { Glibc.unlink(path) }.map { _ in () }
    }

    package func rmdir(_ path: String) -> Result<Void, Errno> {
        if let error = injected(.rmdir) { return .failure(error) }
        return Self.retrying { Glibc.rmdir(path) }.map { _ in () }
    }

    package func mkdir(_ path: String) -> Result<Void, Errno> {
        if let error = injected(.mkdir) { return .failure(error) }
        switch Self.retrying({ Glibc.mkdir(path, 0o755) }) {
        case .success: return .success(())
        case .failure(.fileExists): return .success(())
        case .failure(let error): return .failure(error)
        }
    }

    package func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    package func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Flushes a directory's entries (after create, rename or unlink) so the names survive power loss.
    package func fsyncDirectory(_ path: String) -> Result<Void, Errno> {
        open(path, flags: O_RDONLY | O_DIRECTORY).flatMap { fd in
            defer { close(fd) }
            return fsync(fd)
        }
    }

    /// Names in a directory, without `.` and `..`.
    package func listDirectory(_ path: String) -> Result<[String], Errno> {
        guard let dir = opendir(path) else { return .failure(Errno(rawValue: errno)) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }

    /// Takes a non-blocking exclusive POSIX record lock on the whole file.
    ///
    /// POSIX (`fcntl`) locks belong to the process and are not inherited by `fork`, unlike `flock`, whose
    /// lock a child shares until it calls `exec` — so a lock released here is free at once even while
    /// other threads spawn processes. They do not exclude other descriptors of the same process; callers
    /// add an in-process check (``ProcessLocks``). Closing *any* descriptor of the file releases the lock,
    /// so the locked files are never opened a second time while held.
    package func tryLockExclusive(_ fd: Int32) -> Result<Void, Errno> {
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 0
        lock.l_len = 0
        return Self.retrying { fcntl(fd, F_SETLK, &lock) }.map { _ in () }
    }

    // MARK: Conveniences that throw EventLogError with the path

    package func check<T>(_ result: Result<T, Errno>, _ what: String, path: String) throws(EventLogError) -> T {
        switch result {
        case .success(let value): return value
        case .failure(let error): throw EventLogError(.io, "\(what) failed: \(error)", errno: error, path: path)
        }
    }

    /// Reads a whole small file.
    package func readFile(_ path: String) throws(EventLogError) -> [UInt8] {
        let fd = try check(open(path, flags: O_RDONLY), "open", path: path)
        defer { close(fd) }
        let size = Int(try check(fileSize(fd), "stat", path: path))
        var bytes = [UInt8](repeating: 0, count: size)
        let result = bytes.withUnsafeMutableBytes { raw in
            size == 0 ? .success(0) : pread(fd, into: raw.baseAddress!, count: size, offset: 0)
        }
        let count = try check(result, "read", path: path)
        bytes.removeSubrange(count...)
        return bytes
    }

    /// Replaces `path` atomically: write a temporary file (`path` + `.tmp`), fsync it, rename it over
    /// `path`, fsync the directory. A crash leaves either the old or the new contents, never a mix (and
    /// perhaps the temporary file, which the log's recovery deletes).
    package func writeFileAtomically(_ path: String, _ bytes: [UInt8]) throws(EventLogError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(EventLogError) in try writeFileAtomically(path, raw) }
        }
        try result.get()
    }

    /// ``writeFileAtomically(_:_:)-([UInt8])`` from memory the caller owns.
    package func writeFileAtomically(_ path: String, _ bytes: UnsafeRawBufferPointer) throws(EventLogError) {
        let temporary = path + ".tmp"
        let fd = try check(
            open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC), "create", path: temporary)
        do throws(EventLogError) {
            if let base = bytes.baseAddress, bytes.count > 0 {
                try check(pwrite(fd, base, count: bytes.count, offset: 0), "write", path: temporary)
            }
            try check(fsync(fd), "fsync", path: temporary)
        } catch {
            close(fd)
            _ = unlink(temporary)
            throw error
        }
        close(fd)
        try check(rename(temporary, path), "rename", path: path)
        try check(fsyncDirectory(parent(of: path)), "fsync directory", path: parent(of: path))
    }

    package func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// An open file descriptor that closes itself when the last reference goes away, so a reader that still
/// holds a deleted segment keeps reading it safely.
package final class FileDescriptor: Sendable {
    package let fd: Int32
    package let path: String
    package init(_ fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }
    deinit { _ = Glibc.close(fd) }
}

/// Paths this process holds an exclusive lock on (POSIX locks do not exclude the process itself).
package enum ProcessLocks {
    private static let held = Locked<Set<String>>([])

    /// Registers `path`; returns false if this process already holds it.
    package static func claim(_ path: String) -> Bool { held.withLock { $0.insert(canonical(path)).inserted } }

    package static func release(_ path: String) { _ = held.withLock { $0.remove(canonical(path)) } }

    package static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
