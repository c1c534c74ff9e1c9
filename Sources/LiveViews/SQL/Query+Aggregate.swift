/// GROUP BY and aggregates: groups keyed by column codes when every key is a plain column (no values
/// built per row), by values otherwise; one accumulator per (group, aggregate).
extension QueryExecutor {
    struct AggregateCall {
        let kind: Aggregate.Kind
        let expression: Expression
        let argument: Evaluator?
        /// For SUM/AVG/MIN/MAX of a numeric column: its values and nulls, read without building values.
        let numeric: (values: [Double], nulls: [Bool])?
    }

    struct Accumulator {
        var count: Int64 = 0
        var sum: Double = 0
        /// The exact sum while every value is a long: 128 bits cannot overflow from 64-bit addends (fewer than
        /// 2^63 of them), so the answer does not depend on the order rows are summed in (a 64-bit running sum
        /// overflowed midway in some orders and fell back to an inexact double).
        var longSum: Int128 = 0
        var allLong = true
        var best: SQLValue = .null
        var distinct: Set<SQLValue>? = nil
    }

    func aggregateQuery() throws(ViewError) -> QueryResult {
        let scan = try plan()
        let groupExpressions = statement.groupBy.map { resolveAliases($0) }
        for e in groupExpressions where e.hasAggregate {
            throw error("GROUP BY cannot contain an aggregate", e)
        }
        // Every aggregate call in SELECT, HAVING and ORDER BY, once each.
        var calls: [AggregateCall] = []
        var callIndex: [String: Int] = [:]
        func collect(_ e: Expression) throws(ViewError) {
            switch e.kind {
            case .call(let name, let arguments, let distinct):
                if var kind = Aggregate.Kind(name: name) {
                    if distinct {
                        guard kind == .count else { throw error("DISTINCT is only supported in COUNT(DISTINCT …)", e) }
                        kind = .distinctCount
                    }
                    guard callIndex[e.key] == nil else { return }
                    guard arguments.count == 1 else { throw error("\(name.uppercased()) takes one argument", e) }
                    if arguments[0].hasAggregate { throw error("aggregates cannot be nested", arguments[0]) }
                    var argument: Evaluator? = nil
                    var numeric: (values: [Double], nulls: [Bool])? = nil
                    if case .star = arguments[0].kind {
                        guard kind == .count else { throw error("only COUNT takes *", e) }
                    } else {
                        let resolved = resolveAliases(arguments[0])
                        argument = try compile(resolved)
                        if case .column(let column) = resolved.kind, let index = table.columnIndex[column.lowercased()],
                            table.columns[index].type == .double, !table.columns[index].isMultiValue,
                            kind == .sum || kind == .avg || kind == .min || kind == .max
                        {
                            numeric = (table.columns[index].doubles, table.columns[index].nulls)
                        }
                    }
                    callIndex[e.key] = calls.count
                    calls.append(AggregateCall(kind: kind, expression: e, argument: argument, numeric: numeric))
                    return
                }
                for a in arguments { try collect(a) }
            case .negate(let x), .not(let x), .isNull(let x, _): try collect(x)
            case .binary(_, let a, let b), .like(let a, let b, _):
                try collect(a)
                try collect(b)
            case .inList(let x, let list, _):
                try collect(x)
                for m in list { try collect(m) }
            case .between(let x, let a, let b, _):
                try collect(x)
                try collect(a)
                try collect(b)
            case .literal, .column, .star: break
            }
        }
        for item in items { try collect(resolveAliases(item.1)) }
        if let having = statement.having { try collect(resolveAliases(having)) }
        for order in statement.orderBy { try collect(resolveAliases(order.expression)) }

        // Group keys: codes for plain single-value columns, values otherwise.
        let codeColumns: [Column]? = {
            guard groupExpressions.count <= 4 else { return nil }
            var columns: [Column] = []
            for e in groupExpressions {
                guard case .column(let name) = e.kind, let index = table.columnIndex[name.lowercased()] else {
                    return nil
                }
                let column = table.columns[index]
                guard !column.isMultiValue, column.type != .point, column.type != .double else { return nil }
                columns.append(column)
            }
            return columns
        }()
        let keyEvaluators = try groupExpressions.map { (e) throws(ViewError) in try compile(e) }
        var groupOf: [PrimaryKey: Int] = [:]
        var valueGroupOf: [[SQLValue]: Int] = [:]
        var keyValues: [[SQLValue]] = []
        let onlyCountStar = calls.allSatisfy { $0.kind == .count && $0.argument == nil }
        var groups = Groups(aggregates: calls.count)
        if groupExpressions.isEmpty {
            _ = groups.open(-1)
            keyValues = [[]]
        }
        // A single string column: groups indexed by dictionary code (+1, slot 0 for null).
        let singleCodes: [Int32]? =
            codeColumns?.count == 1 && codeColumns![0].type == .string ? codeColumns![0].codes : nil
        var slotOfCode: [Int] =
            singleCodes != nil ? Array(repeating: -1, count: codeColumns![0].dictionary.count + 1) : []

        if groupExpressions.isEmpty, onlyCountStar {
            groups.counts[0] = Int64(countMatches(scan))
        } else {
            forEachMatch(scan, ordered: false) { doc in
                var group = 0
                if !groupExpressions.isEmpty {
                    if let singleCodes {
                        let code = Int(singleCodes[Int(doc)]) + 1
                        group = slotOfCode[code]
                        if group < 0 {
                            group = groups.open(doc)
                            slotOfCode[code] = group
                        }
                    } else if let codeColumns {
                        var key = PrimaryKey()
                        for (position, column) in codeColumns.enumerated() {
                            let i = Int(doc)
                            key[position] =
                                switch column.type {
                                case .string: Int64(column.codes[i])
                                case .long: column.nulls[i] ? Int64.min : column.longs[i]
                                default: Int64(column.bytes[i])
                                }
                        }
                        if let existing = groupOf[key] {
                            group = existing
                        } else {
                            group = groups.open(doc)
                            groupOf[key] = group
                        }
                    } else {
                        let key = keyEvaluators.map { $0(doc) }
                        if let existing = valueGroupOf[key] {
                            group = existing
                        } else {
                            group = groups.open(doc)
                            valueGroupOf[key] = group
                            keyValues.append(key)
                        }
                    }
                }
                groups.counts[group] += 1
                if onlyCountStar { return true }
                for (index, call) in calls.enumerated() {
                    Self.accumulate(call, doc, &groups.accumulators[group][index])
                }
                return true
            }
        }
        if keyValues.count != groups.firstDocs.count {
            keyValues = groups.firstDocs.map { doc in keyEvaluators.map { $0(doc) } }
        }

        // Results per group: aggregates by call, group keys by expression.
        let finals: [[SQLValue]] = groups.accumulators.indices.map { group in
            calls.indices.map { index in
                Self.finish(
                    calls[index],
                    onlyCountStar ? Accumulator(count: groups.counts[group]) : groups.accumulators[group][index],
                    groups.counts[group])
            }
        }
        let groupKeyIndex = Dictionary(
            groupExpressions.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { a, _ in a })
        let outputs = try items.map { (item) throws(ViewError) in
            try compileGroup(resolveAliases(item.1), callIndex, groupKeyIndex)
        }
        let having = try statement.having.map { (h) throws(ViewError) in
            try compileGroup(resolveAliases(h), callIndex, groupKeyIndex)
        }
        let orderKeys = try statement.orderBy.map { (o) throws(ViewError) in
            try compileGroup(resolveAliases(o.expression), callIndex, groupKeyIndex)
        }
        var rows: [(keys: [SQLValue], row: [SQLValue])] = []
        for group in groups.firstDocs.indices {
            let context = GroupContext(keys: keyValues[group], aggregates: finals[group])
            if let having, having(context) != .bool(true) { continue }
            rows.append((orderKeys.map { $0(context) }, outputs.map { $0(context) }))
        }
        if let error = failure.error { throw error }
        let orders = statement.orderBy
        if !orders.isEmpty {
            rows.sort { a, b in
                for (index, order) in orders.enumerated() {
                    let c = SQLValue.orderedBefore(a.keys[index], b.keys[index])
                    if c != 0 { return order.ascending ? c < 0 : c > 0 }
                }
                return false
            }
        }
        let limit = statement.limit ?? Self.defaultLimit
        let selected = rows.dropFirst(statement.offset).prefix(limit).map(\.row)
        return QueryResult(columns: items.map(\.0), rows: Array(selected), stats: stats)
    }

