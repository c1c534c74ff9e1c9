public import EventLogFoundation
import Foundation

/// A value in a query: a column's value, a literal, or a function's result. `null` compares as unknown.
public enum SQLValue: Hashable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case long(Int64)
    case double(Double)
    case string(String)
    case point(GeoPoint)
    case geometry(Geometry)
    case array([SQLValue])

    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .long(let v): return String(v)
        case .double(let v): return Self.format(v)
        case .string(let s): return s
        case .point(let p): return p.description
        case .geometry(let g): return g.description
        case .array(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        }
    }

    static func format(_ v: Double) -> String {
        if v.isFinite, v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) + ".0" }
        return String(v)
    }

    var isNull: Bool { if case .null = self { true } else { false } }

    /// Whether the value is SQL null.
    public var isNullValue: Bool { isNull }

    /// The value as a number, for arithmetic and numeric comparison.
    var number: Double? {
        switch self {
        case .long(let v): return Double(v)
        case .double(let v): return v
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .long: "long"
        case .double: "double"
        case .string: "string"
        case .point: "point"
        case .geometry: "geometry"
        case .array: "array"
        }
    }

    /// Three-way comparison for ORDER BY, MIN/MAX and comparisons: numbers with numbers, strings with
    /// strings, booleans with booleans; nil when the types cannot be compared (or either is null).
    ///
    /// Strings compare by their UTF-8 bytes, which is Unicode code point order (as SQLite's BINARY collation
    /// and Pinot): `'Café'` with U+00E9 and `'Cafe\u{301}'` are different strings. A long and a double compare
    /// exactly, also beyond 2^53 (no rounding of the long to a double). NaN compares with nothing.
    static func compare(_ a: SQLValue, _ b: SQLValue) -> Int? {
        switch (a, b) {
        case (.long(let x), .long(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.string(let x), .string(let y)): return compareBytes(x, y)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (x ? 1 : -1)
        case (.long(let x), .double(let y)): return compare(x, y)
        case (.double(let x), .long(let y)): return compare(y, x).map { -$0 }
        default:
            guard let x = a.number, let y = b.number, !a.isBool || b.isBool, !x.isNaN, !y.isNaN else { return nil }
            return x < y ? -1 : (x == y ? 0 : 1)
        }
    }

    /// A long against a double, exactly: nil when the double is NaN.
    static func compare(_ x: Int64, _ y: Double) -> Int? {
        if y.isNaN { return nil }
        // 2^63 is exactly representable; every double at or above it is above every long.
        if y >= 9_223_372_036_854_775_808.0 { return -1 }
        if y < -9_223_372_036_854_775_808.0 { return 1 }
        let whole = Int64(y.rounded(.down))
        if x != whole { return x < whole ? -1 : 1 }
        return y > Double(whole) ? -1 : 0
    }

    /// Byte-wise (code point) order of two strings.
    static func compareBytes(_ x: String, _ y: String) -> Int {
        var x = x, y = y
        return x.withUTF8 { a in
            y.withUTF8 { b in
                let common = min(a.count, b.count)
                if common > 0, let base = a.baseAddress, let other = b.baseAddress {
                    let c = memcmp(base, other, common)
                    if c != 0 { return c < 0 ? -1 : 1 }
                }
                return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
            }
        }
    }

    /// Equality by value, with strings equal only when their bytes are (see ``compare(_:_:)``), so `=`,
    /// `IN`, `DISTINCT`, `GROUP BY` and `COUNT(DISTINCT …)` all follow one rule.
    public static func == (a: SQLValue, b: SQLValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.long(let x), .long(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.string(let x), .string(let y)): return x.utf8.count == y.utf8.count && compareBytes(x, y) == 0
        case (.point(let x), .point(let y)): return x == y
        case (.geometry(let x), .geometry(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .long(let v): hasher.combine(v)
        case .double(let v): hasher.combine(v)
        case .string(let s):
            // By bytes: Swift's String hashing follows canonical equivalence, which `==` here does not.
            var s = s
            s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        case .point(let p): hasher.combine(p)
        case .geometry(let g): hasher.combine(g)
        case .array(let values): hasher.combine(values)
        }
    }

    /// The value with NaN made null: a function or operator with no numeric answer (`SQRT(-1)`,
    /// `inf - inf`) gives NULL, as in SQLite, so NaN never reaches a comparison, a sort or a group.
    var nanAsNull: SQLValue {
        if case .double(let v) = self, v.isNaN { return .null }
        return self
    }

    /// A double as an Int64 (truncated), nil when it is not finite or out of range.
    static func exactLong(_ d: Double) -> Int64? {
        d.isFinite && d > -9.223372036854775e18 && d < 9.223372036854775e18 ? Int64(d) : nil
    }

    var isBool: Bool { if case .bool = self { true } else { false } }

    /// Sort order with nulls last, then incomparable types by type name (total, so sorting never traps).
    static func orderedBefore(_ a: SQLValue, _ b: SQLValue) -> Int {
        switch (a.isNull, b.isNull) {
        case (true, true): return 0
        case (true, false): return 1
        case (false, true): return -1
        default: break
        }
        if let c = compare(a, b) { return c }
        return a.typeName < b.typeName ? -1 : (a.typeName == b.typeName ? 0 : 1)
    }
}
