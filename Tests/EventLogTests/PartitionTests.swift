import Foundation
import Testing

@testable import EventLog

/// `Partition`: it coordinates its segments (rolls, recovery, compaction swaps) and never writes a
/// segment's file itself.
@Suite("Partition")
struct PartitionTests {
    @Test("rolls chain the segments: each starts at the previous one's next offset, offsets stay dense")
    func segmentsChain() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        var config = TopicConfiguration()
        config.segmentBytes = 1024
        try log.createTopic("t", configuration: config)
        for i in 0..<200 { _ = try log.append(ProducerRecord(key: "k\(i % 7)", value: "value-\(i)"), to: "t") }
        let segments = try log.partition("t", 0).segments
        #expect(segments.count > 5)
        for (previous, next) in zip(segments, segments.dropFirst()) {
            #expect(next.baseOffset == previous.nextOffset)
            #expect(previous.size <= 1024)
        }
        #expect(try log.all("t").map(\.offset) == Array(0..<200))
        #expect(log.invariantViolation() == nil)
    }

    @Test("a compaction swap a crash left complete is finished on open, and its temporary file is deleted")
    func interruptedSwapCompletes() throws {
        let dir = TemporaryDirectory()
        var config = TopicConfiguration()
        config.segmentBytes = 1024
        config.cleanupPolicy = [.compact]  // offsets may have gaps, as compaction leaves them
        do {
            let log = try Log(directory: dir.path)
            try log.createTopic("t", configuration: config)
            for i in 0..<60 { _ = try log.append(ProducerRecord(key: "k", value: "value-\(i)"), to: "t") }
            try log.close()
        }
        // What compaction would have produced for the first segment: only its last batch (same offsets).
        let first = segmentPath(dir.path, "t", 0)
        let bytes = Array(FileManager.default.contents(atPath: first)!)
        var position = 0
        var last = 0
        while position < bytes.count {
            last = position
            position += 12 + bytes[(position + 8)..<(position + 12)].reduce(0) { $0 << 8 | Int($1) }
        }
        let kept = Array(bytes[last...])
        let lastOffset = kept[0..<8].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        _ = FileManager.default.createFile(atPath: first + ".swap", contents: Data(kept))
        _ = FileManager.default.createFile(atPath: first + ".swap.tmp", contents: Data("half-written".utf8))

        let log = try Log(directory: dir.path)
        let offsets = try log.all("t").map(\.offset)
        #expect(offsets.first == lastOffset, "the first segment now holds only its last batch")
        #expect(offsets.last == 59)
        #expect(Array(FileManager.default.contents(atPath: first)!) == kept)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/t-0").filter {
            $0.hasSuffix(".swap") || $0.hasSuffix(".tmp")
        }
        #expect(leftovers.isEmpty)
        #expect(log.invariantViolation() == nil)
    }
}
