// libFuzzer target: arbitrary bytes as SQL text into the LiveViews lexer and parser. Any input must give a
// statement or a ViewError — never a trap, a hang or unbounded recursion.
//
// Build and run: bash scripts/fuzz.sh sql-parser [seconds]
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    _ = try? Parser.parse(text)
    _ = try? Parser.parseExpression(text)
    return 0
}
