import EventLogFoundation
import Foundation

/// The aggregate functions of `SELECT` and `HAVING`.
enum Aggregate {
    enum Kind: Sendable {
        case count, sum, avg, min, max, distinctCount

        init?(name: String) {
            switch name.lowercased() {
            case "count": self = .count
            case "sum": self = .sum
            case "avg": self = .avg
            case "min": self = .min
            case "max": self = .max
            case "distinctcount", "distinct_count": self = .distinctCount
            default: return nil
            }
        }
    }
}

/// The scalar functions: geospatial (Pinot's names), time, math and strings.
///
/// Each takes already-evaluated arguments and returns a value or a message; the caller adds the position.
enum ScalarFunctions {
    typealias Body = @Sendable ([SQLValue], _ now: Int64) -> Result<SQLValue, FunctionError>

    struct FunctionError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// name → (allowed argument counts, body).
    static let table: [String: (ClosedRange<Int>, Body)] = [
        "st_point": (2...3, { args, _ in point(args) }),
        "stpoint": (2...3, { args, _ in point(args) }),
        "tosphericalgeography": (1...1, { args, _ in geography(args[0]) }),
        "togeometry": (1...1, { args, _ in geography(args[0]) }),
        "st_distance": (2...2, { args, _ in distance(args[0], args[1]) }),
        "st_geomfromtext": (1...1, { args, _ in wkt(args[0]) }),
        "st_geogfromtext": (1...1, { args, _ in wkt(args[0]) }),
        "st_astext": (1...1, { args, _ in args[0].isNull ? .success(.null) : .success(.string(args[0].description)) }),
        "st_x": (1...1, { args, _ in coordinate(args[0]) { $0.longitude } }),
        "st_y": (1...1, { args, _ in coordinate(args[0]) { $0.latitude } }),
        "st_contains": (2...2, { args, _ in contains(args[0], args[1]) }),
        "st_within": (2...2, { args, _ in contains(args[1], args[0]) }),
        "now": (0...0, { _, now in .success(.long(now)) }),
        "ago": (1...1, { args, now in ago(args[0], now) }),
        "datetrunc": (2...2, { args, _ in dateTrunc(args[0], args[1]) }),
        "todatetime": (2...2, { args, _ in toDateTime(args[0], args[1]) }),
        "toepochseconds": (1...1, { args, _ in divide(args[0], 1000) }),
        "toepochminutes": (1...1, { args, _ in divide(args[0], 60_000) }),
        "toepochhours": (1...1, { args, _ in divide(args[0], 3_600_000) }),
        "abs": (
            1...1,
            { args, _ in
                math(
                    args[0], { .long($0.magnitude > Int64.max.magnitude ? Int64.max : abs($0)) },
                    { .double(Swift.abs($0)) })
            }
        ),
        "ceil": (1...1, { args, _ in math(args[0], { .long($0) }, { .double(Foundation.ceil($0)) }) }),
        "floor": (1...1, { args, _ in math(args[0], { .long($0) }, { .double(Foundation.floor($0)) }) }),
        "sqrt": (
            1...1, { args, _ in math(args[0], { .double(Double($0).squareRoot()) }, { .double($0.squareRoot()) }) }
        ),
        "round": (1...2, { args, _ in round(args) }),
        "lower": (1...1, { args, _ in text(args[0]) { .string($0.lowercased()) } }),
        "upper": (1...1, { args, _ in text(args[0]) { .string($0.uppercased()) } }),
        "length": (1...1, { args, _ in text(args[0]) { .long(Int64($0.count)) } }),
        "concat": (
            1...16,
            { args, _ in
                args.contains(where: \.isNull) ? .success(.null) : .success(.string(args.map(\.description).joined()))
            }
        ),
        "substr": (2...3, { args, _ in substring(args) }),
        "coalesce": (1...16, { args, _ in .success(args.first { !$0.isNull } ?? .null) }),
    ]

    static func point(_ args: [SQLValue]) -> Result<SQLValue, FunctionError> {
        if args[0].isNull || args[1].isNull { return .success(.null) }
        guard let x = args[0].number, let y = args[1].number else {
            return .failure(
                FunctionError(
                    "ST_Point takes numbers (longitude, latitude), got \(args[0].typeName) and \(args[1].typeName)"))
        }
        do {
            return .success(.point(try GeoPoint(longitude: x, latitude: y)))
        } catch {
            return .failure(FunctionError("ST_Point: \(error)"))
        }
    }

