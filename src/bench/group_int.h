/* group_int.h - the `group` scenario's state, shared by group.c (the
 * measured run) and group_setup.c (setup and report).
 *
 * Ownership: group_run (main thread) owns users, the connection array, the
 * per-message table and the workers. Connection j belongs to worker
 * j % T. Every worker receives every message, so the per-message table is
 * shared and its counters are atomics; all else a worker touches is its
 * own. */
#ifndef BENCH_GROUP_INT_H
#define BENCH_GROUP_INT_H

#include "bench/common.h"
#include "bench/scn.h"
#include "bench/srvmon.h"

#define GROUP_ADD_BATCH 1000 /* member_ids / user_ids per call (the max) */

typedef struct gmsg {
    atomic_uint_fast64_t sched_ns;
    atomic_uint ndeliv;
    atomic_uint acked;
} gmsg;

typedef struct group_run group_run;

typedef struct gworker {
    bc_worker w; /* first: the loop's ctx is the gworker */
    group_run *g;
    bw_conn **senders; /* this worker's sending connections */
    size_t nsenders;
    uint64_t interval_ns, sent, win_dlv, last_dlv_ns, stray, dup_acks;
    uint64_t out_of_order, excess, send_fail, msg_bytes;
    bh_hist ack, dlv, all, lag;
    scn_codes codes;
} gworker;

struct group_run {
    const bench_opts *o;
    bench_users users;
    char conv[37];
    char run_id[24];   /* client_msg_id prefix, unique per run */
    bw_conn *conns;    /* K connected members; conns[0..S) send */
    int64_t *last_seq; /* per connection, for the order check */
    gmsg *msgs;
    size_t cap;
    atomic_size_t next; /* next message index */
    atomic_uint expect; /* connections open at t0: deliveries per message */
    char *content;
    int burst;
    bc_shared sh;
    srvmon mon; /* the server's CPU and RSS, when it is local */
    gworker *gw;
    bc_worker *wp[BC_MAX_WORKERS];
};

extern const bw_ops group_ops;
void *group_main(void *arg);
/* Fixes the deliveries expected per message (bc_shared.before_t0). */
void group_before_t0(void *ctx);

#endif
