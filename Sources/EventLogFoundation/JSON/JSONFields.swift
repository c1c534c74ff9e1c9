public import Synchronization

/// Reads fields of a JSON object straight from bytes, without building a document: what a topic source's
/// `decode` closure uses to pull two fields out of each record.
///
/// Written by hand because it is on the hot path of every pipeline that reads JSON from the log: one pass
/// over the bytes, no allocation, and it is a real tokenizer — strings with escapes, nested objects and
/// arrays are skipped correctly, so a key inside a nested value or a string never matches a top-level name.
///
/// ```swift
/// var restaurant: Substring? ; var time: Int64?
/// JSONFields.scan(record.value!) { key, value in
///     if key.equals("restaurantId") { restaurant = value.string } else if key.equals("lastModified") { time = value.int64 }
///     return restaurant == nil || time == nil  // stop once both are found
/// }
/// ```
///
/// To read many objects that list their keys in the same order — the records of a topic usually do — keep
/// a ``Scanner`` and call its ``Scanner/scan(_:_:)`` instead: same results, less work per field.
public enum JSONFields {
    /// A key or value token of the object being scanned; valid only inside the `scan` callback.
    public struct Token {
        /// The token's bytes: for strings, the contents between the quotes (escapes not decoded).
        public let bytes: UnsafeRawBufferPointer
        /// Whether the token was a string.
        public let isString: Bool
        /// Whether the string holds a backslash escape (so its bytes are not its text as they stand).
        public let hasEscapes: Bool

        /// A token over `bytes` (string contents without the quotes when `isString`).
        public init(bytes: UnsafeRawBufferPointer, isString: Bool) {
            self.bytes = bytes
            self.isString = isString
            hasEscapes = isString && bytes.contains(UInt8(ascii: "\\"))
        }

        /// A token whose escapes the scanner has already noticed.
        @inlinable
        init(bytes: UnsafeRawBufferPointer, isString: Bool, hasEscapes: Bool) {
            self.bytes = bytes
            self.isString = isString
            self.hasEscapes = hasEscapes
        }

        /// Whether this key or string equals `name` (compared byte for byte, no unescaping).
        @inlinable @inline(__always)
        public func equals(_ name: StaticString) -> Bool {
            guard isString, bytes.count == name.utf8CodeUnitCount else { return false }
            return bytesEqual(bytes.baseAddress!, UnsafeRawPointer(name.utf8Start), bytes.count)
        }

        /// The value as a string (escape sequences decoded), nil when it is not a string.
        public var string: String? {
            guard isString else { return nil }
            guard hasEscapes else { return String(decoding: bytes, as: UTF8.self) }
            return JSONFields.unescape(bytes)
        }

        /// The value as an integer, nil when it is not one (or overflows).
        @inlinable
        public var int64: Int64? {
            guard !isString, let base = bytes.baseAddress, !bytes.isEmpty else { return nil }
            let count = bytes.count
            let negative = base.load(as: UInt8.self) == UInt8(ascii: "-")
            var index = negative ? 1 : 0
            guard index < count else { return nil }
            var value: Int64 = 0
            if count - index <= 18 {
                // Up to 18 digits cannot overflow. Eight at a time while eight remain (timestamps have 13).
                while count &- index >= 8 {
                    guard let eight = Self.eightDigits(base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                    else {
                        return nil
                    }
                    value = value &* 100_000_000 &+ Int64(eight)
                    index &+= 8
                }
                while index < count {
                    let digit = base.load(fromByteOffset: index, as: UInt8.self) &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    value = value &* 10 &+ Int64(digit)
                    index &+= 1
                }
                return negative ? -value : value
            }
            // Longer numbers accumulate with their sign, so Int64.min (whose magnitude is no Int64) parses.
            while index < count {
                let digit = base.load(fromByteOffset: index, as: UInt8.self) &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) =
                    negative
                    ? times.subtractingReportingOverflow(Int64(digit)) : times.addingReportingOverflow(Int64(digit))
                guard !overflow1, !overflow2 else { return nil }
                value = sum
                index += 1
            }
            return value
        }

