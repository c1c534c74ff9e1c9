import Foundation
import StreamJet
import Testing

@Suite("JSONFields")
struct JSONFieldsTests {
    /// Random objects written by JSONSerialization (which escapes `"`, `\`, `/` and control characters):
    /// `scan` must report exactly their top-level fields, decode strings and integers to the originals,
    /// and hand nested values over whole. Strings of 0–40 characters put quotes and backslashes at every
    /// position of the scanner's 8-byte words.
    @Test("scan reports every top-level field of random objects exactly as JSONSerialization wrote them")
    func randomObjects() throws {
        let seed = testSeed("json-fields")
        var generator = SeededGenerator(seed: seed)
        let alphabet = Array("ab\"\\/é😀 \n\txyz0{},:[]")
        func randomString() -> String {
            String(
                (0..<Int.random(in: 0...40, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
        }
        for round in 0..<2_000 {
            var object: [String: Any] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &generator) {
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: object[randomString()] = randomString()
                case 1:
                    object[randomString()] = Int64.random(in: -1_000_000_000_000...1_000_000_000_000, using: &generator)
                case 2: object[randomString()] = ["inner": randomString(), "n": 1]
                default: object[randomString()] = [randomString(), 2, ["deep": randomString()]]
                }
            }
            let data = try JSONSerialization.data(withJSONObject: object)
            var seen: [String: Any] = [:]
            var wellFormed = false
            data.withUnsafeBytes { bytes in
                wellFormed = JSONFields.scan(bytes) { key, value in
                    let name = key.string!
                    if value.isString {
                        seen[name] = value.string!
                    } else if let number = value.int64 {
                        seen[name] = number
                    } else {
                        seen[name] = try? JSONSerialization.jsonObject(with: Data(value.bytes))
                    }
                    return true
                }
            }
            // Compared as canonical JSON (sorted keys): the same fields with the same values.
            let text = String(decoding: data, as: UTF8.self)
            let expected = try JSONSerialization.data(withJSONObject: object, options: .sortedKeys)
            let found = try JSONSerialization.data(withJSONObject: seen, options: .sortedKeys)
            #expect(wellFormed, "round \(round): \(text)")
            #expect(found == expected, "round \(round): \(text) gave \(String(decoding: found, as: UTF8.self))")
            if !wellFormed || found != expected { break }
        }
    }

    @Test("an unterminated string or a missing colon is reported as malformed, at any length")
    func malformed() {
        for length in 0..<24 {
            let body = String(repeating: "a", count: length)
            for text in ["{\"\(body)", "{\"k\":\"\(body)", "{\"k\":\"\(body)\\\"", "{\"\(body)\" 1}"] {
                let result = Array(text.utf8).withUnsafeBytes { JSONFields.scan($0) { _, _ in true } }
                #expect(!result, "\(text)")
            }
        }
    }
}
