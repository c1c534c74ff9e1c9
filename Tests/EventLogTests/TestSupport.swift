import Foundation
@_exported import TestSupport
import Testing

@testable import EventLog

func hexBytes(_ text: String) -> [UInt8] {
    let digits = text.filter { $0.isHexDigit }
    var bytes: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        bytes.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

func fileSize(_ path: String) -> Int64 {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? -1
}

func segmentPath(_ dir: String, _ topic: String, _ partition: Int, base: Int64 = 0) -> String {
    "\(dir)/\(topic)-\(partition)/" + Segment.fileName(base, "log")
}

extension Log {
    /// Every record of a partition, read from the start.
    func all(_ topic: String, _ partition: Int = 0) throws -> [Record] {
        let reader = try reader(topic: topic, partition: partition, from: .earliest)
        var records: [Record] = []
        while try reader.read({ records.append($0.record) }) > 0 {}
        return records
    }
}

/// Makes the batch after the first `skip` batches of the segment at `path` claim a length of 4 KiB (bytes
/// 8-11 of the batch, outside its CRC): a damaged last batch when it is the last one. Returns its position.
@discardableResult
func damageBatchLength(_ path: String, skipping skip: Int) -> Int {
    var position = 0
    modifyFile(path) { bytes in
        for _ in 0..<skip { position += 12 + bytes[(position + 8)..<(position + 12)].reduce(0) { $0 << 8 | Int($1) } }
        bytes.replaceSubrange((position + 8)..<(position + 12), with: [0x00, 0x00, 0x10, 0x00])
    }
    return position
}
