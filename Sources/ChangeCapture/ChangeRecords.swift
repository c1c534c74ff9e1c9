import EventLog
import EventLogFoundation

/// One committed transaction's changes to the captured tables, in the order PostgreSQL made them.
public struct CapturedTransaction: Sendable {
    public var xid: UInt32
    /// The LSN right after the commit record: where decoding resumes, what the slot is confirmed to once the
    /// transaction's records are durable, and what its records carry (header `cdc.lsn`). Strictly increasing in
    /// commit order, which is the order the slot delivers transactions in.
    public var endLSN: UInt64
    /// Commit time, microseconds since the Unix epoch.
    public var commitMicroseconds: Int64
    public var changes: [CapturedChange]
}

/// One row change (or a snapshot read: `.read`).
public struct CapturedChange: Sendable {
    public enum Operation: String, Sendable {
        case create = "c"
        case update = "u"
        case delete = "d"
        case read = "r"
        case truncate = "t"
    }
    public var relation: PgRelation
    public var operation: Operation
    public var before: [PgValue]?
    /// `before` holds only the replica identity (the key), the other columns null.
    public var beforeIsKey = false
    public var after: [PgValue]?
    /// The change's own LSN (0 for snapshot reads).
    public var lsn: UInt64
}

/// Folds pgoutput messages into committed transactions.
///
/// Invariants: a transaction is returned only at its Commit message and holds every change since its Begin;
/// a change names a relation announced earlier in the same decoding session (pgoutput sends a Relation message
/// before a relation's first change in each session and after each of its schema changes) — otherwise the
/// stream is malformed and decoding stops.
struct TransactionAssembler {
    /// Primary-key columns per `schema.table`, from the catalog: they decide the record key. (pgoutput's key
    /// flags mark the replica identity, which under REPLICA IDENTITY FULL is every column.)
    var primaryKeys: [String: Set<String>] = [:]
    private(set) var relations: [UInt32: PgRelation] = [:]
    private var open: CapturedTransaction?
    /// Whether a transaction has begun and not yet committed.
    var isOpen: Bool { open != nil }

    init(primaryKeys: [String: Set<String>] = [:]) { self.primaryKeys = primaryKeys }

    /// Feeds one message with its LSN; returns the transaction it completed, if any.
    mutating func feed(_ message: PgOutputMessage, lsn: UInt64) throws(CaptureError) -> CapturedTransaction? {
        switch message {
        case .begin(_, let micros, let xid):
            open = CapturedTransaction(
                xid: xid, endLSN: 0, commitMicroseconds: micros + PgOutputMessage.postgresEpochMicroseconds, changes: []
            )
        case .commit(_, let end, let micros):
            guard var transaction = open else { throw malformed("a Commit without a Begin at LSN \(format(lsn))") }
            transaction.endLSN = end
            transaction.commitMicroseconds = micros + PgOutputMessage.postgresEpochMicroseconds
            open = nil
            return transaction
        case .relation(var relation):
            if let keys = primaryKeys[relation.qualifiedName] {
                for index in relation.columns.indices {
                    relation.columns[index].isKey = keys.contains(relation.columns[index].name)
                }
            }
            relations[relation.oid] = relation
        case .insert(let oid, let new):
            try add(oid, lsn) { CapturedChange(relation: $0, operation: .create, after: new, lsn: lsn) }
        case .update(let oid, let old, let oldIsKey, let new):
            try add(oid, lsn) {
                CapturedChange(
                    relation: $0, operation: .update, before: old, beforeIsKey: oldIsKey, after: new, lsn: lsn)
            }
        case .delete(let oid, let old, let oldIsKey):
            try add(oid, lsn) {
                CapturedChange(relation: $0, operation: .delete, before: old, beforeIsKey: oldIsKey, lsn: lsn)
            }
        case .truncate(let oids, _, _):
            for oid in oids {
                try add(oid, lsn) { CapturedChange(relation: $0, operation: .truncate, lsn: lsn) }
            }
        case .other:
            break
        }
        return nil
    }

    private mutating func add(_ oid: UInt32, _ lsn: UInt64, _ make: (PgRelation) -> CapturedChange)
        throws(CaptureError)
    {
        guard let relation = relations[oid] else {
            throw malformed("a change to relation \(oid) before its Relation message at LSN \(format(lsn))")
        }
        guard open != nil else { throw malformed("a change outside a transaction at LSN \(format(lsn))") }
        open!.changes.append(make(relation))
    }

    private func malformed(_ text: String) -> CaptureError { CaptureError(.malformedMessage, text) }
}

/// PostgreSQL's `X/Y` notation of an LSN.
public func format(_ lsn: UInt64) -> String {
    String(lsn >> 32, radix: 16, uppercase: true) + "/" + String(lsn & 0xffff_ffff, radix: 16, uppercase: true)
}

/// Parses `X/Y`.
func parseLSN(_ text: String) -> UInt64? {
    let parts = text.split(separator: "/")
    guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16),
        high <= 0xffff_ffff, low <= 0xffff_ffff
    else { return nil }
    return high << 32 | low
}

/// A record on its way to the log.
struct PendingRecord {
    var topic: String
    var key: [UInt8]?
    var value: [UInt8]?
    var headers: [Header]
    var timestamp: Int64
}

/// Turns transactions into records: Debezium's change-event envelope for captured tables, the outbox event
/// router's events for outbox tables.
struct RecordMaker {
    var topicPrefix: String
    var database: String
    var outbox: OutboxRouter?
    var clock: any WallClock