        /// The value of eight ASCII digits loaded as a word (the first digit in the lowest byte), nil when
        /// a byte is not a digit. SWAR: a byte is a digit when its high nibble is 3 and adding 6 keeps it so;
        /// then pairs, quads and the two halves are combined with three multiplies.
        @inlinable @inline(__always)
        static func eightDigits(_ loaded: UInt64) -> UInt64? {
            let word = UInt64(littleEndian: loaded)
            guard word & 0xF0F0_F0F0_F0F0_F0F0 == 0x3030_3030_3030_3030,
                (word &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0 == 0x3030_3030_3030_3030
            else { return nil }
            var digits = word &- 0x3030_3030_3030_3030
            digits = (digits &* 10 &+ (digits >> 8)) & 0x00FF_00FF_00FF_00FF
            digits = (digits &* 100 &+ (digits >> 16)) & 0x0000_FFFF_0000_FFFF
            return (digits &* 10_000 &+ (digits >> 32)) & 0xFFFF_FFFF
        }

        /// The value as a floating-point number, nil when it is not a number.
        public var double: Double? {
            guard !isString, !bytes.isEmpty else { return nil }
            if let integer = int64, abs(integer) < 1 << 53 { return Double(integer) }
            return Double(String(decoding: bytes, as: UTF8.self))
        }

        /// Whether the value is the literal `null`.
        public var isNull: Bool { !isString && bytes.count == 4 && bytes[0] == UInt8(ascii: "n") }
    }

    /// Calls `body` with each top-level key and its value until it returns false or the object ends.
    ///
    /// Inlinable, so `body` is inlined into the caller's loop (no call per field).
    ///
    /// - Returns: false when the bytes are not a well-formed object up to the point scanned.
    @inlinable
    @discardableResult
    public static func scan(_ bytes: UnsafeRawBufferPointer, _ body: (Token, Token) -> Bool) -> Bool {
        scan(bytes, following: nil, body)
    }

