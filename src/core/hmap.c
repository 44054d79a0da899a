/* hmap.c - see hmap.h. */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

void pl_hmap_init(pl_hmap *m)
{
    m->slots = NULL;
    m->cap = m->len = 0;
}

void pl_hmap_free(pl_hmap *m)
{
    free(m->slots);
    pl_hmap_init(m);
}

pl_uuid pl_hmap_key_u64(uint64_t v)
{
    pl_uuid k;
    memset(&k, 0, sizeof(k));
    /* mix so that sequential ids spread over the table */
    uint64_t h = v * 0x9E3779B97F4A7C15ull;
    memcpy(k.b, &h, 8);
    memcpy(k.b + 8, &v, 8);
    return k;
}

static size_t slot_of(const pl_hmap *m, const pl_uuid *key)
{
    return (size_t)pl_uuid_hash(key) & (m->cap - 1);
}

void *pl_hmap_get(const pl_hmap *m, const pl_uuid *key)
{
    if (m->len == 0)
        return NULL;
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        pl_hmap_slot *s = &m->slots[i];
        if (!s->val)
            return NULL;
        if (memcmp(s->key.b, key->b, 16) == 0)
            return s->val;
    }
}

static pl_status grow(pl_hmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    pl_hmap_slot *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return PL_ERR_NOMEM;
    pl_hmap old = *m;
    m->slots = ns;
    m->cap = ncap;
    m->len = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].val)
            pl_hmap_put(m, &old.slots[i].key, old.slots[i].val);
    free(old.slots);
    return PL_OK;
}

pl_status pl_hmap_put(pl_hmap *m, const pl_uuid *key, void *val)
{
    if ((m->len + 1) * 2 > m->cap && grow(m) != PL_OK)
        return PL_ERR_NOMEM;
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        pl_hmap_slot *s = &m->slots[i];
        if (!s->val) {
            s->key = *key;
            s->val = val;
            m->len++;
            return PL_OK;
        }
        if (memcmp(s->key.b, key->b, 16) == 0) {
            s->val = val;
            return PL_OK;
        }
    }
}

/* Backward-shift deletion keeps every probe chain unbroken. */
static void shift_back(pl_hmap *m, size_t hole)
{
    size_t mask = m->cap - 1;
    for (size_t j = (hole + 1) & mask; m->slots[j].val; j = (j + 1) & mask) {
        size_t home = slot_of(m, &m->slots[j].key);
        /* may the entry at j move to hole? only if home is not in (hole, j] */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->slots[hole] = m->slots[j];
            m->slots[j].val = NULL;
            hole = j;
        }
    }
}

void *pl_hmap_del(pl_hmap *m, const pl_uuid *key)
{
    if (m->len == 0)
        return NULL;
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
        pl_hmap_slot *s = &m->slots[i];
        if (!s->val)
            return NULL;
        if (memcmp(s->key.b, key->b, 16) == 0) {
            void *v = s->val;
            s->val = NULL;
            m->len--;
            shift_back(m, i);
            return v;
        }
    }
}
