import CEventLogSupport

/// CRC-32C (Castagnoli), the checksum of RecordBatch v2, computed with the CPU's CRC instructions where
/// available (see `CEventLogSupport/crc32c.c`).
package enum CRC32C {
    /// The checksum of `bytes`, optionally continuing from an earlier `crc`.
    @inline(__always)
    package static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        eventlog_crc32c(crc, bytes.baseAddress, bytes.count)
    }

    /// Whether the hardware instructions are in use.
    package static var isHardwareAccelerated: Bool { eventlog_crc32c_is_hardware() != 0 }
}
