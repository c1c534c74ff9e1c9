// libFuzzer target: arbitrary bytes as SQL text into the LiveViews lexer, parser, planner and executor.
// The text is parsed as a statement and as an expression, then run against a small orders table (with its
// spatial and inverted indexes), so plans and functions see hostile input too. Any input must give an
// answer or a ViewError — never a trap, a hang or unbounded recursion.
//
// Build and run: bash scripts/fuzz.sh sql-parser [seconds]
import FuzzSupport
import Simulator

@testable import LiveViews

@_cdecl("FuzzSQLParser_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

/// Forty orders around San Francisco in three states, plus rows with extreme and missing values.
let table: LiveTable = {
    let table = try! LiveTable(config: OrderDeliveryTables.orders)
    let statuses = ["ORDER_CREATED", "ORDER_PREPARED", "ORDER_DELIVERED"]
    for i in 0..<120 {
        table.ingest(
            json: """
                {"orderId":"o\(i % 40)","orderStatus":"\(statuses[i % 3])","orderLocationLat":\(37.7 + Double(i) / 1000),\
                "orderLocationLon":\(-122.4 - Double(i % 7) / 100),"restaurantCity":"c\(i % 5)","lastModified":\(i),\
                "payload":{"driverId":"d\(i % 9)"}}
                """)
    }
    table.ingest(
        json: #"{"orderId":"extreme","orderLocationLat":90,"orderLocationLon":180,"lastModified":9223372036854775807}"#)
    table.ingest(json: #"{"orderId":"nulls"}"#)
    return table
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    _ = try? Parser.parseExpression(text)
    if (try? Parser.parse(text)) != nil {
        _ = try? table.query(text, now: 1_700_000_000_000)
    }
    return 0
}
