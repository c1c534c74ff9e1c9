// The foundation's public types — the clock (`WallClock`, `SystemClock`, `ManualClock`), `EventLogError`,
// `FaultInjector`, `JSONFields` and the geography (`GeoPoint`, `Geo`, `GreatCircle`) — are part of every layer's
// API; users of the log reach them without importing the foundation themselves. Everything else in the
// foundation is `package`, so nothing more becomes visible.
@_exported public import EventLogFoundation
