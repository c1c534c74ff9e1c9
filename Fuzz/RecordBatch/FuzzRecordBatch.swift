// libFuzzer target: arbitrary bytes into the record-batch decoder and into segment recovery.
//
// The first byte picks the attack:
// - 0: the bytes as a batch, as stored (almost always rejected by the length, magic or CRC checks);
// - 1: the bytes as a batch whose length field and CRC-32C are rewritten to match, so the fuzzer reaches
//   the record decoder, the header decoder and the lz4/zstd decompressors behind the CRC;
// - 2: the bytes (with every batch's CRC fixed up when the next byte is odd) as a segment file of an
//   uncleanly closed log, which is then opened (recovery), read to the end, appended to and inspected.
// Any input must give records or a clear EventLogError — never a trap, a hang or unbounded memory.
//
// Build and run: bash scripts/fuzz.sh record-batch [seconds]
import Foundation
import FuzzSupport

@testable import EventLog

// libFuzzer calls the target from one thread.
nonisolated(unsafe) let codecs = Codecs()
nonisolated(unsafe) let scratch = ByteStorage()
// On tmpfs when there is one: recovery fsyncs, and the fuzzer wants thousands of runs a second.
let directory =
    (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory())
    + "fuzz-record-batch-\(getpid())"

@_cdecl("FuzzRecordBatch_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 2 else { return 0 }
    var bytes = Array(UnsafeBufferPointer(start: data + 1, count: count - 1))
    switch data[0] % 3 {
    case 0: decodeBatch(bytes)
    case 1:
        sealBatch(&bytes, at: 0)
        decodeBatch(bytes)
    default:
        let seal = bytes[0] & 1 == 1
        bytes.removeFirst()
        if seal { sealEveryBatch(&bytes) }
        recoverSegment(bytes)
    }
    return 0
}

/// Validates `bytes` as one batch and, if it is valid, decodes every record and header.
func decodeBatch(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        guard let base = raw.baseAddress,
            RecordBatchHeader.validate(base, available: raw.count, maxBatchSize: 1 << 20) == nil
        else { return }
        let length = Int(base.loadBigEndian(at: RecordBatchHeader.lengthOffset, as: Int32.self))
        let view = RecordBatchView(UnsafeRawBufferPointer(start: base, count: length + RecordBatchHeader.logOverhead))
        _ = try? view.forEachRecord(codecs: codecs, scratch: scratch) { record in
            _ = record.headers
            return true
        }
    }
}

/// Rewrites the length field and CRC of the batch at `position` so that they match its bytes.
@discardableResult
func sealBatch(_ bytes: inout [UInt8], at position: Int) -> Int? {
    let overhead = RecordBatchHeader.logOverhead
    guard bytes.count - position >= RecordBatchHeader.size else { return nil }
    var length = Int(
        bytes.withUnsafeBytes {
            $0.baseAddress!.loadBigEndian(at: position + RecordBatchHeader.lengthOffset, as: Int32.self)
        })
    if length < RecordBatchHeader.size - overhead || position + overhead + length > bytes.count {
        length = bytes.count - position - overhead
    }
    let end = position + overhead + length
    let lengthBytes = withUnsafeBytes(of: Int32(length).bigEndian, Array.init)
    bytes.replaceSubrange(
        (position + RecordBatchHeader.lengthOffset)..<(position + RecordBatchHeader.lengthOffset + 4), with: lengthBytes
    )
    bytes[position + RecordBatchHeader.magicOffset] = 2
    let crc = bytes.withUnsafeBytes {
        CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(position + RecordBatchHeader.attributesOffset)..<end]))
    }
    bytes.replaceSubrange(
        (position + RecordBatchHeader.crcOffset)..<(position + RecordBatchHeader.crcOffset + 4),
        with: withUnsafeBytes(of: crc.bigEndian, Array.init))
    return end
}

func sealEveryBatch(_ bytes: inout [UInt8]) {
    var position = 0
    while let end = sealBatch(&bytes, at: position) { position = end }
}

/// Writes `bytes` as the only segment of partition t-0 of a log that was not closed cleanly, then opens,
/// reads, appends and inspects.
func recoverSegment(_ bytes: [UInt8]) {
    try? FileManager.default.removeItem(atPath: directory)
    do {
        let log = try Log(directory: directory)
        try log.createTopic("t")
        try log.close()
        try? FileManager.default.removeItem(atPath: directory + "/" + Log.cleanShutdownFile)
        let segment = directory + "/t-0/00000000000000000000.log"
        try? FileManager.default.removeItem(atPath: directory + "/t-0/00000000000000000000.index")
        try? FileManager.default.removeItem(atPath: directory + "/t-0/00000000000000000000.timeindex")
        _ = FileManager.default.createFile(atPath: segment, contents: Data(bytes))
        _ = try? SegmentInspector.inspect(path: segment)
        let reopened = try Log(directory: directory)
        let reader = try reopened.reader(topic: "t", partition: 0)
        while try reader.read({ _ = $0.headers }) > 0 {}
        let end = try reopened.offsets(topic: "t", partition: 0).end
        let appended = try reopened.append(ProducerRecord(key: "k", value: "v"), to: "t", partition: 0)
        precondition(appended.offset == end, "append after recovery went to \(appended.offset), end was \(end)")
        try reopened.close()
    } catch {
        // A clear error is an acceptable outcome; a trap is not.
    }
}
