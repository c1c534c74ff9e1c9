/// Event id → global position, the index behind ``EventStreams``' idempotent appends.
///
/// An open-addressing table (linear probing, at most half full) of each id's 64-bit hash and its event's
/// position. It keeps no ids: a slot whose hash matches is only a *candidate*, which the caller confirms
/// against the event in the log (its `eventId` header). So a slot is 16 bytes, and growing moves hashes
/// without hashing a string again — with `[String: …]` the rehashing on growth was the largest single cost of
/// an append of many small events.
///
/// The hash is Swift's `Hasher` (SipHash, seeded per process), so ids chosen by a client cannot be made to
/// collide on purpose; two different ids may still share a hash (one pair in about 10¹³ at a few million
/// ids), which only costs a log read — both are kept, each in its own slot.
///
/// Invariants: `count` slots are occupied and `count * 2 <= slots.count`; `slots.count` is a power of two;
/// hash 0 marks an empty slot (a hash of 0 is filed as 1, by every method alike); every position inserted is
/// found again by ``candidates(of:)`` for its hash.
struct EventIDTable: Sendable {
    private struct Slot {
        var hash: UInt64 = 0
        var position: Int64 = 0
    }

    private var slots = [Slot](repeating: Slot(), count: 1024)
    private(set) var count = 0

    /// The hash the table files an id (its UTF-8 bytes) under.
    @Sendable static func hash(_ id: UnsafeRawBufferPointer) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(bytes: id)
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    /// 0 marks an empty slot.
    private static func filed(_ hash: UInt64) -> UInt64 { hash == 0 ? 1 : hash }

    /// The positions filed under `hash`: usually none or one; the caller confirms which (if any) is the id it
    /// looks for.
    func candidates(of hash: UInt64) -> [Int64] {
        let hash = Self.filed(hash)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        var found: [Int64] = []
        while slots[slot].hash != 0 {
            if slots[slot].hash == hash { found.append(slots[slot].position) }
            slot = (slot + 1) & mask
        }
        return found
    }

    /// Whether any position is filed under `hash` (no allocation: the common question, for a new id).
    func contains(_ hash: UInt64) -> Bool {
        let hash = Self.filed(hash)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot].hash != 0 {
            if slots[slot].hash == hash { return true }
            slot = (slot + 1) & mask
        }
        return false
    }

    /// Files `position` under `hash` (the caller has made sure its id is not in the table).
    mutating func insert(_ hash: UInt64, _ position: Int64) {
        if (count + 1) * 2 > slots.count { grow() }
        Self.place(Slot(hash: Self.filed(hash), position: position), in: &slots)
        count += 1
    }

    private static func place(_ entry: Slot, in slots: inout [Slot]) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: entry.hash) & mask
        while slots[slot].hash != 0 { slot = (slot + 1) & mask }
        slots[slot] = entry
    }

    private mutating func grow() {
        var bigger = [Slot](repeating: Slot(), count: slots.count * 2)
        for entry in slots where entry.hash != 0 { Self.place(entry, in: &bigger) }
        slots = bigger
    }
}
