/* limtab.c - see limtab.h. */
#include "limtab.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hmap.h"

#define SHARDS 16
#define SAMPLE 8 /* entries looked at to pick an eviction victim */

typedef struct lim_entry {
    pl_limkey key;
    double tokens;
    int64_t at_ms;   /* last refill; 0: new (full) */
    int64_t full_ms; /* when the bucket is full again */
    int32_t conns;
    bool used;
} lim_entry;

typedef struct lim_shard {
    pthread_mutex_t mu;
    pl_hmap map; /* key -> entry in pool */
    lim_entry *pool;
    uint32_t *free_idx; /* stack of unused pool slots */
    size_t nfree, cap;
    uint64_t rng; /* xorshift state for sampling */
} lim_shard;

struct pl_limtab {
    lim_shard shards[SHARDS];
    uint8_t secret[crypto_generichash_KEYBYTES];
    atomic_uint_fast64_t evictions;
    atomic_size_t len; /* entries in use, for metrics without locking */
};

pl_limtab *pl_limtab_new(size_t cap)
{
    pl_limtab *t = calloc(1, sizeof(*t));
    size_t per = (cap < SHARDS ? SHARDS : cap) / SHARDS;
    if (!t)
        return NULL;
    randombytes_buf(t->secret, sizeof t->secret);
    for (int i = 0; i < SHARDS; i++) {
        lim_shard *s = &t->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        pl_hmap_init(&s->map);
        s->pool = calloc(per, sizeof(*s->pool));
        s->free_idx = malloc(per * sizeof(*s->free_idx));
        randombytes_buf(&s->rng, sizeof s->rng);
        s->rng |= 1;
        s->cap = per;
        if (!s->pool || !s->free_idx) {
            pl_limtab_free(t);
            return NULL;
        }
        for (size_t j = 0; j < per; j++) /* pop order: slot 0 first */
            s->free_idx[j] = (uint32_t)(per - 1 - j);
        s->nfree = per;
    }
    return t;
}

void pl_limtab_free(pl_limtab *t)
{
    if (!t)
        return;
    for (int i = 0; i < SHARDS; i++) {
        lim_shard *s = &t->shards[i];
        pl_hmap_free(&s->map);
        free(s->pool);
        free(s->free_idx);
        pthread_mutex_destroy(&s->mu);
    }
    sodium_memzero(t->secret, sizeof t->secret);
    free(t);
}

pl_limkey pl_limtab_key(const pl_limtab *t, int purpose, const void *data,
                        size_t len)
{
    pl_limkey k;
    uint8_t p = (uint8_t)purpose;
    crypto_generichash_state st;
    crypto_generichash_init(&st, t->secret, sizeof t->secret, sizeof k.b);
    crypto_generichash_update(&st, &p, 1);
    crypto_generichash_update(&st, data, len);
    crypto_generichash_final(&st, k.b, sizeof k.b);
    return k;
}

static lim_shard *shard_of(pl_limtab *t, const pl_limkey *k)
{
    return &t->shards[k->b[15] % SHARDS];
}

/* --- entries (shard locked) ----------------------------------------------- */

static bool is_idle(const lim_entry *e, int64_t now_ms)
{
    return e->conns == 0 && now_ms >= e->full_ms;
}

static void entry_drop(lim_shard *s, lim_entry *e)
{
    pl_hmap_del(&s->map, &e->key);
    e->used = false;
    s->free_idx[s->nfree++] = (uint32_t)(e - s->pool);
}

static void count(pl_limtab *t, int d)
{
    if (d > 0)
        atomic_fetch_add_explicit(&t->len, 1, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&t->len, 1, memory_order_relaxed);
}

