// libFuzzer target: arbitrary bytes as `eventlog produce` standard input. The bytes are split into lines
// by the bounded LineReader (fed in pieces, with a small line limit) and each line is parsed in all three
// formats: plain value, key/value around a separator, and JSON. Any input must give records or an
// EventLogError naming the line — never a trap — and a line over the limit must never be returned.
//
// Build and run: bash scripts/fuzz.sh produce-input [seconds]
import CommandLineInput
import EventLog
import FuzzSupport

@_cdecl("FuzzProduceInput_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

let formats: [ProducerInput] = [
    ProducerInput(format: .value), ProducerInput(format: .keyValue(separator: UInt8(ascii: "\t"))),
    ProducerInput(format: .json, headers: [Header(key: "h", string: "v")]),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let limit = Int(data[0])  // lines over this many bytes are too long
    var position = 1
    var reader = LineReader(maxLineBytes: limit) { buffer in
        let n = min(buffer.count, count - position, 7)  // small pieces: lines straddle reads
        buffer.copyMemory(from: UnsafeRawBufferPointer(start: data + position, count: n))
        position += n
        return n
    }
    var lineNumber = 0
    while true {
        guard case .some(let step) = try? reader.next() else { break }
        guard case .line(let line) = step else {
            if step == .end { break }
            continue
        }
        precondition(line.count <= limit, "a line of \(line.count) bytes passed a limit of \(limit)")
        lineNumber += 1
        for input in formats { _ = try? input.parse(line, lineNumber: lineNumber) }
    }
    return 0
}
