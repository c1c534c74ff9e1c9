// libFuzzer target: arbitrary bytes as a store list into the simulator's CSV reader (SwiftCSV underneath),
// with and without filters. Any input must give restaurants or a StoreListError naming the record — never a
// trap. Every restaurant it accepts must have a valid location.
//
// Build and run: bash scripts/fuzz.sh store-csv [seconds]
import FuzzSupport
import Simulator

@_cdecl("FuzzStoreCSV_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    var filter = StoreFilter()
    filter.country = nil
    for filter in [filter, StoreFilter()] {
        guard let list = try? RestaurantCatalog.parseList(text, path: "fuzz.csv", filter: filter) else { continue }
        for restaurant in list.restaurants {
            precondition(abs(restaurant.location.latitude) <= 90 && abs(restaurant.location.longitude) <= 180)
        }
    }
    return 0
}
