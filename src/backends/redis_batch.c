/* redis_batch.c - pipelined batches (see pl_redis_run in redis.h).
 *
 * A round writes every pending command to its node (all nodes are written
 * before any reply is read, so the nodes work in parallel), then reads the
 * replies node by node. Commands whose node failed are sent again in a
 * second round after the topology is reloaded (the stale-connection case
 * after a Redis restart); redirected ones are then followed one by one. */
#include <stdlib.h>

#include "redis_int.h"

#define ROUNDS 2

/* Writes node's pending commands and flushes them. false on I/O error. */
static bool send_node(pl_redis *r, int node, pl_redis_cmd *cmds,
                      const size_t *idx, const uint8_t *dest, size_t n)
{
    redisContext *c = rnode_ctx(r, node);
    int done = 0;
    if (!c)
        return false;
    for (size_t k = 0; k < n; k++) {
        pl_redis_cmd *cmd = &cmds[idx[k]];
        if (dest[idx[k]] == node &&
            redisAppendCommandArgv(c, cmd->argc, (const char **)cmd->argv,
                                   cmd->lens) != REDIS_OK)
            goto fail;
    }
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            goto fail;
    return true;
fail:
    rnode_fail(r, node);
    return false;
}

/* Reads node's replies in order; stops at the first I/O error. */
static void read_node(pl_redis *r, int node, pl_redis_cmd *cmds,
                      const size_t *idx, const uint8_t *dest, size_t n)
{
    redisContext *c = r->nodes[node].c;
    for (size_t k = 0; c && k < n; k++) {
        if (dest[idx[k]] != node)
            continue;
        void *rep = NULL;
        if (redisGetReply(c, &rep) != REDIS_OK) {
            rnode_fail(r, node);
            return;
        }
        r->nodes[node].worked = true;
        cmds[idx[k]].reply = rep;
        cmds[idx[k]].st = PL_OK;
    }
}

/* One round over the n commands listed in idx; dest[i] is set to the node
 * command i went to. */
static void round_run(pl_redis *r, pl_redis_cmd *cmds, const size_t *idx,
                      uint8_t *dest, size_t n)
{
    bool used[PL_REDIS_MAX_NODES] = {false};
    bool sent[PL_REDIS_MAX_NODES] = {false};
    for (size_t k = 0; k < n; k++) {
        int d = redis_route(r, &cmds[idx[k]]);
        dest[idx[k]] = (uint8_t)d;
        if (d != RNODE_NONE)
            used[d] = true;
    }
    for (int i = 0; i < (int)r->nnodes; i++)
        sent[i] = used[i] && send_node(r, i, cmds, idx, dest, n);
    for (int i = 0; i < (int)r->nnodes; i++)
        if (sent[i])
            read_node(r, i, cmds, idx, dest, n);
}

/* Lists the commands still without a reply into idx; returns how many. */
static size_t pending(const pl_redis_cmd *cmds, size_t n, size_t *idx)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!cmds[i].reply)
            idx[m++] = i;
    return m;
}

pl_status pl_redis_run(pl_redis *r, pl_redis_cmd *cmds, size_t n)
{
    size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    uint8_t *dest = malloc(n ? n : 1); /* command -> node it went to */
    pl_status st = PL_OK;
    for (size_t i = 0; i < n; i++) {
        cmds[i].reply = NULL;
        cmds[i].st = PL_ERR_IO;
    }
    if (!idx || !dest) {
        st = PL_ERR_NOMEM;
        goto out;
    }
    for (int round = 0; round < ROUNDS; round++) {
        size_t m = pending(cmds, n, idx);
        if (m == 0 || pl_redis_connect(r) != PL_OK)
            break;
        round_run(r, cmds, idx, dest, m);
    }
    for (size_t i = 0; i < n; i++) {
        if (!cmds[i].reply) {
            st = PL_ERR_IO;
            continue;
        }
        if (redis_is_redirect(r, cmds[i].reply, dest[i])) {
            freeReplyObject(cmds[i].reply);
            redis_exec1(r, &cmds[i]);
            if (!cmds[i].reply)
                st = PL_ERR_IO;
        }
    }
out:
    free(idx);
    free(dest);
    return st;
}
