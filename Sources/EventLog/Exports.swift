// The clock types (`WallClock`, `SystemClock`, `ManualClock`) live in the foundation module so every layer
// reads the same "now"; users of the log configure them without importing the foundation themselves.
// Everything else in the foundation is `package`, so nothing more becomes visible.
@_exported public import EventLogFoundation
