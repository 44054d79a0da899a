/* srvmon.h - what the server process spends while a scenario runs: its
 * RSS and CPU sampled once per second from /proc, and per-thread CPU over
 * the measurement window.
 *
 * CPU per message is the benchmark's noise-resistant figure: on a shared
 * 2-core machine latency moves with whatever else runs, but the server's
 * CPU seconds per 1,000 delivered messages barely do. Threads are told
 * apart by the names parleyd gives them (pl-loop-N, pl-messaging, ...).
 *
 * Only meaningful when the server runs on this machine (a local pid); with
 * pid <= 0 every call is a no-op and the JSON says null. Owned by the
 * scenario; the main thread alone calls it (from bc_wait). */
#ifndef BENCH_SRVMON_H
#define BENCH_SRVMON_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#define SRVMON_MAX_THREADS 64

typedef struct srvmon_thread {
    int tid;
    char name[16];
    uint64_t ticks; /* utime + stime, clock ticks */
} srvmon_thread;

typedef struct srvmon_point {
    double t;          /* seconds since the run's t0 (negative: setup) */
    long rss_kib;
    double cpu_s;      /* process CPU (user + system) since it started */
    uint64_t delivered;
} srvmon_point;

typedef struct srvmon {
    int pid;
    srvmon_point *s;
    size_t n, cap;
    /* per-thread snapshots at the window's start [0] and end [1] */
    srvmon_thread th[2][SRVMON_MAX_THREADS];
    size_t nth[2];
    uint64_t dlv[2];
    double tw[2];
    int have[2];
} srvmon;

/* pid <= 0: disabled. */
void srvmon_init(srvmon *m, int pid);
void srvmon_free(srvmon *m);
/* One sample (t relative to t0, the scenario's delivered counter). */
void srvmon_sample(srvmon *m, double t, uint64_t delivered);
/* Per-thread snapshot: edge 0 = window start, 1 = window end. */
void srvmon_window(srvmon *m, int edge, double t, uint64_t delivered);
/* "server" object: pid, cpu per 1,000 deliveries (total and by thread),
 * rss series {t, rss_kib, cpu_s}. New reference; JSON null if disabled. */
json_t *srvmon_json(const srvmon *m);
/* Two report lines: CPU per 1,000 deliveries by thread, RSS start/end/max. */
void srvmon_print(const srvmon *m, FILE *f);

#endif