    static func accumulate(_ call: AggregateCall, _ doc: Int32, _ acc: inout Accumulator) {
        if let numeric = call.numeric {
            let i = Int(doc)
            if numeric.nulls[i] { return }
            let v = numeric.values[i]
            acc.count += 1
            switch call.kind {
            case .sum, .avg:
                acc.sum += v
                acc.allLong = false
            case .min: if acc.best.isNull || (acc.best.number ?? v) > v { acc.best = .double(v) }
            case .max: if acc.best.isNull || (acc.best.number ?? v) < v { acc.best = .double(v) }
            default: break
            }
            return
        }
        guard let argument = call.argument else {
            acc.count += 1
            return
        }
        let value = argument(doc)
        if value.isNull { return }
        acc.count += 1
        switch call.kind {
        case .count: break
        case .sum, .avg:
            if case .long(let l) = value, acc.allLong {
                acc.longSum += Int128(l)
            } else {
                acc.allLong = false
            }
            acc.sum += value.number ?? 0
        case .min: if acc.best.isNull || (SQLValue.compare(value, acc.best) ?? 0) < 0 { acc.best = value }
        case .max: if acc.best.isNull || (SQLValue.compare(value, acc.best) ?? 0) > 0 { acc.best = value }
        case .distinctCount:
            if acc.distinct == nil { acc.distinct = [] }
            acc.distinct!.insert(value)
        }
    }

