/* test_limtab.c - the limiter table: buckets per key, connection counts,
 * the bound on entries (eviction, never of an entry with connections),
 * expiry by sweep, and concurrent use from several threads. */
#include "core/limtab.h"

#include <pthread.h>

#include "unit.h"

static pl_limkey key(pl_limtab *t, int purpose, int i)
{
    return pl_limtab_key(t, purpose, &i, sizeof i);
}

static void test_buckets(void)
{
    pl_limtab *t = pl_limtab_new(1024);
    pl_limit l = {10, 5}; /* 10/s, burst 5 */
    pl_limkey a = key(t, PL_LIM_LOGIN_IP, 1), b = key(t, PL_LIM_LOGIN_USER, 1);
    int64_t retry = 0, now = 1000;
    CHECK(memcmp(a.b, b.b, 16) != 0); /* the purpose is part of the key */
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(pl_limtab_take(t, &a, l, now, &retry), PL_OK);
    CHECK_EQ_INT(pl_limtab_take(t, &a, l, now, &retry), PL_AGAIN);
    CHECK(retry > 0 && retry <= 101);
    CHECK_EQ_INT(pl_limtab_take(t, &b, l, now, &retry), PL_OK); /* separate */
    CHECK_EQ_INT(pl_limtab_take(t, &a, l, now + 101, &retry), PL_OK);
    CHECK_EQ_INT(pl_limtab_take(t, &a, l, now + 50, &retry), PL_AGAIN);
    pl_limtab_give(t, &a, l, now + 102, 1); /* a refund */
    CHECK_EQ_INT(pl_limtab_take(t, &a, l, now + 102, &retry), PL_OK);
    CHECK_EQ_INT(pl_limtab_take(t, &a, l, now + 102, &retry), PL_AGAIN);
    pl_limtab_give(t, &a, l, now + 102, -1); /* a reset */
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(pl_limtab_take(t, &a, l, now + 102, &retry), PL_OK);
    pl_limit off = {0, 0};
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(pl_limtab_take(t, &a, off, now, &retry), PL_OK);
    CHECK_EQ_INT(pl_limtab_len(t), 2);
    /* refilled buckets hold nothing: a sweep drops them */
    size_t swept = 0;
    for (unsigned s = 0; s < 16; s++)
        swept += pl_limtab_sweep(t, s, now + 10000);
    CHECK_EQ_INT(swept, 2);
    CHECK_EQ_INT(pl_limtab_len(t), 0);
    pl_limtab_free(t);
}

static void test_conns(void)
{
    pl_limtab *t = pl_limtab_new(1024);
    pl_limit l = {1, 3};
    pl_limkey a = key(t, PL_LIM_CONN, 7);
    int64_t retry = 0, now = 5000;
    CHECK_EQ_INT(pl_limtab_conn_open(t, &a, l, 2, now, &retry), PL_OK);
    CHECK_EQ_INT(pl_limtab_conn_open(t, &a, l, 2, now, &retry), PL_OK);
    CHECK_EQ_INT(pl_limtab_conn_open(t, &a, l, 2, now, &retry),
                 PL_ERR_TOOLARGE);
    CHECK_EQ_INT(pl_limtab_conn_open(t, &a, l, 2, now, &retry), PL_AGAIN);
    CHECK(retry > 0 && retry <= 1001);
    pl_limtab_conn_close(t, &a);
    CHECK_EQ_INT(pl_limtab_conn_open(t, &a, l, 2, now + 1000, &retry), PL_OK);
    /* an entry with open connections survives any sweep */
    for (unsigned s = 0; s < 16; s++)
        pl_limtab_sweep(t, s, now + 1000000);
    CHECK_EQ_INT(pl_limtab_len(t), 1);
    CHECK_EQ_INT(pl_limtab_conn_open(t, &a, l, 2, now + 1000000, &retry),
                 PL_ERR_TOOLARGE);
    pl_limtab_conn_close(t, &a);
    pl_limtab_conn_close(t, &a);
    pl_limtab_conn_close(t, &a); /* one too many: no underflow */
    CHECK_EQ_INT(pl_limtab_conn_open(t, &a, (pl_limit){0, 0}, 1, now, &retry),
                 PL_OK);
    CHECK_EQ_INT(pl_limtab_conn_open(t, &a, (pl_limit){0, 0}, 1, now, &retry),
                 PL_ERR_TOOLARGE);
    pl_limtab_free(t);
}

static void test_bound(void)
{
    pl_limtab *t = pl_limtab_new(256); /* 16 per shard */
    pl_limit l = {1, 10};
    int64_t retry = 0, now = 1000;
    /* 10,000 keys, each with an empty-ish bucket: the table stays at its
     * bound by evicting */
    for (int i = 0; i < 10000; i++) {
        pl_limkey k = key(t, PL_LIM_LOGIN_USER, i);
        CHECK_EQ_INT(pl_limtab_take(t, &k, l, now, &retry), PL_OK);
    }
    CHECK_EQ_INT(pl_limtab_len(t), 256);
    CHECK(pl_limtab_evictions(t) >= 10000 - 256);
    /* entries holding connections are never evicted: fill all 256 slots
     * with them and new keys are refused */
    pl_limtab *c = pl_limtab_new(256);
    int counted = 0, busy = 0;
    for (int i = 0; i < 2000 && busy == 0; i++) {
        pl_limkey k = key(c, PL_LIM_CONN, i);
        pl_status st = pl_limtab_conn_open(c, &k, l, 0, now, &retry);
        counted += st == PL_OK;
        busy += st == PL_ERR_BUSY;
    }
    CHECK_EQ_INT(busy, 1);
    CHECK(counted <= 256 && counted >= 16);
    CHECK_EQ_INT(pl_limtab_evictions(c), 0);
    pl_limtab_free(c);
    pl_limtab_free(t);
}

typedef struct worker {
    pl_limtab *t;
    int id;
} worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    int64_t retry;
    for (int i = 0; i < 20000; i++) {
        pl_limkey k = key(w->t, PL_LIM_CONN, i % 50);
        if (pl_limtab_conn_open(w->t, &k, (pl_limit){0, 0}, 0, 1000 + i,
                                &retry) == PL_OK)
            pl_limtab_conn_close(w->t, &k);
        pl_limkey u = key(w->t, PL_LIM_LOGIN_USER, w->id * 100000 + i);
        pl_limtab_take(w->t, &u, (pl_limit){1, 3}, 1000 + i, &retry);
        if (i % 1000 == 0)
            pl_limtab_sweep(w->t, (unsigned)i / 1000, 1000 + i);
    }
    return NULL;
}

static void test_threads(void)
{
    pl_limtab *t = pl_limtab_new(4096);
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){t, i};
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(pl_limtab_len(t) <= 4096);
    /* every counted connection was closed: each key takes a full max */
    int64_t retry;
    for (int i = 0; i < 50; i++) {
        pl_limkey k = key(t, PL_LIM_CONN, i);
        CHECK_EQ_INT(pl_limtab_conn_open(t, &k, (pl_limit){0, 0}, 1, 1, &retry),
                     PL_OK);
    }
    pl_limtab_free(t);
}

int main(void)
{
    test_buckets();
    test_conns();
    test_bound();
    test_threads();
    UNIT_DONE();
}
