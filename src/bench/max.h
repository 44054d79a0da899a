/* max.h - the `max` scenario: runs `direct` or `group` at several offered
 * rates over one setup and searches for the highest rate whose p99 stays
 * under a bound.
 *
 * Ownership: bench_max (max.c) owns a mutable copy of the options; the
 * scenario's state (users, conversations, open connections, workers)
 * belongs to the scenario (direct.c, group_setup.c) from mx_open to
 * mx_scenario.close and keeps a pointer to that copy. Before each step
 * max.c sets the copy's rate; the step reads it. Everything runs on the
 * main thread except the worker threads each step starts and joins. */
#ifndef BENCH_MAX_H
#define BENCH_MAX_H

#include <stdint.h>

#include "bench/bench.h"

/* One step's figures, filled by the scenario. */
typedef struct mx_result {
    double sent_per_s; /* messages sent in the measured window, per s */
    double dlv_per_s;  /* direct: messages delivered; group: deliveries */
    double p50_ms, p99_ms, p999_ms; /* direct: send->receive; group:
                                       all-reached */
    double lag_p99_ms;              /* client send lag */
    uint64_t errors;                /* error frames + failed sends */
    uint64_t missing;               /* acks/deliveries missing after drain */
    uint64_t closed;                /* connections lost, cumulative */
    char first_err[96];             /* first error frame or close reason */
} mx_result;

typedef struct mx_scenario {
    const char *latency; /* the bounded latency's name, for the report */
    const char *dlv_unit; /* "msgs/s" or "deliveries/s" */
    void *state;
    /* One run at o->rate over the open connections. 0, or -1 when the
     * scenario cannot go on (out of memory, no thread). */
    int (*step)(void *state, mx_result *r);
    void (*close)(void *state); /* frees state */
} mx_scenario;

/* Set up the scenario once for o (kept by pointer). 0 or -1 (err). */
int direct_max_open(const bench_opts *o, mx_scenario *s, char *err,
                    size_t cap);
int group_max_open(const bench_opts *o, mx_scenario *s, char *err,
                   size_t cap);

#endif
