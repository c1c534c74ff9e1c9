/// A recursive-descent parser for the Pinot-flavoured SQL subset. Every error names the line and column
/// and what was expected; nesting is limited (``maximumDepth``) so hostile input cannot exhaust the stack.
struct Parser {
    /// The deepest nesting of parentheses and operators accepted.
    static let maximumDepth = 100

    private var tokens: [Token]
    private var index = 0
    private var depth = 0
    private var links = 0
    private var parameters = 0
    /// The most arithmetic operators (`+ - * / %`) one query may have.
    static let maximumArithmetic = 1000

    private init(_ tokens: [Token]) { self.tokens = tokens }

    /// Parses `[SET name = value;]… SELECT …[;]`.
    static func parse(_ text: String) throws(ViewError) -> SelectStatement {
        var parser = Parser(try Lexer.tokens(text))
        return try parser.statement()
    }

    /// Parses a lone expression (table transforms).
    static func parseExpression(_ text: String) throws(ViewError) -> Expression {
        var parser = Parser(try Lexer.tokens(text))
        let expression = try parser.expression()
        try parser.expectEnd()
        return expression
    }

    // MARK: Tokens

    private var current: Token { tokens[index] }

    private mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    private func error(_ expected: String, at token: Token? = nil) -> ViewError {
        let token = token ?? current
        return ViewError(.syntax, "expected \(expected), found \(token.text)", line: token.line, column: token.column)
    }

    private mutating func accept(keyword: String) -> Bool {
        guard current.isKeyword(keyword) else { return false }
        index += 1
        return true
    }

    private mutating func expect(keyword: String) throws(ViewError) {
        guard accept(keyword: keyword) else { throw error(keyword) }
    }

    private mutating func accept(_ symbol: String) -> Bool {
        guard current.kind == .symbol(symbol) else { return false }
        index += 1
        return true
    }

    private mutating func expect(_ symbol: String) throws(ViewError) {
        guard accept(symbol) else { throw error("'\(symbol)'") }
    }

    private mutating func expectEnd() throws(ViewError) {
        guard current.kind == .end else { throw error("the end of the query") }
    }

    static let reserved: Set<String> = [
        "select", "from", "where", "group", "by", "having", "order", "limit", "offset", "option", "and", "or",
        "not", "in", "between", "like", "is", "null", "as", "asc", "desc", "set", "distinct", "true", "false",
    ]

    private mutating func identifier(_ what: String) throws(ViewError) -> String {
        guard case .identifier(let name, let quoted) = current.kind,
            quoted || !Self.reserved.contains(name.lowercased())
        else { throw error(what) }
        index += 1
        return name
    }

    // MARK: Statements

    private mutating func statement() throws(ViewError) -> SelectStatement {
        var options: [String: SQLValue] = [:]
        while accept(keyword: "SET") {
            let name = try identifier("an option name after SET")
            try expect("=")
            options[name.lowercased()] = try literalValue()
            try expect(";")
        }
        var select = try selectStatement()
        select.parameterCount = parameters
        for (name, value) in options where select.options[name] == nil { select.options[name] = value }
        _ = accept(";")
        try expectEnd()
        return select
    }

    private mutating func literalValue() throws(ViewError) -> SQLValue {
        let token = current
        let negative = accept("-")
        switch advance().kind {
        case .number(let text):
            if let v = Int64(negative ? "-" + text : text) { return .long(v) }
            let v = Double(text) ?? 0
            return .double(negative ? -v : v)
        case .string(let text) where !negative: return .string(text)
        case .identifier(let word, false) where !negative && word.lowercased() == "true": return .bool(true)
        case .identifier(let word, false) where !negative && word.lowercased() == "false": return .bool(false)
        default: throw error("a number, string, true or false", at: token)
        }
    }

