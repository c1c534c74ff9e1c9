/// The per-frame state of the window stages: a hash table from keys to accumulators, in insertion order.
///
/// Written by hand instead of using `Dictionary` because it is the window stages' per-item lookup, and
/// `String` — the usual grouping key — hashes through the stdlib's SipHash (a `Hasher` set up and finalized
/// for every lookup), about a tenth of W3's time. A table hashes `String` keys with ``KeyHash`` instead;
/// other keys use their `hashValue`.
///
/// Invariants:
/// - `keys`, `values` and `hashes` hold one entry per key, in insertion order; no two keys are `==`.
///   Entries are never removed one by one: a frame's table is dropped whole.
/// - Once anything is stored, `slots.count` is a power of two and at least twice `keys.count`; entry `i`'s
///   index + 1 is in the first slot of its probe sequence (linear, from `hashes[i] & (slots.count - 1)`) that
///   is not taken by an earlier entry; 0 marks an empty slot.
/// - Keys that are `==` hash alike (``KeyHash`` hashes a string's NFC form, the form `==` compares).
@usableFromInline
struct KeyTable<Key: Hashable, Value> {
    @usableFromInline var keys: [Key] = []
    @usableFromInline var values: [Value] = []
    @usableFromInline var hashes: [Int] = []
    @usableFromInline var slots: [UInt32] = []
    /// ``KeyHash/seed``, read once: a static is lazily initialized, so each read would check that it is.
    @usableFromInline let seed: UInt64

    @usableFromInline
    init() {
        seed = KeyHash.seed
    }

    /// The hash of `key`: ``KeyHash`` for strings, `hashValue` otherwise. Chosen by a type check that
    /// specialized code folds away, so the window stages' folds call the string hash directly.
    @inlinable @inline(__always)
    func hash(_ key: Key) -> Int {
        if Key.self == String.self { return KeyHash.string(unsafeBitCast(key, to: String.self), seed: seed) }
        return key.hashValue
    }

    /// The number of keys.
    @inlinable var count: Int { keys.count }

    /// Calls `body` with each entry in insertion order (by index: in the window processors' generic code a
    /// sequence iterator would look up its type metadata for every entry).
    func forEach(_ body: (Key, Value) throws -> Void) rethrows {
        try keys.withUnsafeBufferPointer { keys in
            try values.withUnsafeBufferPointer { values in
                for index in 0..<keys.count { try body(keys[index], values[index]) }
            }
        }
    }

    /// Initializes `count` items at `destination`, `make(key, value)` for each entry in insertion order
    /// (inlinable, so the window stages' emitting runs specialized).
    @inlinable
    func initialize<Item>(_ destination: UnsafeMutablePointer<Item>, _ make: (Key, Value) -> Item) {
        keys.withUnsafeBufferPointer { keys in
            values.withUnsafeBufferPointer { values in
                for index in 0..<keys.count { (destination + index).initialize(to: make(keys[index], values[index])) }
            }
        }
    }

    /// The slot holding `key`'s entry (and the entry's index), or the empty slot where it would go; the
    /// table must have slots.
    @inlinable @inline(__always)
    func find(_ key: Key, hash: Int) -> (slot: Int, entry: Int?) {
        let mask = slots.count &- 1
        var slot = hash & mask
        while true {
            let stored = Int(slots[slot])
            if stored == 0 { return (slot, nil) }
            if hashes[stored &- 1] == hash && keys[stored &- 1] == key { return (slot, stored &- 1) }
            slot = (slot &+ 1) & mask
        }
    }

    /// Updates `key`'s value in place, creating it first when absent.
    @inlinable @inline(__always)
    mutating func fold(_ key: Key, creating create: () -> Value, _ update: (inout Value) -> Void) {
        let hash = self.hash(key)
        if !slots.isEmpty {
            let (slot, entry) = find(key, hash: hash)
            if let entry {
                update(&values[entry])
                return
            }
            if (keys.count &+ 1) &* 2 <= slots.count {
                var value = create()
                update(&value)
                append(key, value, hash: hash, slot: slot)
                return
            }
        }
        var value = create()
        update(&value)
        insertGrowing(key, value, hash: hash)
    }

