/// An expression of a query, with where it starts in the query text (for errors).
struct Expression: Hashable, Sendable {
    indirect enum Kind: Hashable, Sendable {
        case literal(SQLValue)
        case column(String)
        /// `*` (only inside `COUNT(*)`).
        case star
        case call(String, [Expression], distinct: Bool)
        case negate(Expression)
        case not(Expression)
        case binary(BinaryOperator, Expression, Expression)
        case inList(Expression, [Expression], negated: Bool)
        case between(Expression, Expression, Expression, negated: Bool)
        case like(Expression, Expression, negated: Bool)
        case isNull(Expression, negated: Bool)
    }

    var kind: Kind
    var line: Int
    var column: Int

    /// The text a result column gets when it has no alias (`count(*)`, `lat`, `d - (d - 1)`, …): the query's
    /// own spelling, with the parentheses the expression's structure needs and no others.
    var display: String { text(canonical: false) }

    /// What identifies the expression when a query mentions it twice (an aggregate in SELECT and in ORDER
    /// BY, a GROUP BY key in SELECT): the display text with identifiers lower-cased, since names are
    /// case-insensitive. Two expressions with the same key compute the same value.
    var key: String { text(canonical: true) }

    /// How tightly an operator binds, for placing parentheses: higher binds tighter.
    private var precedence: Int {
        switch kind {
        case .binary(.or, _, _): return 1
        case .binary(.and, _, _): return 2
        case .not: return 3
        case .binary(.equal, _, _), .binary(.notEqual, _, _), .binary(.less, _, _), .binary(.lessOrEqual, _, _),
            .binary(.greater, _, _), .binary(.greaterOrEqual, _, _), .inList, .between, .like, .isNull:
            return 4
        case .binary(.add, _, _), .binary(.subtract, _, _): return 5
        case .binary: return 6
        case .negate: return 7
        case .literal, .column, .star, .call: return 8
        }
    }

    private func text(canonical: Bool) -> String {
        // Operands of a left-associative parse: the left one needs parentheses when it binds more loosely,
        // the right one (and any operand of a non-chaining operator) also when it binds equally.
        func operand(_ e: Expression, minimum: Int) -> String {
            let inner = e.text(canonical: canonical)
            return e.precedence < minimum ? "(" + inner + ")" : inner
        }
        let p = precedence
        switch kind {
        case .literal(let v):
            if case .string(let s) = v {
                return "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'"
            }
            return v.description
        case .column(let name): return canonical ? name.lowercased() : name
        case .star: return "*"
        case .call(let name, let arguments, let distinct):
            return name.lowercased() + "(" + (distinct ? "DISTINCT " : "")
                + arguments.map { $0.text(canonical: canonical) }.joined(separator: ",") + ")"
        case .negate(let e): return "-" + operand(e, minimum: p + 1)
        case .not(let e): return "NOT " + operand(e, minimum: p)
        case .binary(let op, let a, let b):
            return "\(operand(a, minimum: p)) \(op.rawValue) \(operand(b, minimum: p + 1))"
        case .inList(let e, let list, let negated):
            return "\(operand(e, minimum: p + 1)) \(negated ? "NOT IN" : "IN") ("
                + list.map { $0.text(canonical: canonical) }.joined(separator: ",") + ")"
        case .between(let e, let a, let b, let negated):
            return
                "\(operand(e, minimum: p + 1)) \(negated ? "NOT BETWEEN" : "BETWEEN") \(operand(a, minimum: p + 1)) AND \(operand(b, minimum: p + 1))"
        case .like(let e, let pattern, let negated):
            return "\(operand(e, minimum: p + 1)) \(negated ? "NOT LIKE" : "LIKE") \(operand(pattern, minimum: p + 1))"
        case .isNull(let e, let negated): return "\(operand(e, minimum: p + 1)) IS \(negated ? "NOT NULL" : "NULL")"
        }
    }

