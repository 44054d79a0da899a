/* redis_int.h - internals shared by redis_client.c (connections, topology,
 * one command with redirects) and redis_batch.c (pipelines). */
#ifndef PL_REDIS_INT_H
#define PL_REDIS_INT_H

#include "redis.h"

#define RNODE_NONE 0xFF /* slots[] entry: owner unknown */

typedef struct rnode {
    char host[PL_REDIS_HOST_MAX + 1];
    int port;
    redisContext *c;     /* NULL: not connected */
    bool worked;         /* c has answered at least once */
    bool was_connected;  /* some connection to this node existed */
    int64_t retry_at_ms; /* monotonic: no connect attempt before */
    int backoff_ms;      /* 0 after a success; doubles per failed connect */
} rnode;

struct pl_redis {
    pl_redis_opts o;
    rnode nodes[PL_REDIS_MAX_NODES];
    size_t nnodes, nseeds;        /* seeds are nodes[0..nseeds) */
    uint8_t slots[PL_REDIS_SLOTS]; /* owner node index or RNODE_NONE */
    bool known;                   /* mode (and map) learned */
    bool cluster;
    bool stale;                   /* reload the slot map before next use */
    int single;                   /* single mode: the node that answered */
    pl_redis_stats stats;
};

/* The connected context of node i, connecting if allowed now; NULL while
 * the node is in backoff or unreachable. */
redisContext *rnode_ctx(pl_redis *r, int i);
/* Drops node i's connection after an error (its stream may be out of
 * step). A connection that had worked may be reopened at once. */
void rnode_fail(pl_redis *r, int i);
/* The node a command goes to (RNODE_NONE if none is known). */
int redis_route(pl_redis *r, const pl_redis_cmd *c);
/* Runs one command with redirects and one immediate retry after an I/O
 * error; sets c->reply and c->st. */
void redis_exec1(pl_redis *r, pl_redis_cmd *c);
/* 1 if reply is an error that redis_exec1 would follow (MOVED, ASK,
 * TRYAGAIN); records a MOVED in the slot map. */
bool redis_is_redirect(pl_redis *r, const redisReply *reply, int from);

#endif
