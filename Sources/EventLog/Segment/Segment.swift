import EventLogFoundation
import Synchronization

import struct SystemPackage.Errno

#if canImport(Glibc)
    import Glibc
#endif

/// One segment of a partition: a `.log` file of whole RecordBatch v2 batches plus its sparse indexes.
///
/// ```
///  00000000000000001000.log        00000000000000001000.index         00000000000000001000.timeindex
///  +-----------------------+       +-------------+-------------+      +----------------+-------------+
///  | batch 1000…1999       | <---- | rel. offset | position    |      | max timestamp  | rel. offset |
///  +-----------------------+       |  (int32 BE) |  (int32 BE) |      |  (int64 BE)    |  (int32 BE) |
///  | batch 2000…2999       |       +-------------+-------------+      +----------------+-------------+
///  +-----------------------+         one entry per ≥ indexIntervalBytes of log, for the batch's last offset
///  | …                     |
///  +-----------------------+ <- size: bytes readers may see (only whole, acknowledged batches)
/// ```
///
/// Invariants (checked by `invariantViolation()` in tests):
/// - `size` is the end of the last whole batch written through this object; readers never read past it,
///   so they never see a batch that is still being written.
/// - Batches are contiguous from position 0 and their offsets strictly increase; `nextOffset` is one
///   past the last offset of the last batch (or `baseOffset` when empty).
/// - Index entries are strictly increasing in both offset and position and point at batch starts; time
///   index entries are non-decreasing in timestamp.
/// - The indexes are not checksummed: after an unclean shutdown they are rebuilt from the log.
/// - The segment owns its file: only ``append(_:header:indexInterval:)``, ``sync()``, ``truncate(to:)`` and
///   ``replaced(with:indexInterval:now:)`` change it; the partition decides when, never writes it itself.
final class Segment: Sendable {
    struct IndexEntry: Equatable {
        var relativeOffset: UInt32
        var position: UInt32
    }

    struct TimeEntry: Equatable {
        var timestamp: Int64
        var relativeOffset: UInt32
    }

    struct State {
        var size: Int64 = 0
        var nextOffset: Int64
        var index: [IndexEntry] = []
        var timeIndex: [TimeEntry] = []
        var bytesSinceIndexEntry = 0
        var maxTimestamp: Int64 = -1
        var createdAt: Int64
        var firstBatchMaxTimestamp: Int64? = nil
        /// Where a failed append's partial bytes start, when cutting them failed too: cut before the next
        /// append (``prepareForAppend()``).
        var pendingTruncate: Int64? = nil
    }

    let baseOffset: Int64
    let directory: String
    let file: FileDescriptor
    let io: SystemIO
    let state: Locked<State>

    var logPath: String { file.path }
    var indexPath: String { Self.path(directory, baseOffset, "index") }
    var timeIndexPath: String { Self.path(directory, baseOffset, "timeindex") }

    static func fileName(_ baseOffset: Int64, _ suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + "." + suffix
    }

    static func path(_ directory: String, _ baseOffset: Int64, _ suffix: String) -> String {
        directory + "/" + fileName(baseOffset, suffix)
    }

    /// The base offset encoded in a segment file name, if `name` is one (`<20 digits>.log`).
    static func baseOffset(fromFileName name: String, suffix: String = ".log") -> Int64? {
        guard name.hasSuffix(suffix) else { return nil }
        let stem = name.dropLast(suffix.count)
        guard stem.count == 20, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(stem)
    }

    private init(baseOffset: Int64, directory: String, file: FileDescriptor, io: SystemIO, state: State) {
        self.baseOffset = baseOffset
        self.directory = directory
        self.file = file
        self.io = io
        self.state = Locked(state)
    }

