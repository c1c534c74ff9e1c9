import CommandLineInput
import EventLog
import Foundation
import Testing

@Suite("Producer input: lines into records")
struct ProducerInputTests {
    func lines(_ text: String, maxLineBytes: Int, piece: Int = 3) throws -> [LineReader.Line] {
        let bytes = Array(text.utf8)
        var position = 0
        var reader = LineReader(maxLineBytes: maxLineBytes) { buffer in
            let n = min(buffer.count, bytes.count - position, piece)
            buffer.copyBytes(from: bytes[position..<(position + n)])
            position += n
            return n
        }
        var result: [LineReader.Line] = []
        while true {
            let line = try reader.next()
            result.append(line)
            if line == .end { return result }
        }
    }

    @Test("lines split across reads; an over-long line is reported once and skipped to its newline")
    func lineReader() throws {
        let text = "short\n" + String(repeating: "x", count: 50) + "\nafter\nlast"
        #expect(
            try lines(text, maxLineBytes: 10) == [
                .line(Array("short".utf8)), .tooLong, .line(Array("after".utf8)),
                .line(Array("last".utf8)), .end,
            ])
        #expect(
            try lines(text, maxLineBytes: 100).map { if case .line(let l) = $0 { l.count } else { -1 } } == [
                5, 50, 5, 4, -1,
            ])
        #expect(try lines("", maxLineBytes: 10) == [.end])
        #expect(try lines("\n\n", maxLineBytes: 10) == [.line([]), .line([]), .end])
        #expect(try lines(String(repeating: "y", count: 40), maxLineBytes: 10) == [.tooLong, .end])
    }

    @Test("plain, key/value and JSON lines; errors name the line and what is wrong")
    func formats() throws {
        let plain = try ProducerInput(format: .value).parse(Array("v".utf8), lineNumber: 1)
        #expect(plain.record.key == nil && plain.record.value == Array("v".utf8) && plain.partition == nil)
        let keyed = try ProducerInput(format: .keyValue(separator: UInt8(ascii: ",")))
            .parse(Array("k,v,w".utf8), lineNumber: 1)
        #expect(keyed.record.key == Array("k".utf8) && keyed.record.value == Array("v,w".utf8))
        let json = ProducerInput(format: .json, headers: [Header(key: "fixed", string: "1")])
        let parsed = try json.parse(
            Array(#"{"key":"a","value":{"b":2,"a":1},"headers":{"z":"y"},"partition":3,"timestamp":17}"#.utf8),
            lineNumber: 1)
        #expect(parsed.record.value == Array(#"{"a":1,"b":2}"#.utf8))
        #expect(parsed.record.headers == [Header(key: "fixed", string: "1"), Header(key: "z", string: "y")])
        #expect(parsed.partition == 3 && parsed.record.timestamp == 17)
        let bad: [(ProducerInput, String, String)] = [
            (ProducerInput(format: .keyValue(separator: UInt8(ascii: "\t"))), "no-tab", "no separator tab"),
            (json, "{not json", "invalid JSON"),
            (json, "[1]", "expected a JSON object"),
            (json, #"{"colour":1}"#, "unknown field 'colour'"),
            (json, #"{"partition":-1}"#, "'partition' must be a non-negative integer"),
            (json, #"{"partition":1.5}"#, "'partition' must be a non-negative integer"),
            (json, #"{"timestamp":"soon"}"#, "'timestamp' must be milliseconds"),
            (json, #"{"headers":[1]}"#, "'headers' must be an object"),
        ]
        for (input, line, message) in bad {
            let error = #expect(throws: EventLogError.self) { try input.parse(Array(line.utf8), lineNumber: 42) }
            #expect(error?.code == .invalidInput)
            #expect(error?.message.hasPrefix("line 42: ") == true, "\(line)")
            #expect(error?.message.contains(message) == true, "\(line): \(error?.message ?? "")")
        }
    }
}
