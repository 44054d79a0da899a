/* idle_int.h - the `idle` scenario's slices: the connections [a, b) held
 * by one process (see idle.c), used by idle_run.c. */
#ifndef BENCH_IDLE_INT_H
#define BENCH_IDLE_INT_H

#include "bench/common.h"

/* One process's figures (sent as raw bytes through a pipe by children). */
typedef struct idle_res {
    uint64_t opened, failed, closed;
    uint64_t t_first_ns, t_last_ns; /* first connect start, last hello */
    uint64_t close_kinds[BC_CLOSE_KINDS];
    bh_hist setup; /* connect start -> hello */
    char first_err[96];
} idle_res;

typedef struct iworker {
    bc_worker w; /* first: the loop's ctx is the iworker */
    bh_hist setup;
    uint64_t last_open_ns;
} iworker;

/* The connections [a, b) of the users, held by this process. */
typedef struct idle_slice {
    const bench_opts *o;
    const bench_users *users;
    size_t a, b;
    bw_conn *conns;
    iworker *iw;
    bc_worker *wp[BC_MAX_WORKERS];
    bc_shared sh;
} idle_slice;

/* Allocates the connections and workers of s (o, users, a, b set). */
int idle_slice_init(idle_slice *s);
void idle_slice_free(idle_slice *s);
/* The slice's figures so far (after all its workers are ready). */
void idle_slice_result(idle_slice *s, idle_res *r);
void idle_res_merge(idle_res *dst, const idle_res *src);
/* Worker thread: connect, hold until sh->stop, close. */
void *idle_main(void *arg);

#endif