    /// Creates a new, empty segment file (failing if it exists).
    static func create(directory: String, baseOffset: Int64, io: SystemIO, now: Int64) throws(EventLogError) -> Segment
    {
        let path = Self.path(directory, baseOffset, "log")
        // A leftover empty file from a crash right after creation is fine to reuse.
        let fd = try io.check(io.open(path, flags: O_RDWR | O_CREAT | O_CLOEXEC), "create segment", path: path)
        let file = FileDescriptor(fd, path: path)
        let size = try io.check(io.fileSize(fd), "stat", path: path)
        if size != 0 {
            throw EventLogError(.io, "segment file already exists and is not empty", path: path)
        }
        try io.check(io.fsyncDirectory(directory), "fsync directory", path: directory)
        return Segment(
            baseOffset: baseOffset, directory: directory, file: file, io: io,
            state: State(nextOffset: baseOffset, createdAt: now))
    }

    /// Opens an existing segment file. Its size and indexes are not trusted yet: the caller either loads
    /// the index files (after a clean shutdown) or rebuilds everything with `recover`.
    static func open(directory: String, baseOffset: Int64, io: SystemIO, writable: Bool, now: Int64)
        throws(EventLogError) -> Segment
    {
        let path = Self.path(directory, baseOffset, "log")
        let fd = try io.check(
            io.open(path, flags: (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC), "open segment", path: path)
        return Segment(
            baseOffset: baseOffset, directory: directory, file: FileDescriptor(fd, path: path), io: io,
            state: State(nextOffset: baseOffset, createdAt: now))
    }

    var size: Int64 { state.withLock { $0.size } }
    var nextOffset: Int64 { state.withLock { $0.nextOffset } }
    var maxTimestamp: Int64 { state.withLock { $0.maxTimestamp } }
    var isEmpty: Bool { size == 0 }

    /// Records a batch that now lies, whole, at `position`.
    func didAppend(_ header: RecordBatchHeader, at position: Int64, indexInterval: Int) {
        state.withLock { state in
            Self.account(
                &state, header: header, position: position, baseOffset: baseOffset, indexInterval: indexInterval)
        }
    }

    static func account(
        _ state: inout State, header: RecordBatchHeader, position: Int64, baseOffset: Int64, indexInterval: Int
    ) {
        let size = Int64(header.totalSize)
        if header.maxTimestamp > state.maxTimestamp { state.maxTimestamp = header.maxTimestamp }
        if state.firstBatchMaxTimestamp == nil { state.firstBatchMaxTimestamp = header.maxTimestamp }
        let relative = UInt32(header.lastOffset - baseOffset)
        if state.index.isEmpty || state.bytesSinceIndexEntry >= indexInterval {
            state.index.append(IndexEntry(relativeOffset: relative, position: UInt32(position)))
            if state.timeIndex.last.map({ state.maxTimestamp > $0.timestamp }) ?? true {
                state.timeIndex.append(TimeEntry(timestamp: state.maxTimestamp, relativeOffset: relative))
            }
            state.bytesSinceIndexEntry = 0
        }
        state.bytesSinceIndexEntry += Int(size)
        state.size = position + size
        state.nextOffset = header.lastOffset + 1
    }

    /// The file position from which a forward scan finds the batch holding `offset` (or the first batch
    /// after it): the start of the last indexed batch whose last offset is below `offset`, or 0.
    func position(forOffset offset: Int64) -> Int64 {
        state.withLock { state in
            let target = offset - baseOffset
            var low = 0
            var high = state.index.count
            while low < high {  // first entry with relativeOffset >= target
                let mid = (low + high) / 2
                if Int64(state.index[mid].relativeOffset) < target { low = mid + 1 } else { high = mid }
            }
            return low == 0 ? 0 : Int64(state.index[low - 1].position)
        }
    }

    /// The smallest offset from which a forward scan finds the first record with timestamp ≥ `timestamp`.
    func offsetToScan(forTimestamp timestamp: Int64) -> Int64 {
        state.withLock { state in
            // Every batch up to an entry's offset has max timestamp ≤ entry.timestamp; entries are sorted
            // by timestamp, so find the last one below `timestamp`.
            var low = 0
            var high = state.timeIndex.count
            while low < high {
                let mid = (low + high) / 2
                if state.timeIndex[mid].timestamp < timestamp { low = mid + 1 } else { high = mid }
            }
            return low == 0 ? baseOffset : baseOffset + Int64(state.timeIndex[low - 1].relativeOffset) + 1
        }
    }

    /// Reads up to `count` bytes at `position` into `buffer` (replacing its contents).
    func read(at position: Int64, count: Int, into buffer: ByteStorage) throws(EventLogError) -> Int {
        buffer.ensureCapacity(count)
        let n = try io.check(
            io.pread(file.fd, into: buffer.base, count: count, offset: position), "read", path: logPath)
        buffer.count = n
        return n
    }

    /// A new descriptor of the segment's file (close-on-exec), owned by the caller: it reads the file it was
    /// made from even after the segment is deleted or replaced.
    func duplicateDescriptor() throws(EventLogError) -> Int32 {
        try io.check(io.duplicate(file.fd), "duplicate descriptor", path: logPath)
    }

    /// Reads up to `count` bytes at `position` into memory the caller owns; fewer only at end of file.
    func read(at position: Int64, into destination: UnsafeMutableRawBufferPointer) throws(EventLogError) -> Int {
        guard let base = destination.baseAddress, destination.count > 0 else { return 0 }
        return try io.check(
            io.pread(file.fd, into: base, count: destination.count, offset: position), "read", path: logPath)
    }

    /// Writes the in-memory indexes to the `.index` and `.timeindex` files in Kafka's format.
    func writeIndexFiles(sync: Bool) throws(EventLogError) {
        let (index, timeIndex) = state.withLock { ($0.index, $0.timeIndex) }
        let offsetBytes = ByteStorage(capacity: index.count * 8 + 8)
        for entry in index {
            offsetBytes.appendBigEndian(entry.relativeOffset)
            offsetBytes.appendBigEndian(entry.position)
        }
        let timeBytes = ByteStorage(capacity: timeIndex.count * 12 + 12)
        for entry in timeIndex {
            timeBytes.appendBigEndian(entry.timestamp)
            timeBytes.appendBigEndian(entry.relativeOffset)
        }
        try writeWhole(indexPath, offsetBytes, sync: sync)
        try writeWhole(timeIndexPath, timeBytes, sync: sync)
    }

    private func writeWhole(_ path: String, _ bytes: ByteStorage, sync: Bool) throws(EventLogError) {
        let fd = try io.check(
            io.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC), "create index", path: path)
        defer { io.close(fd) }
        if bytes.count > 0 {
            try io.check(io.pwrite(fd, bytes.base, count: bytes.count, offset: 0), "write index", path: path)
        }
        if sync { try io.check(io.fsync(fd), "fsync index", path: path) }
    }

