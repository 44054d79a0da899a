/* presence.c - registry and wrappers of the presence family. */
#include "presence.h"

#include <string.h>

#include "../core/config.h"

static const pl_presence_ops *const backends[] = {&pl_presence_memory_ops,
                                                  &pl_presence_redis_ops};

pl_status pl_presence_open(const struct pl_config *cfg, pl_presence **out)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i]->name, cfg->presence) == 0)
            return backends[i]->open(cfg, out);
    return PL_ERR_NOTFOUND;
}

void pl_presence_close(pl_presence *p)
{
    if (p)
        p->ops->close(p);
}

const char *pl_presence_name(const pl_presence *p) { return p->ops->name; }

void pl_presence_base_init(pl_presence *p, const pl_presence_ops *ops)
{
    p->ops = ops;
    pthread_rwlock_init(&p->lk, NULL);
    p->fn = NULL;
    p->ctx = NULL;
}

void pl_presence_base_fini(pl_presence *p) { pthread_rwlock_destroy(&p->lk); }

void pl_presence_listen(pl_presence *p, pl_presence_listener fn, void *ctx)
{
    pthread_rwlock_wrlock(&p->lk);
    p->fn = fn;
    p->ctx = ctx;
    pthread_rwlock_unlock(&p->lk);
}

void pl_presence_emit(pl_presence *p, const pl_uuid *user, bool online,
                      int64_t last_seen_ms)
{
    pthread_rwlock_rdlock(&p->lk);
    if (p->fn)
        p->fn(p->ctx, user, online, last_seen_ms);
    pthread_rwlock_unlock(&p->lk);
}

pl_status pl_presence_connect(pl_presence *p, const pl_uuid *user)
{
    return p->ops->connect(p, user);
}

pl_status pl_presence_disconnect(pl_presence *p, const pl_uuid *user,
                                 int64_t now_ms)
{
    return p->ops->disconnect(p, user, now_ms);
}

pl_status pl_presence_get(pl_presence *p, const pl_uuid *user, bool *online,
                          int64_t *last_seen_ms)
{
    return p->ops->get(p, user, online, last_seen_ms);
}

pl_status pl_presence_get_many(pl_presence *p, const pl_uuid *users, size_t n,
                               bool *online, int64_t *last_seen_ms)
{
    if (p->ops->get_many)
        return p->ops->get_many(p, users, n, online, last_seen_ms);
    pl_status st = PL_OK;
    for (size_t i = 0; i < n; i++) {
        pl_status s = p->ops->get(p, &users[i], &online[i], &last_seen_ms[i]);
        if (s != PL_OK)
            st = s;
    }
    return st;
}

void pl_presence_flush(pl_presence *p, int64_t timeout_ms)
{
    if (p->ops->flush)
        p->ops->flush(p, timeout_ms);
}

uint64_t pl_presence_mark(pl_presence *p)
{
    return p->ops->mark ? p->ops->mark(p) : 0;
}

bool pl_presence_reached(pl_presence *p, uint64_t mark)
{
    return p->ops->reached ? p->ops->reached(p, mark) : true;
}
