import EventLogFoundation
import Foundation

/// Column values in PostgreSQL's text output format, written as the JSON Debezium's PostgreSQL connector emits
/// with its default settings and the schemaless JSON converter, so consumers written for Debezium read them
/// unchanged:
///
/// | PostgreSQL type | JSON |
/// |---|---|
/// | `boolean` | `true` / `false` |
/// | `smallint`, `integer`, `bigint`, `oid` | number |
/// | `real`, `double precision` | number; `NaN`, `Infinity` as strings |
/// | `numeric` | number written with all its digits (Debezium's `decimal.handling.mode=string` keeps them too, as a string); `NaN` as a string |
/// | `date` | days since 1970-01-01 (`io.debezium.time.Date`) |
/// | `timestamp` | microseconds since 1970-01-01 (`io.debezium.time.MicroTimestamp`) |
/// | `timestamptz` | ISO-8601 string in UTC, `2024-05-01T12:00:00.123456Z` (`io.debezium.time.ZonedTimestamp`) |
/// | `bytea` | base64 string (`binary.handling.mode=bytes`) |
/// | `json`, `jsonb`, `uuid`, text types, everything else | the text output as a string |
///
/// Infinite or BC dates and timestamps are written as their text. Text that is not valid UTF-8 (possible only
/// in a `SQL_ASCII` database) has each invalid byte replaced with U+FFFD; the record then carries the header
/// `cdc.lossy` naming the columns.
enum ColumnJSON {
    static let bool: UInt32 = 16
    static let bytea: UInt32 = 17
    static let int8: UInt32 = 20
    static let int2: UInt32 = 21
    static let int4: UInt32 = 23
    static let oid: UInt32 = 26
    static let float4: UInt32 = 700
    static let float8: UInt32 = 701
    static let numeric: UInt32 = 1700
    static let date: UInt32 = 1082
    static let timestamp: UInt32 = 1114
    static let timestamptz: UInt32 = 1184

    /// Debezium's placeholder for a TOASTed value an update did not change (PostgreSQL does not send it).
    static let unavailable = "__debezium_unavailable_value"

