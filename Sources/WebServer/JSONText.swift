import LiveViews

/// Builds JSON text by hand for the hot, fixed shapes the server answers with (query results, stream
/// events): values are escaped per RFC 8259, numbers that JSON cannot hold (NaN, ±infinity) become null.
struct JSONText {
    private(set) var text = ""

    init() { text.reserveCapacity(256) }

    mutating func raw(_ s: String) { text += s }

    mutating func string(_ s: String) {
        text += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                text +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }

    mutating func optionalString(_ s: String?) {
        if let s { string(s) } else { text += "null" }
    }

    mutating func number(_ v: Double) {
        text += v.isFinite ? (v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) + ".0" : String(v)) : "null"
    }

    mutating func value(_ v: SQLValue) {
        switch v {
        case .null: text += "null"
        case .bool(let b): text += b ? "true" : "false"
        case .long(let n): text += String(n)
        case .double(let d): number(d)
        case .string(let s): string(s)
        case .point, .geometry: string(v.description)
        case .array(let values):
            text += "["
            for (i, element) in values.enumerated() {
                if i > 0 { text += "," }
                value(element)
            }
            text += "]"
        }
    }
}
