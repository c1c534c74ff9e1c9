import EventLogFoundation
import Foundation
import TestSupport
import Testing

@testable import Services

/// The hand-written event encoder against Foundation's `JSONDecoder` (the independent oracle): every case, with
/// random numbers and strings full of quotes, backslashes, control characters and non-ASCII text, decodes back
/// to the same event — and `JSONEncoder`'s own output decodes to it too, so both shapes agree.
@Suite struct EventJSONTests {
    @Test func everyCaseRoundTripsThroughJSONDecoder() throws {
        let seed = testSeed("event-json")
        var random = SeededGenerator(seed: seed)
        func text() -> String {
            let pieces = ["a", "\"", "\\", "\n", "\u{01}", "é", "日本", "🚚", " ", "/", "\u{7f}", "{", "}"]
            return (0..<Int.random(in: 0...12, using: &random)).map { _ in pieces.randomElement(using: &random)! }
                .joined()
        }
        func number() -> Int64 { Int64.random(in: Int64.min...Int64.max, using: &random) }
        func small() -> Int { Int.random(in: -5...1_000_000, using: &random) }
        func saga() -> SagaContext {
            SagaContext(
                sagaId: text(), correlationId: text(), stepNumber: Int.random(in: 0...6, using: &random),
                isCompensating: Bool.random(using: &random))
        }
        for _ in 0..<50 {
            var account = Account(id: text())
            account.balance = number()
            var stock = Stock(item: text(), location: text())
            stock.onHand = small()
            let step = SagaStep.allCases.randomElement(using: &random)!
            let status = SagaStatus.allCases.randomElement(using: &random)!
            let events: [ServiceEvent] = [
                .accountOpened(balance: number()), .deposited(amount: number()), .withdrawn(amount: number()),
                .authorized(amount: number(), saga: saga()),
                .authorizationDeclined(amount: number(), available: number(), saga: saga()),
                .authorizationReleased(amount: number(), saga: saga()),
                .paymentCollected(amount: number(), saga: saga()),
                .paymentFailed(amount: number(), reason: text(), saga: saga()),
                .refunded(amount: number(), saga: saga()),
                .accountCheckpoint(account), .stockAdded(quantity: small()), .reserved(quantity: small(), saga: saga()),
                .reservationRejected(quantity: small(), availableToPromise: small(), saga: saga()),
                .unreserved(quantity: small(), saga: saga()), .pulled(quantity: small(), saga: saga()),
                .restocked(quantity: small(), saga: saga()), .stockCheckpoint(stock),
                .itemAdded(name: text(), price: number()),
                .priceChanged(price: number(), by: text(), sourceLSN: Bool.random(using: &random) ? number() : nil),
                .orderCreated(account: text(), item: text(), location: text(), quantity: small()),
                .orderPriced(unitPrice: number(), total: number(), saga: saga()),
                .orderRejected(reason: text(), saga: saga()), .orderShipped(saga: saga()),
                .orderClosed(status: status, reason: Bool.random(using: &random) ? text() : nil),
                .sagaStarted(saga: saga(), deadline: number()),
                .stepAnswered(
                    step: step, succeeded: Bool.random(using: &random),
                    reason: Bool.random(using: &random) ? text() : nil, saga: saga()),
                .compensationStarted(reason: text(), timedOut: Bool.random(using: &random), saga: saga()),
                .stepCompensated(step: step, saga: saga()), .sagaEnded(status: status, saga: saga()),
            ]
            for event in events {
                let bytes = try event.encoded()
                let decoded = try JSONDecoder().decode(ServiceEvent.self, from: Data(bytes))
                #expect(decoded == event, "\(String(decoding: bytes, as: UTF8.self)) (seed \(seed))")
                let reference = try JSONDecoder().decode(ServiceEvent.self, from: try JSONEncoder().encode(event))
                #expect(reference == decoded)
            }
        }
    }
}
