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
