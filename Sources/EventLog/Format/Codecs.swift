import CLZ4
import CSnappy
import CZlib
import CZstd

/// Reusable lz4 and zstd contexts for one thread of work (a batch builder or a reader).
///
/// Creating a compression context allocates; keeping one per builder/reader is what keeps compressed
/// appends and reads at one allocation per batch. Every C return code is turned into an
/// ``EventLogError`` with code ``EventLogError/Code/compression`` right at the call.
final class Codecs {
    private var lz4Compress: OpaquePointer?
    private var lz4Decompress: OpaquePointer?
    private var zstdCompress: OpaquePointer?
    private var zstdDecompress: OpaquePointer?

    init() {}

    deinit {
        if let lz4Compress { LZ4F_freeCompressionContext(lz4Compress) }
        if let lz4Decompress { LZ4F_freeDecompressionContext(lz4Decompress) }
        if let zstdCompress { ZSTD_freeCCtx(zstdCompress) }
        if let zstdDecompress { ZSTD_freeDCtx(zstdDecompress) }
    }

    /// Compresses `source` and appends the frame to `output`.
    func compress(_ source: UnsafeRawBufferPointer, with compression: Compression, into output: ByteStorage)
        throws(EventLogError)
    {
        switch compression {
        case .none:
            output.append(source)
        case .lz4:
            try compressLZ4(source, into: output)
        case .zstd(let level):
            if zstdCompress == nil { zstdCompress = ZSTD_createCCtx() }
            let bound = ZSTD_compressBound(source.count)
            output.reserve(bound)
            let written = ZSTD_compressCCtx(
                zstdCompress, output.base + output.count, bound, source.baseAddress, source.count, level)
            if ZSTD_isError(written) != 0 {
                throw EventLogError(
                    .compression, "zstd compression failed: \(String(cString: ZSTD_getErrorName(written)))")
            }
            output.count += written
        }
    }

    private func compressLZ4(_ source: UnsafeRawBufferPointer, into output: ByteStorage) throws(EventLogError) {
        if lz4Compress == nil {
            var context: OpaquePointer?
            let code = LZ4F_createCompressionContext(&context, eventlog_lz4f_version())
            if LZ4F_isError(code) != 0 { throw lz4Error("create compression context", code) }
            lz4Compress = context
        }
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.frameInfo.contentSize = UInt64(source.count)
        let bound = LZ4F_compressBound(source.count, &preferences) + 32
        output.reserve(bound)
        var position = output.count
        var code = LZ4F_compressBegin(lz4Compress, output.base + position, bound, &preferences)
        if LZ4F_isError(code) != 0 { throw lz4Error("begin frame", code) }
        position += code
        code = LZ4F_compressUpdate(
            lz4Compress, output.base + position, output.capacity - position, source.baseAddress, source.count, nil)
        if LZ4F_isError(code) != 0 { throw lz4Error("compress", code) }
        position += code
        code = LZ4F_compressEnd(lz4Compress, output.base + position, output.capacity - position, nil)
        if LZ4F_isError(code) != 0 { throw lz4Error("end frame", code) }
        position += code
        output.count = position
    }

    /// Decompresses one frame of `compression` from `source` into `output` (replacing its contents).
    func decompress(_ source: UnsafeRawBufferPointer, codec: Int, into output: ByteStorage) throws(EventLogError) {
        output.count = 0
        switch codec {
        case 3: try decompressLZ4(source, into: output)
        case 4: try decompressZstd(source, into: output)
        case 1: try decompressGzip(source, into: output)
        case 2: try decompressSnappy(source, into: output)
        default: throw EventLogError(.corruptData, "unknown compression codec \(codec) in batch attributes")
        }
    }

