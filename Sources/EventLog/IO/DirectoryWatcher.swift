import EventLogFoundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Watches partition directories of a log another process writes (Linux inotify) and calls back when a
/// file in one of them changes: how a read-only log learns of new batches without polling.
///
/// One thread blocks in `read(2)` on the inotify descriptor; ``stop()`` wakes it through a pipe.
final class DirectoryWatcher: Sendable {
    private let inotify: Int32
    private let wakePipe: (read: Int32, write: Int32)
    private let watches = Locked<[Int32: String]>([:])
    /// The watching thread, once started.
    private let thread = Locked<WorkerThread?>(nil)
    private let onChange: @Sendable (String) -> Void

    /// - Parameter onChange: receives the watched directory in which something changed.
    init?(onChange: @escaping @Sendable (String) -> Void) {
        #if os(Linux)
            let fd = inotify_init1(Int32(IN_CLOEXEC))
            guard fd >= 0 else { return nil }
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else {
                close(fd)
                return nil
            }
            inotify = fd
            wakePipe = (fds[0], fds[1])
            self.onChange = onChange
        #else
            return nil
        #endif
    }

    deinit {
        close(inotify)
        close(wakePipe.read)
        close(wakePipe.write)
    }

    /// Starts watching `directory` for writes, new files and removals.
    func watch(_ directory: String) {
        #if os(Linux)
            let mask =
                UInt32(IN_MODIFY) | UInt32(IN_CREATE) | UInt32(IN_MOVED_TO) | UInt32(IN_DELETE) | UInt32(IN_CLOSE_WRITE)
            let wd = inotify_add_watch(inotify, directory, mask)
            if wd >= 0 { watches.withLock { $0[wd] = directory } }
            startIfNeeded()
        #endif
    }

    private func startIfNeeded() {
        thread.withLock { thread in
            // The thread holds the watcher until `stop()` ends its loop.
            if thread == nil { thread = WorkerThread(name: "log-watcher") { [self] in loop() } }
        }
    }

    private func loop() {
        #if os(Linux)
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1024, alignment: 8)
            defer { buffer.deallocate() }
            var fds = [
                pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0),
            ]
            while true {
                let ready = poll(&fds, 2, -1)
                if ready < 0 && errno == EINTR { continue }
                if ready < 0 || fds[1].revents != 0 { return }
                let n = read(inotify, buffer, 64 * 1024)
                if n <= 0 { continue }
                var changed: Set<String> = []
                var position = 0
                while position + MemoryLayout<inotify_event>.size <= n {
                    let event = buffer.load(fromByteOffset: position, as: inotify_event.self)
                    if let directory = watches.withLock({ $0[event.wd] }) { changed.insert(directory) }
                    position += MemoryLayout<inotify_event>.size + Int(event.len)
                }
                for directory in changed { onChange(directory) }
            }
        #endif
    }

    /// Stops the watching thread and waits for it to finish.
    func stop() {
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)
        thread.withLock { $0 }?.join()
    }
}
