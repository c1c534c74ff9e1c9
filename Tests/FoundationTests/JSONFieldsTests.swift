import EventLogFoundation
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

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
        for text in [
            "9223372036854775807", "-9223372036854775807", "9223372036854775808", "-9223372036854775808",
            "-9223372036854775809", "-09223372036854775808", "-", "", "1x", "12.5",
        ] {
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

    /// Objects made from a few key orders (keys with escapes, empty, duplicated, longer than a learned key
    /// can be, more of them than are learned), varied by dropped and swapped keys, whitespace around colons
    /// and commas, and values of every kind; each is also cut at every length and stopped after a random
    /// field. One scanner, learning from the first object, must report exactly what `scan` reports, and
    /// both run on bytes that end where an unreadable page begins, so a read past the end would crash.
    @Test("a Scanner reports exactly what scan reports, on any object, cut anywhere (seeded, guard page)")
    func scannerMatchesScan() throws {
        let seed = testSeed("json-scanner")
        var generator = SeededGenerator(seed: seed)
        let guarded = try GuardedBuffer(capacity: 1 << 16)
        func randomKey(plain: Bool) -> String {
            switch plain ? 9 : Int.random(in: 0..<10, using: &generator) {
            case 0: return ""
            case 1: return "k\\\"" + String(repeating: "e", count: Int.random(in: 0...9, using: &generator))
            case 2: return String(repeating: "long", count: Int.random(in: 7...12, using: &generator))
            default:
                return String(
                    (0..<Int.random(in: 1...29, using: &generator)).map { _ in
                        (plain ? "abcdefghijklmnopqrstuvwxyzAB_" : "abcdé").randomElement(using: &generator)!
                    })
            }
        }
        func randomValue() -> String {
            switch Int.random(in: 0..<6, using: &generator) {
            case 0: return "\"" + String(repeating: "v", count: Int.random(in: 0...20, using: &generator)) + "\""
            case 1: return "\"a\\\"b\\u00e9\""
            case 2: return String(Int64.random(in: -1_000_000_000_000_000...1_000_000_000_000_000, using: &generator))
            case 3: return ["true", "false", "null", "-1.5e3"].randomElement(using: &generator)!
            case 4: return "{\"inner\":[1,{\"x\":\"}\"}],\"k\":2}"
            default: return "[\"a\",[],{}]"
            }
        }
        var spaced = false
        func space() -> String {
            spaced && Int.random(in: 0..<8, using: &generator) == 0
                ? [" ", "\n", "\t ", "\r\n"].randomElement(using: &generator)! : ""
        }
        // The first shape, which the scanner learns (from round 0, without whitespace), has plain keys of
        // 1–29 bytes up to past the 64 that are learned.
        let shapes = (0..<3).map { shape in
            (0..<Int.random(in: shape == 0 ? 60...75 : 1...12, using: &generator)).map {
                randomKey(plain: shape == 0 && $0 < 66)
            }
        }
        struct Field: Equatable {
            var key: [UInt8]
            var keyEscapes: Bool
            var value: [UInt8]
            var isString: Bool
            var escapes: Bool
        }
        func fields(_ bytes: UnsafeRawBufferPointer, stopAfter: Int, _ scanner: JSONFields.Scanner?) -> (Bool, [Field])
        {
            var found: [Field] = []
            let body = { (key: JSONFields.Token, value: JSONFields.Token) -> Bool in
                found.append(
                    Field(
                        key: Array(key.bytes), keyEscapes: key.hasEscapes, value: Array(value.bytes),
                        isString: value.isString, escapes: value.hasEscapes))
                return found.count < stopAfter
            }
            let result = scanner.map { $0.scan(bytes, body) } ?? JSONFields.scan(bytes, body)
            return (result, found)
        }
        let scanner = JSONFields.Scanner()
        for round in 0..<300 {
            var keys = shapes[round == 0 ? 0 : Int.random(in: 0..<(shapes.count + 2), using: &generator) % shapes.count]
            if round > 0, Bool.random(using: &generator), keys.count > 1 {
                if Bool.random(using: &generator) {
                    keys.remove(at: Int.random(in: 0..<keys.count, using: &generator))
                } else {
                    keys.swapAt(0, Int.random(in: 1..<keys.count, using: &generator))
                }
            }
            spaced = round > 0
            let text =
                space() + "{" + space()
                + keys.map { "\"\($0)\"" + space() + ":" + space() + randomValue() + space() }.joined(
                    separator: "," + space())
                + "}" + space()
            let bytes = Array(text.utf8)
            for length in (round == 0 ? [bytes.count] : Array(0...bytes.count)) {
                let stopAfter = Int.random(in: 1...(keys.count + 1), using: &generator)
                guarded.withBytes(bytes[..<length]) { view in
                    let expected = fields(view, stopAfter: stopAfter, nil)
                    let got = fields(view, stopAfter: stopAfter, scanner)
                    #expect(
                        got.0 == expected.0 && got.1 == expected.1,
                        "seed \(seed) round \(round) length \(length): \(String(decoding: bytes[..<length], as: UTF8.self).debugDescription)"
                    )
                }
            }
        }
    }

    /// Four threads share a scanner from its start, so they race to learn; each must still read every
    /// record exactly (run under ThreadSanitizer by `scripts/tsan.sh`).
    @Test("threads sharing a new Scanner all read every object exactly")
    func scannerSharedByThreads() {
        let records = (0..<2_000).map { index in
            Array(
                "{\"orderId\":\"order-\(index)\",\"restaurantId\":\"rest-\(index % 7)\",\"lastModified\":\(1_700_000_000_000 + index)}"
                    .utf8)
        }
        let scanner = JSONFields.Scanner()
        let mismatches = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for (index, record) in records.enumerated() {
                var restaurant: String?
                var time: Int64?
                _ = record.withUnsafeBytes { bytes in
                    scanner.scan(bytes) { key, value in
                        if key.equals("restaurantId") {
                            restaurant = value.string
                        } else if key.equals("lastModified") {
                            time = value.int64
                        }
                        return true
                    }
                }
                if restaurant != "rest-\(index % 7)" || time != 1_700_000_000_000 + Int64(index) {
                    mismatches.withLock { $0 += 1 }
                }
            }
        }
        #expect(mismatches.withLock { $0 } == 0)
    }
}

/// Memory whose last readable byte is followed by an unreadable page: bytes placed at its end make any read
/// past them a crash instead of a silent read of whatever follows.
final class GuardedBuffer {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private let mapped: Int

    init(capacity: Int) throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        self.capacity = (capacity + page - 1) / page * page
        mapped = self.capacity + page
        guard let pointer = mmap(nil, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            pointer != MAP_FAILED
        else { throw POSIXError(.ENOMEM) }
        base = pointer
        guard mprotect(base + self.capacity, page, PROT_NONE) == 0 else { throw POSIXError(.EACCES) }
    }

    deinit { munmap(base, mapped) }

    /// Calls `body` with a copy of `bytes` that ends where the unreadable page begins.
    func withBytes(_ bytes: ArraySlice<UInt8>, _ body: (UnsafeRawBufferPointer) -> Void) {
        precondition(bytes.count <= capacity)
        let start = base + capacity - bytes.count
        bytes.withUnsafeBytes {
            start.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(base), byteCount: bytes.count)
        }
        body(UnsafeRawBufferPointer(start: start, count: bytes.count))
    }
}
