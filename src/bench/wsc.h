/* wsc.h - the bench's non-blocking WebSocket client engine.
 *
 * One bw_loop per worker thread: an epoll set of many client connections.
 * Nothing blocks. Outgoing frames are appended to a per-connection buffer
 * and the connection is put on the loop's dirty list; bw_loop_poll writes
 * each dirty connection once per iteration (all its pending frames in one
 * send), then waits for events. Incoming bytes are read into one shared
 * buffer per loop; only an incomplete trailing frame is copied into the
 * connection (so 20,000 idle connections cost no read buffers).
 *
 * Ownership: the scenario owns the bw_conn array and the tokens; the loop
 * owns each connection's fd and buffers from bw_conn_start until the
 * connection closes (bw_conn_close or the peer). A loop and its connections
 * belong to one thread. */
#ifndef BENCH_WSC_H
#define BENCH_WSC_H

#include <stddef.h>
#include <stdint.h>

#include "bench/bench.h"
#include "core/buf.h"

enum bw_state {
    BW_NEW = 0,
    BW_CONNECTING, /* TCP connect in progress */
    BW_UPGRADING,  /* upgrade request sent, waiting for 101 */
    BW_WAIT_HELLO, /* upgraded, waiting for the hello frame */
    BW_OPEN,       /* hello seen: subscribed to the user's conversations */
    BW_CLOSED,
};

typedef struct bw_conn {
    int fd;
    uint8_t state;    /* enum bw_state */
    uint8_t want_out; /* EPOLLOUT registered (a write was short) */
    uint8_t dirty;    /* on the loop's dirty list */
    uint32_t idx;     /* the scenario's index of this connection */
    int hb_ms;        /* heartbeat_interval_ms from hello */
    uint64_t t_start_ns, t_open_ns, last_tx_ns;
    const char *token; /* borrowed from the scenario's users */
    char user_id[37];  /* from hello */
    pl_dbuf out;       /* pending bytes, written by the next flush */
    char *in;          /* incomplete frame carried to the next read */
    uint32_t in_len, in_cap;
} bw_conn;

typedef struct bw_loop bw_loop;

/* Callbacks. now_ns is the loop's clock at the wakeup (CLOCK_MONOTONIC).
 * on_close gets a short reason ("close 1008", "connect: Connection
 * refused", "http 401", "eof"); the connection is already closed. */
typedef struct bw_ops {
    void (*on_open)(bw_loop *l, bw_conn *c, uint64_t now_ns);
    void (*on_text)(bw_loop *l, bw_conn *c, const char *p, size_t n,
                    uint64_t now_ns);
    void (*on_close)(bw_loop *l, bw_conn *c, const char *why);
} bw_ops;

struct bw_loop {
    int ep;
    const bench_target *target; /* borrowed */
    bw_ops ops;
    void *ctx;       /* the scenario's per-worker state */
    bw_conn **conns; /* borrowed: every connection of this loop, for */
    size_t nconns;   /* heartbeats; may be NULL */
    bw_conn **dirty;
    size_t ndirty, dcap;
    char *rbuf;
    size_t rcap;
    uint64_t now_ns, next_hb_ns;
    uint32_t rng;
    uint64_t frames_in, bytes_in, bytes_out, writes, src_next;
};

pl_status bw_loop_init(bw_loop *l, const bench_target *t, const bw_ops *ops,
                       void *ctx);
void bw_loop_free(bw_loop *l); /* closes nothing: close connections first */

/* Starts a non-blocking connect + upgrade for c with token (borrowed). The
 * source address is 127.0.0.X, X cycling 1..250 per loop, to spread the
 * ephemeral ports over many 4-tuples. */
pl_status bw_conn_start(bw_loop *l, bw_conn *c, const char *token);
/* Queues one masked text frame; written by the next bw_loop_poll. */
pl_status bw_send_text(bw_loop *l, bw_conn *c, const char *p, size_t n);
/* Closes the socket now (no close handshake) without calling on_close. */
void bw_conn_close(bw_loop *l, bw_conn *c);

/* One iteration: flush the dirty connections, wait for events until
 * deadline_ns at the latest (0 = do not wait), dispatch them, and send the
 * heartbeat pings that are due. Returns the number of events. */
int bw_loop_poll(bw_loop *l, uint64_t deadline_ns);

uint64_t bw_now_ns(void);

#endif
