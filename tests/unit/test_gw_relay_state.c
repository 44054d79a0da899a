/* test_gw_relay_state.c - the relay's bookkeeping (roles/gw_relay_state.h):
 * pending sums that cancel, subscription refcounts over loops, the seq
 * verdicts of gap repair, and the batch generations behind hello gating,
 * including a random model check of the pending map + refcounts. */
#include <stdlib.h>

#include "roles/gw_relay_state.h"
#include "unit.h"

static pl_uuid id(int i) { return pl_hmap_key_u64((uint64_t)i + 1); }

static void test_pending(void)
{
    pl_hmap m;
    pl_hmap_init(&m);
    pl_uuid a = id(1), b = id(2);
    CHECK(gw_rpend_add(&m, &a, 1) == PL_OK);
    CHECK(gw_rpend_add(&m, &a, 1) == PL_OK); /* a second loop */
    CHECK(gw_rpend_add(&m, &b, -1) == PL_OK);
    CHECK_EQ_INT(gw_rpend_value(pl_hmap_get(&m, &a)), 2);
    CHECK_EQ_INT(gw_rpend_value(pl_hmap_get(&m, &b)), -1);
    CHECK(gw_rpend_add(&m, &b, 1) == PL_OK); /* cancels: the entry goes */
    CHECK(pl_hmap_get(&m, &b) == NULL);
    CHECK_EQ_INT(m.len, 1);
    CHECK(gw_rpend_add(&m, &a, -1) == PL_OK);
    CHECK(gw_rpend_add(&m, &a, -1) == PL_OK);
    CHECK_EQ_INT(m.len, 0);
    for (int v = -5; v <= 5; v++) { /* the encoding round-trips */
        pl_uuid k = id(100 + v);
        for (int i = 0; i < abs(v); i++)
            gw_rpend_add(&m, &k, v < 0 ? -1 : 1);
        if (v)
            CHECK_EQ_INT(gw_rpend_value(pl_hmap_get(&m, &k)), v);
    }
    pl_hmap_free(&m);
}

static void test_rtab(void)
{
    pl_hmap t;
    pl_hmap_init(&t);
    pl_uuid a = id(1);
    gw_rconv *c;
    CHECK_EQ_INT(gw_rtab_apply(&t, &a, -1, &c), GW_RTAB_NONE);
    CHECK(c == NULL);
    CHECK_EQ_INT(gw_rtab_apply(&t, &a, 2, &c), GW_RTAB_SUBSCRIBE);
    CHECK(c && c->refs == 2 && c->last_seq == -1 && !c->confirmed);
    CHECK_EQ_INT(gw_rtab_apply(&t, &a, -1, &c), GW_RTAB_NONE);
    CHECK_EQ_INT(gw_rtab_apply(&t, &a, 0, &c), GW_RTAB_NONE);
    CHECK_EQ_INT(gw_rtab_apply(&t, &a, -1, &c), GW_RTAB_UNSUBSCRIBE);
    CHECK(c != NULL && pl_hmap_get(&t, &a) == NULL);
    free(c);
    CHECK_EQ_INT(gw_rtab_apply(&t, &a, 1, &c), GW_RTAB_SUBSCRIBE);
    CHECK_EQ_INT(c->last_seq, -1); /* forgotten while unsubscribed */
    gw_rtab_free(&t);
}

/* Loops flip random conversations on and off; the relay drains the sums at
 * random moments. Afterwards the table holds exactly the conversations
 * some loop has, with refs = the number of loops that have it. */
