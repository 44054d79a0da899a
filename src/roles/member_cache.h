/* member_cache.h - the messaging pipeline's cache of "user U is a member
 * of conversation C" (and with which role).
 *
 * Every send is checked for membership. Asking the store each time cost a
 * read transaction per message (about a third of the pipeline thread's CPU
 * at 15 k msgs/s, docs/PERFORMANCE.md); members send many messages, so the
 * answer is cached.
 *
 * Only positive answers are cached: a non-member is asked again each time,
 * so an add takes effect at once. A removal must not be missed: every
 * membership change published on the bus (PL_TOPIC_MEMBERSHIP) bumps a
 * generation counter (any thread, lock-free; it lives in pl_node because
 * bus subscriptions outlive the roles), and the owner thread drops
 * the whole cache when it sees a new generation before its next batch.
 * Entries also expire after a TTL, a bound on staleness should an
 * invalidation ever be lost (in cluster mode events cross processes).
 *
 * Threading: one owner thread calls every function here. The cache is bounded (max entries): when
 * full it is emptied, which costs one store lookup per active sender. */
#ifndef PL_MEMBER_CACHE_H
#define PL_MEMBER_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/hmap.h"
#include "../core/uuid.h"

typedef struct pl_member_cache {
    pl_hmap map; /* folded (conv, user) -> entry (holds both ids) */
    size_t max;
    int64_t ttl_ms;
    const atomic_uint_fast64_t *gen; /* bumped by membership changes */
    uint64_t seen_gen;               /* the generation the map reflects */
} pl_member_cache;

/* gen is borrowed and must outlive the cache. */
void pl_member_cache_init(pl_member_cache *c, size_t max, int64_t ttl_ms,
                          const atomic_uint_fast64_t *gen);
void pl_member_cache_free(pl_member_cache *c);
/* Owner thread, before using the cache for a batch: drops everything if a
 * membership change happened since the last call. */
void pl_member_cache_sync(pl_member_cache *c);
/* true and *role filled if (conv, user) is a cached member. */
bool pl_member_cache_get(pl_member_cache *c, const pl_uuid *conv,
                         const pl_uuid *user, int64_t now_ms, int *role);
/* Records a membership the store confirmed. Failure to allocate is
 * harmless: the next send asks the store again. */
void pl_member_cache_put(pl_member_cache *c, const pl_uuid *conv,
                         const pl_uuid *user, int role, int64_t now_ms);

#endif