    /// ``scan(_:_:)``, trying at each field first the key `learned` holds for that position; from the first
    /// field where it does not match, the rest of the object is scanned the ordinary way.
    @inlinable @inline(__always)
    static func scan(
        _ bytes: UnsafeRawBufferPointer, following learned: LearnedKeys?, _ body: (Token, Token) -> Bool
    ) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let end = bytes.count
        var index = skipSpace(base, 0, end)
        guard index < end, base.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: "{") else { return false }
        index = skipSpace(base, index + 1, end)
        if index < end, base.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: "}") { return true }
        // The field whose learned key comes next; past `learnedCount` once a key has not matched.
        var field = 0
        let learnedCount = learned?.count ?? 0
        while index < end {
            let key: Token
            let matched = field < learnedCount ? learned.unsafelyUnwrapped.match(field, base + index, end &- index) : 0
            if matched > 0 {
                // `"key":` exactly as learned: the key has no escapes and its colon follows directly.
                key = Token(
                    bytes: UnsafeRawBufferPointer(start: base + index + 1, count: matched &- 3), isString: true,
                    hasEscapes: false)
                index = skipSpace(base, index &+ matched, end)
                field &+= 1
            } else {
                field = .max
                guard base.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: "\"") else { return false }
                var keyEscaped = false
                guard let keyEnd = stringEnd(base, index + 1, end, escaped: &keyEscaped) else { return false }
                key = Token(
                    bytes: UnsafeRawBufferPointer(start: base + index + 1, count: keyEnd - index - 1), isString: true,
                    hasEscapes: keyEscaped)
                index = skipSpace(base, keyEnd + 1, end)
                guard index < end, base.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: ":") else {
                    return false
                }
                index = skipSpace(base, index + 1, end)
            }
            guard index < end else { return false }
            let value: Token
            let first = base.load(fromByteOffset: index, as: UInt8.self)
            if first == UInt8(ascii: "\"") {
                var escaped = false
                guard let valueEnd = stringEnd(base, index + 1, end, escaped: &escaped) else { return false }
                value = Token(
                    bytes: UnsafeRawBufferPointer(start: base + index + 1, count: valueEnd - index - 1), isString: true,
                    hasEscapes: escaped)
                index = valueEnd + 1
            } else if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
                guard let valueEnd = containerEnd(base, index, end) else { return false }
                value = Token(
                    bytes: UnsafeRawBufferPointer(start: base + index, count: valueEnd - index), isString: false,
                    hasEscapes: false)
                index = valueEnd
            } else {
                let valueEnd = scalarEnd(base, index, end)
                value = Token(
                    bytes: UnsafeRawBufferPointer(start: base + index, count: valueEnd - index), isString: false,
                    hasEscapes: false)
                index = valueEnd
            }
            guard body(key, value) else { return true }
            index = skipSpace(base, index, end)
            guard index < end else { return false }
            let separator = base.load(fromByteOffset: index, as: UInt8.self)
            if separator == UInt8(ascii: "}") { return true }
            guard separator == UInt8(ascii: ",") else { return false }
            index = skipSpace(base, index + 1, end)
        }
        return false
    }

    /// Calls `body` with each element of a JSON array (`bytes` from `[` to `]`).
    ///
    /// - Returns: false when the bytes are not a well-formed array up to the point scanned.
    @discardableResult
    public static func elements(_ bytes: UnsafeRawBufferPointer, _ body: (Token) -> Void) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let end = bytes.count
        var index = skipSpace(base, 0, end)
        guard index < end, base.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: "[") else { return false }
        index = skipSpace(base, index + 1, end)
        if index < end, base.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: "]") { return true }
        while index < end {
            let first = base.load(fromByteOffset: index, as: UInt8.self)
            if first == UInt8(ascii: "\"") {
                var escaped = false
                guard let valueEnd = stringEnd(base, index + 1, end, escaped: &escaped) else { return false }
                body(
                    Token(
                        bytes: UnsafeRawBufferPointer(start: base + index + 1, count: valueEnd - index - 1),
                        isString: true, hasEscapes: escaped))
                index = valueEnd + 1
            } else if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
                guard let valueEnd = containerEnd(base, index, end) else { return false }
                body(
                    Token(bytes: UnsafeRawBufferPointer(start: base + index, count: valueEnd - index), isString: false))
                index = valueEnd
            } else {
                var valueEnd = index
                while valueEnd < end {
                    let byte = base.load(fromByteOffset: valueEnd, as: UInt8.self)
                    if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]") || byte <= 0x20 { break }
                    valueEnd += 1
                }
                body(
                    Token(bytes: UnsafeRawBufferPointer(start: base + index, count: valueEnd - index), isString: false))
                index = valueEnd
            }
            index = skipSpace(base, index, end)
            guard index < end else { return false }
            let separator = base.load(fromByteOffset: index, as: UInt8.self)
            if separator == UInt8(ascii: "]") { return true }
            guard separator == UInt8(ascii: ",") else { return false }
            index = skipSpace(base, index + 1, end)
        }
        return false
    }

    /// Finds the value at a dotted path of nested objects (`"driver.location.lat"`).
    public static func value(at path: [String], in bytes: UnsafeRawBufferPointer, _ body: (Token) -> Void) {
        guard let name = path.first else { return }
        scan(bytes) { key, value in
            guard key.bytes.elementsEqual(name.utf8) else { return true }
            if path.count == 1 {
                body(value)
            } else if !value.isString {
                self.value(at: Array(path.dropFirst()), in: value.bytes, body)
            }
            return false
        }
    }

    @inlinable @inline(__always)
    static func skipSpace(_ base: UnsafeRawPointer, _ start: Int, _ end: Int) -> Int {
        var index = start
        while index < end {
            let byte = base.load(fromByteOffset: index, as: UInt8.self)
            // One comparison for the usual case, a token right there.
            guard byte <= 0x20, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { break }
            index += 1
        }
        return index
    }

    /// The high bit of each byte of `word` that equals `byte`, as `(v − 0x0101…) & ~v & 0x8080…` flags the
    /// zero bytes of `v = word ^ byte·0x0101…`. Flags above a true match can be false (a borrow), the
    /// lowest one never is: callers only use the lowest.
    @inlinable @inline(__always)
    static func bytes(of word: UInt64, equalTo byte: Unicode.Scalar) -> UInt64 {
        let v = word ^ (0x0101_0101_0101_0101 &* UInt64(byte.value))
        return (v &- 0x0101_0101_0101_0101) & ~v & 0x8080_8080_8080_8080
    }

    /// The end of a number or literal starting at `start`: the first `,`, `}` or byte ≤ 0x20 (space and
    /// control characters), or `end`.
    ///
    /// Eight bytes at a time, like ``stringEnd(_:_:_:)``: `(v − 0x2121…) & ~v & 0x8080…` flags bytes
    /// below 0x21 (the lowest flag is exact), and ``bytes(of:equalTo:)`` finds the separators.
    @inlinable @inline(__always)
    static func scalarEnd(_ base: UnsafeRawPointer, _ start: Int, _ end: Int) -> Int {
        var index = start
        while index &+ 8 <= end {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            let flags =
                (word &- 0x2121_2121_2121_2121) & ~word & 0x8080_8080_8080_8080 | bytes(of: word, equalTo: ",")
                | bytes(of: word, equalTo: "}")
            if flags != 0 { return index &+ flags.trailingZeroBitCount >> 3 }
            index &+= 8
        }
        while index < end {
            let byte = base.load(fromByteOffset: index, as: UInt8.self)
            if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte <= 0x20 { break }
            index += 1
        }
        return index
    }

    /// The index of the quote closing a string whose contents start at `start`.
    ///
    /// Eight bytes at a time: a word has a byte equal to `c` exactly when `word ^ c·0x0101…` has a zero byte,
    /// and `(v − 0x0101…) & ~v & 0x8080…` flags zero bytes; the lowest flag is always a true match (false
    /// flags only occur above one), so the first quote or backslash is found without a per-byte loop.
    @inlinable @inline(__always)
    static func stringEnd(_ base: UnsafeRawPointer, _ start: Int, _ end: Int) -> Int? {
        var escaped = false
        return stringEnd(base, start, end, escaped: &escaped)
    }

    /// ``stringEnd(_:_:_:)``, also telling whether the string holds a backslash escape.
    @inlinable @inline(__always)
    static func stringEnd(_ base: UnsafeRawPointer, _ start: Int, _ end: Int, escaped: inout Bool) -> Int? {
        var index = start
        while index &+ 8 <= end {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            let flags = bytes(of: word, equalTo: "\"") | bytes(of: word, equalTo: "\\")
            if flags == 0 {
                index &+= 8
                continue
            }
            index &+= flags.trailingZeroBitCount >> 3
            if base.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: "\"") { return index }
            escaped = true
            index &+= 2  // a backslash and the byte it escapes
        }
        while index < end {
            let byte = base.load(fromByteOffset: index, as: UInt8.self)
            if byte == UInt8(ascii: "\"") { return index }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 2
            } else {
                index += 1
            }
        }
        return nil
    }

    /// The index just past the object or array starting at `start`.
    @usableFromInline
    static func containerEnd(_ base: UnsafeRawPointer, _ start: Int, _ end: Int) -> Int? {
        var depth = 0
        var index = start
        while index < end {
            let byte = base.load(fromByteOffset: index, as: UInt8.self)
            switch byte {
            case UInt8(ascii: "\""):
                guard let close = stringEnd(base, index + 1, end) else { return nil }
                index = close
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return index + 1 }
            default: break
            }
            index += 1
        }
        return nil
    }

    /// Scans objects like ``JSONFields/scan(_:_:)``, with less work per field when they list their keys in
    /// the same order, as the records of one topic usually do.
    ///
    /// The scanner learns the keys of the first object it scans (up to 64 fields, stopping at a key longer
    /// than 29 bytes or holding an escape). From then on, at each field it first compares the bytes with
    /// the learned `"key":` of that position — one to four word comparisons — instead of searching for the
    /// key's closing quote and the colon; at the first key that differs, the rest of that object is scanned
    /// the ordinary way. Results are exactly those of `scan(_:_:)` for any input: a learned key matches only
    /// where the ordinary scan would read that same key followed directly by its colon. An object of another
    /// shape costs one failed comparison; the learned keys are kept for the scanner's life.
    ///
    /// Invariants: `learned` is 0 until an object whose first key can be learned has been scanned (until
    /// then each call also reads the object's first key to try), then the address of an immutable
    /// ``LearnedKeys`` buffer that lives until `deinit`. Threads that learn at the same time
    /// each build a buffer; the first compare-exchange publishes its own and the others free theirs. So one
    /// scanner can be shared by every instance of a source.
    ///
    /// ```swift
    /// let scanner = JSONFields.Scanner()
    /// let source = Source.topic(log, "orders") { record in
    ///     var restaurant: String? ; var time: Int64?
    ///     scanner.scan(record.value!) { key, value in … }
    ///     …
    /// }
    /// ```
    public final class Scanner: Sendable {
        @usableFromInline let learned = Atomic<Int>(0)

        public init() {}

        deinit {
            let address = learned.load(ordering: .acquiring)
            if address != 0 { UnsafeMutablePointer<UInt64>(bitPattern: address)!.deallocate() }
        }

        /// Calls `body` with each top-level key and its value until it returns false or the object ends.
        ///
        /// - Returns: false when the bytes are not a well-formed object up to the point scanned.
        @inlinable
        @discardableResult
        public func scan(_ bytes: UnsafeRawBufferPointer, _ body: (Token, Token) -> Bool) -> Bool {
            var address = learned.load(ordering: .acquiring)
            if address == 0 {
                address = learn(bytes)
                if address == 0 { return JSONFields.scan(bytes, following: nil, body) }
            }
            return JSONFields.scan(
                bytes, following: LearnedKeys(words: UnsafePointer(bitPattern: address).unsafelyUnwrapped), body)
        }

        /// Learns the keys of `bytes` and publishes them unless another thread did first; returns the
        /// published buffer's address, or 0 when the object's first key cannot be learned.
        @usableFromInline
        func learn(_ bytes: UnsafeRawBufferPointer) -> Int {
            var keys: [UnsafeRawBufferPointer] = []
            JSONFields.scan(bytes) { key, _ in
                // The ordinary scan passed `"key"` and a colon; learn the key only when the colon follows
                // directly, so the learned bytes `"key":` are exactly what a match stands for.
                let colon = key.bytes.baseAddress! + key.bytes.count + 1
                guard !key.hasEscapes, key.bytes.count + 3 <= LearnedKeys.maximumLength,
                    colon < bytes.baseAddress! + bytes.count, colon.load(as: UInt8.self) == UInt8(ascii: ":")
                else { return false }
                keys.append(UnsafeRawBufferPointer(start: key.bytes.baseAddress! - 1, count: key.bytes.count + 3))
                return keys.count < LearnedKeys.maximumFields
            }
            guard !keys.isEmpty else { return 0 }
            let words = LearnedKeys.make(keys)
            let address = Int(bitPattern: words)
            let (exchanged, current) = learned.compareExchange(
                expected: 0, desired: address, ordering: .acquiringAndReleasing)
            if exchanged { return address }
            words.deallocate()
            return current
        }
    }

    /// The keys a ``Scanner`` learned, in order, each as the bytes `"key":` in up to four little-endian
    /// words with masks for the last one's unused bytes.
    ///
    /// Layout of `words`: the field count, then per field its length in bytes and four pattern and four mask
    /// words.
    @usableFromInline
    struct LearnedKeys {
        static let maximumFields = 64
        static let maximumLength = 32
        @inlinable static var stride: Int { 9 }

        @usableFromInline let words: UnsafePointer<UInt64>

        @inlinable
        init(words: UnsafePointer<UInt64>) { self.words = words }

        @inlinable
        var count: Int { Int(truncatingIfNeeded: words[0]) }

        /// The length of field `field`'s learned `"key":` when the `available` bytes at `p` start with
        /// it, else 0. Reads whole words, so only where they all lie within the bytes.
        @inlinable @inline(__always)
        func match(_ field: Int, _ p: UnsafeRawPointer, _ available: Int) -> Int {
            let entry = words + (1 &+ field &* Self.stride)
            let length = Int(truncatingIfNeeded: entry[0])
            guard (length &+ 7) & ~7 <= available else { return 0 }
            var offset = 0
            var word = 1
            while offset < length {
                guard p.loadUnaligned(fromByteOffset: offset, as: UInt64.self) & entry[word &+ 4] == entry[word]
                else { return 0 }
                offset &+= 8
                word &+= 1
            }
            return length
        }

        /// A buffer holding `keys` (each `"key":`, at most ``maximumLength`` bytes), to be deallocated
        /// by its owner.
        static func make(_ keys: [UnsafeRawBufferPointer]) -> UnsafeMutablePointer<UInt64> {
            let words = UnsafeMutablePointer<UInt64>.allocate(capacity: 1 + keys.count * stride)
            words.initialize(repeating: 0, count: 1 + keys.count * stride)
            words[0] = UInt64(keys.count)
            for (field, key) in keys.enumerated() {
                let entry = words + 1 + field * stride
                entry[0] = UInt64(key.count)
                for (offset, byte) in key.enumerated() {
                    // Little-endian words: byte `offset` of the key is byte `offset % 8` of word `offset / 8`.
                    entry[1 + offset / 8] |= UInt64(byte) << (8 * (offset % 8))
                    entry[5 + offset / 8] |= 0xFF << (8 * (offset % 8))
                }
            }
            return words
        }
    }

    static func unescape(_ bytes: UnsafeRawBufferPointer) -> String? {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                index += 1
                continue
            }
            guard index + 1 < bytes.count else { return nil }
            let escaped = bytes[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "u"):
                guard index + 4 <= bytes.count,
                    let scalar = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
                else { return nil }
                index += 4
                // Surrogate pairs are combined; a lone surrogate becomes U+FFFD.
                var value = scalar
                if (0xD800..<0xDC00).contains(scalar), index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u"),
                    let low = UInt32(String(decoding: bytes[index + 2..<index + 6], as: UTF8.self), radix: 16),
                    (0xDC00..<0xE000).contains(low)
                {
                    value = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                output.append(contentsOf: String(Character(Unicode.Scalar(value) ?? "\u{FFFD}")).utf8)
            default: output.append(escaped)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// Whether `count` bytes at `a` and `b` are equal: eight at a time (the last word overlapping), in line.
/// Keys and dictionary strings are short, and a call to `memcmp` for each cost more than the comparison.
@inlinable @inline(__always)
package func bytesEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
    if count >= 8 {
        var index = 0
        while index + 8 < count {
            guard
                a.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    == b.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            else { return false }
            index += 8
        }
        return a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
    }
    for index in 0..<count
    where a.load(fromByteOffset: index, as: UInt8.self) != b.load(fromByteOffset: index, as: UInt8.self) {
        return false
    }
    return true
}