static uint64_t next_rand(lim_shard *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

/* The best victim among a few random entries (or all of them when the
 * sample has none): an idle entry at once, else the one with no
 * connections whose bucket refills first. NULL if every entry counts
 * connections. */
static lim_entry *pick_victim(lim_shard *s, int64_t now_ms)
{
    lim_entry *best = NULL;
    size_t n = SAMPLE < s->cap ? SAMPLE : s->cap;
    for (int pass = 0; pass < 2 && !best; pass++) {
        if (pass == 1)
            n = s->cap; /* rare: a full scan */
        for (size_t i = 0; i < n; i++) {
            lim_entry *e = &s->pool[pass == 0 ? next_rand(s) % s->cap : i];
            if (!e->used || e->conns > 0)
                continue;
            if (is_idle(e, now_ms))
                return e;
            if (!best || e->full_ms < best->full_ms)
                best = e;
        }
    }
    return best;
}

static lim_entry *entry_get(pl_limtab *t, lim_shard *s, const pl_limkey *k,
                            int64_t now_ms)
{
    lim_entry *e = pl_hmap_get(&s->map, k);
    if (e)
        return e;
    if (s->nfree == 0) {
        lim_entry *v = pick_victim(s, now_ms);
        if (!v)
            return NULL;
        if (!is_idle(v, now_ms))
            atomic_fetch_add_explicit(&t->evictions, 1, memory_order_relaxed);
        entry_drop(s, v);
        count(t, -1);
    }
    e = &s->pool[s->free_idx[--s->nfree]];
    memset(e, 0, sizeof(*e));
    e->key = *k;
    e->used = true;
    if (pl_hmap_put(&s->map, k, e) != PL_OK) {
        e->used = false;
        s->nfree++;
        return NULL;
    }
    count(t, 1);
    return e;
}

/* Loops cache their clocks per iteration, so now_ms may be a little
 * behind the last caller's: time never runs backwards for a bucket. */
static void refill(lim_entry *e, pl_limit l, int64_t now_ms)
{
    if (e->at_ms == 0) {
        e->tokens = l.burst;
        e->at_ms = now_ms;
    } else if (now_ms > e->at_ms) {
        e->tokens += (double)(now_ms - e->at_ms) * l.rate / 1000.0;
        e->at_ms = now_ms;
    }
    if (e->tokens > l.burst)
        e->tokens = l.burst;
}

static void set_full_ms(lim_entry *e, pl_limit l, int64_t now_ms)
{
    double missing = l.burst - e->tokens;
    e->full_ms = now_ms + (int64_t)(missing * 1000.0 / l.rate) + 1;
}

/* Takes a token from e. PL_OK or PL_AGAIN with *retry_ms. */
static pl_status entry_take(lim_entry *e, pl_limit l, int64_t now_ms,
                            int64_t *retry_ms)
{
    if (l.rate <= 0)
        return PL_OK;
    refill(e, l, now_ms);
    pl_status st = PL_AGAIN;
    if (e->tokens >= 1.0) {
        e->tokens -= 1.0;
        st = PL_OK;
    } else if (retry_ms) {
        *retry_ms = (int64_t)((1.0 - e->tokens) * 1000.0 / l.rate) + 1;
    }
    set_full_ms(e, l, now_ms);
    return st;
}

/* --- the API -------------------------------------------------------------- */

pl_status pl_limtab_take(pl_limtab *t, const pl_limkey *k, pl_limit l,
                         int64_t now_ms, int64_t *retry_ms)
{
    if (l.rate <= 0)
        return PL_OK;
    lim_shard *s = shard_of(t, k);
    pthread_mutex_lock(&s->mu);
    lim_entry *e = entry_get(t, s, k, now_ms);
    pl_status st = e ? entry_take(e, l, now_ms, retry_ms) : PL_ERR_BUSY;
    pthread_mutex_unlock(&s->mu);
    return st;
}

void pl_limtab_give(pl_limtab *t, const pl_limkey *k, pl_limit l,
                    int64_t now_ms, int n)
{
    if (l.rate <= 0)
        return;
    lim_shard *s = shard_of(t, k);
    pthread_mutex_lock(&s->mu);
    lim_entry *e = pl_hmap_get(&s->map, k);
    if (e) {
        refill(e, l, now_ms);
        e->tokens = n < 0 ? l.burst : e->tokens + n;
        if (e->tokens > l.burst)
            e->tokens = l.burst;
        set_full_ms(e, l, now_ms);
        if (is_idle(e, now_ms)) {
            entry_drop(s, e);
            count(t, -1);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

pl_status pl_limtab_conn_open(pl_limtab *t, const pl_limkey *k, pl_limit l,
                              int64_t max, int64_t now_ms, int64_t *retry_ms)
{
    lim_shard *s = shard_of(t, k);
    pthread_mutex_lock(&s->mu);
    lim_entry *e = entry_get(t, s, k, now_ms);
    pl_status st = e ? entry_take(e, l, now_ms, retry_ms) : PL_ERR_BUSY;
    if (st == PL_OK && max > 0 && e->conns >= max)
        st = PL_ERR_TOOLARGE;
    if (st == PL_OK)
        e->conns++;
    pthread_mutex_unlock(&s->mu);
    return st;
}

void pl_limtab_conn_close(pl_limtab *t, const pl_limkey *k)
{
    lim_shard *s = shard_of(t, k);
    pthread_mutex_lock(&s->mu);
    lim_entry *e = pl_hmap_get(&s->map, k);
    if (e && e->conns > 0)
        e->conns--;
    pthread_mutex_unlock(&s->mu);
}

size_t pl_limtab_sweep(pl_limtab *t, unsigned shard, int64_t now_ms)
{
    lim_shard *s = &t->shards[shard % SHARDS];
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->cap && s->nfree < s->cap; i++) {
        lim_entry *e = &s->pool[i];
        if (e->used && is_idle(e, now_ms)) {
            entry_drop(s, e);
            count(t, -1);
            n++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

size_t pl_limtab_len(pl_limtab *t)
{
    return atomic_load_explicit(&t->len, memory_order_relaxed);
}

uint64_t pl_limtab_evictions(pl_limtab *t)
{
    return atomic_load_explicit(&t->evictions, memory_order_relaxed);
}
