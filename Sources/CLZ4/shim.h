#ifndef EVENTLOG_CLZ4_SHIM_H
#define EVENTLOG_CLZ4_SHIM_H
#include <lz4.h>
#include <lz4frame.h>

/// LZ4F_VERSION is a macro the importer cannot see through in every context; expose it as a function.
static inline unsigned eventlog_lz4f_version(void) { return LZ4F_VERSION; }
#endif