    private mutating func selectStatement() throws(ViewError) -> SelectStatement {
        var select = SelectStatement()
        try expect(keyword: "SELECT")
        select.distinct = accept(keyword: "DISTINCT")
        repeat {
            let start = current
            if accept("*") {
                select.items.append(.init(expression: nil, alias: nil, line: start.line, column: start.column))
                continue
            }
            let expression = try expression()
            var alias: String? = nil
            if accept(keyword: "AS") {
                alias = try identifier("an alias after AS")
            } else if case .identifier(let name, let quoted) = current.kind,
                quoted || !Self.reserved.contains(name.lowercased())
            {
                alias = name
                index += 1
            }
            select.items.append(.init(expression: expression, alias: alias))
        } while accept(",")
        try expect(keyword: "FROM")
        select.tableLine = current.line
        select.tableColumn = current.column
        select.table = try identifier("a table name after FROM")
        if accept(keyword: "WHERE") { select.filter = try expression() }
        if accept(keyword: "GROUP") {
            try expect(keyword: "BY")
            repeat { select.groupBy.append(try expression()) } while accept(",")
        }
        if accept(keyword: "HAVING") { select.having = try expression() }
        if accept(keyword: "ORDER") {
            try expect(keyword: "BY")
            repeat {
                let expression = try expression()
                var ascending = true
                if accept(keyword: "DESC") { ascending = false } else { _ = accept(keyword: "ASC") }
                select.orderBy.append(.init(expression: expression, ascending: ascending))
            } while accept(",")
        }
        if accept(keyword: "LIMIT") {
            let first = try count("a row count after LIMIT")
            if accept(",") {
                select.offset = first
                select.limit = try count("a row count after LIMIT offset,")
            } else {
                select.limit = first
            }
            if accept(keyword: "OFFSET") { select.offset = try count("a row count after OFFSET") }
        }
        if accept(keyword: "OPTION") {
            try expect("(")
            repeat {
                let name = try identifier("an option name")
                try expect("=")
                select.options[name.lowercased()] = try literalValue()
            } while accept(",")
            try expect(")")
        }
        return select
    }

    private mutating func count(_ what: String) throws(ViewError) -> Int {
        guard case .number(let text) = current.kind, let value = Int(text), value >= 0 else { throw error(what) }
        index += 1
        return value
    }

    // MARK: Expressions (lowest precedence first)

    private mutating func nested<T>(_ body: (inout Parser) throws(ViewError) -> T) throws(ViewError) -> T {
        depth += 1
        defer { depth -= 1 }
        try checkDepth()
        return try body(&self)
    }

    private func checkDepth() throws(ViewError) {
        guard depth <= Self.maximumDepth else {
            throw ViewError(
                .syntax, "the expression is nested or chained more than \(Self.maximumDepth) levels deep",
                line: current.line, column: current.column)
        }
    }

    mutating func expression() throws(ViewError) -> Expression {
        try nested { (p: inout Parser) throws(ViewError) in try p.or() }
    }

    private mutating func or() throws(ViewError) -> Expression {
        var operands = [try and()]
        var operators: [Token] = []
        while current.isKeyword("OR") {
            operators.append(advance())
            operands.append(try and())
        }
        return Self.balanced(.or, operands[...], operators[...])
    }

    private mutating func and() throws(ViewError) -> Expression {
        var operands = [try not()]
        var operators: [Token] = []
        while current.isKeyword("AND") {
            operators.append(advance())
            operands.append(try not())
        }
        return Self.balanced(.and, operands[...], operators[...])
    }

    /// AND and OR are associative: a chain becomes a balanced tree, so thousands of terms stay shallow.
    private static func balanced(
        _ op: BinaryOperator, _ operands: ArraySlice<Expression>, _ operators: ArraySlice<Token>
    ) -> Expression {
        if operands.count == 1 { return operands.first! }
        let middle = operands.startIndex + operands.count / 2
        let token = operators[operators.startIndex + operands.count / 2 - 1]
        let left = balanced(
            op, operands[..<middle], operators[operators.startIndex..<(operators.startIndex + operands.count / 2 - 1)])
        let right = balanced(op, operands[middle...], operators[(operators.startIndex + operands.count / 2)...])
        return Expression(kind: .binary(op, left, right), line: token.line, column: token.column)
    }

    /// Counts an arithmetic operator: toward the query's total, and as one more level of the chain it extends
    /// (`chained`, which the chain's parser gives back to `depth` when the chain ends).
    private mutating func link(_ chained: inout Int) throws(ViewError) {
        links += 1
        guard links <= Self.maximumArithmetic else {
            throw ViewError(
                .syntax, "the query has more than \(Self.maximumArithmetic) arithmetic operators", line: current.line,
                column: current.column)
        }
        chained += 1
        depth += 1
        try checkDepth()
    }

    private mutating func not() throws(ViewError) -> Expression {
        if current.isKeyword("NOT") {
            let token = advance()
            let operand = try nested { (p: inout Parser) throws(ViewError) in try p.not() }
            return Expression(kind: .not(operand), line: token.line, column: token.column)
        }
        return try predicate()
    }