    private func decompressLZ4(_ source: UnsafeRawBufferPointer, into output: ByteStorage) throws(EventLogError) {
        if lz4Decompress == nil {
            var context: OpaquePointer?
            let code = LZ4F_createDecompressionContext(&context, eventlog_lz4f_version())
            if LZ4F_isError(code) != 0 { throw lz4Error("create decompression context", code) }
            lz4Decompress = context
        } else {
            LZ4F_resetDecompressionContext(lz4Decompress)
        }
        output.ensureCapacity(max(source.count * 4, 4096))
        var consumed = 0
        while true {
            var sourceSize = source.count - consumed
            var destinationSize = output.capacity - output.count
            let hint = LZ4F_decompress(
                lz4Decompress, output.base + output.count, &destinationSize, source.baseAddress! + consumed,
                &sourceSize, nil)
            if LZ4F_isError(hint) != 0 {
                LZ4F_resetDecompressionContext(lz4Decompress)
                throw lz4Error("decompress", hint)
            }
            consumed += sourceSize
            output.count += destinationSize
            if hint == 0 { return }
            if consumed >= source.count && destinationSize == 0 {
                throw EventLogError(.corruptData, "lz4 frame is truncated")
            }
            if output.count == output.capacity {
                let limit = Self.decompressionLimit(source.count, maximumRatio: 256)
                guard output.capacity < limit else { throw Self.bomb("lz4", limit) }
                output.ensureCapacity(min(output.capacity * 2, limit))
            }
        }
    }

    /// The most a compressed payload of `count` bytes can expand to: the codec's physical maximum ratio
    /// (lz4 cannot pass 255:1; zstd's densest form, an RLE block, is 4 bytes per 128 KiB), capped at 1 GiB.
    /// Hostile frames that claim or produce more are corrupt, so memory stays bounded by the input.
    static func decompressionLimit(_ count: Int, maximumRatio: Int) -> Int {
        let (product, overflow) = count.multipliedReportingOverflow(by: maximumRatio)
        return overflow ? 1 << 30 : min(product, 1 << 30 - 65_536) + 65_536
    }

    private static func bomb(_ codec: String, _ limit: Int) -> EventLogError {
        EventLogError(.corruptData, "\(codec) payload expands beyond \(limit) bytes, more than the codec can produce")
    }

