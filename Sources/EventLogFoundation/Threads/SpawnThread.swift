#if canImport(Glibc)
    import Glibc
#endif

/// Starts a detached pthread running `body`.
package func spawnThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        let name: String
        init(_ body: @escaping @Sendable () -> Void, name: String) {
            self.body = body
            self.name = name
        }
    }
    var handle = pthread_t()
    let context = Unmanaged.passRetained(Box(body, name: name)).toOpaque()
    let created = pthread_create(
        &handle, nil,
        { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            nameThread(box.name)
            box.body()
            return nil
        }, context)
    precondition(created == 0, "pthread_create failed: \(created)")
    pthread_detach(handle)
}

/// Names the calling thread (visible in `top -H`, `perf` and debuggers); harmless where /proc is missing.
private func nameThread(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY)
    guard fd >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
}