    /// Loads the index files written at the last clean shutdown and trusts the file size. Returns `false`
    /// (leaving the state untouched) when the files are missing or inconsistent, so the caller rebuilds.
    func loadIndexFiles(indexInterval: Int) -> Bool {
        guard case .success(let size) = io.fileSize(file.fd) else { return false }
        if size == 0 {
            state.withLock { $0.size = 0 }
            return true
        }
        guard let offsetBytes = try? io.readFile(indexPath), offsetBytes.count % 8 == 0, !offsetBytes.isEmpty,
            let timeBytes = try? io.readFile(timeIndexPath), timeBytes.count % 12 == 0
        else { return false }
        var index: [IndexEntry] = []
        index.reserveCapacity(offsetBytes.count / 8)
        var timeIndex: [TimeEntry] = []
        let ok = offsetBytes.withUnsafeBytes { raw -> Bool in
            let p = raw.baseAddress!
            for i in stride(from: 0, to: raw.count, by: 8) {
                let entry = IndexEntry(relativeOffset: p.loadBigEndian(at: i), position: p.loadBigEndian(at: i + 4))
                if let last = index.last, entry.relativeOffset <= last.relativeOffset || entry.position <= last.position
                {
                    return false
                }
                if Int64(entry.position) >= size { return false }
                index.append(entry)
            }
            return true
        }
        guard ok, index.first?.position == 0 else { return false }
        timeBytes.withUnsafeBytes { raw in
            let p = raw.baseAddress
            for i in stride(from: 0, to: raw.count, by: 12) {
                timeIndex.append(
                    TimeEntry(timestamp: p!.loadBigEndian(at: i), relativeOffset: p!.loadBigEndian(at: i + 8)))
            }
        }
        // The last batch's header gives nextOffset and lets us check the file ends on a batch boundary.
        let last = index[index.count - 1]
        let scratch = ByteStorage(capacity: 1 << 16)
        var position = Int64(last.position)
        var nextOffset = baseOffset
        var maxTimestamp = timeIndex.last?.timestamp ?? -1
        while position < size {
            guard let n = try? read(at: position, count: RecordBatchHeader.size, into: scratch),
                n == RecordBatchHeader.size
            else { return false }
            let header = RecordBatchHeader(scratch.base)
            guard header.magic == 2, header.batchLength >= 49, position + Int64(header.totalSize) <= size else {
                return false
            }
            nextOffset = header.lastOffset + 1
            maxTimestamp = max(maxTimestamp, header.maxTimestamp)
            position += Int64(header.totalSize)
        }
        guard position == size else { return false }
        let firstMax: Int64? = {
            guard let n = try? read(at: 0, count: RecordBatchHeader.size, into: scratch), n == RecordBatchHeader.size
            else { return nil }
            return RecordBatchHeader(scratch.base).maxTimestamp
        }()
        state.withLock { state in
            state.size = size
            state.index = index
            state.timeIndex = timeIndex
            state.nextOffset = nextOffset
            state.maxTimestamp = maxTimestamp
            state.bytesSinceIndexEntry = Int(size - Int64(last.position))
            state.firstBatchMaxTimestamp = firstMax
            if let firstMax { state.createdAt = firstMax }
        }
        return true
    }

