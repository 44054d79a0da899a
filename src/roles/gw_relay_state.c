/* gw_relay_state.c - see gw_relay_state.h. */
#include "gw_relay_state.h"

#include <stdlib.h>
#include <string.h>

/* --- pending changes ---------------------------------------------------- */

/* A map value must not be NULL: a sum v is stored as the odd integer
 * 2v + 1 cast to a pointer (no allocation per change on a loop thread). */
static void *enc(int v) { return (void *)(intptr_t)(2 * (intptr_t)v + 1); }
int gw_rpend_value(const void *val) { return (int)(((intptr_t)val - 1) / 2); }

pl_status gw_rpend_add(pl_hmap *pending, const pl_uuid *conv, int delta)
{
    void *old = pl_hmap_get(pending, conv);
    int v = (old ? gw_rpend_value(old) : 0) + delta;
    if (v == 0) {
        pl_hmap_del(pending, conv);
        return PL_OK;
    }
    return pl_hmap_put(pending, conv, enc(v));
}

/* --- subscriptions ------------------------------------------------------ */

int gw_rtab_apply(pl_hmap *tab, const pl_uuid *conv, int delta,
                  gw_rconv **out)
{
    gw_rconv *c = pl_hmap_get(tab, conv);
    *out = c;
    if (!c) {
        if (delta <= 0)
            return GW_RTAB_NONE; /* never subscribed: nothing to undo */
        c = calloc(1, sizeof(*c));
        if (!c || pl_hmap_put(tab, conv, c) != PL_OK) {
            free(c);
            return -1;
        }
        c->id = *conv;
        c->refs = delta;
        c->last_seq = -1;
        *out = c;
        return GW_RTAB_SUBSCRIBE;
    }
    c->refs += delta;
    if (c->refs > 0)
        return GW_RTAB_NONE;
    pl_hmap_del(tab, conv);
    return GW_RTAB_UNSUBSCRIBE;
}

void gw_rtab_free(pl_hmap *tab)
{
    for (size_t i = 0; i < tab->cap; i++)
        free(tab->slots[i].val);
    pl_hmap_free(tab);
}

/* --- sequence tracking -------------------------------------------------- */

int gw_rseq_live(int64_t *last, int64_t seq, int64_t *gap_from)
{
    if (*last >= 0 && seq <= *last)
        return GW_RSEQ_DROP;
    int verdict = GW_RSEQ_DELIVER;
    if (*last >= 0 && seq > *last + 1) {
        *gap_from = *last + 1;
        verdict = GW_RSEQ_REPAIR;
    }
    *last = seq;
    return verdict;
}

int64_t gw_rseq_cap(int64_t from, int64_t to, int64_t cap)
{
    return to - from + 1 > cap ? to - cap + 1 : from;
}

int64_t gw_rseq_confirmed(int64_t *last, int64_t stored, int64_t cap,
                          int64_t *gap_from)
{
    if (*last < 0) {
        *last = stored;
        return 0;
    }
    if (stored <= *last)
        return 0;
    *gap_from = gw_rseq_cap(*last + 1, stored, cap);
    *last = stored;
    return stored - *gap_from + 1;
}

/* --- batches -------------------------------------------------------------- */

void gw_rbatch_init(gw_rbatches *b)
{
    memset(b, 0, sizeof(*b));
    b->head_idx = 1;
}

void gw_rbatch_drained(gw_rbatches *b, uint64_t gen)
{
    if (gen > b->drained)
        b->drained = gen;
}

uint64_t gw_rbatch_add(gw_rbatches *b)
{
    size_t newest = (b->head + b->len - 1) % GW_RBATCH_MAX;
    bool reuse = b->len > 0 && (b->ring[newest].gen == b->drained ||
                                b->len == GW_RBATCH_MAX);
    if (!reuse) {
        newest = (b->head + b->len) % GW_RBATCH_MAX;
        b->ring[newest].outstanding = 0;
        b->len++;
    }
    b->ring[newest].gen = b->drained;
    b->ring[newest].outstanding++;
    return b->head_idx + (newest + GW_RBATCH_MAX - b->head) % GW_RBATCH_MAX;
}

void gw_rbatch_done(gw_rbatches *b, uint64_t idx)
{
    if (idx < b->head_idx || idx - b->head_idx >= b->len)
        return; /* not outstanding (a bug, or already done) */
    size_t slot = (b->head + (size_t)(idx - b->head_idx)) % GW_RBATCH_MAX;
    if (b->ring[slot].outstanding > 0)
        b->ring[slot].outstanding--;
}

uint64_t gw_rbatch_confirmed(gw_rbatches *b)
{
    while (b->len > 0 && b->ring[b->head].outstanding == 0) {
        b->confirmed = b->ring[b->head].gen;
        b->head = (b->head + 1) % GW_RBATCH_MAX;
        b->head_idx++;
        b->len--;
    }
    if (b->len == 0)
        b->confirmed = b->drained;
    return b->confirmed;
}
