/* gw_relay_state.h - the bookkeeping of the gateway relay (gw_relay.c,
 * cluster mode), as plain functions with no threads, sockets or store, so
 * it is unit-tested alone (tests/unit/test_gw_relay_state.c).
 *
 * - Pending changes: the loops report "conversation X got its first local
 *   member" (+1) and "lost its last" (-1). They are summed per
 *   conversation in a map the relay swaps out and applies; an entry whose
 *   sum returns to 0 disappears, so the map never holds more entries than
 *   there are conversations subscribed or online here (bounded by state
 *   the gateway already holds, whatever the churn).
 * - Subscriptions: per conversation the number of loops with a local
 *   member, the last seq delivered, and the batch it was subscribed in.
 * - Sequence tracking: what to do with a durable delivery of seq s.
 * - Batches (hello gating): each drain of pending changes happens at a
 *   generation G (the loops' change counter); the relay reports "G is
 *   confirmed" once every subscription that drain (and every earlier one)
 *   started is confirmed by Redis. A session whose conversations were all
 *   requested at or before G may then get its `hello`. */
#ifndef PL_GW_RELAY_STATE_H
#define PL_GW_RELAY_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/hmap.h"

/* --- pending changes ---------------------------------------------------- */

/* Adds delta (+1 or -1) to conv's pending sum. PL_ERR_NOMEM: not
 * recorded. */
pl_status gw_rpend_add(pl_hmap *pending, const pl_uuid *conv, int delta);
/* The sum held by one slot value of the pending map. */
int gw_rpend_value(const void *val);

/* --- subscriptions ------------------------------------------------------ */

typedef struct gw_rconv {
    pl_uuid id;
    int refs;          /* loops with a local member */
    int64_t last_seq;  /* last durable seq delivered here; -1: unknown */
    uint64_t batch;    /* batch index awaiting its confirmation; 0: none */
    bool confirmed;    /* Redis confirmed the subscription */
    bool check_queued; /* on the relay's store-check list */
} gw_rconv;

enum gw_rtab_change {
    GW_RTAB_NONE = 0,
    GW_RTAB_SUBSCRIBE,   /* refs went 0 -> n: *out is a new entry */
    GW_RTAB_UNSUBSCRIBE, /* refs went to 0: *out is detached; the caller
                            finishes with it, then free()s it */
};
/* Applies a summed delta to tab (conv id -> gw_rconv). A delta that would
 * take refs below 0 is clamped (and logged by the caller: a bug). Returns
 * the change, or -1 on out of memory (nothing changed). */
int gw_rtab_apply(pl_hmap *tab, const pl_uuid *conv, int delta,
                  gw_rconv **out);
void gw_rtab_free(pl_hmap *tab);

/* --- sequence tracking -------------------------------------------------- */

enum gw_rseq_verdict {
    GW_RSEQ_DELIVER = 1, /* deliver; *last = seq */
    GW_RSEQ_DROP,        /* seq <= *last: already delivered here */
    GW_RSEQ_REPAIR,      /* deliver the stored range (*last, seq) first,
                            then this one; *gap_from = old *last + 1 and
                            *last = seq */
};
int gw_rseq_live(int64_t *last, int64_t seq, int64_t *gap_from);
/* After a subscription is confirmed: stored is the store's last seq. If
 * last is unknown it becomes stored (a baseline: what came before is the
 * client's sync's business) and 0 is returned; if stored > *last, returns
 * how many messages to repair (seqs *last+1 .. stored, capped to the
 * newest cap) with *gap_from set, and *last = stored; else 0. */
int64_t gw_rseq_confirmed(int64_t *last, int64_t stored, int64_t cap,
                          int64_t *gap_from);
/* A live gap from..to (inclusive) capped to its newest cap messages:
 * returns the first seq to repair. */
int64_t gw_rseq_cap(int64_t from, int64_t to, int64_t cap);

/* --- batches (hello gating) --------------------------------------------- */

#define GW_RBATCH_MAX 256
typedef struct gw_rbatches {
    struct {
        uint64_t gen;
        uint64_t outstanding;
    } ring[GW_RBATCH_MAX];
    uint64_t head_idx;  /* index of ring[head]; indexes start at 1 */
    size_t head, len;
    uint64_t drained;   /* the generation of the latest drain */
    uint64_t confirmed; /* reported confirmed generation */
} gw_rbatches;

void gw_rbatch_init(gw_rbatches *b);
/* A drain at generation gen (>= the previous one). */
void gw_rbatch_drained(gw_rbatches *b, uint64_t gen);
/* One more subscription to confirm, started by the latest drain; returns
 * the batch index to hand to gw_rbatch_done. When the ring is full the
 * newest batch absorbs the drain (confirmation comes later, never
 * earlier). */
uint64_t gw_rbatch_add(gw_rbatches *b);
/* One subscription of batch idx is confirmed (or no longer wanted). */
void gw_rbatch_done(gw_rbatches *b, uint64_t idx);
/* The highest generation whose subscriptions are all confirmed. */
uint64_t gw_rbatch_confirmed(gw_rbatches *b);

#endif
