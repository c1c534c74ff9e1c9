import Foundation
import TestSupport
import Testing

@testable import EventLog

@Suite("Event streams: multi-stream appends")
struct EventStreamsBatchTests {
    static func event(_ id: String, _ type: String = "E") -> EventStreams.EventData {
        EventStreams.EventData(id: id, type: type, string: #"{"id":"\#(id)"}"#)
    }

    @Test("writes to several streams land together with their versions; a failed expectation writes nothing")
    func atomicWrites() throws {
        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        let streams = try EventStreams(log: log, topic: "es")
        let first = try streams.append([
            .init(stream: "a", events: [Self.event("a1"), Self.event("a2")], expecting: .noStream),
            .init(stream: "b", events: [Self.event("b1")], expecting: .noStream),
            // The same stream again: checked as if the first write were applied.
            .init(stream: "a", events: [Self.event("a3")], expecting: .exactly(1)),
        ])
        #expect(first.map(\.version) == [1, 0, 2])
        #expect(first.map(\.positions) == [[0, 1], [2], [3]])
        #expect(try streams.read("a").map(\.id) == ["a1", "a2", "a3"])

        // One wrong expectation among good ones: nothing is written.
        let wrong = #expect(throws: EventLogError.self) {
            try streams.append([
                .init(stream: "b", events: [Self.event("b2")], expecting: .exactly(0)),
                .init(stream: "a", events: [Self.event("a4")], expecting: .exactly(1)),
            ])
        }
        #expect(wrong?.code == .wrongExpectedVersion)
        #expect(try streams.version(of: "b") == 0 && log.offsets(topic: "es", partition: 0).end == 4)

        // A write whose ids are all known is a duplicate (not written); the others are.
        let again = try streams.append([
            .init(stream: "b", events: [Self.event("b1")], expecting: .exactly(7)),
            .init(stream: "c", events: [Self.event("c1")], expecting: .noStream),
        ])
        #expect(again[0].wasDuplicate && again[0].version == 0 && again[0].positions == [2])
        #expect(!again[1].wasDuplicate && again[1].positions == [4])
        #expect(try streams.locate(eventID: "c1")?.stream == "c")

        // An id given twice, or an empty write: refused, nothing written.
        #expect(throws: EventLogError.self) {
            try streams.append([.init(stream: "d", events: [Self.event("d1"), Self.event("d1")])])
        }
        #expect(throws: EventLogError.self) { try streams.append([.init(stream: "d", events: [])]) }
        #expect(try log.offsets(topic: "es", partition: 0).end == 5)

