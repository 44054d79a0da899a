/* report.h - the human-readable report on stdout and the JSON result file
 * under bench/results/. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "bench/bench.h"
#include "bench/common.h"
#include "bench/hist.h"

/* Records the start time and load average; call once at startup. */
void report_init(void);
/* A new result object with scenario, command line, start time, target,
 * machine (nproc, CPU model, kernel, memory). Caller owns it. */
json_t *report_new(const bench_opts *o);
/* {count, mean_ms, min_ms, p50_ms, p90_ms, p99_ms, p999_ms, max_ms,
 *  buckets: [[low_us, count], ...]} (new reference). */
json_t *report_hist(const bh_hist *h);
/* [{t, sent, acked, delivered, errors, a_p50_ms, a_p99_ms, b_p50_ms,
 *   b_p99_ms}, ...] for seconds with any activity (new reference). */
json_t *report_timeline(const bc_sec *tl, size_t len, const char *a,
                        const char *b);
/* Close reasons and the first error text of all workers (new reference). */
json_t *report_closes(bc_worker **ws, int n);

/* "  closes  close_1001 100, ...; first error: ..." if there were any. */
void report_print_closes(FILE *f, bc_worker **ws, int n);
/* The table header and one latency row (p50 p90 p99 p99.9 max mean). */
void report_lat_header(FILE *f);
void report_lat_row(FILE *f, const char *name, const bh_hist *h);
/* Writes root to OUT_DIR/SCENARIO-YYYYmmddTHHMMSSZ.json (and --json),
 * prints the path on stdout. 0 or -1. Steals nothing. */
int report_write(const bench_opts *o, json_t *root);

/* Common numbers as JSON helpers. */
double report_ms(uint64_t ns);

#endif
