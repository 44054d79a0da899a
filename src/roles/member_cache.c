/* member_cache.c - see member_cache.h. */
#include "member_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
    pl_uuid conv, user;
    int role;
    int64_t at_ms;
} entry;

/* The map is keyed by a fold of both ids; the entry keeps the ids, so a
 * fold collision is a miss, never a wrong answer. */
static pl_uuid fold(const pl_uuid *conv, const pl_uuid *user)
{
    pl_uuid k;
    for (size_t i = 0; i < sizeof(k.b); i++)
        k.b[i] = conv->b[i] ^ (uint8_t)(user->b[i] * 167u + i);
    return k;
}

static void clear(pl_member_cache *c)
{
    for (size_t i = 0; i < c->map.cap; i++)
        free(c->map.slots[i].val);
    pl_hmap_free(&c->map);
}

void pl_member_cache_init(pl_member_cache *c, size_t max, int64_t ttl_ms,
                          const atomic_uint_fast64_t *gen)
{
    memset(c, 0, sizeof(*c));
    pl_hmap_init(&c->map);
    c->max = max;
    c->ttl_ms = ttl_ms;
    c->gen = gen;
    c->seen_gen = atomic_load(gen);
}

void pl_member_cache_free(pl_member_cache *c)
{
    clear(c);
}

void pl_member_cache_sync(pl_member_cache *c)
{
    uint64_t g = atomic_load(c->gen);
    if (g != c->seen_gen) {
        clear(c);
        c->seen_gen = g;
    }
}

bool pl_member_cache_get(pl_member_cache *c, const pl_uuid *conv,
                         const pl_uuid *user, int64_t now_ms, int *role)
{
    pl_uuid k = fold(conv, user);
    entry *e = pl_hmap_get(&c->map, &k);
    if (!e || !pl_uuid_eq(&e->conv, conv) || !pl_uuid_eq(&e->user, user) ||
        now_ms - e->at_ms >= c->ttl_ms)
        return false;
    *role = e->role;
    return true;
}

void pl_member_cache_put(pl_member_cache *c, const pl_uuid *conv,
                         const pl_uuid *user, int role, int64_t now_ms)
{
    pl_uuid k = fold(conv, user);
    entry *e = pl_hmap_get(&c->map, &k);
    if (!e) {
        if (c->map.len >= c->max)
            clear(c);
        e = malloc(sizeof(*e));
        if (!e || pl_hmap_put(&c->map, &k, e) != PL_OK) {
            free(e);
            return;
        }
    }
    *e = (entry){*conv, *user, role, now_ms};
}
