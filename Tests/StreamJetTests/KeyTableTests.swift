import EventLogFoundation
import Testing

@testable import StreamJet

@Suite("Window key tables")
struct KeyTableTests {
    /// Keys of every length class the string hash handles (empty, 1–3, 4–7, 8–16, longer than 16 with and
    /// without a whole 16-byte block left over), non-ASCII keys, and pairs that are `==` with different bytes.
    static let keys: [String] = {
        var keys = ["", "a", "ab", "abc", "abcd", "rest-07", "rest-0434", "restaurant-0000434", "café", "日本"]
        keys += (0..<300).map { "rest-\($0)" }
        keys += (0..<40).map { String(repeating: "k", count: $0) + "-\($0)" }
        keys += ["K", "\u{212A}", "é", "e\u{301}", "Å", "A\u{30A}", "\u{212B}", "x\u{212A}y", "xKy"]
        return keys
    }()

    @Test("folds like a Dictionary: same values per key, keys in first-insertion order, through growth")
    func matchesDictionary() {
        let seed = testSeed("key table model")
        var generator = SeededGenerator(seed: seed)
        var table = KeyTable<String, [Int]>()
        var model: [String: [Int]] = [:]
        var order: [String] = []
        for step in 0..<20_000 {
            let key = Self.keys.randomElement(using: &generator)!
            table.fold(key, creating: { [] }) { $0.append(step) }
            if model[key] == nil { order.append(key) }
            model[key, default: []].append(step)
        }
        #expect(table.count == model.count, "seed \(seed)")
        #expect(table.keys == order, "seed \(seed): insertion order")
        var mismatches = 0
        table.forEach { key, value in if model[key] != value { mismatches += 1 } }
        #expect(mismatches == 0, "seed \(seed)")
        for (key, value) in model { #expect(table[key] == value, "seed \(seed): key \(key.debugDescription)") }
        #expect(table["never stored"] == nil)
    }

    @Test("strings that are == but differ in bytes are one key (canonical equivalence, as String compares)")
    func canonicalEquivalence() {
        var table = KeyTable<String, Int>()
        for key in ["K", "\u{212A}", "é", "e\u{301}", "Å", "A\u{30A}", "\u{212B}", "xKy", "x\u{212A}y"] {
            table.fold(key, creating: { 0 }) { $0 += 1 }
        }
        #expect(table.count == 4)
        #expect(table["K"] == 2)
        #expect(table["\u{E9}"] == 2)
        #expect(table["\u{C5}"] == 3)
        #expect(table["xKy"] == 2)
        #expect(KeyHash.string("\u{212A}") == KeyHash.string("K"))
        #expect(KeyHash.string("e\u{301}") == KeyHash.string("\u{E9}"))
    }

    @Test("other key types use their hashValue; set replaces a value")
    func otherKeys() {
        var table = KeyTable<Int, String>()
        for n in 0..<1_000 { table.set(n % 300, "v\(n)") }
        #expect(table.count == 300)
        #expect(table[299] == "v899")
        #expect(table[0] == "v900")
        #expect(table.keys == Array(0..<300))
    }
}
