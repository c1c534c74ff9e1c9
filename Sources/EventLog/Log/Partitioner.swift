/// Kafka's default partitioner for keyed records: `murmur2(key) & 0x7fffffff % partitions`, so a key lands
/// on the partition a Kafka client would choose.
public enum Partitioner {
    /// Kafka's 32-bit murmur2 (seed `0x9747b28c`) of `key`.
    public static func murmur2(_ key: UnsafeRawBufferPointer) -> Int32 {
        let m: UInt32 = 0x5bd1_e995
        let length = key.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        var i = 0
        while i + 4 <= length {
            var k = UInt32(key[i]) | UInt32(key[i + 1]) << 8 | UInt32(key[i + 2]) << 16 | UInt32(key[i + 3]) << 24
            k = k &* m
            k ^= k >> 24
            k = k &* m
            h = h &* m
            h ^= k
            i += 4
        }
        let rest = length & 3
        if rest == 3 { h ^= UInt32(key[i + 2]) << 16 }
        if rest >= 2 { h ^= UInt32(key[i + 1]) << 8 }
        if rest >= 1 {
            h ^= UInt32(key[i])
            h = h &* m
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The partition Kafka's default partitioner picks for `key` among `count` partitions.
    public static func partition(forKey key: UnsafeRawBufferPointer, partitionCount count: Int) -> Int {
        Int(UInt32(bitPattern: murmur2(key)) & 0x7fff_ffff) % count
    }

    /// The partition for a byte-array key.
    public static func partition(forKey key: [UInt8], partitionCount count: Int) -> Int {
        key.withUnsafeBytes { partition(forKey: $0, partitionCount: count) }
    }
}
