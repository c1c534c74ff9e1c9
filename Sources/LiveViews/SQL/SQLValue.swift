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
    static func compare(_ a: SQLValue, _ b: SQLValue) -> Int? {
        switch (a, b) {
        case (.long(let x), .long(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.string(let x), .string(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (x ? 1 : -1)
        default:
            guard let x = a.number, let y = b.number, !a.isBool || b.isBool else { return nil }
            return x < y ? -1 : (x == y ? 0 : 1)
        }
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
