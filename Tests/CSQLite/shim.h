#ifndef EVENTLOG_CSQLITE_SHIM_H
#define EVENTLOG_CSQLITE_SHIM_H
// SQLite, the independent oracle the LiveViews SQL tests compare answers with (tests only).
#include <sqlite3.h>
#endif