        // The index kept without reading back equals one rebuilt from the topic.
        let live = try ["a", "b", "c"].map { try streams.read($0).map(\.id) }
        try log.close()
        let reopened = try Log(directory: dir.path)
        let rebuilt = try EventStreams(log: reopened, topic: "es")
        #expect(try ["a", "b", "c"].map { try rebuilt.read($0).map(\.id) } == live)
        #expect(live == [["a1", "a2", "a3"], ["b1"], ["c1"]])
        try reopened.close()
    }

    @Test("a multi-stream append cut by a crash is gone from every stream, never half there")
    func cutAppendIsAllOrNothing() throws {
        let dir = TemporaryDirectory()
        do {
            let log = try Log(directory: dir.path)
            let streams = try EventStreams(log: log, topic: "es")
            try streams.append(to: "a", events: [Self.event("a0")])
            let segment = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/es-0").first {
                $0.hasSuffix(".log")
            }!
            let path = dir.path + "/es-0/" + segment
            let before = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int64
            _ = try streams.append([
                .init(stream: "a", events: [Self.event("a1")]),
                .init(stream: "b", events: [Self.event("b0"), Self.event("b1")]),
            ])
            let after = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int64
            try log.close()
            try FileManager.default.removeItem(atPath: dir.path + "/" + Log.cleanShutdownFile)
            // Cut the second batch in its middle, as a crash during the write would.
            let fd = open(path, O_WRONLY)
            ftruncate(fd, off_t(before + (after - before) / 2))
            close(fd)
        }
        let log = try Log(directory: dir.path)
        let streams = try EventStreams(log: log, topic: "es")
        #expect(try streams.read("a").map(\.id) == ["a0"])
        #expect(try streams.version(of: "b") == nil)
        try log.close()
    }

    @Test("the event-id table against a brute-force model: shared hashes, hash 0, growth through many doublings")
    func idTableAgainstModel() {
        let seed = testSeed("event-id-table")
        var random = SplitMix64(seed: seed)
        var table = EventIDTable()
        var model: [UInt64: [Int64]] = [:]
        for position in Int64(0)..<6_000 {
            // Few distinct hashes (many shared), 0 among them, and some large ones.
            let hash = random.next() % 4 == 0 ? random.next() : random.next() % 97
            table.insert(hash, position)
            model[hash == 0 ? 1 : hash, default: []].append(position)
            if position % 250 == 0 || position > 5_990 {
                for probe in UInt64(0)..<100 {
                    let expected = (model[probe == 0 ? 1 : probe] ?? []).sorted()
                    #expect(table.candidates(of: probe).sorted() == expected, "hash \(probe), seed \(seed)")
                    #expect(table.contains(probe) == !expected.isEmpty, "hash \(probe), seed \(seed)")
                }
            }
        }
        #expect(table.count == 6_000)
        for (hash, positions) in model { #expect(table.candidates(of: hash).sorted() == positions.sorted()) }
    }

    @Test("ids sharing a hash are told apart by the log: each appended once, duplicates found, also after a reopen")
    func collidingIDs() throws {
        // A hash with three values (0 among them): almost every id shares its hash with many others.
        let weak: @Sendable (UnsafeRawBufferPointer) -> UInt64 = { UInt64($0.count % 3) }
        let dir = TemporaryDirectory()
        var model: [String: (stream: String, version: Int64)] = [:]
        do {
            let log = try Log(directory: dir.path)
            let streams = try EventStreams(log: log, topic: "es", hashingIDsWith: weak)
            for n in 0..<100 {
                let stream = "s\(n % 7)"
                let ids = ["e\(n)", "e\(n)-x"]
                let outcome = try streams.append(to: stream, events: ids.map { Self.event($0) })
                #expect(!outcome.wasDuplicate)
                for (k, id) in ids.enumerated() { model[id] = (stream, outcome.version - 1 + Int64(k)) }
            }
            // A retry is a duplicate with the original positions; a new id with a known hash is not.
            let retry = try streams.append(to: "s3", events: [Self.event("e10"), Self.event("e10-x")])
            #expect(retry.wasDuplicate && retry.version == model["e10-x"]!.version)
            #expect(throws: EventLogError.self) {
                try streams.append(to: "s3", events: [Self.event("e11"), Self.event("new")])  // half known
            }
            #expect(throws: EventLogError.self) {
                try streams.append([
                    .init(stream: "s1", events: [Self.event("q1"), Self.event("q2"), Self.event("q1")])
                ])
            }
            // Same hash, different ids, one append: both written.
            let pair = try streams.append([.init(stream: "s1", events: [Self.event("q1"), Self.event("q4")])])
            model["q1"] = ("s1", pair[0].version - 1)
            model["q4"] = ("s1", pair[0].version)
            for (id, where_) in model {
                let found = try streams.locate(eventID: id)
                #expect(found?.stream == where_.stream && found?.version == where_.version, "\(id)")
            }
            #expect(try streams.locate(eventID: "absent") == nil)
            try log.close()
        }
        // The index rebuilt from the topic tells the same ids apart.
        let log = try Log(directory: dir.path)
        let streams = try EventStreams(log: log, topic: "es", hashingIDsWith: weak)
        for (id, where_) in model {
            let found = try streams.locate(eventID: id)
            #expect(found?.stream == where_.stream && found?.version == where_.version, "\(id) after the reopen")
        }
        #expect(try streams.append(to: "s0", events: [Self.event("e0"), Self.event("e0-x")]).wasDuplicate)
        #expect(try log.offsets(topic: "es", partition: 0).end == Int64(model.count))
        try log.close()
    }

    @Test("a Batch built in pieces and appended by ranges writes what the same StreamWrites write")
    func batchMatchesStreamWrites() throws {
        struct Refused: Error {}
        let writes: [EventStreams.StreamWrite] = [
            .init(stream: "a", events: [Self.event("a1"), Self.event("a2")], expecting: .noStream),
            .init(stream: "b", events: [Self.event("b1", "Other")], expecting: .noStream),
            .init(stream: "a", events: [Self.event("a3")], expecting: .exactly(1)),
            .init(stream: "c", events: [Self.event("c1")]),
        ]
        // Two batches joined; a write whose payload throws leaves no trace.
        var first = EventStreams.Batch(Array(writes[..<2]))
        var second = EventStreams.Batch()
        #expect(throws: Refused.self) {
            try second.addWrite(to: "z", id: "z1", type: "E") { bytes in
                bytes += [1, 2, 3]
                throw Refused()
            }
        }
        for write in writes[2...] {
            second.startWrite(to: write.stream, expecting: write.expected)
            for event in write.events { try second.addEvent(id: event.id, type: event.type) { $0 += event.data } }
        }
        first.append(second)
        #expect(first.writeCount == 4 && first.eventCount == 5)
        #expect(first.contains(eventID: "c1") && !first.contains(eventID: "z1") && !first.contains(eventID: "a"))

        let dir = TemporaryDirectory()
        let log = try Log(directory: dir.path)
        let viaBatch = try EventStreams(log: log, topic: "batch")
        let head = try viaBatch.append(first, writes: 0..<3)
        let tail = try viaBatch.append(first, writes: 3..<4)
        #expect(head.map(\.version) == [1, 0, 2] && head.map(\.positions) == [[0, 1], [2], [3]])
        #expect(tail[0].version == 0 && tail[0].positions == [4])
        let viaWrites = try EventStreams(log: log, topic: "writes")
        _ = try viaWrites.append(writes)
        let fields = { (e: EventStreams.RecordedEvent) in
            [e.stream, e.id, e.type, String(decoding: e.data, as: UTF8.self)]
        }
        #expect(try viaBatch.readAll().map(fields) == viaWrites.readAll().map(fields))
        // Appending the batch again: every write a duplicate, nothing written.
        let again = try viaBatch.append(first, writes: 0..<4)
        #expect(again.allSatisfy(\.wasDuplicate) && again[1].positions == [2])
        #expect(try log.offsets(topic: "batch", partition: 0).end == 5)
        try log.close()
    }

    @Test("the repeated-hash check against a sort (hash 0, many sizes)")
    func someRepeat() {
        let seed = testSeed("some-repeat")
        var random = SplitMix64(seed: seed)
        for size in [0, 1, 2, 3, 17, 100, 1_000] {
            for _ in 0..<20 {
                let values = (0..<size).map { _ in
                    random.next() % 3 == 0 ? random.next() % UInt64(size * 4 + 1) : random.next()
                }
                let sorted = values.sorted()
                let expected = zip(sorted, sorted.dropFirst()).contains { $0 == $1 }
                #expect(EventStreams.someRepeat(values) == expected, "size \(size), seed \(seed)")
            }
        }
    }
}
