/* presence_memory.c - in-process presence: a hash map under one mutex.
 * The critical sections are a hash probe; loops call it once per
 * connection open/close, not per message. Entries of users who went
 * offline stay (they hold last_seen); 40 bytes each. Transitions are
 * reported synchronously, on the calling loop, after the lock is let go. */
#include <pthread.h>
#include <stdlib.h>

#include "../core/hmap.h"
#include "presence.h"

typedef struct entry {
    int64_t conns;
    int64_t last_seen_ms;
} entry;

typedef struct mem_presence {
    pl_presence base;
    pthread_mutex_t mu;
    pl_hmap users;
} mem_presence;

static pl_status mem_open(const struct pl_config *cfg, pl_presence **out)
{
    mem_presence *p = calloc(1, sizeof(*p));
    if (!p)
        return PL_ERR_NOMEM;
    pl_presence_base_init(&p->base, &pl_presence_memory_ops);
    pthread_mutex_init(&p->mu, NULL);
    pl_hmap_init(&p->users);
    *out = &p->base;
    return PL_OK;
}

static void mem_close(pl_presence *p_)
{
    mem_presence *p = (mem_presence *)p_;
    for (size_t i = 0; i < p->users.cap; i++)
        free(p->users.slots[i].val);
    pl_hmap_free(&p->users);
    pthread_mutex_destroy(&p->mu);
    pl_presence_base_fini(&p->base);
    free(p);
}

static pl_status mem_connect(pl_presence *p_, const pl_uuid *user)
{
    mem_presence *p = (mem_presence *)p_;
    pl_status st = PL_OK;
    bool changed = false;
    pthread_mutex_lock(&p->mu);
    entry *e = pl_hmap_get(&p->users, user);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e || pl_hmap_put(&p->users, user, e) != PL_OK) {
            free(e);
            st = PL_ERR_NOMEM;
            goto out;
        }
    }
    changed = e->conns++ == 0;
out:
    pthread_mutex_unlock(&p->mu);
    if (changed)
        pl_presence_emit(p_, user, true, 0);
    return st;
}

static pl_status mem_disconnect(pl_presence *p_, const pl_uuid *user,
                                int64_t now_ms)
{
    mem_presence *p = (mem_presence *)p_;
    bool changed = false;
    pthread_mutex_lock(&p->mu);
    entry *e = pl_hmap_get(&p->users, user);
    if (e && e->conns > 0) {
        e->last_seen_ms = now_ms;
        changed = --e->conns == 0;
    }
    pthread_mutex_unlock(&p->mu);
    if (changed)
        pl_presence_emit(p_, user, false, now_ms);
    return e ? PL_OK : PL_ERR_NOTFOUND;
}

static pl_status mem_get(pl_presence *p_, const pl_uuid *user, bool *online,
                         int64_t *last_seen_ms)
{
    mem_presence *p = (mem_presence *)p_;
    pthread_mutex_lock(&p->mu);
    entry *e = pl_hmap_get(&p->users, user);
    *online = e && e->conns > 0;
    *last_seen_ms = e ? e->last_seen_ms : 0;
    pthread_mutex_unlock(&p->mu);
    return PL_OK;
}

const pl_presence_ops pl_presence_memory_ops = {
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .connect = mem_connect,
    .disconnect = mem_disconnect,
    .get = mem_get,
};