    /// gzip (codec 1): one gzip member, as Kafka clients write it. Deflate cannot expand more than 1032:1.
    private func decompressGzip(_ source: UnsafeRawBufferPointer, into output: ByteStorage) throws(EventLogError) {
        guard source.count > 0 else { throw EventLogError(.corruptData, "empty gzip payload") }
        var stream = z_stream()
        guard eventlog_inflate_init_gzip(&stream) == Z_OK else {
            throw EventLogError(.compression, "zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        let limit = Self.decompressionLimit(source.count, maximumRatio: 1032)
        output.ensureCapacity(max(source.count * 4, 4096))
        stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress!.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(source.count)
        while true {
            stream.next_out = (output.base + output.count).assumingMemoryBound(to: UInt8.self)
            stream.avail_out = UInt32(output.capacity - output.count)
            let before = stream.avail_out
            let code = inflate(&stream, Z_NO_FLUSH)
            output.count += Int(before - stream.avail_out)
            if code == Z_STREAM_END { return }
            guard code == Z_OK || code == Z_BUF_ERROR else {
                throw EventLogError(.corruptData, "gzip payload does not inflate (zlib error \(code))")
            }
            if stream.avail_in == 0 && stream.avail_out > 0 {
                throw EventLogError(.corruptData, "gzip payload is truncated")
            }
            if output.count == output.capacity {
                guard output.capacity < limit else { throw Self.bomb("gzip", limit) }
                output.ensureCapacity(min(output.capacity * 2, limit))
            }
        }
    }

    /// snappy (codec 2): Kafka's Java clients frame it as xerial's stream (a magic header, then blocks each
    /// with a big-endian length), other clients may send one raw snappy block; both are read.
    private func decompressSnappy(_ source: UnsafeRawBufferPointer, into output: ByteStorage) throws(EventLogError) {
        let xerial: [UInt8] = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]
        if source.count >= 16 && source.prefix(8).elementsEqual(xerial) {
            var position = 16  // magic, version, compatible version
            while position < source.count {
                guard source.count - position >= 4 else {
                    throw EventLogError(.corruptData, "snappy block header is cut")
                }
                let length = Int(source.baseAddress!.loadBigEndian(at: position, as: UInt32.self))
                position += 4
                guard length <= source.count - position else {
                    throw EventLogError(.corruptData, "snappy block of \(length) bytes runs past the payload")
                }
                try appendSnappyBlock(
                    UnsafeRawBufferPointer(rebasing: source[position..<position + length]), to: output)
                position += length
            }
        } else {
            try appendSnappyBlock(source, to: output)
        }
    }

    private func appendSnappyBlock(_ block: UnsafeRawBufferPointer, to output: ByteStorage) throws(EventLogError) {
        guard let base = block.baseAddress else { return }
        var length = 0
        guard snappy_uncompressed_length(base.assumingMemoryBound(to: CChar.self), block.count, &length) == SNAPPY_OK
        else { throw EventLogError(.corruptData, "not a snappy block") }
        // A snappy copy tag of 3 bytes emits at most 64: blocks cannot expand beyond about 22:1.
        let limit = Self.decompressionLimit(block.count, maximumRatio: 64)
        guard length <= limit, output.count + length <= 1 << 30 else {
            throw EventLogError(.corruptData, "snappy block claims \(length) bytes")
        }
        output.reserve(length)
        var written = length
        guard
            snappy_uncompress(
                base.assumingMemoryBound(to: CChar.self), block.count,
                (output.base + output.count).assumingMemoryBound(to: CChar.self), &written) == SNAPPY_OK,
            written == length
        else { throw EventLogError(.corruptData, "snappy block does not decompress") }
        output.count += written
    }

    private func decompressZstd(_ source: UnsafeRawBufferPointer, into output: ByteStorage) throws(EventLogError) {
        if zstdDecompress == nil { zstdDecompress = ZSTD_createDCtx() }
        let size = ZSTD_getFrameContentSize(source.baseAddress, source.count)
        if size == eventlog_zstd_content_size_error() {
            throw EventLogError(.corruptData, "not a zstd frame")
        }
        let limit = Self.decompressionLimit(source.count, maximumRatio: 32_768)
        if size != eventlog_zstd_content_size_unknown() {
            guard size <= UInt64(limit) else { throw EventLogError(.corruptData, "zstd frame claims \(size) bytes") }
            output.ensureCapacity(Int(size))
            let written = ZSTD_decompressDCtx(zstdDecompress, output.base, Int(size), source.baseAddress, source.count)
            if ZSTD_isError(written) != 0 { throw zstdError(written) }
            output.count = written
            return
        }
        // Content size absent: stream.
        ZSTD_DCtx_reset(zstdDecompress, ZSTD_reset_session_only)
        output.ensureCapacity(max(source.count * 4, 4096))
        var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
        while true {
            var out = ZSTD_outBuffer(dst: output.base, size: output.capacity, pos: output.count)
            let code = ZSTD_decompressStream(zstdDecompress, &out, &input)
            if ZSTD_isError(code) != 0 { throw zstdError(code) }
            output.count = out.pos
            if code == 0 { return }
            if input.pos == input.size && out.pos < out.size {
                throw EventLogError(.corruptData, "zstd frame is truncated")
            }
            if output.count == output.capacity {
                guard output.capacity < limit else { throw Self.bomb("zstd", limit) }
                output.ensureCapacity(min(output.capacity * 2, limit))
            }
        }
    }

    private func lz4Error(_ what: String, _ code: Int) -> EventLogError {
        EventLogError(.compression, "lz4 \(what) failed: \(String(cString: LZ4F_getErrorName(code)))")
    }

    private func zstdError(_ code: Int) -> EventLogError {
        EventLogError(.compression, "zstd decompression failed: \(String(cString: ZSTD_getErrorName(code)))")
    }
}
