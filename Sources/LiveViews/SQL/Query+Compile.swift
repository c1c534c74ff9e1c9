import EventLogFoundation

/// Compiling expressions into per-document closures, with typed fast paths for the common shapes
/// (column against literal, string equality by dictionary code, distance from a constant point).
extension QueryExecutor {
    func error(_ message: String, _ at: Expression) -> ViewError {
        ViewError(.query, message, line: at.line, column: at.column)
    }

    func columnIndex(_ name: String, _ at: Expression) throws(ViewError) -> Int {
        guard let index = table.columnIndex[name.lowercased()] else {
            let known = table.config.columns.map(\.name).joined(separator: ", ")
            throw error("unknown column '\(name)' in table '\(table.name)' (columns: \(known))", at)
        }
        return index
    }

    /// A closure giving the expression's value for a document.
    func compile(_ e: Expression) throws(ViewError) -> Evaluator {
        let failure = self.failure
        switch e.kind {
        case .literal(let value):
            return { _ in value }
        case .star:
            throw error("'*' is only allowed in SELECT * and COUNT(*)", e)
        case .column(let name):
            if let slots = templateSlots, name.hasPrefix("$"), let slot = Int(name.dropFirst()) {
                return { _ in slots.values[slot] }
            }
            if name.hasPrefix("?") { throw error("placeholder \(name) has no value: run the query prepared", e) }
            // Callers resolve aliases first; a name still here that is an alias refers to itself.
            if table.columnIndex[name.lowercased()] == nil, aliases[name.lowercased()] != nil {
                throw error("alias '\(name)' refers to itself", e)
            }
            let column = table.columns[try columnIndex(name, e)]
            if column.isMultiValue { return { .array(column.lists[Int($0)]) } }
            switch column.type {
            case .string:
                let codes = column.codes, strings = column.dictionary.strings
                return { doc in
                    let code = codes[Int(doc)]
                    return code < 0 ? .null : .string(strings[Int(code)])
                }
            case .long:
                let values = column.longs, nulls = column.nulls
                return { nulls[Int($0)] ? .null : .long(values[Int($0)]) }
            case .double:
                let values = column.doubles, nulls = column.nulls
                return { nulls[Int($0)] ? .null : .double(values[Int($0)]) }
            default:
                return { column.value($0) }
            }
        case .call(let name, let arguments, _):
            if Aggregate.Kind(name: name) != nil {
                throw error("aggregate \(name.uppercased())(…) is not allowed here (only in SELECT and HAVING)", e)
            }
            guard let (arity, body) = ScalarFunctions.table[name.lowercased()] else {
                throw error("unknown function '\(name)'", e)
            }
            guard arity.contains(arguments.count) else {
                throw error(
                    "\(name) takes \(arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)") arguments, got \(arguments.count)",
                    e)
            }
            // ST_DISTANCE(point column, constant point): straight from the column arrays.
            if name.lowercased() == "st_distance", let column = pointColumn(arguments[0]),
                let center = constant(arguments[1]).flatMap(ScalarFunctions.asPoint)
            {
                let lons = table.columns[column].doubles, lats = table.columns[column].latitudes
                let nulls = table.columns[column].nulls
                return { doc in
                    let i = Int(doc)
                    if nulls[i] { return .null }
                    return .double(
                        Geo.distance(lon1: lons[i], lat1: lats[i], lon2: center.longitude, lat2: center.latitude))
                }
            }
            let compiled = try arguments.map { (a) throws(ViewError) in try compile(a) }
            let now = self.now
            let evaluate: Evaluator = { doc in
                switch body(compiled.map { $0(doc) }, now) {
                case .success(let value): return value.nanAsNull
                case .failure(let f):
                    failure.fail(f.message, e)
                    return .null
                }
            }
            if !references(e) {
                // Constant: evaluate once, so a bad literal is reported even when no row matches.
                let value = evaluate(0)
                if let error = failure.error { throw error }
                return { _ in value }
            }
            return evaluate
        case .negate(let x):
            let inner = try compile(x)
            return { doc in
                switch inner(doc) {
                case .long(let v):
                    // -Int64.min is no long: like every overflowing operation, it becomes a double.
                    let (negated, overflow) = Int64(0).subtractingReportingOverflow(v)
                    return overflow ? .double(-Double(v)) : .long(negated)
                case .double(let v): return .double(-v)
                case .null: return .null
                case let other:
                    failure.fail("cannot negate a \(other.typeName)", e)
                    return .null
                }
            }
        case .not, .isNull, .inList, .between, .like:
            // A condition as a value: true, false, or NULL when unknown (as SQLite gives).
            let truth = try compileTruth(e)
            return { truth($0).map(SQLValue.bool) ?? .null }
        case .binary(let op, let a, let b):
            switch op {
            case .and, .or, .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual:
                let truth = try compileTruth(e)
                return { truth($0).map(SQLValue.bool) ?? .null }
            case .add, .subtract, .multiply, .divide, .remainder:
                let left = try compile(a), right = try compile(b)
                return { doc in Self.arithmetic(op, left(doc), right(doc), failure, e) }
            }
        }
    }

    static func arithmetic(_ op: BinaryOperator, _ x: SQLValue, _ y: SQLValue, _ failure: Failure, _ at: Expression)
        -> SQLValue
    {
        if x.isNull || y.isNull { return .null }
        if case .long(let a) = x, case .long(let b) = y {
            // Long arithmetic that overflows Int64 gives the double result instead of wrapping, as SUM does.
            let result: (partialValue: Int64, overflow: Bool)
            switch op {
            case .add: result = a.addingReportingOverflow(b)
            case .subtract: result = a.subtractingReportingOverflow(b)
            case .multiply: result = a.multipliedReportingOverflow(by: b)
            case .divide: return b == 0 ? .null : .double(Double(a) / Double(b))
            default: return b == 0 ? .null : .long(a.remainderReportingOverflow(dividingBy: b).partialValue)
            }
            if !result.overflow { return .long(result.partialValue) }
            let (p, q) = (Double(a), Double(b))
            return .double(op == .add ? p + q : (op == .subtract ? p - q : p * q))
        }
        guard let a = x.number, let b = y.number, !x.isBool, !y.isBool else {
            failure.fail("cannot apply '\(op.rawValue)' to \(x.typeName) and \(y.typeName)", at)
            return .null
        }
        let result: Double
        switch op {
        case .add: result = a + b
        case .subtract: result = a - b
        case .multiply: result = a * b
        case .divide: if b == 0 { return .null } else { result = a / b }
        default: if b == 0 { return .null } else { result = a.truncatingRemainder(dividingBy: b) }
        }
        return result.isNaN ? .null : .double(result)
    }

    /// A closure deciding whether a document passes: the condition is true. Unknown (NULL) does not pass,
    /// as in SQL's WHERE. AND, OR and comparisons are compiled straight to true/false (unknown and false
    /// are the same for them at the top); everything else goes through ``compileTruth(_:)``.
    func compilePredicate(_ e: Expression) throws(ViewError) -> Predicate {
        switch e.kind {
        case .binary(.and, let a, let b):
            let left = try compilePredicate(a), right = try compilePredicate(b)
            return { left($0) && right($0) }
        case .binary(.or, let a, let b):
            let left = try compilePredicate(a), right = try compilePredicate(b)
            return { left($0) || right($0) }
        case .binary(let op, let a, let b) where op.isComparison:
            if let fast = try fastComparison(op, a, b) { return fast }
            let truth = try compileTruth(e)
            return { truth($0) == true }
        default:
            let truth = try compileTruth(e)
            return { truth($0) == true }
        }
    }

    /// A condition's truth value under SQL's three-valued logic: nil when unknown.
    ///
    /// - A comparison, `IN`, `BETWEEN` or `LIKE` with a NULL operand is unknown; `IS NULL` never is.
    /// - `x IN (list)`: true when x equals a member, else unknown when a member is NULL, else false.
    /// - `x BETWEEN a AND b` is `x >= a AND x <= b`; the NOT forms negate, so unknown stays unknown.
    /// - AND and OR follow Kleene's tables (false AND unknown is false, true OR unknown is true).
    func compileTruth(_ e: Expression) throws(ViewError) -> (Int32) -> Bool? {
        switch e.kind {
        case .binary(.and, let a, let b):
            let x = try compileTruth(a), y = try compileTruth(b)
            return { doc in
                let l = x(doc)
                if l == false { return false }
                let r = y(doc)
                if r == false { return false }
                return l == nil || r == nil ? nil : true
            }
        case .binary(.or, let a, let b):
            let x = try compileTruth(a), y = try compileTruth(b)
            return { doc in
                let l = x(doc)
                if l == true { return true }
                let r = y(doc)
                if r == true { return true }
                return l == nil || r == nil ? nil : false
            }
        case .not(let x):
            let inner = try compileTruth(x)
            return { inner($0).map { !$0 } }
        case .binary(let op, let a, let b) where op.isComparison:
            let left = try compile(a), right = try compile(b)
            try checkComparable(a, b, e)
            let failure = self.failure
            return { doc in
                let x = left(doc), y = right(doc)
                if x.isNull || y.isNull { return nil }
                guard let c = SQLValue.compare(x, y) else {
                    if op == .equal || op == .notEqual, x.typeName == y.typeName { return (x == y) == (op == .equal) }
                    failure.fail("cannot compare \(x.typeName) with \(y.typeName)", e)
                    return nil
                }
                return Self.holds(op, c)
            }
        case .inList(let x, let list, let negated):
            return try compileIn(x, list, negated: negated)
        case .between(let x, let low, let high, let negated):
            let inner = try compile(x), lo = try compile(low), hi = try compile(high)
            return { doc in
                let v = inner(doc)
                if v.isNull { return nil }
                let above = Self.truth(v, lo(doc)) { $0 >= 0 }
                if above == false { return negated }
                let below = Self.truth(v, hi(doc)) { $0 <= 0 }
                if below == false { return negated }
                return above == nil || below == nil ? nil : !negated
            }
        case .like(let x, let pattern, let negated):
            guard case .string(let text)? = constant(pattern) else {
                throw error("LIKE needs a constant string pattern", pattern)
            }
            let matcher = LikePattern(text)
            let inner = try compile(x)
            return { doc in
                guard case .string(let s) = inner(doc) else { return nil }
                return matcher.matches(s) != negated
            }
        case .isNull(let x, let negated):
            let inner = try compile(x)
            return { doc in
                let v = inner(doc)
                let null = v.isNull || v == .array([])
                return null != negated
            }
        default:
            let inner = try compile(e)
            let failure = self.failure
            return { doc in
                switch inner(doc) {
                case .bool(let b): return b
                case .null: return nil
                case let other:
                    failure.fail("a condition must be true or false, got \(other.typeName)", e)
                    return nil
                }
            }
        }
    }

    /// `compare(v, bound)` tested by `test`; nil when the bound is NULL or the two cannot be compared.
    static func truth(_ v: SQLValue, _ bound: SQLValue, _ test: (Int) -> Bool) -> Bool? {
        SQLValue.compare(v, bound).map(test)
    }

    /// `x [NOT] IN (list)`. A list of constants is looked up in a set (a NOT IN over 10,000 literals costs one
    /// probe a row, not 10,000 comparisons); numbers are keyed so that a long and a double that are equal
    /// (exactly) find each other.
    func compileIn(_ x: Expression, _ list: [Expression], negated: Bool) throws(ViewError) -> (Int32) -> Bool? {
        let constants = list.map { constant($0) }
        if constants.allSatisfy({ $0 != nil }) {
            let values = constants.map { $0! }
            let hasNull = values.contains { $0.isNull }
            // Strings against a dictionary-coded column: compare codes.
            if case .column(let name) = x.kind, let index = table.columnIndex[name.lowercased()],
                table.columns[index].type == .string, !table.columns[index].isMultiValue,
                values.allSatisfy({ if case .string = $0 { true } else { false } })
            {
                let column = table.columns[index]
                var wanted = Set<Int32>()
                for case .string(let s) in values { if let code = column.dictionary.find(s) { wanted.insert(code) } }
                let codes = column.codes
                return { doc in
                    let code = codes[Int(doc)]
                    return code < 0 ? nil : wanted.contains(code) != negated
                }
            }
            let members = Set(values.filter { !$0.isNull }.map(Self.membershipKey))
            let inner = try compile(x)
            return { doc in
                let v = inner(doc)
                if v.isNull { return nil }
                if members.contains(Self.membershipKey(v)) { return !negated }
                return hasNull ? nil : negated
            }
        }
        let inner = try compile(x)
        let members = try list.map { (m) throws(ViewError) in try compile(m) }
        return { doc in
            let v = inner(doc)
            if v.isNull { return nil }
            var sawNull = false
            for member in members {
                let m = member(doc)
                if m.isNull {
                    sawNull = true
                } else if SQLValue.compare(v, m).map({ $0 == 0 }) ?? (v == m) {
                    return !negated
                }
            }
            return sawNull ? nil : negated
        }
    }

    /// The value as a set key for IN: a double holding an integer in Int64's range is keyed as that long.
    static func membershipKey(_ v: SQLValue) -> SQLValue {
        if case .double(let d) = v, d == d.rounded(.towardZero), d >= -9_223_372_036_854_775_808.0,
            d < 9_223_372_036_854_775_808.0
        {
            return .long(Int64(d))
        }
        return v
    }

    static func holds(_ op: BinaryOperator, _ c: Int) -> Bool {
        switch op {
        case .equal: c == 0
        case .notEqual: c != 0
        case .less: c < 0
        case .lessOrEqual: c <= 0
        case .greater: c > 0
        default: c >= 0
        }
    }

    /// Rejects comparing a column with a literal of another kind (`status = 5`) before running.
    func checkComparable(_ a: Expression, _ b: Expression, _ at: Expression) throws(ViewError) {
        func kind(_ e: Expression) -> String? {
            switch e.kind {
            case .column(let name):
                guard let index = table.columnIndex[name.lowercased()] else { return nil }
                let column = table.columns[index]
                if column.isMultiValue { return nil }
                switch column.type {
                case .long, .double: return "number"
                case .string: return "string"
                case .boolean: return "boolean"
                case .point: return "point"
                }
            case .literal(.long), .literal(.double): return "number"
            case .literal(.string): return "string"
            case .literal(.bool): return "boolean"
            default: return nil
            }
        }
        if let x = kind(a), let y = kind(b), x != y, !(x == "boolean" && y == "number") {
            throw error("cannot compare \(a.display) (\(x)) with \(b.display) (\(y))", at)
        }
    }

    /// Column-versus-constant comparisons read the column arrays directly.
    func fastComparison(_ op: BinaryOperator, _ a: Expression, _ b: Expression) throws(ViewError) -> Predicate? {
        var op = op
        var columnSide = a, constantSide = b
        if case .column = b.kind, constant(b) == nil, constant(a) != nil {
            columnSide = b
            constantSide = a
            op =
                [.less: .greater, .lessOrEqual: .greaterOrEqual, .greater: .less, .greaterOrEqual: .lessOrEqual][op]
                ?? op
        }
        guard case .column(let name) = columnSide.kind, let index = table.columnIndex[name.lowercased()],
            !table.columns[index].isMultiValue, let value = constant(constantSide)
        else { return nil }
        try checkComparable(columnSide, constantSide, a)
        let column = table.columns[index]
        if value.isNull { return { _ in false } }
        switch (column.type, value) {
        case (.string, .string(let s)) where op == .equal || op == .notEqual:
            let codes = column.codes
            guard let code = column.dictionary.find(s) else {
                return op == .equal ? { _ in false } : { codes[Int($0)] >= 0 }
            }
            return op == .equal
                ? { codes[Int($0)] == code }
                : {
                    let c = codes[Int($0)]; return c >= 0 && c != code
                }
        case (.long, .long(let v)):
            let values = column.longs, nulls = column.nulls
            return { doc in
                !nulls[Int(doc)] && Self.holds(op, values[Int(doc)] < v ? -1 : (values[Int(doc)] == v ? 0 : 1))
            }
        case (.long, .double(let v)):
            if v.isNaN { return { _ in false } }
            let values = column.longs, nulls = column.nulls
            return { doc in
                !nulls[Int(doc)] && SQLValue.compare(values[Int(doc)], v).map { Self.holds(op, $0) } == true
            }
        case (.double, .double(let v)):
            let values = column.doubles, nulls = column.nulls
            return { doc in
                !nulls[Int(doc)] && Self.holds(op, values[Int(doc)] < v ? -1 : (values[Int(doc)] == v ? 0 : 1))
            }
        case (.double, .long(let l)):
            let values = column.doubles, nulls = column.nulls
            return { doc in
                !nulls[Int(doc)] && SQLValue.compare(l, values[Int(doc)]).map { Self.holds(op, -$0) } == true
            }
        default:
            return nil
        }
    }
}

/// SQL `LIKE`: `%` any run, `_` one code point; case-sensitive, as in Pinot. Text is matched by Unicode
/// code points (not grapheme clusters), so `LIKE` agrees with `=`, which compares bytes.
struct LikePattern {
    /// The pattern's code points; nil stands for `%`.
    let parts: [Unicode.Scalar?]

    init(_ pattern: String) {
        parts = pattern.unicodeScalars.map { $0 == "%" ? nil : $0 }
    }

    func matches(_ text: String) -> Bool {
        let chars = Array(text.unicodeScalars)
        // Iterative matching with backtracking to the last %.
        var p = 0, t = 0, star = -1, mark = 0
        while t < chars.count {
            if p < parts.count, let c = parts[p], c == "_" || c == chars[t] {
                p += 1
                t += 1
            } else if p < parts.count, parts[p] == nil {
                star = p
                mark = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < parts.count, parts[p] == nil { p += 1 }
        return p == parts.count
    }
}
