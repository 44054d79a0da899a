/* timeutil.h - clocks and RFC 3339 times. */
#ifndef PL_TIMEUTIL_H
#define PL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define PL_TIME_STRLEN 24 /* "2026-11-24T06:03:51.123Z" without NUL */

int64_t pl_now_ms(void);        /* wall clock, Unix ms (CLOCK_REALTIME) */
int64_t pl_mono_ms(void);       /* monotonic ms, for timeouts */
uint64_t pl_mono_ns(void);      /* monotonic ns, for latency measurement */
/* Formats Unix ms as RFC 3339 UTC with milliseconds, e.g.
 * "2026-11-24T06:03:51.123Z", plus NUL; buf >= PL_TIME_STRLEN + 1. */
char *pl_time_fmt(int64_t unix_ms, char *buf);
/* Parses the form pl_time_fmt produces (also without fraction, and with a
 * numeric offset such as +02:00). */
pl_status pl_time_parse(const char *s, size_t len, int64_t *unix_ms);

#endif
