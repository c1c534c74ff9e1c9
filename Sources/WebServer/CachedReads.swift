import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Answers `GET /v1/orders/{id}` and `GET /v1/drivers/{id}` on the event loop when the aggregate's rendered
/// representation is current (``OrderDeliveryAPI/cachedRepresentation(path:)``: an in-memory version check,
/// no I/O), before the request reaches Hummingbird's router. Everything else — and any miss — goes on to
/// Hummingbird unchanged.
///
/// Why: Hummingbird 2 hands each request from the event loop to a Swift concurrency task and back; for a
/// read that is a dictionary lookup, those two hops are the whole cost (see BENCHMARKS.md, HTTP). This
/// handler is a swift-nio `ChannelDuplexHandler` in Hummingbird's own pipeline (its
/// `additionalChannelHandlers`), after the HTTP/1 codec.
///
/// Invariants (per connection; all on its event loop):
/// - Responses leave in request order. A request is answered here only when no request passed on to
///   Hummingbird is still unanswered (`outstanding == 0`, counted from the request heads passed on to the
///   `end` of their responses); otherwise it goes to Hummingbird behind the others.
/// - A request answered here is consumed whole (its body and end are dropped), so Hummingbird never sees it.
/// - Only plain keep-alive GETs without a query string, percent escapes or `Connection: close` are answered
///   here; the answer carries the same headers as Hummingbird's (content type, ETag, length).
final class CachedReadHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let lookup: @Sendable (Substring) -> (body: ByteBuffer, version: Int64)?
    private let answered: @Sendable () -> Void
    private var outstanding = 0
    private var consuming = false
    /// The `Date` header's text and the second it names (the handler lives on one event loop).
    private var dateSecond = -1
    private var dateText = ""

    init(
        lookup: @escaping @Sendable (Substring) -> (body: ByteBuffer, version: Int64)?,
        answered: @escaping @Sendable () -> Void
    ) {
        self.lookup = lookup
        self.answered = answered
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let request):
            if outstanding == 0, let (body, version) = Self.hit(request, lookup) {
                consuming = true
                var head = HTTPResponse(status: .ok)
                head.headerFields[.contentType] = "application/hal+json"
                head.headerFields[.eTag] = "\"\(version)\""
                head.headerFields[.contentLength] = String(body.readableBytes)
                head.headerFields[.date] = date()
                head.headerFields[.server] = "eventlog"
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.write(wrapOutboundOut(.body(body)), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                answered()
                return
            }
            outstanding += 1
            context.fireChannelRead(data)
        case .body, .end:
            if consuming {
                if case .end = part { consuming = false }
                return
            }
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { outstanding = max(0, outstanding - 1) }
        context.write(data, promise: promise)
    }

    /// Now as an HTTP date (RFC 9110: `Sun, 06 Nov 1994 08:49:37 GMT`), formatted once a second.
    private func date() -> String {
        var now = time(nil)
        guard Int(now) != dateSecond else { return dateText }
        var parts = tm()
        gmtime_r(&now, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        dateText =
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
        dateSecond = Int(now)
        return dateText
    }

    private static func hit(
        _ request: HTTPRequest, _ lookup: (Substring) -> (body: ByteBuffer, version: Int64)?
    ) -> (body: ByteBuffer, version: Int64)? {
        guard request.method == .get, let path = request.path, !path.contains("?"), !path.contains("%"),
            request.headerFields[.connection]?.lowercased().contains("close") != true
        else { return nil }
        return lookup(Substring(path))
    }
}