    static func geography(_ value: SQLValue) -> Result<SQLValue, FunctionError> {
        switch value {
        case .null, .point, .geometry: return .success(value)
        default: return .failure(FunctionError("expected a point, got \(value.typeName)"))
        }
    }

    static func asPoint(_ value: SQLValue) -> GeoPoint? {
        switch value {
        case .point(let p): return p
        case .geometry(.point(let p)): return p
        default: return nil
        }
    }

    static func distance(_ a: SQLValue, _ b: SQLValue) -> Result<SQLValue, FunctionError> {
        if a.isNull || b.isNull { return .success(.null) }
        guard let p = asPoint(a), let q = asPoint(b) else {
            return .failure(FunctionError("ST_Distance takes two points, got \(a.typeName) and \(b.typeName)"))
        }
        return .success(.double(Geo.distance(p, q)))
    }

    static func wkt(_ value: SQLValue) -> Result<SQLValue, FunctionError> {
        guard case .string(let text) = value else {
            return value.isNull ? .success(.null) : .failure(FunctionError("ST_GeomFromText takes a string"))
        }
        do {
            let geometry = try Geo.parseWKT(text)
            if case .point(let p) = geometry { return .success(.point(p)) }
            return .success(.geometry(geometry))
        } catch {
            return .failure(FunctionError("ST_GeomFromText: \(error)"))
        }
    }

    static func coordinate(_ value: SQLValue, _ pick: (GeoPoint) -> Double) -> Result<SQLValue, FunctionError> {
        if value.isNull { return .success(.null) }
        guard let p = asPoint(value) else { return .failure(FunctionError("expected a point, got \(value.typeName)")) }
        return .success(.double(pick(p)))
    }

    static func contains(_ container: SQLValue, _ inner: SQLValue) -> Result<SQLValue, FunctionError> {
        if container.isNull || inner.isNull { return .success(.null) }
        guard case .geometry(.polygon(let rings)) = container else {
            return .failure(FunctionError("ST_Contains/ST_Within need a polygon, got \(container.typeName)"))
        }
        guard let p = asPoint(inner) else {
            return .failure(FunctionError("ST_Contains/ST_Within test a point, got \(inner.typeName)"))
        }
        return .success(.bool(Geo.contains(rings, p)))
    }

    static func divide(_ value: SQLValue, _ by: Int64) -> Result<SQLValue, FunctionError> {
        switch value {
        case .null: return .success(.null)
        case .long(let v): return .success(.long(v / by))
        case .double(let v):
            guard let long = SQLValue.exactLong(v) else {
                return .failure(FunctionError("\(v) is not a time in epoch milliseconds"))
            }
            return .success(.long(long / by))
        default: return .failure(FunctionError("expected epoch milliseconds, got \(value.typeName)"))
        }
    }

    static let units: [String: Int64] = [
        "millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000, "week": 604_800_000,
    ]

    static func dateTrunc(_ unit: SQLValue, _ value: SQLValue) -> Result<SQLValue, FunctionError> {
        guard case .string(let name) = unit, let size = units[name.lowercased()] else {
            return .failure(
                FunctionError("DATETRUNC's unit must be one of \(units.keys.sorted().joined(separator: ", "))"))
        }
        switch value {
        case .null: return .success(.null)
        case .long(let v): return .success(truncate(v, size))
        case .double(let d):
            guard let v = SQLValue.exactLong(d) else {
                return .failure(FunctionError("\(d) is not a time in epoch milliseconds"))
            }
            return .success(truncate(v, size))
        default: return .failure(FunctionError("DATETRUNC needs epoch milliseconds, got \(value.typeName)"))
        }
    }

    /// `v` rounded down to a multiple of `size`; a double when that multiple is below Int64.min.
    static func truncate(_ v: Int64, _ size: Int64) -> SQLValue {
        let remainder = ((v % size) + size) % size
        let (start, overflow) = v.subtractingReportingOverflow(remainder)
        return overflow ? .double(Double(v) - Double(remainder)) : .long(start)
    }

