import Foundation

extension ServiceEvent {
    /// The event's JSON, in the shape Swift's synthesized `Codable` gives it (`{"case":{"label":value,…}}`, nil
    /// optionals left out) so `JSONDecoder` reads it back — but written directly: `JSONEncoder` was half of the
    /// saga engine's time (about twelve events per order). Checkpoints, rare and nested, still go through it.
    /// `EventJSONTests` decodes every case with `JSONDecoder` and compares.
    func encoded() throws -> [UInt8] {
        var bytes: [UInt8] = []
        try encode(into: &bytes)
        return bytes
    }

    /// Appends the event's JSON (``encoded()``) to `bytes`.
    func encode(into bytes: inout [UInt8]) throws {
        if isCheckpoint {
            bytes += try JSONEncoder().encode(self)
            return
        }
        var w = EventJSONWriter()
        swap(&w.bytes, &bytes)  // the writer appends to the caller's buffer, without copying it
        defer { swap(&w.bytes, &bytes) }
        switch self {
        case .accountOpened(let balance):
            w.open("accountOpened")
            w.int("balance", balance)
        case .deposited(let amount):
            w.open("deposited")
            w.int("amount", amount)
        case .withdrawn(let amount):
            w.open("withdrawn")
            w.int("amount", amount)
        case .authorized(let amount, let saga):
            w.open("authorized")
            w.int("amount", amount)
            w.saga(saga)
        case .authorizationDeclined(let amount, let available, let saga):
            w.open("authorizationDeclined")
            w.int("amount", amount)
            w.int("available", available)
            w.saga(saga)
        case .authorizationReleased(let amount, let saga):
            w.open("authorizationReleased")
            w.int("amount", amount)
            w.saga(saga)
        case .paymentCollected(let amount, let saga):
            w.open("paymentCollected")
            w.int("amount", amount)
            w.saga(saga)
        case .paymentFailed(let amount, let reason, let saga):
            w.open("paymentFailed")
            w.int("amount", amount)
            w.string("reason", reason)
            w.saga(saga)
        case .refunded(let amount, let saga):
            w.open("refunded")
            w.int("amount", amount)
            w.saga(saga)
        case .stockAdded(let quantity):
            w.open("stockAdded")
            w.int("quantity", Int64(quantity))
        case .reserved(let quantity, let saga):
            w.open("reserved")
            w.int("quantity", Int64(quantity))
            w.saga(saga)
        case .reservationRejected(let quantity, let available, let saga):
            w.open("reservationRejected")
            w.int("quantity", Int64(quantity))
            w.int("availableToPromise", Int64(available))
            w.saga(saga)
        case .unreserved(let quantity, let saga):
            w.open("unreserved")
            w.int("quantity", Int64(quantity))
            w.saga(saga)
        case .pulled(let quantity, let saga):
            w.open("pulled")
            w.int("quantity", Int64(quantity))
            w.saga(saga)
        case .restocked(let quantity, let saga):
            w.open("restocked")
            w.int("quantity", Int64(quantity))
            w.saga(saga)
        case .itemAdded(let name, let price):
            w.open("itemAdded")
            w.string("name", name)
            w.int("price", price)
        case .priceChanged(let price, let by, let sourceLSN):
            w.open("priceChanged")
            w.int("price", price)
            w.string("by", by)
            if let sourceLSN { w.int("sourceLSN", sourceLSN) }
        case .orderCreated(let account, let item, let location, let quantity):
            w.open("orderCreated")
            w.string("account", account)
            w.string("item", item)
            w.string("location", location)
            w.int("quantity", Int64(quantity))
        case .orderPriced(let unitPrice, let total, let saga):
            w.open("orderPriced")
            w.int("unitPrice", unitPrice)
            w.int("total", total)
            w.saga(saga)
        case .orderRejected(let reason, let saga):
            w.open("orderRejected")
            w.string("reason", reason)
            w.saga(saga)
        case .orderShipped(let saga):
            w.open("orderShipped")
            w.saga(saga)
        case .orderClosed(let status, let reason):
            w.open("orderClosed")
            w.string("status", status.rawValue)
            if let reason { w.string("reason", reason) }
        case .sagaStarted(let saga, let deadline):
            w.open("sagaStarted")
            w.saga(saga)
            w.int("deadline", deadline)
        case .stepAnswered(let step, let succeeded, let reason, let saga):
            w.open("stepAnswered")
            w.int("step", Int64(step.rawValue))
            w.bool("succeeded", succeeded)
            if let reason { w.string("reason", reason) }
            w.saga(saga)
        case .compensationStarted(let reason, let timedOut, let saga):
            w.open("compensationStarted")
            w.string("reason", reason)
            w.bool("timedOut", timedOut)
            w.saga(saga)
        case .stepCompensated(let step, let saga):
            w.open("stepCompensated")
            w.int("step", Int64(step.rawValue))
            w.saga(saga)
        case .sagaEnded(let status, let saga):
            w.open("sagaEnded")
            w.string("status", status.rawValue)
            w.saga(saga)
        case .accountCheckpoint, .stockCheckpoint:
            return  // encoded above
        }
        w.close()
    }
}

/// Appends `{"case":{` … `}}` with keys and scalar values.
struct EventJSONWriter {
    var bytes: [UInt8] = []
    private var first = true

    mutating func open(_ name: StaticString) {
        bytes.append(UInt8(ascii: "{"))
        key(name)
        bytes.append(UInt8(ascii: "{"))
        first = true
    }

    mutating func close() {
        bytes.append(UInt8(ascii: "}"))
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func key(_ name: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func int(_ name: StaticString, _ value: Int64) {
        key(name)
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        // The digits, last first, into a small buffer on the stack; then in order.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var n = 20
            repeat {
                n -= 1
                digits[n] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[n...]))
        }
    }

    mutating func bool(_ name: StaticString, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func string(_ name: StaticString, _ value: String) {
        key(name)
        bytes.append(UInt8(ascii: "\""))
        // Ids and names rarely need escaping: then the bytes go in at once.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func saga(_ context: SagaContext) {
        key("saga")
        bytes.append(UInt8(ascii: "{"))
        first = true
        string("sagaId", context.sagaId)
        string("correlationId", context.correlationId)
        int("stepNumber", Int64(context.stepNumber))
        bool("isCompensating", context.isCompensating)
        bytes.append(UInt8(ascii: "}"))
        first = false
    }
}
