import EventLogFoundation
import Foundation
import TestSupport
import Testing

@testable import ChangeCapture

/// The pgoutput decoder on hand-built messages (the format from PostgreSQL's documentation), and on damaged
/// ones: every cut and random corruption is an error or a message, never a trap.
struct PgOutputTests {
    static func relation() -> [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "R"), 0, 0, 0x40, 0x01]
        bytes += Array("public".utf8) + [0] + Array("items".utf8) + [0] + [UInt8(ascii: "d"), 0, 2]
        bytes += [1] + Array("id".utf8) + [0] + [0, 0, 0, 23] + [0xff, 0xff, 0xff, 0xff]
        bytes += [0] + Array("name".utf8) + [0] + [0, 0, 0, 25] + [0xff, 0xff, 0xff, 0xff]
        return bytes
    }

    static func insert() -> [UInt8] {
        [UInt8(ascii: "I"), 0, 0, 0x40, 0x01, UInt8(ascii: "N"), 0, 2, UInt8(ascii: "t"), 0, 0, 0, 2]
            + Array("42".utf8) + [UInt8(ascii: "u")]
    }

    @Test func decodesTheDocumentedMessages() throws {
        #expect(
            try PgOutputMessage.decode(Self.relation())
                == .relation(
                    PgRelation(
                        oid: 0x4001, schema: "public", name: "items", replicaIdentity: UInt8(ascii: "d"),
                        columns: [
                            .init(name: "id", typeOID: 23, typeModifier: -1, isKey: true),
                            .init(name: "name", typeOID: 25, typeModifier: -1, isKey: false),
                        ])))
        #expect(
            try PgOutputMessage.decode(Self.insert())
                == .insert(relation: 0x4001, new: [.text(Array("42".utf8)), .unchangedToast]))
        let begin: [UInt8] = [
            UInt8(ascii: "B"), 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0x01, 0x00,
        ]
        #expect(try PgOutputMessage.decode(begin) == .begin(finalLSN: 1 << 32 | 2, commitMicroseconds: 1000, xid: 256))
        var assembler = TransactionAssembler(primaryKeys: ["public.items": ["name"]])
        _ = try assembler.feed(.begin(finalLSN: 0, commitMicroseconds: 0, xid: 7), lsn: 1)
        _ = try assembler.feed(try PgOutputMessage.decode(Self.relation()), lsn: 1)
        _ = try assembler.feed(try PgOutputMessage.decode(Self.insert()), lsn: 2)
        let done = try #require(try assembler.feed(.commit(commitLSN: 3, endLSN: 4, commitMicroseconds: 0), lsn: 3))
        #expect(done.endLSN == 4 && done.changes.count == 1)
        // The catalog's primary key decides the key columns, not pgoutput's identity flags.
        #expect(done.changes[0].relation.columns.map(\.isKey) == [false, true])
        // A change to a relation never announced is a malformed stream.
        var fresh = TransactionAssembler()
        _ = try fresh.feed(.begin(finalLSN: 0, commitMicroseconds: 0, xid: 7), lsn: 1)
        #expect(throws: CaptureError.self) { _ = try fresh.feed(try PgOutputMessage.decode(Self.insert()), lsn: 2) }
    }

    @Test func damagedMessagesAreErrorsNotTraps() throws {
        for message in [Self.relation(), Self.insert()] {
            for cut in 0..<message.count {
                do {
                    _ = try PgOutputMessage.decode(Array(message[..<cut]))
                    Issue.record("a message cut at byte \(cut) decoded")
                } catch {
                    #expect(error.code == .malformedMessage)
                }
            }
        }
        let seed = testSeed("pgoutput-damage")
        var random = SeededGenerator(seed: seed)
        for _ in 0..<20_000 {
            var message = Bool.random(using: &random) ? Self.relation() : Self.insert()
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                message[Int.random(in: 0..<message.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            _ = try? PgOutputMessage.decode(message)
        }
    }

    @Test func valuesFollowDebeziumsMapping() {
        func json(_ text: String, _ type: UInt32) -> String {
            var out: [UInt8] = []
            ColumnJSON.append(.text(Array(text.utf8)), type: type, to: &out)
            return String(decoding: out, as: UTF8.self)
        }
        #expect(json("t", ColumnJSON.bool) == "true")
        #expect(json("-12", ColumnJSON.int8) == "-12")
        #expect(json("123456789012345678901234.5", ColumnJSON.numeric) == "123456789012345678901234.5")
        #expect(json("-Infinity", ColumnJSON.float8) == "\"-Infinity\"")
        #expect(json("1970-01-02", ColumnJSON.date) == "1")
        #expect(json("0001-01-01", ColumnJSON.date) == "-719162")
        #expect(json("2000-01-01 00:00:00", ColumnJSON.timestamp) == "946684800000000")
        #expect(json("2000-01-01 00:00:00.000001", ColumnJSON.timestamp) == "946684800000001")
        #expect(json("infinity", ColumnJSON.timestamp) == "\"infinity\"")
        #expect(json("2024-05-01 12:00:00.5-07:30", ColumnJSON.timestamptz) == "\"2024-05-01T19:30:00.500000Z\"")
        #expect(json("1969-12-31 23:59:59.999999+00", ColumnJSON.timestamptz) == "\"1969-12-31T23:59:59.999999Z\"")
        #expect(json("\\x", ColumnJSON.bytea) == "\"\"")
        #expect(json("line\nbreak\u{1}", 25) == #""line\nbreak\u0001""#)
    }
}