static void test_model(void)
{
    enum { LOOPS = 4, CONVS = 300 };
    static bool has[LOOPS][CONVS];
    pl_hmap pend, tab;
    pl_hmap_init(&pend);
    pl_hmap_init(&tab);
    srand(11);
    int subs = 0, unsubs = 0;
    for (int step = 0; step < 100000; step++) {
        int l = rand() % LOOPS, k = rand() % CONVS;
        pl_uuid cv = id(k);
        has[l][k] = !has[l][k];
        CHECK(gw_rpend_add(&pend, &cv, has[l][k] ? 1 : -1) == PL_OK);
        if (rand() % 50)
            continue;
        for (size_t i = 0; i < pend.cap; i++) {
            if (!pend.slots[i].val)
                continue;
            gw_rconv *c;
            int ch = gw_rtab_apply(&tab, &pend.slots[i].key,
                                   gw_rpend_value(pend.slots[i].val), &c);
            subs += ch == GW_RTAB_SUBSCRIBE;
            unsubs += ch == GW_RTAB_UNSUBSCRIBE;
            if (ch == GW_RTAB_UNSUBSCRIBE)
                free(c);
        }
        pl_hmap_free(&pend);
        pl_hmap_init(&pend);
    }
    for (size_t i = 0; i < pend.cap; i++) { /* the last drain */
        gw_rconv *c;
        if (pend.slots[i].val &&
            gw_rtab_apply(&tab, &pend.slots[i].key,
                          gw_rpend_value(pend.slots[i].val), &c) ==
                GW_RTAB_UNSUBSCRIBE)
            free(c);
    }
    int bad = 0;
    for (int k = 0; k < CONVS; k++) {
        pl_uuid cv = id(k);
        int n = 0;
        for (int l = 0; l < LOOPS; l++)
            n += has[l][k];
        gw_rconv *c = pl_hmap_get(&tab, &cv);
        bad += n ? !c || c->refs != n : c != NULL;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(subs > 100 && unsubs > 100);
    pl_hmap_free(&pend);
    gw_rtab_free(&tab);
}

static void test_seq(void)
{
    int64_t last = -1, from = -7;
    CHECK_EQ_INT(gw_rseq_live(&last, 5, &from), GW_RSEQ_DELIVER); /* unknown */
    CHECK_EQ_INT(last, 5);
    CHECK_EQ_INT(gw_rseq_live(&last, 5, &from), GW_RSEQ_DROP); /* re-publish */
    CHECK_EQ_INT(gw_rseq_live(&last, 3, &from), GW_RSEQ_DROP);
    CHECK_EQ_INT(gw_rseq_live(&last, 6, &from), GW_RSEQ_DELIVER);
    CHECK_EQ_INT(from, -7);
    CHECK_EQ_INT(gw_rseq_live(&last, 10, &from), GW_RSEQ_REPAIR);
    CHECK_EQ_INT(from, 7); /* repair 7..9, then 10 */
    CHECK_EQ_INT(last, 10);
    last = 0; /* a baseline of an empty conversation */
    CHECK_EQ_INT(gw_rseq_live(&last, 1, &from), GW_RSEQ_DELIVER);
    CHECK_EQ_INT(gw_rseq_live(&last, 3, &from), GW_RSEQ_REPAIR);
    CHECK_EQ_INT(from, 2);
    /* confirmation checks */
    last = -1;
    CHECK_EQ_INT(gw_rseq_confirmed(&last, 40, 100, &from), 0);
    CHECK_EQ_INT(last, 40);
    CHECK_EQ_INT(gw_rseq_confirmed(&last, 40, 100, &from), 0);
    CHECK_EQ_INT(gw_rseq_confirmed(&last, 30, 100, &from), 0); /* behind */
    CHECK_EQ_INT(last, 40);
    CHECK_EQ_INT(gw_rseq_confirmed(&last, 45, 100, &from), 5);
    CHECK_EQ_INT(from, 41);
    CHECK_EQ_INT(last, 45);
    CHECK_EQ_INT(gw_rseq_confirmed(&last, 1045, 100, &from), 100); /* capped */
    CHECK_EQ_INT(from, 946);
    CHECK_EQ_INT(gw_rseq_cap(7, 9, 100), 7);
    CHECK_EQ_INT(gw_rseq_cap(1, 20000, 10000), 10001);
    CHECK_EQ_INT(gw_rseq_cap(1, 10000, 10000), 1);
}

static void test_batches(void)
{
    gw_rbatches b;
    gw_rbatch_init(&b);
    CHECK_EQ_INT(gw_rbatch_confirmed(&b), 0);
    gw_rbatch_drained(&b, 1);
    uint64_t fixed = gw_rbatch_add(&b); /* the gateway's own channels */
    gw_rbatch_add(&b);
    CHECK_EQ_INT(gw_rbatch_confirmed(&b), 0);
    gw_rbatch_drained(&b, 5);
    uint64_t x = gw_rbatch_add(&b);
    CHECK(x != fixed);
    gw_rbatch_drained(&b, 9); /* no new subscription at 9 */
    gw_rbatch_done(&b, x);    /* 5's are done, but 1's are not */
    CHECK_EQ_INT(gw_rbatch_confirmed(&b), 0);
    gw_rbatch_done(&b, fixed);
    CHECK_EQ_INT(gw_rbatch_confirmed(&b), 0);
    gw_rbatch_done(&b, fixed);
    CHECK_EQ_INT(gw_rbatch_confirmed(&b), 9); /* nothing outstanding */
    gw_rbatch_done(&b, fixed);                /* stale: ignored */
    gw_rbatch_done(&b, 12345);
    CHECK_EQ_INT(gw_rbatch_confirmed(&b), 9);
    gw_rbatch_drained(&b, 12);
    uint64_t y = gw_rbatch_add(&b);
    gw_rbatch_drained(&b, 15);
    uint64_t z = gw_rbatch_add(&b);
    gw_rbatch_done(&b, y);
    CHECK_EQ_INT(gw_rbatch_confirmed(&b), 12); /* 15 still waits */
    gw_rbatch_done(&b, z);
    CHECK_EQ_INT(gw_rbatch_confirmed(&b), 15);
    /* a full ring: later drains merge into the newest batch */
    uint64_t idx[GW_RBATCH_MAX + 10];
    for (int i = 0; i < GW_RBATCH_MAX + 10; i++) {
        gw_rbatch_drained(&b, 100 + (uint64_t)i);
        idx[i] = gw_rbatch_add(&b);
    }
    CHECK_EQ_INT(b.len, GW_RBATCH_MAX);
    CHECK_EQ_INT(idx[GW_RBATCH_MAX + 9], idx[GW_RBATCH_MAX - 1]);
    for (int i = 0; i < GW_RBATCH_MAX - 1; i++)
        gw_rbatch_done(&b, idx[i]);
    CHECK_EQ_INT(gw_rbatch_confirmed(&b), 100 + GW_RBATCH_MAX - 2);
    for (int i = GW_RBATCH_MAX - 1; i < GW_RBATCH_MAX + 10; i++)
        gw_rbatch_done(&b, idx[i]);
    CHECK_EQ_INT(gw_rbatch_confirmed(&b), 100 + GW_RBATCH_MAX + 9);
    CHECK_EQ_INT(b.len, 0);
}

int main(void)
{
    test_pending();
    test_rtab();
    test_model();
    test_seq();
    test_batches();
    UNIT_DONE();
}
