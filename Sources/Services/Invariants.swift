public import EventLog

/// Checks the services' invariants on the log alone, with plain sums of its events — not with the
/// aggregates' own folds, so a bug in those cannot hide itself:
/// - money is conserved: per account, opening balances and deposits minus withdrawals equal
///   balance + held + paid, and no part is ever negative; all payments net of refunds equal the totals of
///   the completed orders;
/// - stock: per item and location, onHand, reserved and availableToPromise = onHand − reserved never go
///   negative; units pulled net of restocks equal the quantities of the completed orders;
/// - every saga ended COMPLETED (all six steps answered yes, nothing compensated) or COMPENSATED (every step
///   that succeeded compensated, last first, once); no participant event of a step appears twice;
/// - every account and stock checkpoint equals the sum of its stream's events before it (a checkpoint folded
///   from a wrong in-memory state would otherwise carry the error forward unseen).
public enum ServiceInvariants {
    public struct Report: Sendable {
        public var violations: [String] = []
        public var sagas = 0
        public var completed = 0
        public var compensated = 0
        public var timedOut = 0
        public var unfinished = 0
        public var events = 0
        public var ok: Bool { violations.isEmpty }
    }

    public static func check(_ streams: EventStreams, requireFinished: Bool = true) throws -> Report {
        var report = Report()
        var money: [String: (net: Int64, balance: Int64, held: Int64, paid: Int64)] = [:]
        var stock: [String: (onHand: Int, reserved: Int, pulled: Int)] = [:]
        var orderTotals: [String: (total: Int64, quantity: Int, stock: String)] = [:]
        var started: Set<String> = []
        var ended: [String: SagaStatus] = [:]
        var timedOut: Set<String> = []
        var answered: [String: [SagaStep: Bool]] = [:]
        var compensations: [String: [SagaStep]] = [:]
        var applied: Set<String> = []  // saga/step/do|undo of participant events
        func violation(_ text: String) {
            if report.violations.count < 50 { report.violations.append(text) }
        }
        var position: Int64 = 0
        while true {
            let events = try streams.readAll(fromPosition: position, maxCount: 10_000)
            guard let last = events.last else { break }
            position = last.position + 1
            for recorded in events {
                report.events += 1
                let event = try OrderServices.decode(recorded)
                let (kind, id) = Aggregate.split(recorded.stream)
                if let saga = event.saga, kind == "account" || kind == "stock" {
                    let key = "\(saga.sagaId)/\(saga.stepNumber)/\(saga.isCompensating ? "undo" : "do")"
                    if !applied.insert(key).inserted {
                        violation("step \(key) applied twice (\(recorded.type) at position \(recorded.position))")
                    }
                }
                switch kind {
                case "account":
                    var m = money[id] ?? (0, 0, 0, 0)
                    switch event {
                    case .accountOpened(let a), .deposited(let a):
                        m.net += a
                        m.balance += a
                    case .withdrawn(let a):
                        m.net -= a
                        m.balance -= a
                    case .authorized(let a, _):
                        m.balance -= a
                        m.held += a
                    case .authorizationReleased(let a, _):
                        m.held -= a
                        m.balance += a
                    case .paymentCollected(let a, _):
                        m.held -= a
                        m.paid += a
                    case .refunded(let a, _):
                        m.paid -= a
                        m.held += a
                    case .accountCheckpoint(let a)
                    where (a.netDeposits, a.balance, a.held, a.paid) != (m.net, m.balance, m.held, m.paid):
                        violation(
                            "account \(id)'s checkpoint at position \(recorded.position) says balance \(a.balance), held \(a.held), paid \(a.paid), net \(a.netDeposits); its events sum to \(m)"
                        )
                    default: break
                    }
                    if m.balance < 0 || m.held < 0 || m.paid < 0 {
                        violation("account \(id) negative after \(recorded.type): \(m)")
                    }
                    money[id] = m
                case "stock":
                    var s = stock[id] ?? (0, 0, 0)
                    switch event {
                    case .stockAdded(let q): s.onHand += q
                    case .reserved(let q, _): s.reserved += q
                    case .unreserved(let q, _): s.reserved -= q
                    case .pulled(let q, _):
                        s.onHand -= q
                        s.reserved -= q
                        s.pulled += q
                    case .restocked(let q, _):
                        s.onHand += q
                        s.reserved += q
                        s.pulled -= q
                    case .stockCheckpoint(let c)
                    where (c.onHand, c.reserved, c.pulled) != (s.onHand, s.reserved, s.pulled):
                        violation(
                            "stock \(id)'s checkpoint at position \(recorded.position) says onHand \(c.onHand), reserved \(c.reserved), pulled \(c.pulled); its events sum to \(s)"
                        )
                    default: break
                    }
                    if s.onHand < 0 || s.reserved < 0 || s.onHand - s.reserved < 0 {
                        violation("stock \(id) after \(recorded.type): onHand \(s.onHand), reserved \(s.reserved)")
                    }
                    stock[id] = s
                case "order":
                    switch event {
                    case .orderCreated(_, let item, let location, let quantity):
                        orderTotals[id] = (0, quantity, "\(item)@\(location)")
                    case .orderPriced(_, let total, _):
                        orderTotals[id]?.total = total
                    default: break
                    }
                case "saga":
                    switch event {
                    case .stepAnswered(let step, let ok, _, _):
                        if answered[id, default: [:]][step] != nil {
                            violation("saga \(id) step \(step) answered twice")
                        }
                        answered[id, default: [:]][step] = ok
                    case .stepCompensated(let step, _):
                        compensations[id, default: []].append(step)
                    case .compensationStarted(_, let t, _):
                        if t { timedOut.insert(id) }
                    case .sagaEnded(let status, _):
                        if ended[id] != nil { violation("saga \(id) ended twice") }
                        ended[id] = status
                    case .sagaStarted:
                        report.sagas += 1
                        started.insert(id)
                    default:
                        if ended[id] != nil { violation("saga \(id) has \(recorded.type) after its end") }
                    }
                default: break
                }
            }
        }
        // Sagas: final statuses and compensation order.
        var paidForCompleted: Int64 = 0
        var pulledForCompleted: [String: Int] = [:]
        for id in started.sorted() {
            let answers = answered[id] ?? [:]
            guard let status = ended[id] else {
                report.unfinished += 1
                if requireFinished { violation("saga \(id) did not end") }
                continue
            }
            let succeeded = Set(answers.filter { $0.value }.keys)
            let undone = compensations[id] ?? []
            switch status {
            case .completed:
                report.completed += 1
                if succeeded != Set(SagaStep.allCases) || !undone.isEmpty {
                    violation("saga \(id) COMPLETED with steps \(succeeded.sorted()) and compensations \(undone)")
                }
                if let order = orderTotals[id] {
                    paidForCompleted += order.total
                    pulledForCompleted[order.stock, default: 0] += order.quantity
                }
            case .compensated:
                report.compensated += 1
                if timedOut.contains(id) { report.timedOut += 1 }
                let due = succeeded.subtracting([.priceLookup, .ship]).sorted(by: >)
                if undone != due { violation("saga \(id) compensated \(undone), due \(due) (last first)") }
            default:
                violation("saga \(id) ended \(status.rawValue)")
            }
        }
        for (id, m) in money where m.balance + m.held + m.paid != m.net {
            violation("account \(id): balance \(m.balance) + held \(m.held) + paid \(m.paid) ≠ net deposits \(m.net)")
        }
        let paid = money.values.reduce(Int64(0)) { $0 + $1.paid }
        let held = money.values.reduce(Int64(0)) { $0 + $1.held }
        if requireFinished && held != 0 { violation("\(held) cents still held after every saga ended") }
        if requireFinished && paid != paidForCompleted {
            violation("payments net of refunds \(paid) ≠ totals of completed orders \(paidForCompleted)")
        }
        for (key, s) in stock where requireFinished && s.pulled != pulledForCompleted[key, default: 0] {
            violation("stock \(key): \(s.pulled) pulled, completed orders took \(pulledForCompleted[key, default: 0])")
        }
        if requireFinished, let (key, s) = stock.first(where: { $0.value.reserved != 0 }) {
            violation("stock \(key) still has \(s.reserved) reserved after every saga ended")
        }
        return report
    }
}