    /// Appends `value` of a column of type `type`; returns false when text had to be repaired (not UTF-8).
    @discardableResult
    static func append(_ value: PgValue, type: UInt32, to out: inout [UInt8]) -> Bool {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .unchangedToast: appendString(ArraySlice(unavailable.utf8), to: &out)
        case .text(let text): return appendText(text[...], type: type, to: &out)
        }
        return true
    }

    static func appendText(_ text: ArraySlice<UInt8>, type: UInt32, to out: inout [UInt8]) -> Bool {
        switch type {
        case bool:
            out.append(contentsOf: text.first == UInt8(ascii: "t") ? "true".utf8 : "false".utf8)
        case int2, int4, int8, oid:
            out.append(contentsOf: text)
        case float4, float8, numeric:
            // PostgreSQL writes NaN, Infinity and -Infinity for the values JSON has no number for.
            if text.contains(where: { $0 == UInt8(ascii: "N") || $0 == UInt8(ascii: "I") }) {
                return appendString(text, to: &out)
            }
            out.append(contentsOf: text)
        case date:
            guard let days = civilDays(text) else { return appendString(text, to: &out) }
            out.append(contentsOf: String(days).utf8)
        case timestamp:
            guard let micros = microseconds(text, zoned: false) else { return appendString(text, to: &out) }
            out.append(contentsOf: String(micros).utf8)
        case timestamptz:
            guard let micros = microseconds(text, zoned: true) else { return appendString(text, to: &out) }
            appendString(ArraySlice(isoUTC(micros).utf8), to: &out)
        case bytea:
            guard let raw = hexBytea(text) else { return appendString(text, to: &out) }
            appendString(ArraySlice(base64(raw).utf8), to: &out)
        default:
            return appendString(text, to: &out)
        }
        return true
    }

    /// A JSON string; returns false when invalid UTF-8 was replaced.
    @discardableResult
    static func appendString(_ text: ArraySlice<UInt8>, to out: inout [UInt8]) -> Bool {
        out.append(UInt8(ascii: "\""))
        var valid = true
        var plain = true
        for byte in text where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte >= 0x80 {
            plain = false
            break
        }
        if plain {
            out.append(contentsOf: text)
        } else {
            let repaired = String(decoding: text, as: UTF8.self)
            valid = repaired.utf8.elementsEqual(text)
            let source: [UInt8] = valid ? Array(text) : Array(repaired.utf8)
            for byte in source {
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
                case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
                case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
                case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
                case ..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: #"\u00"#.utf8)
                    out.append(hex[Int(byte >> 4)])
                    out.append(hex[Int(byte & 15)])
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
        return valid
    }

    // MARK: Dates and times (ISO DateStyle, the session's TimeZone is UTC)

    /// Parses the digits of `text[range]` as a number.
    private static func number(_ text: ArraySlice<UInt8>, _ from: Int, _ count: Int) -> Int? {
        let start = text.startIndex + from
        guard from >= 0, text.count >= from + count else { return nil }
        var value = 0
        for byte in text[start..<start + count] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// Days since 1970-01-01 of `YYYY-MM-DD` (four-digit years; others are written as text).
    static func civilDays(_ text: ArraySlice<UInt8>) -> Int? {
        guard text.count >= 10, let year = number(text, 0, 4), let month = number(text, 5, 2),
            let day = number(text, 8, 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Microseconds since the Unix epoch of `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]`.
    static func microseconds(_ text: ArraySlice<UInt8>, zoned: Bool) -> Int64? {
        guard text.count >= 19, let days = civilDays(text), text[text.startIndex + 10] == UInt8(ascii: " "),
            let hour = number(text, 11, 2), let minute = number(text, 14, 2), let second = number(text, 17, 2)
        else { return nil }
        var index = 19
        var fraction = 0
        if index < text.count, text[text.startIndex + index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < text.count, let digit = number(text, index, 1) {
                if digits < 6 { fraction = fraction * 10 + digit }
                digits += 1
                index += 1
            }
            for _ in digits..<max(digits, 6) { fraction *= 10 }
        }
        var offsetSeconds = 0
        if zoned {
            guard index < text.count else { return nil }
            let sign = text[text.startIndex + index]
            guard sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"), let hours = number(text, index + 1, 2) else {
                return nil
            }
            var seconds = hours * 3600
            if index + 3 < text.count, text[text.startIndex + index + 3] == UInt8(ascii: ":"),
                let minutes = number(text, index + 4, 2)
            {
                seconds += minutes * 60
                index += 3
            }
            index += 3
            offsetSeconds = sign == UInt8(ascii: "+") ? seconds : -seconds
        }
        guard index == text.count else { return nil }
        let total = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Int64(total) * 1_000_000 + Int64(fraction)
    }

    /// `2024-05-01T12:00:00.123456Z`.
    static func isoUTC(_ micros: Int64) -> String {
        var seconds = micros / 1_000_000
        var fraction = micros % 1_000_000
        if fraction < 0 {
            fraction += 1_000_000
            seconds -= 1
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = CivilDate.fromDays(days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))Z"
    }

    // MARK: bytea

    /// The bytes of bytea's hex output (`\x0a1b…`).
    static func hexBytea(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count >= 2, text.first == UInt8(ascii: "\\"), text[text.startIndex + 1] == UInt8(ascii: "x"),
            text.count % 2 == 0
        else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var raw: [UInt8] = []
        raw.reserveCapacity(text.count / 2 - 1)
        var index = text.startIndex + 2
        while index < text.endIndex {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return nil }
            raw.append(high << 4 | low)
            index += 2
        }
        return raw
    }

    static func base64(_ raw: [UInt8]) -> String { Data(raw).base64EncodedString() }
}