    private mutating func predicate() throws(ViewError) -> Expression {
        let left = try additive()
        let token = current
        let make = { (kind: Expression.Kind) in Expression(kind: kind, line: left.line, column: left.column) }
        if case .symbol(let symbol) = token.kind,
            let op: BinaryOperator = [
                "=": .equal, "!=": .notEqual, "<": .less, "<=": .lessOrEqual, ">": .greater, ">=": .greaterOrEqual,
            ][symbol]
        {
            index += 1
            return make(.binary(op, left, try additive()))
        }
        if accept(keyword: "IS") {
            let negated = accept(keyword: "NOT")
            try expect(keyword: "NULL")
            return make(.isNull(left, negated: negated))
        }
        let negated = accept(keyword: "NOT")
        if accept(keyword: "IN") {
            try expect("(")
            var list: [Expression] = []
            repeat { list.append(try expression()) } while accept(",")
            try expect(")")
            return make(.inList(left, list, negated: negated))
        }
        if accept(keyword: "BETWEEN") {
            let low = try additive()
            try expect(keyword: "AND")
            let high = try additive()
            return make(.between(left, low, high, negated: negated))
        }
        if accept(keyword: "LIKE") { return make(.like(left, try additive(), negated: negated)) }
        if negated { throw error("IN, BETWEEN or LIKE after NOT") }
        return left
    }

    /// Arithmetic chains build left-deep trees (`a - b - c` is `(a - b) - c`), which the compiler and the
    /// evaluator walk recursively: each operator of a chain counts as a level of ``maximumDepth`` until the
    /// chain ends, so no tree gets deeper than that.
    private mutating func additive() throws(ViewError) -> Expression {
        var left = try multiplicative()
        var chained = 0
        defer { depth -= chained }
        while case .symbol(let symbol) = current.kind, symbol == "+" || symbol == "-" {
            let token = advance()
            try link(&chained)
            let right = try multiplicative()
            left = Expression(
                kind: .binary(symbol == "+" ? .add : .subtract, left, right), line: token.line, column: token.column)
        }
        return left
    }

    private mutating func multiplicative() throws(ViewError) -> Expression {
        var left = try unary()
        var chained = 0
        defer { depth -= chained }
        while case .symbol(let symbol) = current.kind, symbol == "*" || symbol == "/" || symbol == "%" {
            let token = advance()
            try link(&chained)
            let right = try unary()
            let op: BinaryOperator = symbol == "*" ? .multiply : (symbol == "/" ? .divide : .remainder)
            left = Expression(kind: .binary(op, left, right), line: token.line, column: token.column)
        }
        return left
    }

    private mutating func unary() throws(ViewError) -> Expression {
        if current.kind == .symbol("-") {
            let token = advance()
            // -9223372036854775808 is a long, though its magnitude alone is not.
            if case .number(let text) = current.kind, Int64(text) == nil, let v = Int64("-" + text) {
                index += 1
                return Expression(kind: .literal(.long(v)), line: token.line, column: token.column)
            }
            let operand = try nested { (p: inout Parser) throws(ViewError) in try p.unary() }
            if case .literal(.long(let v)) = operand.kind {
                return Expression(kind: .literal(.long(-v)), line: token.line, column: token.column)
            }
            if case .literal(.double(let v)) = operand.kind {
                return Expression(kind: .literal(.double(-v)), line: token.line, column: token.column)
            }
            return Expression(kind: .negate(operand), line: token.line, column: token.column)
        }
        _ = accept("+")
        return try primary()
    }

    private mutating func primary() throws(ViewError) -> Expression {
        let token = current
        let make = { (kind: Expression.Kind) in Expression(kind: kind, line: token.line, column: token.column) }
        switch token.kind {
        case .number(let text):
            index += 1
            if let v = Int64(text) { return make(.literal(.long(v))) }
            return make(.literal(.double(Double(text) ?? .nan)))
        case .string(let text):
            index += 1
            return make(.literal(.string(text)))
        case .symbol("?"):
            index += 1
            parameters += 1
            return make(.column(Expression.parameterName(parameters - 1)))
        case .symbol("("):
            index += 1
            let inner = try expression()
            try expect(")")
            return inner
        case .identifier(let name, let quoted):
            if !quoted {
                switch name.lowercased() {
                case "null":
                    index += 1
                    return make(.literal(.null))
                case "true", "false":
                    index += 1
                    return make(.literal(.bool(name.lowercased() == "true")))
                default: break
                }
            }
            let name = try identifier("a column, literal or function")
            guard !quoted, accept("(") else { return make(.column(name)) }
            if accept(")") { return make(.call(name, [], distinct: false)) }
            if current.kind == .symbol("*") {
                index += 1
                try expect(")")
                return make(.call(name, [make(.star)], distinct: false))
            }
            let distinct = accept(keyword: "DISTINCT")
            var arguments: [Expression] = []
            repeat { arguments.append(try expression()) } while accept(",")
            try expect(")")
            return make(.call(name, arguments, distinct: distinct))
        default:
            throw error("a column, literal, function or '('")
        }
    }
}
