/* store_sqlite_tail.c - the in-memory index of a connection's unmerged
 * message tail: rows (base, upto] of the messages log, looked up by
 * (conversation, seq) and by (conversation, sender, client_msg_id).
 *
 * Pure data structure, no SQL: store_sqlite_msgs.c keeps it equal to the
 * connection's snapshot. Entries are only ever added (in rowid order) or
 * all dropped at once, so the hash tables need no deletion. */
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_int.h"

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static uint64_t dedupe_hash(int64_t conv, int64_t sender, const char *cmid)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over the client id */

    for (const unsigned char *p = (const unsigned char *)cmid; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return mix64(h ^ mix64((uint64_t)conv * 31 + (uint64_t)sender));
}

void pl_sq_tail_init(pl_sq_tail *t)
{
    memset(t, 0, sizeof(*t));
    t->base = t->upto = -1;
}

void pl_sq_tail_free(pl_sq_tail *t)
{
    for (size_t i = 0; i < t->conv_cap; i++)
        free(t->convs[i].ix);
    free(t->convs);
    free(t->dedupe);
    free(t->ents);
    pl_sq_tail_init(t);
}

void pl_sq_tail_reset(pl_sq_tail *t, int64_t base)
{
    /* Keep every allocation: the tail refills at the same rate. */
    for (size_t i = 0; i < t->conv_cap; i++) {
        t->convs[i].conv = 0;
        t->convs[i].n = 0;
    }
    if (t->dedupe)
        memset(t->dedupe, 0, t->dedupe_cap * sizeof(*t->dedupe));
    t->n = 0;
    t->nconvs = 0;
    t->base = t->upto = base;
}

/* The slot of conv, or the free slot where it would go. */
static pl_sq_tconv *conv_slot(pl_sq_tconv *convs, size_t cap, int64_t conv)
{
    size_t i = mix64((uint64_t)conv) & (cap - 1);

    while (convs[i].conv != 0 && convs[i].conv != conv)
        i = (i + 1) & (cap - 1);
    return &convs[i];
}

static pl_sq_tconv *find_conv(const pl_sq_tail *t, int64_t conv)
{
    pl_sq_tconv *tc;

    if (t->conv_cap == 0)
        return NULL;
    tc = conv_slot(t->convs, t->conv_cap, conv);
    return tc->conv == conv ? tc : NULL;
}

static pl_status grow_convs(pl_sq_tail *t)
{
    size_t ncap = t->conv_cap ? t->conv_cap * 2 : 256;
    pl_sq_tconv *nc = calloc(ncap, sizeof(*nc));

    if (!nc)
        return PL_ERR_NOMEM;
    for (size_t i = 0; i < t->conv_cap; i++) {
        pl_sq_tconv *old = &t->convs[i];
        if (old->conv != 0)
            *conv_slot(nc, ncap, old->conv) = *old;
        else
            free(old->ix); /* a free slot's spare vector */
    }
    free(t->convs);
    t->convs = nc;
    t->conv_cap = ncap;
    return PL_OK;
}

static pl_status get_conv(pl_sq_tail *t, int64_t conv, pl_sq_tconv **out)
{
    pl_sq_tconv *tc;
    pl_status rc;

    if ((t->nconvs + 1) * 2 > t->conv_cap && (rc = grow_convs(t)) != PL_OK)
        return rc;
    tc = conv_slot(t->convs, t->conv_cap, conv);
    if (tc->conv == 0) {
        tc->conv = conv;
        tc->n = 0;
        tc->sorted = true;
        t->nconvs++;
    }
    *out = tc;
    return PL_OK;
}

static void dedupe_put(uint32_t *tab, size_t cap, const pl_sq_tent *e,
                       uint32_t idx)
{
    size_t i = dedupe_hash(e->conv, e->sender, e->cmid) & (cap - 1);

    while (tab[i] != 0)
        i = (i + 1) & (cap - 1);
    tab[i] = idx + 1;
}

static pl_status grow_dedupe(pl_sq_tail *t)
{
    size_t ncap = t->dedupe_cap ? t->dedupe_cap * 2 : 1024;
    uint32_t *nt = calloc(ncap, sizeof(*nt));

    if (!nt)
        return PL_ERR_NOMEM;
    for (uint32_t i = 0; i < t->n; i++)
        dedupe_put(nt, ncap, &t->ents[i], i);
    free(t->dedupe);
    t->dedupe = nt;
    t->dedupe_cap = ncap;
    return PL_OK;
}

static pl_status reserve(pl_sq_tail *t, pl_sq_tconv *tc)
{
    pl_status rc = PL_OK;

    if (t->n == UINT32_MAX - 1)
        return PL_ERR_NOMEM;
    if (t->n >= t->cap)
        rc = pl_sq_grow((void **)&t->ents, &t->cap, t->n, sizeof(*t->ents));
    if (rc == PL_OK && tc->n >= tc->cap)
        rc = pl_sq_grow((void **)&tc->ix, &tc->cap, tc->n, sizeof(*tc->ix));
    if (rc == PL_OK && (t->n + 1) * 2 > t->dedupe_cap)
        rc = grow_dedupe(t);
    return rc;
}

