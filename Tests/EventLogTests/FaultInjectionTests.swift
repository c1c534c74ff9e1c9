import Foundation
import SystemPackage
import Testing

@testable import EventLog

@Suite("Injected I/O faults")
struct FaultInjectionTests {
    func open(_ dir: String, _ faults: FaultInjector, durability: DurabilityPolicy = .none) throws -> Log {
        let log = try Log(directory: dir, configuration: .init(faults: faults))
        var config = TopicConfiguration()
        config.durability = durability
        try log.createTopicIfNeeded("t", configuration: config)
        return log
    }

    @Test("ENOSPC on write: the append fails clearly, nothing acknowledged is lost, appends resume")
    func diskFull() throws {
        let dir = TemporaryDirectory()
        let faults = FaultInjector()
        let log = try open(dir.path, faults)
        try log.append(ProducerRecord(key: "a", value: "1"), to: "t")
        let size = fileSize(segmentPath(dir.path, "t", 0))
        faults.fail(.write, with: .noSpace)
        let error = #expect(throws: EventLogError.self) {
            try log.append(ProducerRecord(key: "b", value: "2"), to: "t")
        }
        #expect(error?.code == .io)
        #expect(error?.errno == .noSpace)
        #expect(error?.topic == "t")
        #expect(error?.path?.hasSuffix(".log") == true)
        #expect(fileSize(segmentPath(dir.path, "t", 0)) == size)
        #expect(try log.all("t").map(\.valueString) == ["1"])
        #expect(try log.append(ProducerRecord(key: "c", value: "3"), to: "t").offset == 1)
        #expect(try log.all("t").map(\.valueString) == ["1", "3"])
    }

    @Test("a short write is cut back; if the cut fails too, the next append cuts first")
    func shortWrite() throws {
        let dir = TemporaryDirectory()
        let faults = FaultInjector()
        do {
            let log = try open(dir.path, faults)
            try log.append(ProducerRecord(key: "a", value: "1"), to: "t")
            let size = fileSize(segmentPath(dir.path, "t", 0))
            faults.shortWrite(bytes: 20)
            #expect(throws: EventLogError.self) { try log.append(ProducerRecord(key: "b", value: "2"), to: "t") }
            #expect(fileSize(segmentPath(dir.path, "t", 0)) == size)
            faults.shortWrite(bytes: 20)
            faults.fail(.truncate, with: .ioError)
            #expect(throws: EventLogError.self) { try log.append(ProducerRecord(key: "b", value: "2"), to: "t") }
            #expect(fileSize(segmentPath(dir.path, "t", 0)) == size + 20)
            #expect(try log.all("t").map(\.valueString) == ["1"])  // readers never see the partial batch
            #expect(try log.append(ProducerRecord(key: "c", value: "3"), to: "t").offset == 1)
            #expect(try log.all("t").map(\.valueString) == ["1", "3"])
            try log.close()
        }
        let reopened = try Log(directory: dir.path)
        #expect(try reopened.all("t").map(\.valueString) == ["1", "3"])
    }

    @Test("a failed fdatasync under the sync policy is not acknowledged; the next append syncs again")
    func fsyncFailure() throws {
        let dir = TemporaryDirectory()
        let faults = FaultInjector()
        let log = try open(dir.path, faults, durability: .sync)
        try log.append(ProducerRecord(key: "a", value: "1"), to: "t")
        faults.fail(.fsync, with: .ioError)
        let error = #expect(throws: EventLogError.self) {
            try log.append(ProducerRecord(key: "b", value: "2"), to: "t")
        }
        #expect(error?.errno == .ioError)
        #expect(error?.message.contains("not acknowledged") == true)
        let before = try log.statistics(topic: "t", partition: 0).syncs
        try log.append(ProducerRecord(key: "c", value: "3"), to: "t")
        #expect(try log.statistics(topic: "t", partition: 0).syncs == before + 1)
        #expect(faults.injectedCount == 1)
    }

    @Test("a failing rename while writing metadata leaves the old file and a clear error")
    func renameFailure() throws {
        let dir = TemporaryDirectory()
        let faults = FaultInjector()
        let log = try open(dir.path, faults)
        faults.fail(.rename, with: .noSpace)
        let error = #expect(throws: EventLogError.self) { try log.createTopic("u") }
        #expect(error?.errno == .noSpace)
        #expect(!log.topicNames().contains("u"))
        try log.createTopic("u")
        #expect(log.topicNames().contains("u"))
    }

    @Test("a group commit that fails (ENOSPC, EIO on fsync, a failing rename) is reported and works again")
    func groupCommits() throws {
        let dir = TemporaryDirectory()
        let faults = FaultInjector()
        let log = try Log(directory: dir.path, configuration: .init(faults: faults))
        try log.createTopic("t")
        for i in 0..<20 { try log.append(ProducerRecord(key: "k\(i)", value: "v"), to: "t") }
        let tp = TopicPartition("t", 0)
        try log.commit(group: "g", offsets: [tp: 5])
        for (operation, errno) in [(FaultInjector.Operation.write, Errno.noSpace), (.fsync, .ioError)] {
            faults.fail(operation, with: errno)
            let error = #expect(throws: EventLogError.self) { try log.commit(group: "g", offsets: [tp: 9]) }
            #expect(error?.code == .io)
            #expect(error?.errno == errno)
            // Nothing was written on ENOSPC. A failed fsync leaves the written commit readable but not
            // acknowledged (the outcome is ambiguous, as in Kafka; consumers commit what they processed,
            // so either value is safe to resume from).
            let committed = try log.committedOffsets(group: "g")[tp]?.offset
            #expect(
                operation == .write ? committed == 5 : [5, 9].contains(committed), "\(operation): \(committed ?? -1)")
            faults.clear()
        }
        try log.commit(group: "g", offsets: [tp: 9])
        try log.close()
        // A reader process commits through files; a failing rename leaves the previous commit.
        let reader = try Log.openReadOnly(directory: dir.path, configuration: .init(faults: faults))
        #expect(try reader.committedOffsets(group: "g")[tp]?.offset == 9)
        try reader.commit(group: "r", offsets: [tp: 3])
        faults.fail(.rename, with: .ioError)
        let error = #expect(throws: EventLogError.self) { try reader.commit(group: "r", offsets: [tp: 4]) }
        #expect(error?.path?.contains("r/t-0.json") == true, "\(error?.description ?? "")")
        #expect(try reader.committedOffsets(group: "r")[tp]?.offset == 3)
        faults.clear()
        try reader.commit(group: "r", offsets: [tp: 4])
        #expect(try reader.committedOffsets(group: "r")[tp]?.offset == 4)
    }
}