    // MARK: Writing (the writer's only ways to change the file)

    /// Appends one stamped batch at the end of the file and indexes it; readers see it once this returns.
    ///
    /// On failure whatever part of the batch reached the file is cut again (and if even that fails, cut by
    /// the next ``prepareForAppend()``), so a later batch never lands behind a partial one.
    func append(_ batch: UnsafeRawBufferPointer, header: RecordBatchHeader, indexInterval: Int) throws(EventLogError) {
        let position = size
        switch io.pwrite(file.fd, batch.baseAddress!, count: batch.count, offset: position) {
        case .success: break
        case .failure(let errno):
            if case .failure = io.ftruncate(file.fd, position) { state.withLock { $0.pendingTruncate = position } }
            throw EventLogError(
                .io, "append failed: \(errno)", errno: errno, path: logPath, offset: header.baseOffset,
                filePosition: position)
        }
        didAppend(header, at: position, indexInterval: indexInterval)
    }

    /// Cuts the remains of an earlier failed append whose cleanup failed; call before deciding to roll.
    func prepareForAppend() throws(EventLogError) {
        guard let pending = state.withLock({ $0.pendingTruncate }) else { return }
        try truncate(to: pending)
        state.withLock { $0.pendingTruncate = nil }
    }

    /// Flushes the file's data to the device (`fdatasync`): every batch appended before the call survives
    /// power loss once it returns `.success`.
    func sync() -> Result<Void, Errno> { io.fdatasync(file.fd) }

    /// Shrinks the file to `length` bytes (the visible size is the caller's to set); used to drop a torn
    /// tail or a failed write.
    func truncate(to length: Int64) throws(EventLogError) {
        try io.check(io.ftruncate(file.fd, length), "truncate", path: logPath)
    }

    /// The file's size on disk (which may exceed ``size``: a torn or damaged tail not yet cut).
    func fileSize() throws(EventLogError) -> Int64 {
        try io.check(io.fileSize(file.fd), "stat", path: logPath)
    }

    /// What a cut kept in quarantine and what it had to delete.
    struct Cut {
        /// The quarantine file written or renamed, if any.
        var quarantineFile: String?
        /// Bytes kept in `quarantineFile`.
        var quarantinedBytes: Int64 = 0
        /// Bytes removed from the segment: kept in quarantine or deleted.
        var removedBytes: Int64 = 0
        var deletedBytes: Int64 { removedBytes - quarantinedBytes }
    }

