/* hmap.h - an open-addressing hash map from 16-byte keys (UUIDs, or a
 * uint64 packed by pl_hmap_key_u64) to pointers. Linear probing with
 * backward-shift deletion (no tombstones), load factor <= 0.5.
 * Not thread-safe: each map belongs to one thread. Values are borrowed. */
#ifndef PL_HMAP_H
#define PL_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "uuid.h"

typedef struct pl_hmap_slot {
    pl_uuid key;
    void *val; /* NULL = empty slot */
} pl_hmap_slot;

typedef struct pl_hmap {
    pl_hmap_slot *slots;
    size_t cap; /* power of two */
    size_t len;
} pl_hmap;

void pl_hmap_init(pl_hmap *m);
void pl_hmap_free(pl_hmap *m);
void *pl_hmap_get(const pl_hmap *m, const pl_uuid *key);
/* Inserts or replaces; val must not be NULL. */
pl_status pl_hmap_put(pl_hmap *m, const pl_uuid *key, void *val);
/* Removes and returns the value, or NULL. */
void *pl_hmap_del(pl_hmap *m, const pl_uuid *key);
pl_uuid pl_hmap_key_u64(uint64_t v);

/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].val) ...
 * (do not modify the map while iterating). */

#endif
