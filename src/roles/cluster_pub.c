/* cluster_pub.c - see cluster_pub.h. */
#include "cluster_pub.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../backends/redis.h"
#include "../core/buf.h"
#include "../core/log.h"
#include "../core/metrics.h"

#define QUEUE_BYTES (64u << 20) /* bound on what one batch may queue */
#define RETRY_MAX_MS 1000

typedef struct pub {
    size_t ch_off, ch_len, msg_off, msg_len;
    bool done;
} pub;

struct pl_cpub {
    pl_redis *r;
    pl_dbuf arena; /* channel and message bytes */
    pub *q;
    size_t n, cap;
};

pl_status pl_cpub_open(const pl_config *cfg, pl_cpub **out)
{
    pl_cpub *p = calloc(1, sizeof(*p));
    if (!p)
        return PL_ERR_NOMEM;
    pl_redis_opts o;
    pl_redis_opts_from_config(cfg, &o);
    pl_status st = pl_redis_open(&o, &p->r);
    if (st != PL_OK) {
        free(p);
        return st;
    }
    pl_dbuf_init(&p->arena, QUEUE_BYTES);
    *out = p;
    return PL_OK;
}

void pl_cpub_close(pl_cpub *p)
{
    if (!p)
        return;
    pl_redis_close(p->r);
    pl_dbuf_free(&p->arena);
    free(p->q);
    free(p);
}

pl_status pl_cpub_add(pl_cpub *p, const char *chan, size_t chlen,
                      const void *msg, size_t len)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        pub *q = realloc(p->q, cap * sizeof(*q));
        if (!q)
            return PL_ERR_NOMEM;
        p->q = q;
        p->cap = cap;
    }
    size_t at = p->arena.len;
    if (pl_dbuf_append(&p->arena, chan, chlen) != PL_OK ||
        pl_dbuf_append(&p->arena, msg, len) != PL_OK) {
        p->arena.len = at;
        return PL_ERR_TOOLARGE;
    }
    p->q[p->n++] = (pub){at, chlen, at + chlen, len, false};
    return PL_OK;
}

size_t pl_cpub_pending(const pl_cpub *p)
{
    return p->n;
}

/* One pipelined attempt over the publishes not done yet; true if all are
 * done now. */
static bool attempt(pl_cpub *p, pl_redis_cmd *cmds, const char **argv,
                    size_t *lens, size_t *idx)
{
    bool cluster = pl_redis_connect(p->r) == PL_OK && pl_redis_is_cluster(p->r);
    const char *verb = cluster ? "SPUBLISH" : "PUBLISH";
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->q[i].done)
            continue;
        const char **a = argv + 3 * k;
        size_t *l = lens + 3 * k;
        a[0] = verb;
        l[0] = strlen(verb);
        a[1] = (const char *)p->arena.p + p->q[i].ch_off;
        l[1] = p->q[i].ch_len;
        a[2] = (const char *)p->arena.p + p->q[i].msg_off;
        l[2] = p->q[i].msg_len;
        cmds[k] = (pl_redis_cmd){.argc = 3, .argv = a, .lens = l, .key = 1};
        idx[k++] = i;
    }
    pl_redis_run(p->r, cmds, k);
    bool all = true;
    for (size_t j = 0; j < k; j++) {
        redisReply *rep = cmds[j].reply;
        bool ok =
            cmds[j].st == PL_OK && rep && rep->type == REDIS_REPLY_INTEGER;
        if (rep)
            freeReplyObject(rep);
        p->q[idx[j]].done = ok;
        all = all && ok;
    }
    return all;
}

pl_status pl_cpub_flush(pl_cpub *p, const atomic_bool *stop)
{
    pl_status st = PL_OK;
    if (p->n == 0)
        return PL_OK;
    pl_redis_cmd *cmds = malloc(p->n * sizeof(*cmds));
    const char **argv = malloc(p->n * 3 * sizeof(*argv));
    size_t *lens = malloc(p->n * 3 * sizeof(*lens));
    size_t *idx = malloc(p->n * sizeof(*idx));
    int pause_ms = 10;
    if (!cmds || !argv || !lens || !idx) {
        st = PL_ERR_NOMEM;
        goto out;
    }
    while (!attempt(p, cmds, argv, lens, idx)) {
        PL_METRIC_ADD(cluster_publish_retries_total, 1);
        if (!stop || atomic_load(stop)) {
            st = PL_ERR_IO;
            break;
        }
        struct timespec ts = {0, (long)pause_ms * 1000 * 1000};
        nanosleep(&ts, NULL);
        pause_ms = pause_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : pause_ms * 2;
    }
out:
    if (st != PL_OK)
        pl_log(PL_LOG_WARN, "cluster_publish_failed", "publishes", PL_LI,
               (int64_t)p->n, "status", PL_LS, pl_status_str(st), NULL);
    PL_METRIC_ADD(cluster_publishes_total, (int64_t)p->n);
    p->n = 0;
    p->arena.len = 0;
    free(cmds);
    free(argv);
    free(lens);
    free(idx);
    return st;
}
