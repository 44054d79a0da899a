/* common.h - what the WebSocket scenarios share: worker threads, the
 * connect phase, counters for the progress line, and a per-second
 * timeline.
 *
 * Threads: the main thread starts one thread per worker (bc_start), then
 * prints progress once per second (bc_wait) while the workers connect,
 * wait for t0 (set by the main thread when every worker is connected),
 * run, drain and finish. A worker owns its loop, its connections and its
 * histograms; the only cross-thread data are the atomics below. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bench/bench.h"
#include "bench/hist.h"
#include "bench/wsc.h"

#define BC_MAX_WORKERS 64
#define BC_CONNECT_TIMEOUT_NS (120ull * 1000000000ull)

/* Written by one worker, read by the progress printer. */
typedef struct bc_counters {
    atomic_uint_fast64_t sent, acked, delivered, errors;
    atomic_uint_fast64_t opened, failed, closed;
    atomic_uint_fast64_t p99_ns; /* primary latency, last full second */
} bc_counters;

/* One second of the run (by receive time, from t0). */
typedef struct bc_sec {
    uint64_t sent, acked, delivered, errors;
    bh_hist a, b; /* the scenario's two latencies */
} bc_sec;

typedef struct bc_shared {
    atomic_uint_fast64_t t0; /* run start, mono ns; 0 until all connected */
    atomic_int ready;        /* workers done connecting */
    atomic_int done;         /* workers finished */
    atomic_int stop;         /* main thread asks the workers to finish */
    int nworkers;
    int quiet;
    const char *label;                   /* progress line prefix */
    uint64_t warm_ns, meas_ns, drain_ns; /* phase lengths */
    size_t expect_conns;
    size_t inflight; /* handshakes in flight per worker (bc_connect_all) */
    int conns_only;  /* progress line without message counters */
    /* Called by the main thread once all workers are connected, just
     * before t0 is set (may be NULL). */
    void (*before_t0)(void *ctx);
    void *ctx;
    struct srvmon *mon; /* NULL, or sampled once per second by bc_wait */
    /* Each worker thread unshares its file-descriptor table before it
     * connects (unshare(CLONE_FILES)): the per-process fd limit is a limit
     * per table, so T workers can hold T times as many sockets while
     * still sharing memory (the group scenario's per-message table). A
     * worker's sockets then live and die with its thread. */
    int private_fds;
} bc_shared;

/* The first member of every scenario's worker struct. */
typedef struct bc_worker {
    int id;
    pthread_t th;
    bc_shared *sh;
    bw_loop loop;
    bw_conn **conns; /* this worker's connections (the scenario owns them) */
    size_t nconns;
    bc_counters ctr;
    bc_sec *tl; /* timeline, tl_len seconds, owned */
    size_t tl_len;
    size_t tl_pub; /* last second whose p99 was published */
    char first_err[96];
    int fds_private; /* this worker's sockets are in its own fd table */
    uint64_t close_codes[16]; /* counts by reason kind, see bc_close_kind */
} bc_worker;

/* Allocates the timeline for the shared phase lengths; 0 or -1. */
int bc_worker_init(bc_worker *w, int id, bc_shared *sh, const bench_opts *o,
                   const bw_ops *ops, void *ctx);
void bc_worker_free(bc_worker *w);
/* The timeline slot for time now (NULL before t0 or past the end). Also
 * publishes the p99 of the previous second for the progress line. */
bc_sec *bc_sec_at(bc_worker *w, uint64_t now);
/* Connects every connection of w (at most sh->inflight at once) and
 * returns when each has opened or failed, or the timeout passed. */
void bc_connect_all(bc_worker *w);
/* Polls until t0 is set (answering heartbeats); returns t0. */
uint64_t bc_wait_t0(bc_worker *w);
/* Counting helpers for on_open/on_close callbacks. */
void bc_count_open(bc_worker *w);
void bc_count_close(bc_worker *w, bw_conn *c, const char *why);
void bc_note_error(bc_worker *w, const char *what, size_t n);

/* Readies shared state and workers for one more run over the same open
 * connections (`max` runs a scenario several times): clears t0, the
 * ready/done/stop flags, each worker's timeline, first error, sent, acked,
 * delivered, errors and p99 counters. opened/failed/closed stay
 * cumulative, so bc_connect_all finds every connection settled and opens
 * nothing. Main thread, with no worker thread running. */
void bc_step_reset(bc_shared *sh, bc_worker **ws);
/* The first error text any worker noted (since the last reset), or "". */
const char *bc_first_error(bc_worker **ws, int n);

/* Starts the worker threads; fn gets the worker pointer. */
int bc_start(bc_shared *sh, bc_worker **ws, void *(*fn)(void *));
/* Prints progress once per second until all workers are done; sets t0
 * once all are ready (if set_t0). Joins the threads. */
void bc_wait(bc_shared *sh, bc_worker **ws, int set_t0);
/* Prints one progress line (t seconds since start). */
void bc_progress(bc_shared *sh, bc_worker **ws, double t);

/* The merged timeline of all workers (caller frees), *len seconds. */
bc_sec *bc_merge_timeline(bc_worker **ws, int n, size_t *len);
/* Close reasons: "closed" counters keyed by kind name, for the report. */
const char *bc_close_kind_name(int k);
#define BC_CLOSE_KINDS 8

#endif