@Suite("Idempotent producers")
struct IdempotenceTests {
    @Test(
        "a retried batch gets its original offsets; a gap is an error; state survives clean and unclean reopen",
        arguments: [true, false])
    func retries(clean: Bool) throws {
        let dir = TemporaryDirectory()
        let identity: ProducerIdentity
        do {
            let log = try Log(directory: dir.path)
            try log.createTopic("t")
            let producer = try log.makeIdempotentProducer()
            identity = producer.identity
            let batch = RecordBatchBuilder()
            batch.append(key: "k", value: "1", timestamp: 1)
            batch.append(key: "k", value: "2", timestamp: 2)
            let first = try producer.send(batch, to: "t", partition: 0)
            let again = try producer.retry(batch, to: "t", partition: 0)
            #expect(
                again == AppendResult(baseOffset: first.baseOffset, lastOffset: first.lastOffset, isDuplicate: true))
            #expect(try log.all("t").count == 2)
            batch.reset()
            batch.append(key: "k", value: "3", timestamp: 3)
            let gap = #expect(throws: EventLogError.self) {
                try producer.send(batch, sequence: 5, to: "t", partition: 0)
            }
            #expect(gap?.code == .outOfOrderSequence)
            #expect(gap?.message.contains("expected 2") == true)
            try producer.send(batch, to: "t", partition: 0)
            #expect(try log.makeIdempotentProducer().identity.id != identity.id)
            if clean {
                try log.close()
            } else {
                try log.flush()
                try log.close()
                try FileManager.default.removeItem(atPath: dir.path + "/" + Log.cleanShutdownFile)
            }
        }
        let log = try Log(directory: dir.path)
        let producer = try log.idempotentProducer(identity)
        let batch = RecordBatchBuilder()
        batch.append(key: "k", value: "3", timestamp: 3)
        let retried = try producer.send(batch, sequence: 2, to: "t", partition: 0)
        #expect(retried.isDuplicate)
        #expect(retried.baseOffset == 2)
        let fenced = #expect(throws: EventLogError.self) {
            try log.idempotentProducer(ProducerIdentity(id: identity.id, epoch: 1)).send(
                batch, sequence: 0, to: "t", partition: 0)
            try producer.send(batch, sequence: 3, to: "t", partition: 0)
        }
        #expect(fenced?.code == .producerFenced)
        #expect(try log.all("t").map(\.valueString) == ["1", "2", "3", "3"])
    }
}
