/* log.h - structured logging: one JSON object per line on stderr.
 *
 *   pl_log(PL_LOG_INFO, "listening", "addr", PL_LS, "127.0.0.1:8080", NULL);
 *
 * After the event name come (key, type, value) triples ended by NULL:
 * PL_LS = const char *, PL_LI = int64_t, PL_LD = double. Lines are written
 * with one write(2) each (atomic for lines under PIPE_BUF on a pipe), so
 * threads never interleave within a line. */
#ifndef PL_LOG_H
#define PL_LOG_H

#include <stdint.h>

enum pl_log_level { PL_LOG_DEBUG = 0, PL_LOG_INFO, PL_LOG_WARN, PL_LOG_ERROR };
enum pl_log_type { PL_LS = 1, PL_LI, PL_LD };

void pl_log_set_level(int level);
int pl_log_level_parse(const char *s); /* -1 if unknown */
int pl_log_enabled(int level);
void pl_log(int level, const char *event, ...);

#endif