pl_status pl_sq_tail_add(pl_sq_tail *t, const pl_sq_tent *e)
{
    pl_sq_tconv *tc;
    pl_status rc = get_conv(t, e->conv, &tc);

    if (rc == PL_OK)
        rc = reserve(t, tc);
    if (rc != PL_OK)
        return rc;
    if (tc->n > 0 && t->ents[tc->ix[tc->n - 1]].seq >= e->seq)
        tc->sorted = false;
    t->ents[t->n] = *e;
    tc->ix[tc->n++] = t->n;
    dedupe_put(t->dedupe, t->dedupe_cap, e, t->n);
    t->n++;
    t->upto = e->rowid;
    return PL_OK;
}

const pl_sq_tent *pl_sq_tail_cmid(const pl_sq_tail *t, int64_t conv,
                                  int64_t sender, const char *cmid)
{
    size_t i;

    if (t->dedupe_cap == 0)
        return NULL;
    i = dedupe_hash(conv, sender, cmid) & (t->dedupe_cap - 1);
    for (; t->dedupe[i] != 0; i = (i + 1) & (t->dedupe_cap - 1)) {
        const pl_sq_tent *e = &t->ents[t->dedupe[i] - 1];
        if (e->conv == conv && e->sender == sender &&
            strcmp(e->cmid, cmid) == 0)
            return e;
    }
    return NULL;
}

/* First position in tc (sorted) whose seq is > seq (upper) or >= seq. */
static size_t bound(const pl_sq_tail *t, const pl_sq_tconv *tc, int64_t seq,
                    bool upper)
{
    size_t lo = 0, hi = tc->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t s = t->ents[tc->ix[mid]].seq;
        if (s < seq || (upper && s == seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const pl_sq_tent *pl_sq_tail_seq(const pl_sq_tail *t, int64_t conv, int64_t seq)
{
    const pl_sq_tconv *tc = find_conv(t, conv);
    size_t i;

    if (!tc)
        return NULL;
    if (tc->sorted) {
        i = bound(t, tc, seq, false);
        return i < tc->n && t->ents[tc->ix[i]].seq == seq ? &t->ents[tc->ix[i]]
                                                          : NULL;
    }
    for (i = 0; i < tc->n; i++)
        if (t->ents[tc->ix[i]].seq == seq)
            return &t->ents[tc->ix[i]];
    return NULL;
}

const pl_sq_tent *pl_sq_tail_last(const pl_sq_tail *t, int64_t conv)
{
    const pl_sq_tconv *tc = find_conv(t, conv);
    const pl_sq_tent *best = NULL;

    if (!tc || tc->n == 0)
        return NULL;
    if (tc->sorted)
        return &t->ents[tc->ix[tc->n - 1]];
    for (size_t i = 0; i < tc->n; i++) {
        const pl_sq_tent *e = &t->ents[tc->ix[i]];
        if (!best || e->seq > best->seq)
            best = e;
    }
    return best;
}

static int ref_cmp(const void *a, const void *b)
{
    const pl_sq_ref *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* All entries of an out-of-order conversation in (lo, hi), sorted. */
static pl_status collect_unsorted(const pl_sq_tail *t, const pl_sq_tconv *tc,
                                  int64_t lo, int64_t hi, pl_sq_ref **all,
                                  size_t *n)
{
    *all = malloc((tc->n ? tc->n : 1) * sizeof(**all));
    *n = 0;
    if (!*all)
        return PL_ERR_NOMEM;
    for (size_t i = 0; i < tc->n; i++) {
        const pl_sq_tent *e = &t->ents[tc->ix[i]];
        if (e->seq > lo && e->seq < hi)
            (*all)[(*n)++] = (pl_sq_ref){e->seq, e->rowid};
    }
    qsort(*all, *n, sizeof(**all), ref_cmp);
    return PL_OK;
}

pl_status pl_sq_tail_range(const pl_sq_tail *t, int64_t conv, int64_t lo,
                           int64_t hi, bool desc, size_t max, pl_sq_ref *out,
                           size_t *n)
{
    const pl_sq_tconv *tc = find_conv(t, conv);
    pl_sq_ref *all = NULL;
    size_t i0, i1, cnt;
    pl_status rc;

    *n = 0;
    if (!tc || tc->n == 0 || lo >= hi)
        return PL_OK;
    if (tc->sorted) {
        i0 = bound(t, tc, lo, true);
        i1 = bound(t, tc, hi, false);
    } else {
        if ((rc = collect_unsorted(t, tc, lo, hi, &all, &i1)) != PL_OK)
            return rc;
        i0 = 0;
    }
    cnt = i1 > i0 ? i1 - i0 : 0;
    if (cnt > max)
        cnt = max;
    for (size_t k = 0; k < cnt; k++) {
        size_t pos = desc ? i1 - 1 - k : i0 + k;
        const pl_sq_tent *e = all ? NULL : &t->ents[tc->ix[pos]];
        out[k] = all ? all[pos] : (pl_sq_ref){e->seq, e->rowid};
    }
    *n = cnt;
    free(all);
    return PL_OK;
}
