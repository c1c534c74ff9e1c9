/// How to aggregate items of type `Item` into a `Result` through a mutable `Accumulator`, in Jet's terms:
/// **create** an empty accumulator, **accumulate** an item into it, **combine** two accumulators (needed for
/// two-stage and sliding aggregation), optionally **deduct** one from another (sliding windows then cost
/// two operations per slide instead of W/S), **export** a result while keeping the accumulator, and
/// **finish** it for good.
///
/// ```swift
/// let revenue = AggregateOperation<Order, Double, Double>(
///     create: { 0 }, accumulate: { $0 += $1.total }, combine: { $0 += $1 }, deduct: { $0 -= $1 },
///     export: { $0 })
/// ```
///
/// Accumulators and keys are saved in snapshots through `Codable`; a job with snapshots needs them to be
/// `Codable` (the built-in operations are).
public struct AggregateOperation<Item, Accumulator, Result> {
    public var create: () -> Accumulator
    public var accumulate: (inout Accumulator, Item) -> Void
    public var combine: (inout Accumulator, Accumulator) -> Void
    public var deduct: ((inout Accumulator, Accumulator) -> Void)?
    public var export: (Accumulator) -> Result
    public var finish: (Accumulator) -> Result

    /// An operation from its primitives; `finish` defaults to `export`.
    public init(
        create: @escaping () -> Accumulator, accumulate: @escaping (inout Accumulator, Item) -> Void,
        combine: @escaping (inout Accumulator, Accumulator) -> Void,
        deduct: ((inout Accumulator, Accumulator) -> Void)? = nil, export: @escaping (Accumulator) -> Result,
        finish: ((Accumulator) -> Result)? = nil
    ) {
        self.create = create
        self.accumulate = accumulate
        self.combine = combine
        self.deduct = deduct
        self.export = export
        self.finish = finish ?? export
    }

    /// The same operation applied to `transform(item)`.
    public func withInput<Other>(_ transform: @escaping (Other) -> Item) -> AggregateOperation<
        Other, Accumulator, Result
    > {
        let accumulate = self.accumulate
        return AggregateOperation<Other, Accumulator, Result>(
            create: create, accumulate: { accumulate(&$0, transform($1)) }, combine: combine, deduct: deduct,
            export: export, finish: finish)
    }

    /// The same operation with its result transformed.
    public func andThen<Other>(_ transform: @escaping (Result) -> Other) -> AggregateOperation<Item, Accumulator, Other>
    {
        let (export, finish) = (self.export, self.finish)
        return AggregateOperation<Item, Accumulator, Other>(
            create: create, accumulate: accumulate, combine: combine, deduct: deduct,
            export: { transform(export($0)) }, finish: { transform(finish($0)) })
    }
}

/// The accumulator of ``AggregateOperation/averaging(_:)``.
public struct AverageAccumulator: Sendable, Hashable, Codable {
    public var sum: Double = 0
    public var count: Int = 0
    public init() {}
}

/// The accumulator of ``AggregateOperation/allOf(_:_:)``.
public struct PairAccumulator<First, Second> {
    public var first: First
    public var second: Second
}

extension PairAccumulator: Codable where First: Codable, Second: Codable {}
extension PairAccumulator: Sendable where First: Sendable, Second: Sendable {}

extension AggregateOperation where Accumulator == Int, Result == Int {
    /// Counts items.
    public static func counting() -> Self {
        AggregateOperation(
            create: { 0 }, accumulate: { acc, _ in acc &+= 1 }, combine: { $0 &+= $1 }, deduct: { $0 &-= $1 },
            export: { $0 })
    }
}

extension AggregateOperation {
    /// Sums a numeric property of the items.
    public static func summing(_ value: @escaping (Item) -> Accumulator) -> Self
    where Accumulator: AdditiveArithmetic, Result == Accumulator {
        AggregateOperation(
            create: { .zero }, accumulate: { $0 += value($1) }, combine: { $0 += $1 }, deduct: { $0 -= $1 },
            export: { $0 })
    }

    /// The mean of a property of the items (NaN for none).
    public static func averaging(_ value: @escaping (Item) -> Double) -> Self
    where Accumulator == AverageAccumulator, Result == Double {
        AggregateOperation(
            create: { AverageAccumulator() },
            accumulate: {
                $0.sum += value($1)
                $0.count += 1
            },
            combine: {
                $0.sum += $1.sum
                $0.count += $1.count
            },
            deduct: {
                $0.sum -= $1.sum
                $0.count -= $1.count
            }, export: { $0.count == 0 ? .nan : $0.sum / Double($0.count) })
    }