    /// Cuts the file at `position`, first copying up to `limit` bytes of what lies beyond it into
    /// `<log>.quarantine-<position>`. The copy is durable before the truncate, so a crash in between only
    /// repeats the same cut.
    func cut(at position: Int64, quarantineLimit limit: Int64) throws(EventLogError) -> Cut {
        var cut = Cut(removedBytes: max(0, try fileSize() - position))
        let kept = min(cut.removedBytes, max(0, limit))
        if kept > 0 {
            let buffer = ByteStorage(capacity: Int(kept))
            let got = try read(at: position, count: Int(kept), into: buffer)
            let path = logPath + ".quarantine-\(position)"
            try io.writeFileAtomically(path, UnsafeRawBufferPointer(start: buffer.base, count: got))
            cut.quarantineFile = path
            cut.quarantinedBytes = Int64(got)
        }
        try truncate(to: position)
        return cut
    }

    /// Removes the segment's files, keeping the log file as `<log>.quarantine-0` (a rename) when it is at
    /// most `limit` bytes. Readers holding this segment keep reading the open file.
    func remove(quarantineLimit limit: Int64) -> Cut {
        let size = (try? fileSize()) ?? 0
        var cut = Cut(removedBytes: size)
        if size <= limit, case .success = io.rename(logPath, logPath + ".quarantine-0") {
            cut.quarantineFile = logPath + ".quarantine-0"
            cut.quarantinedBytes = size
        }
        deleteFiles()
        return cut
    }

    /// Replaces the segment's file with `contents` (a compacted copy of it, same base offset, offsets
    /// unchanged) and returns the segment over the new file, validated and indexed. This object keeps reading
    /// the old file, so readers holding it are undisturbed.
    ///
    /// Crash-safe in three steps; a kill at any moment leaves the old file or the new one, both valid:
    /// ```
    ///  1. write <base>.log.swap atomically (via <base>.log.swap.tmp, which the next open deletes)
    ///  2. unlink <base>.index and <base>.timeindex (the next open rebuilds them)
    ///  3. rename <base>.log.swap over <base>.log, fsync the directory (the next open completes a .swap left here)
    /// ```
    func replaced(with contents: UnsafeRawBufferPointer, indexInterval: Int, now: Int64) throws(EventLogError)
        -> Segment
    {
        let swapPath = logPath + ".swap"
        try io.writeFileAtomically(swapPath, contents)
        _ = io.unlink(indexPath)
        _ = io.unlink(timeIndexPath)
        try io.check(io.rename(swapPath, logPath), "rename", path: logPath)
        try io.check(io.fsyncDirectory(directory), "fsync directory", path: directory)
        let replacement = try Segment.open(
            directory: directory, baseOffset: baseOffset, io: io, writable: true, now: now)
        let outcome = try replacement.scanAndRebuild(
            firstOffset: baseOffset, indexInterval: indexInterval, now: now, contiguous: false)
        if let problem = outcome.problem {
            throw EventLogError(
                .corruptData, "compacted segment failed validation: \(problem)", path: logPath,
                filePosition: outcome.validSize)
        }
        try replacement.writeIndexFiles(sync: false)
        return replacement
    }

    /// Deletes the segment's files. Open descriptors (readers) keep working on the unlinked data.
    func deleteFiles() {
        _ = io.unlink(logPath)
        _ = io.unlink(indexPath)
        _ = io.unlink(timeIndexPath)
    }

    /// Checks the invariants in the type's documentation; returns a description of the first violation.
    func invariantViolation() -> String? {
        state.withLock { state in
            var last: IndexEntry? = nil
            for entry in state.index {
                if let l = last, entry.relativeOffset <= l.relativeOffset || entry.position <= l.position {
                    return "index not increasing at \(entry)"
                }
                if Int64(entry.position) >= state.size { return "index entry \(entry) past size \(state.size)" }
                last = entry
            }
            var lastTime: Int64 = .min
            for entry in state.timeIndex {
                if entry.timestamp < lastTime { return "time index decreasing at \(entry)" }
                lastTime = entry.timestamp
            }
            if state.nextOffset < baseOffset { return "nextOffset \(state.nextOffset) below base \(baseOffset)" }
            return nil
        }
    }
}