    static func finish(_ call: AggregateCall, _ acc: Accumulator, _ rows: Int64) -> SQLValue {
        switch call.kind {
        case .count: return .long(call.argument == nil ? rows : acc.count)
        case .sum:
            guard acc.count > 0 else { return .null }
            // Longs sum to a long when the exact total fits (SQLite refuses the query otherwise), else to the
            // nearest double of the exact total.
            if acc.allLong { return Int64(exactly: acc.longSum).map { .long($0) } ?? .double(Double(acc.longSum)) }
            return .double(acc.sum)
        case .avg:
            return acc.count == 0 ? .null : .double((acc.allLong ? Double(acc.longSum) : acc.sum) / Double(acc.count))
        case .min, .max: return acc.best
        case .distinctCount: return .long(Int64(acc.distinct?.count ?? 0))
        }
    }

    /// The groups of an aggregation: each one's first document, accumulators and row count.
    struct Groups {
        let aggregates: Int
        var firstDocs: [Int32] = []
        var accumulators: [[Accumulator]] = []
        var counts: [Int64] = []

        init(aggregates: Int) { self.aggregates = aggregates }

        /// Opens a group whose first document is `doc`; returns its number.
        mutating func open(_ doc: Int32) -> Int {
            firstDocs.append(doc)
            accumulators.append(Array(repeating: Accumulator(), count: aggregates))
            counts.append(0)
            return firstDocs.count - 1
        }
    }

    struct GroupContext {
        let keys: [SQLValue]
        let aggregates: [SQLValue]
    }

