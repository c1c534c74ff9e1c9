import Foundation
import StreamJet
@_exported import TestSupport

/// A test event: a key, an event time and a value to sum.
struct Reading: Sendable, Hashable, Codable {
    var key: Int
    var time: Int64
    var value: Int
}

/// The expected results of windows of `size` every `step` over `events`, by brute force.
func bruteForceWindows(_ events: [Reading], size: Int64, step: Int64) -> [WindowKey: (count: Int, sum: Int)] {
    var result: [WindowKey: (count: Int, sum: Int)] = [:]
    for event in events {
        // Every window end e on the grid with e - size <= time < e.
        var end = (event.time / step + 1) * step
        while end - size <= event.time {
            let key = WindowKey(key: event.key, start: end - size, end: end)
            var entry = result[key] ?? (0, 0)
            entry.count += 1
            entry.sum += event.value
            result[key] = entry
            end += step
        }
    }
    return result
}

struct WindowKey: Hashable, CustomStringConvertible {
    var key: Int
    var start: Int64
    var end: Int64
    var description: String { "\(key)@[\(start),\(end))" }
}
