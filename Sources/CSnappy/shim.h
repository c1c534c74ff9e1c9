#ifndef EVENTLOG_CSNAPPY_SHIM_H
#define EVENTLOG_CSNAPPY_SHIM_H
#include <snappy-c.h>
#endif