    /// The item with the smallest `value` (the first seen among equals); nil for none.
    public static func minBy<Value: Comparable>(_ value: @escaping (Item) -> Value) -> Self
    where Accumulator == Item?, Result == Item? {
        AggregateOperation(
            create: { nil },
            accumulate: { acc, item in if acc == nil || value(item) < value(acc!) { acc = item } },
            combine: { acc, other in
                if let other, acc == nil || value(other) < value(acc!) { acc = other }
            }, export: { $0 })
    }

    /// The item with the largest `value` (the first seen among equals); nil for none.
    public static func maxBy<Value: Comparable>(_ value: @escaping (Item) -> Value) -> Self
    where Accumulator == Item?, Result == Item? {
        AggregateOperation(
            create: { nil },
            accumulate: { acc, item in if acc == nil || value(item) > value(acc!) { acc = item } },
            combine: { acc, other in
                if let other, acc == nil || value(other) > value(acc!) { acc = other }
            }, export: { $0 })
    }

    /// The `n` items with the largest `value`, largest first.
    public static func topN<Value: Comparable>(_ n: Int, by value: @escaping (Item) -> Value) -> Self
    where Accumulator == [Item], Result == [Item] {
        ranked(n) { value($0) > value($1) }
    }

    /// The `n` items with the smallest `value`, smallest first.
    public static func bottomN<Value: Comparable>(_ n: Int, by value: @escaping (Item) -> Value) -> Self
    where Accumulator == [Item], Result == [Item] {
        ranked(n) { value($0) < value($1) }
    }

    private static func ranked(_ n: Int, _ before: @escaping (Item, Item) -> Bool) -> Self
    where Accumulator == [Item], Result == [Item] {
        precondition(n > 0, "topN/bottomN needs n > 0")
        func insert(_ list: inout [Item], _ item: Item) {
            if list.count == n, let last = list.last, !before(item, last) { return }
            let index = list.firstIndex { before(item, $0) } ?? list.endIndex
            list.insert(item, at: index)
            if list.count > n { list.removeLast() }
        }
        return AggregateOperation(
            create: { [] }, accumulate: { insert(&$0, $1) },
            combine: { acc, other in for item in other { insert(&acc, item) } },
            export: { $0 })
    }

    /// The items in arrival order.
    public static func toList() -> Self where Accumulator == [Item], Result == [Item] {
        AggregateOperation(create: { [] }, accumulate: { $0.append($1) }, combine: { $0 += $1 }, export: { $0 })
    }
}

extension AggregateOperation where Item: Hashable, Accumulator == Set<Item>, Result == Set<Item> {
    /// The distinct items.
    public static func toSet() -> Self {
        AggregateOperation(create: { [] }, accumulate: { $0.insert($1) }, combine: { $0.formUnion($1) }, export: { $0 })
    }
}

extension AggregateOperation where Result == Int {
    /// The number of distinct values of a property (exact, keeping the values).
    public static func distinctCount<Value: Hashable>(_ value: @escaping (Item) -> Value) -> Self
    where Accumulator == Set<Value> {
        AggregateOperation(
            create: { [] }, accumulate: { $0.insert(value($1)) }, combine: { $0.formUnion($1) }, export: { $0.count })
    }
}

extension AggregateOperation {
    /// Runs two operations over the same items; the result is the pair of their results. Deduct is
    /// available when both operations have it.
    public static func allOf<A1, R1, A2, R2>(
        _ first: AggregateOperation<Item, A1, R1>, _ second: AggregateOperation<Item, A2, R2>
    ) -> Self where Accumulator == PairAccumulator<A1, A2>, Result == (R1, R2) {
        var deduct: ((inout PairAccumulator<A1, A2>, PairAccumulator<A1, A2>) -> Void)?
        if let d1 = first.deduct, let d2 = second.deduct {
            deduct = {
                d1(&$0.first, $1.first)
                d2(&$0.second, $1.second)
            }
        }
        return AggregateOperation(
            create: { PairAccumulator(first: first.create(), second: second.create()) },
            accumulate: {
                first.accumulate(&$0.first, $1)
                second.accumulate(&$0.second, $1)
            },
            combine: {
                first.combine(&$0.first, $1.first)
                second.combine(&$0.second, $1.second)
            }, deduct: deduct, export: { (first.export($0.first), second.export($0.second)) },
            finish: { (first.finish($0.first), second.finish($0.second)) })
    }
}
