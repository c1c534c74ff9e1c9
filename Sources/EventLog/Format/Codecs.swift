import CLZ4
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
        case 1: throw EventLogError(.compression, "gzip batches are not supported (codec 1)")
        case 2: throw EventLogError(.compression, "snappy batches are not supported (codec 2)")
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