    /// The expression with every column reference passed through `transform` (nil keeps it).
    func mapColumns(_ transform: (String) -> Kind?) -> Expression {
        var e = self
        func again(_ x: Expression) -> Expression { x.mapColumns(transform) }
        switch kind {
        case .column(let name): if let replacement = transform(name) { e.kind = replacement }
        case .literal, .star: break
        case .call(let name, let arguments, let distinct):
            e.kind = .call(name, arguments.map(again), distinct: distinct)
        case .negate(let x): e.kind = .negate(again(x))
        case .not(let x): e.kind = .not(again(x))
        case .isNull(let x, let negated): e.kind = .isNull(again(x), negated: negated)
        case .binary(let op, let a, let b): e.kind = .binary(op, again(a), again(b))
        case .like(let a, let b, let negated): e.kind = .like(again(a), again(b), negated: negated)
        case .inList(let x, let list, let negated): e.kind = .inList(again(x), list.map(again), negated: negated)
        case .between(let x, let a, let b, let negated):
            e.kind = .between(again(x), again(a), again(b), negated: negated)
        }
        return e
    }

    /// The name a `?` placeholder gets (`?0`, `?1`, … in order of appearance); no column can have it.
    static func parameterName(_ index: Int) -> String { "?\(index)" }

    /// Whether the expression contains an aggregate call.
    var hasAggregate: Bool {
        switch kind {
        case .literal, .column, .star: return false
        case .call(let name, let arguments, _):
            return Aggregate.Kind(name: name) != nil || arguments.contains { $0.hasAggregate }
        case .negate(let e), .not(let e), .isNull(let e, _): return e.hasAggregate
        case .binary(_, let a, let b), .like(let a, let b, _): return a.hasAggregate || b.hasAggregate
        case .inList(let e, let list, _): return e.hasAggregate || list.contains { $0.hasAggregate }
        case .between(let e, let a, let b, _): return e.hasAggregate || a.hasAggregate || b.hasAggregate
        }
    }
}

enum BinaryOperator: String, Hashable, Sendable {
    case and = "AND", or = "OR"
    case equal = "=", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%"

    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    var isComparison: Bool {
        switch self {
        case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual: true
        default: false
        }
    }
}

/// `SELECT … FROM … [WHERE] [GROUP BY] [HAVING] [ORDER BY] [LIMIT/OFFSET] [OPTION(…)]`, plus the options
/// of `SET name = value;` statements before it.
struct SelectStatement: Sendable {
    struct Item: Sendable {
        /// nil for `*`.
        var expression: Expression?
        var alias: String?
        /// Where the item starts in the query text (for errors about the columns `*` stands for).
        var line = 1, column = 1
    }
    struct Order: Sendable {
        var expression: Expression
        var ascending: Bool
    }

    var items: [Item] = []
    var distinct = false
    var table = ""
    var tableLine = 1, tableColumn = 1
    var filter: Expression?
    var groupBy: [Expression] = []
    var having: Expression?
    var orderBy: [Order] = []
    var limit: Int?
    var offset = 0
    /// How many `?` placeholders the statement has.
    var parameterCount = 0
    /// Lower-cased option names (`skipupsert`) to values.
    var options: [String: SQLValue] = [:]
}

/// A token of the query text.
struct Token: Sendable {
    enum Kind: Equatable, Sendable {
        case identifier(String, quoted: Bool)
        case number(String)
        case string(String)
        case symbol(String)
        case end
    }
    var kind: Kind
    var line: Int
    var column: Int

    var text: String {
        switch kind {
        case .identifier(let name, let quoted): return quoted ? "\"\(name)\"" : name
        case .number(let text): return text
        case .string(let text): return "'\(text)'"
        case .symbol(let text): return "'\(text)'"
        case .end: return "the end of the query"
        }
    }

    func isKeyword(_ word: String) -> Bool {
        if case .identifier(let name, false) = kind { return name.caseInsensitiveCompare(word) }
        return false
    }
}

extension String {
    func caseInsensitiveCompare(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        return zip(utf8, other.utf8).allSatisfy { a, b in
            a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= 0x61 && (a | 0x20) <= 0x7A)
        }
    }
}