    /// `key`'s value, if present.
    subscript(key: Key) -> Value? {
        guard !slots.isEmpty, let entry = find(key, hash: hash(key)).entry else { return nil }
        return values[entry]
    }

    /// Removes every entry, keeping the storage for reuse.
    mutating func removeAll() {
        keys.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        hashes.removeAll(keepingCapacity: true)
        slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// Sets `key`'s value, adding the key when absent.
    mutating func set(_ key: Key, _ value: Value) {
        fold(key, creating: { value }) { $0 = value }
    }

    @inlinable @inline(__always)
    mutating func append(_ key: Key, _ value: Value, hash: Int, slot: Int) {
        keys.append(key)
        values.append(value)
        hashes.append(hash)
        slots[slot] = UInt32(truncatingIfNeeded: keys.count)
    }

    /// Doubles the slots (or makes the first 16) and adds the key.
    @usableFromInline
    mutating func insertGrowing(_ key: Key, _ value: Value, hash: Int) {
        var size = max(16, slots.count)
        while size < (keys.count + 1) * 2 { size *= 2 }
        slots = Array(repeating: 0, count: size)
        let mask = size - 1
        for (index, stored) in hashes.enumerated() {
            var slot = stored & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = UInt32(index + 1)
        }
        append(key, value, hash: hash, slot: find(key, hash: hash).slot)
    }
}

/// The hash function of a ``KeyTable``'s keys.
///
/// `String` keys get a multiply-mix hash (the wyhash construction: 64 × 64 → 128-bit products folded by
/// xor) over their UTF-8 bytes, seeded randomly per process so that colliding keys cannot be prepared in
/// advance; it is not SipHash, so it resists deliberate flooding less well — the trade Rust's `foldhash` and
/// `ahash` make for in-memory tables. A string that is not ASCII is hashed by its NFC code units, the form
/// `String`'s `==` compares, so `"K"` and `"\u{212A}"` (KELVIN SIGN), which are equal, hash alike.
@usableFromInline
enum KeyHash {
    @usableFromInline static let seed = UInt64.random(in: .min ... .max)

    /// The hash of `string` under `seed`.
    @usableFromInline
    static func string(_ string: String, seed: UInt64 = seed) -> Int {
        var string = string
        let ascii = string.withUTF8 { bytes -> Int? in
            isASCII(bytes) ? Int(truncatingIfNeeded: hash(UnsafeRawBufferPointer(bytes), seed: seed)) : nil
        }
        if let ascii { return ascii }
        // Not ASCII: hash the normalized form (uncommon for keys; the stdlib's own String hashing uses it).
        return string._nfcCodeUnits.withUnsafeBytes { Int(truncatingIfNeeded: hash($0, seed: seed)) }
    }

    @inline(__always)
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let raw = UnsafeRawBufferPointer(bytes)
        var index = 0
        var bits: UInt64 = 0
        while index + 8 <= raw.count {
            bits |= raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < raw.count {
            bits |= UInt64(raw[index])
            index += 1
        }
        return bits & 0x8080_8080_8080_8080 == 0
    }

    @inline(__always)
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    /// The hash of `bytes` under `seed`.
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let k0: UInt64 = 0xa076_1d64_78bd_642f
        let k1: UInt64 = 0xe703_7ed1_a0b4_28db
        let count = bytes.count
        var state = seed ^ mix(seed ^ k0, k1)
        var a: UInt64 = 0
        var b: UInt64 = 0
        if count > 16 {
            var index = 0
            while index + 16 < count {
                state = mix(
                    bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ k1,
                    bytes.loadUnaligned(fromByteOffset: index + 8, as: UInt64.self) ^ state)
                index += 16
            }
            a = bytes.loadUnaligned(fromByteOffset: count - 16, as: UInt64.self)
            b = bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        } else if count >= 8 {
            a = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
            b = bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        } else if count >= 4 {
            a = UInt64(bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            b = UInt64(bytes.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self))
        } else if count > 0 {
            a = UInt64(bytes[0]) << 16 | UInt64(bytes[count >> 1]) << 8 | UInt64(bytes[count - 1])
        }
        return mix(k1 ^ UInt64(count), mix(a ^ k1, b ^ state))
    }
}
