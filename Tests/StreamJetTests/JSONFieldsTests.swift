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

    /// Scalars of 0–24 bytes (non-ASCII bytes included, which must not end them) followed by every kind
    /// of separator, so each end falls at every position of the scanner's 8-byte words; integers of 1–20
    /// digits, signed, around the overflow boundary.
    @Test("numbers and literals end exactly at `,`, `}` or whitespace; int64 agrees with Int64(_:) (seeded)")
    func scalars() {
        let seed = testSeed("json-scalars")
        var generator = SeededGenerator(seed: seed)
        let alphabet = Array("0123456789-+.eEtrufalsn\u{e9}")
        for round in 0..<5_000 {
            let scalar = String(
                (0..<Int.random(in: 1...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            let separator = [",\"z\":1}", "}", " }", "\n}", "\t,\"z\":2}", "\r}"].randomElement(using: &generator)!
            let padding = String(repeating: " ", count: Int.random(in: 0...7, using: &generator))
            let text = "{\"k\":" + padding + scalar + separator
            var found: [UInt8]?
            Array(text.utf8).withUnsafeBytes { bytes in
                _ = JSONFields.scan(bytes) { key, value in
                    if key.equals("k") { found = Array(value.bytes) }
                    return true
                }
            }
            #expect(found == Array(scalar.utf8), "seed \(seed) round \(round): \(text.debugDescription)")
        }
        for round in 0..<5_000 {
            let digits = String(
                (0..<Int.random(in: 1...20, using: &generator)).map { _ in
                    Character(String(Int.random(in: 0...9, using: &generator)))
                })
            let text = (Bool.random(using: &generator) ? "-" : "") + digits
            let parsed = Array(text.utf8).withUnsafeBytes { JSONFields.Token(bytes: $0, isString: false).int64 }
            #expect(parsed == Int64(text), "seed \(seed) round \(round): \(text)")
        }
        // A non-digit at every position of 1–18-digit numbers (the eight-digit steps must reject it), with
        // the bytes just below and above the digits.
        for length in 1...18 {
            for position in 0..<length {
                for bad in ["/", ":", " ", ".", "e", "\u{80}"] {
                    var characters = Array(String(repeating: "7", count: length))
                    characters[position] = Character(bad)
                    let text = String(characters)
                    let parsed = Array(text.utf8).withUnsafeBytes { JSONFields.Token(bytes: $0, isString: false).int64 }
                    #expect(parsed == nil, "\(text.debugDescription)")
                }
            }
        }
        for text in ["9223372036854775807", "-9223372036854775807", "9223372036854775808", "-", "", "1x", "12.5"] {
            let parsed = Array(text.utf8).withUnsafeBytes { JSONFields.Token(bytes: $0, isString: false).int64 }
            #expect(parsed == Int64(text), "\(text)")
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