/// Splits query text into tokens with their line and column.
enum Lexer {
    static func tokens(_ text: String) throws(ViewError) -> [Token] {
        let bytes = Array(text.utf8)
        var tokens: [Token] = []
        var index = 0, line = 1, lineStart = 0
        func error(_ message: String, _ at: Int) -> ViewError {
            ViewError(.syntax, message, line: line, column: at - lineStart + 1)
        }
        while index < bytes.count {
            let byte = bytes[index]
            let column = index - lineStart + 1
            switch byte {
            case 0x0A:
                index += 1
                line += 1
                lineStart = index
            case 0x20, 0x09, 0x0D:
                index += 1
            case UInt8(ascii: "-") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "-"):
                while index < bytes.count, bytes[index] != 0x0A { index += 1 }
            case UInt8(ascii: "'"):
                var value: [UInt8] = []
                let start = index
                index += 1
                var closed = false
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "'") {
                        if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "'") {
                            value.append(UInt8(ascii: "'"))
                            index += 2
                            continue
                        }
                        index += 1
                        closed = true
                        break
                    }
                    if bytes[index] == 0x0A {
                        line += 1
                        lineStart = index + 1
                    }
                    value.append(bytes[index])
                    index += 1
                }
                guard closed else { throw error("unterminated string literal", start) }
                tokens.append(Token(kind: .string(String(decoding: value, as: UTF8.self)), line: line, column: column))
            case UInt8(ascii: "\""), UInt8(ascii: "`"):
                let quote = byte
                let start = index
                index += 1
                let nameStart = index
                while index < bytes.count, bytes[index] != quote, bytes[index] != 0x0A { index += 1 }
                guard index < bytes.count, bytes[index] == quote else {
                    throw error("unterminated quoted identifier", start)
                }
                let name = String(decoding: bytes[nameStart..<index], as: UTF8.self)
                index += 1
                tokens.append(Token(kind: .identifier(name, quoted: true), line: line, column: column))
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."):
                let start = index
                if byte == UInt8(ascii: "."), !(index + 1 < bytes.count && (0x30...0x39).contains(bytes[index + 1])) {
                    tokens.append(Token(kind: .symbol("."), line: line, column: column))
                    index += 1
                    continue
                }
                while index < bytes.count, (0x30...0x39).contains(bytes[index]) || bytes[index] == UInt8(ascii: ".") {
                    index += 1
                }
                if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
                    var next = index + 1
                    if next < bytes.count, bytes[next] == UInt8(ascii: "+") || bytes[next] == UInt8(ascii: "-") {
                        next += 1
                    }
                    if next < bytes.count, (0x30...0x39).contains(bytes[next]) {
                        index = next
                        while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 }
                    }
                }
                let text = String(decoding: bytes[start..<index], as: UTF8.self)
                guard Double(text) != nil else { throw error("malformed number '\(text)'", start) }
                tokens.append(Token(kind: .number(text), line: line, column: column))
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"),
                0x80...:
                let start = index
                while index < bytes.count,
                    bytes[index] >= 0x80 || bytes[index] == UInt8(ascii: "_") || (0x30...0x39).contains(bytes[index])
                        || (bytes[index] | 0x20 >= 0x61 && bytes[index] | 0x20 <= 0x7A)
                {
                    index += 1
                }
                let name = String(decoding: bytes[start..<index], as: UTF8.self)
                tokens.append(Token(kind: .identifier(name, quoted: false), line: line, column: column))
            default:
                let two = index + 1 < bytes.count ? String(decoding: bytes[index...index + 1], as: UTF8.self) : ""
                if ["<=", ">=", "!=", "<>", "||"].contains(two) {
                    tokens.append(Token(kind: .symbol(two == "<>" ? "!=" : two), line: line, column: column))
                    index += 2
                } else if "(),;*=<>+-/%?".utf8.contains(byte) {
                    tokens.append(Token(kind: .symbol(String(UnicodeScalar(byte))), line: line, column: column))
                    index += 1
                } else {
                    let scalar = String(decoding: bytes[index...index], as: UTF8.self)
                    throw error("unexpected character '\(scalar)'", index)
                }
            }
        }
        tokens.append(Token(kind: .end, line: line, column: index - lineStart + 1))
        return tokens
    }
}