    /// Compiles an output expression over a group: aggregates and group keys by reference, functions and
    /// operators over those; a bare column must be a GROUP BY key.
    func compileGroup(_ e: Expression, _ calls: [String: Int], _ keys: [String: Int]) throws(ViewError) -> (
        GroupContext
    ) -> SQLValue {
        if let index = calls[e.key], e.hasAggregate || Aggregate.Kind(name: callName(e) ?? "") != nil {
            return { $0.aggregates[index] }
        }
        if let index = keys[e.key] { return { $0.keys[index] } }
        if let index = keys[resolveAliases(e).key] { return { $0.keys[index] } }
        if !references(e) {
            let value = try compile(e)(0)
            return { _ in value }
        }
        // Rebuild the expression over the group's values: substitute aggregates/keys by literals per group.
        switch e.kind {
        case .column(let name):
            if table.columnIndex[name.lowercased()] == nil, aliases[name.lowercased()] != nil {
                throw error("alias '\(name)' refers to itself", e)
            }
            throw error("column '\(name)' must be in GROUP BY or inside an aggregate", e)
        default:
            // Evaluate by substitution: each group's values become literals of a one-off expression.
            var parts: [(GroupContext) -> SQLValue] = []
            var template = e
            try substitute(&template, &parts, calls, keys)
            let compiledTemplate = try QueryExecutor.templateEvaluator(self, template)
            return { context in compiledTemplate(parts.map { $0(context) }) }
        }
    }

    func callName(_ e: Expression) -> String? {
        if case .call(let name, _, _) = e.kind { return name }
        return nil
    }

    /// Replaces each aggregate or key inside `e` by a placeholder column `$n`.
    func substitute(
        _ e: inout Expression, _ parts: inout [(GroupContext) -> SQLValue], _ calls: [String: Int],
        _ keys: [String: Int]
    ) throws(ViewError) {
        if calls[e.key] != nil || keys[e.key] != nil || !references(e)
            || {
                if case .column = e.kind { return true } else { return false }
            }()
        {
            let part = try compileGroup(e, calls, keys)
            e.kind = .column("$\(parts.count)")
            parts.append(part)
            return
        }
        switch e.kind {
        case .call(let name, var arguments, let distinct):
            for i in arguments.indices { try substitute(&arguments[i], &parts, calls, keys) }
            e.kind = .call(name, arguments, distinct: distinct)
        case .negate(var x):
            try substitute(&x, &parts, calls, keys)
            e.kind = .negate(x)
        case .not(var x):
            try substitute(&x, &parts, calls, keys)
            e.kind = .not(x)
        case .isNull(var x, let negated):
            try substitute(&x, &parts, calls, keys)
            e.kind = .isNull(x, negated: negated)
        case .binary(let op, var a, var b):
            try substitute(&a, &parts, calls, keys)
            try substitute(&b, &parts, calls, keys)
            e.kind = .binary(op, a, b)
        case .like(var a, var b, let negated):
            try substitute(&a, &parts, calls, keys)
            try substitute(&b, &parts, calls, keys)
            e.kind = .like(a, b, negated: negated)
        case .inList(var x, var list, let negated):
            try substitute(&x, &parts, calls, keys)
            for i in list.indices { try substitute(&list[i], &parts, calls, keys) }
            e.kind = .inList(x, list, negated: negated)
        case .between(var x, var a, var b, let negated):
            try substitute(&x, &parts, calls, keys)
            try substitute(&a, &parts, calls, keys)
            try substitute(&b, &parts, calls, keys)
            e.kind = .between(x, a, b, negated: negated)
        case .literal, .column, .star: break
        }
    }

    /// Compiles a template whose `$n` columns are supplied per call.
    static func templateEvaluator(_ executor: QueryExecutor, _ template: Expression) throws(ViewError) -> ([SQLValue])
        -> SQLValue
    {
        let slots = TemplateSlots()
        let previous = executor.templateSlots
        executor.templateSlots = slots
        defer { executor.templateSlots = previous }
        let evaluator = try executor.compile(template)
        return { values in
            slots.values = values
            return evaluator(0)
        }
    }
}

/// The per-group values a group-level template reads as `$0`, `$1`, ….
final class TemplateSlots {
    var values: [SQLValue] = []
}
