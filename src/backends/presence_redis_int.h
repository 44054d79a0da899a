/* presence_redis_int.h - internals of presence=redis, shared by
 * presence_redis.c (local state, queue, thread) and presence_redis_cmds.c
 * (the Lua scripts and the batches that run them). The design is in
 * docs/ARCHITECTURE.md ("Presence in Redis"). */
#ifndef PL_PRESENCE_REDIS_INT_H
#define PL_PRESENCE_REDIS_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "../core/hmap.h"
#include "presence.h"
#include "redis.h"

#define PR_BATCH 256      /* users per pipelined batch */
#define PR_GW_MAX 128     /* gateway id bytes, with the NUL */
#define PR_REAP_MAX 8     /* dead gateways claimed per refresh */

/* This gateway's view of one user (in rpres.users, under rpres.mu). */
typedef struct ruser {
    int32_t conns;   /* open connections here */
    bool queued;     /* in the change ring */
    int64_t seen_ms; /* last disconnect here */
} ruser;

/* One change to send: the user is (still) online here, or is gone. */
typedef struct pr_change {
    pl_uuid user;
    bool online;
    int64_t seen_ms; /* for online = false */
} pr_change;

typedef struct rpres {
    pl_presence base;
    char gw[PR_GW_MAX];       /* this gateway's id */
    int64_t ttl_ms, refresh_ms, grace_ms;
    pthread_mutex_t mu;       /* guards users, ring, the flags below */
    pthread_cond_t cv;        /* the thread: work queued, or stop */
    pthread_cond_t idle_cv;   /* flush waiters: the ring was drained */
    pl_hmap users;            /* pl_uuid -> ruser */
    pl_uuid *ring;            /* users whose state changed */
    size_t cap, head, len;
    bool stopping, busy;
    uint64_t overflows;
    uint64_t enq_seq;         /* +1 per change queued */
    atomic_uint_fast64_t applied_seq; /* changes up to it reached Redis */
    pthread_t thread;
    bool started;
    int64_t started_ms;       /* monotonic */
    pl_redis *rc;             /* the thread's client */
    uint64_t reconnects_seen; /* rc's reconnects at the last look */
    pthread_mutex_t get_mu;   /* guards gc: get runs on worker threads */
    pl_redis *gc;
} rpres;

/* Sends n changes for gateway gw (the user sets' key gwkey), pipelined;
 * reports the transitions Redis decided through pl_presence_emit. done[i]
 * is set when change i was applied. PL_OK if all were. Thread: rc's. */
pl_status pr_apply(rpres *p, pl_redis *rc, const char *gw, const pr_change *ch,
                   size_t n, bool *done);
/* Online state and last seen of n users as Redis has them. */
pl_status pr_fetch(rpres *p, pl_redis *rc, const pl_uuid *users, size_t n,
                   bool *online, int64_t *seen);
/* Refreshes this gateway's heartbeat; claims gateways whose heartbeat is
 * older than the TTL and takes their users offline (reported). */
pl_status pr_beat_and_reap(rpres *p);
/* Clean exit: removes this gateway's heartbeat and user set. */
void pr_leave(rpres *p);
/* Computes the scripts' SHA1s once. */
void pr_scripts_init(void);

#endif
