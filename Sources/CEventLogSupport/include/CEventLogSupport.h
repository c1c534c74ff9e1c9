#ifndef EVENTLOG_SUPPORT_H
#define EVENTLOG_SUPPORT_H
#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of `length` bytes, continuing from `crc`
/// (pass 0 to start). Uses the SSE4.2 or ARMv8 CRC instructions when the CPU has them (checked once),
/// otherwise a slicing-by-8 table.
uint32_t eventlog_crc32c(uint32_t crc, const void *data, size_t length);

/// 1 when the hardware path is in use, 0 for the table fallback.
int eventlog_crc32c_is_hardware(void);

/// The table implementation, exposed so tests can check that both paths agree.
uint32_t eventlog_crc32c_software(uint32_t crc, const void *data, size_t length);

/// Asks the CPU to bring the cache line at `address` in (a hint: no fault, no effect on results). The
/// live-view ingest issues it for each string's dictionary slot while it parses the rest of the record.
static inline void eventlog_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif
