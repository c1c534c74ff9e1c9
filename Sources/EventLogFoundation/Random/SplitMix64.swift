/// splitmix64: small, fast, and the same sequence on every platform, so a seed reproduces a run (the
/// simulator's world, the services' load driver).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    /// Creates a generator.
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A uniform double in [0, 1).
    public mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992) }
}