    /// `ToDateTime(ms, 'yyyy-MM-dd HH:mm:ss')` in UTC (pattern letters y, M, d, H, m, s, S; others copied).
    static func toDateTime(_ value: SQLValue, _ pattern: SQLValue) -> Result<SQLValue, FunctionError> {
        guard case .string(let format) = pattern else {
            return .failure(FunctionError("ToDateTime's pattern must be a string"))
        }
        let ms: Int64
        switch value {
        case .null: return .success(.null)
        case .long(let v): ms = v
        case .double(let d):
            guard let v = SQLValue.exactLong(d) else {
                return .failure(FunctionError("\(d) is not a time in epoch milliseconds"))
            }
            ms = v
        default: return .failure(FunctionError("ToDateTime needs epoch milliseconds, got \(value.typeName)"))
        }
        let days = Int64((Double(ms) / 86_400_000).rounded(.down))
        let msOfDay = ms &- days &* 86_400_000
        let (year, month, day) = CivilDate.fromDays(days)
        let fields: [Character: Int64] = [
            "y": year, "M": month, "d": day, "H": msOfDay / 3_600_000, "m": msOfDay / 60_000 % 60,
            "s": msOfDay / 1000 % 60,
            "S": msOfDay % 1000,
        ]
        var out = ""
        var characters = Array(format)[...]
        while let c = characters.first {
            let run = characters.prefix { $0 == c }.count
            characters = characters.dropFirst(run)
            if let v = fields[c] {
                let digits = String(v)
                out += String(repeating: "0", count: max(0, run - digits.count)) + digits
            } else {
                out += String(repeating: c, count: run)
            }
        }
        return .success(.string(out))
    }

    /// `ago('PT5M')`: now minus an ISO-8601 duration (days, hours, minutes, seconds).
    static func ago(_ value: SQLValue, _ now: Int64) -> Result<SQLValue, FunctionError> {
        guard case .string(let text) = value else {
            return .failure(FunctionError("ago takes an ISO-8601 duration such as 'PT5M'"))
        }
        var total: Double = 0
        var number = ""
        var inTime = false
        for character in text.uppercased().dropFirst(text.uppercased().hasPrefix("P") ? 1 : 0) {
            switch character {
            case "T": inTime = true
            case "0"..."9", ".": number.append(character)
            case "D", "H", "M", "S":
                guard let v = Double(number) else {
                    return .failure(FunctionError("ago: malformed duration '\(text)'"))
                }
                let unit: Double =
                    switch character {
                    case "D": 86_400_000
                    case "H": 3_600_000
                    case "M": inTime ? 60_000 : 2_592_000_000
                    default: 1000
                    }
                total += v * unit
                number = ""
            default: return .failure(FunctionError("ago: malformed duration '\(text)'"))
            }
        }
        guard number.isEmpty, text.uppercased().hasPrefix("P") else {
            return .failure(FunctionError("ago: malformed duration '\(text)'"))
        }
        guard let span = SQLValue.exactLong(total) else {
            return .failure(FunctionError("ago: duration '\(text)' is too long"))
        }
        let (start, overflow) = now.subtractingReportingOverflow(span)
        return .success(overflow ? .double(Double(now) - Double(span)) : .long(start))
    }

    static func math(_ value: SQLValue, _ long: (Int64) -> SQLValue, _ double: (Double) -> SQLValue) -> Result<
        SQLValue, FunctionError
    > {
        switch value {
        case .null: return .success(.null)
        case .long(let v): return .success(long(v))
        case .double(let v): return .success(double(v))
        default: return .failure(FunctionError("expected a number, got \(value.typeName)"))
        }
    }

    static func round(_ args: [SQLValue]) -> Result<SQLValue, FunctionError> {
        if args[0].isNull { return .success(.null) }
        if case .long = args[0], args.count == 1 { return .success(args[0]) }
        guard let v = args[0].number else {
            return .failure(FunctionError("round takes a number, got \(args[0].typeName)"))
        }
        let digits = args.count > 1 ? (args[1].number ?? 0) : 0
        let scale = pow(10, digits)
        return .success(.double((v * scale).rounded() / scale))
    }

    static func text(_ value: SQLValue, _ body: (String) -> SQLValue) -> Result<SQLValue, FunctionError> {
        switch value {
        case .null: return .success(.null)
        case .string(let s): return .success(body(s))
        default: return .success(body(value.description))
        }
    }

    static func substring(_ args: [SQLValue]) -> Result<SQLValue, FunctionError> {
        guard case .string(let s) = args[0] else { return .success(args[0].isNull ? .null : args[0]) }
        guard case .long(let start) = args[1], start >= 0 else {
            return .failure(FunctionError("substr's start must be a non-negative integer (0-based)"))
        }
        let characters = Array(s)
        let from = min(Int(start), characters.count)
        var to = characters.count
        if args.count == 3 {
            guard case .long(let length) = args[2], length >= -1 else {
                return .failure(FunctionError("substr's end must be an integer"))
            }
            if length >= 0 { to = min(max(from, Int(length)), characters.count) }
        }
        return .success(.string(String(characters[from..<to])))
    }
}
