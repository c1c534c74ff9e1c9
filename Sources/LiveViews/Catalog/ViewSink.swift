public import StreamJet

extension Sinks {
    /// Writes a pipeline's results into a live table: each item becomes a JSON object that the table
    /// ingests (and upserts, for upsert tables) as if it had been read from the table's topic.
    ///
    /// ```swift
    /// pipeline.readFrom(.topic(log, "orders") { … })
    ///     .groupingKey { $0.restaurantId }.rollingAggregate(.counting())
    ///     .writeTo(Sinks.view(table) { #"{"restaurantId":"\($0.key)","orders":\($0.value)}"# })
    /// ```
    public static func view<Item>(_ table: LiveTable, json: @escaping @Sendable (Item) -> String) -> CallbackSink<Item>
    {
        Sinks.callback { item in table.ingest(json: json(item)) }
    }
}