    /// The records of one transaction in order (`snapshot`: the snapshot marker for reads).
    func records(of transaction: CapturedTransaction, snapshot: String = "false") -> [PendingRecord] {
        var out: [PendingRecord] = []
        var perTable: [UInt32: Int] = [:]
        let now = clock.milliseconds()
        let commitMilliseconds = transaction.commitMicroseconds / 1000
        for (index, change) in transaction.changes.enumerated() {
            if let outbox, outbox.routes(change.relation) {
                if let record = outbox.record(for: change, timestamp: commitMilliseconds) { out.append(record) }
                continue
            }
            perTable[change.relation.oid, default: 0] += 1
            let topic = "\(topicPrefix).\(change.relation.schema).\(change.relation.name)"
            let transactionBlock =
                snapshot == "false"
                ? #"{"id":"\#(transaction.xid):\#(transaction.endLSN)","total_order":\#(index + 1),"data_collection_order":\#(perTable[change.relation.oid]!)}"#
                : "null"
            let context = Envelope(
                maker: self, transaction: transaction, snapshot: snapshot, now: now, transactionBlock: transactionBlock)
            if change.operation == .update, change.beforeIsKey, let before = change.before, let after = change.after,
                key(change.relation, before) != key(change.relation, after)
            {
                // A primary key changed: Debezium's delete (+ tombstone) of the old key, then a create of the new.
                let deleted = CapturedChange(
                    relation: change.relation, operation: .delete, before: before, beforeIsKey: true, lsn: change.lsn)
                context.append(deleted, to: &out, topic: topic)
                let created = CapturedChange(
                    relation: change.relation, operation: .create, after: after, lsn: change.lsn)
                context.append(created, to: &out, topic: topic)
            } else {
                context.append(change, to: &out, topic: topic)
            }
        }
        return out
    }

    /// The Debezium key: a JSON object of the key columns (nil for a table with none).
    func key(_ relation: PgRelation, _ values: [PgValue]) -> [UInt8]? {
        guard relation.columns.contains(where: \.isKey) else { return nil }
        var out: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        for (column, value) in zip(relation.columns, values) where column.isKey {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            ColumnJSON.appendString(ArraySlice(column.name.utf8), to: &out)
            out.append(UInt8(ascii: ":"))
            ColumnJSON.append(value, type: column.typeOID, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    private struct Envelope {
        let maker: RecordMaker
        let transaction: CapturedTransaction
        let snapshot: String
        let now: Int64
        let transactionBlock: String

        func append(_ change: CapturedChange, to out: inout [PendingRecord], topic: String) {
            let relation = change.relation
            var lossy: [String] = []
            var value: [UInt8] = []
            value.reserveCapacity(256)
            value.append(contentsOf: #"{"before":"#.utf8)
            if let before = change.before {
                row(relation, before, keyOnly: change.beforeIsKey, fallback: nil, into: &value, lossy: &lossy)
            } else {
                value.append(contentsOf: "null".utf8)
            }
            value.append(contentsOf: #","after":"#.utf8)
            if let after = change.after {
                let fallback = change.beforeIsKey ? nil : change.before
                row(relation, after, keyOnly: false, fallback: fallback, into: &value, lossy: &lossy)
            } else {
                value.append(contentsOf: "null".utf8)
            }
            value.append(contentsOf: #","source":{"version":"eventlog","connector":"postgresql","name":"#.utf8)
            ColumnJSON.appendString(ArraySlice(maker.topicPrefix.utf8), to: &value)
            value.append(
                contentsOf:
                    #","ts_ms":\#(transaction.commitMicroseconds / 1000),"snapshot":"\#(snapshot)","db":"#.utf8)
            ColumnJSON.appendString(ArraySlice(maker.database.utf8), to: &value)
            value.append(contentsOf: #","schema":"#.utf8)
            ColumnJSON.appendString(ArraySlice(relation.schema.utf8), to: &value)
            value.append(contentsOf: #","table":"#.utf8)
            ColumnJSON.appendString(ArraySlice(relation.name.utf8), to: &value)
            let lsn = change.lsn == 0 ? "null" : String(change.lsn)
            value.append(contentsOf: #","txId":\#(transaction.xid),"lsn":\#(lsn),"xmin":null}"#.utf8)
            value.append(
                contentsOf:
                    #","op":"\#(change.operation.rawValue)","ts_ms":\#(now),"transaction":\#(transactionBlock)}"#.utf8)
            let keyValues = change.after ?? change.before
            let key = keyValues.flatMap { maker.key(relation, $0) }
            var headers: [Header] = []
            if !lossy.isEmpty {
                headers.append(Header(key: "cdc.lossy", value: Array(lossy.joined(separator: ",").utf8)))
            }
            let timestamp = transaction.commitMicroseconds / 1000
            out.append(PendingRecord(topic: topic, key: key, value: value, headers: headers, timestamp: timestamp))
            if change.operation == .delete, key != nil {
                // The tombstone: a compacted topic then drops the key.
                out.append(PendingRecord(topic: topic, key: key, value: nil, headers: [], timestamp: timestamp))
            }
        }

        /// A row as a JSON object; an unchanged TOASTed value is taken from `fallback` (the old row) when known.
        private func row(
            _ relation: PgRelation, _ values: [PgValue], keyOnly: Bool, fallback: [PgValue]?, into out: inout [UInt8],
            lossy: inout [String]
        ) {
            out.append(UInt8(ascii: "{"))
            for (index, column) in relation.columns.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                ColumnJSON.appendString(ArraySlice(column.name.utf8), to: &out)
                out.append(UInt8(ascii: ":"))
                var value = index < values.count ? values[index] : .null
                if keyOnly && !column.isKey { value = .null }
                if value == .unchangedToast, let fallback, index < fallback.count, fallback[index] != .unchangedToast {
                    value = fallback[index]
                }
                if !ColumnJSON.append(value, type: column.typeOID, to: &out) { lossy.append(column.name) }
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
