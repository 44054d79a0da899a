/* test_store_sqlite.c - the SQLite store backend through the pl_store_*
 * API, against a fresh temporary data directory: the backend-neutral
 * cases of store_suite.h plus the SQLite-specific ones here.
 *
 * The suite runs twice: with the default merge threshold (every message
 * stays in the in-memory tail) and with a tiny one (most messages are in
 * the merged msg_seq/msg_dedupe indexes); test_mixed puts one
 * conversation's rows on both sides of the merge point.
 *
 * Set PARLEY_STORE_BENCH=1 to also print (never assert) the append
 * throughput measurement at the end; docs/PERFORMANCE.md quotes it. */
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/store_sqlite_int.h" /* pl_sq_set_merge_rows */
#include "store_suite.h"

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_cfg(pl_config *cfg, const char *sub, const char *sync)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->store, sizeof(cfg->store), "sqlite");
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s/%s", tmpdir, sub);
    snprintf(cfg->sqlite_synchronous, sizeof(cfg->sqlite_synchronous), "%s",
             sync);
}

/* --- lifecycle ---------------------------------------------------------- */

static void test_open(void)
{
    pl_config cfg;
    pl_store *s = NULL;
    struct stat sb;

    make_cfg(&cfg, "open/a/b", "full");
    snprintf(cfg.store, sizeof(cfg.store), "nosuch");
    CHECK_EQ_INT(pl_store_open(&cfg, &s), PL_ERR_NOTFOUND);

    make_cfg(&cfg, "open/a/b", "sometimes");
    CHECK_EQ_INT(pl_store_open(&cfg, &s), PL_ERR_INVALID);

    make_cfg(&cfg, "open/a/b", "NORMAL");
    CHECK_EQ_INT(pl_store_open(&cfg, &s), PL_OK);
    CHECK_STR(pl_store_name(s), "sqlite");
    CHECK(stat(cfg.data_dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
    pl_store_close(s);

    /* A data dir that is a regular file cannot hold the database. */
    make_cfg(&cfg, "open/a/b/parley.db", "full");
    CHECK(pl_store_open(&cfg, &s) != PL_OK);
    pl_store_close(NULL);
    pl_store_conn_close(NULL);
}


/* --- throughput (printed, not asserted) ---------------------------------- */

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void bench_one(const char *sync, size_t batch)
{
    enum { NCONVS = 1000, TOTAL = 100000, NUSERS = 100 };
    pl_config cfg;
    pl_store *s = NULL;
    pl_store_conn *c = NULL;
    pl_user *u = calloc(NUSERS, sizeof(*u));
    pl_conv *cv = calloc(NCONVS, sizeof(*cv));
    pl_msg *m = calloc(batch, sizeof(*m));
    char(*buf)[160] = calloc(batch, 160);
    int64_t *seq = calloc(NCONVS, sizeof(*seq));
    char sub[64], name[32];
    double t0, t1, dt, *lat = calloc(TOTAL / batch + 1, sizeof(*lat));
    size_t done = 0, k, nlat = 0;

    /* Set up with synchronous=NORMAL (1000 group commits), then measure
     * on a fresh store handle with the setting under test. */
    snprintf(sub, sizeof(sub), "bench-%s-%zu", sync, batch);
    make_cfg(&cfg, sub, "normal");
    if (pl_store_open(&cfg, &s) != PL_OK || pl_store_conn_open(s, &c) != PL_OK)
        goto out;
    for (int i = 0; i < NUSERS; i++) {
        snprintf(name, sizeof(name), "bench%d", i);
        u[i] = mk_user(name);
    }
    pl_store_users_create_bulk(c, u, NUSERS);
    for (int i = 0; i < NCONVS; i++) {
        cv[i] = mk_group("bench", i);
        pl_store_conv_create_group(c, &cv[i], &u[i % NUSERS].id, NULL, 0);
    }
    pl_store_conn_close(c);
    pl_store_close(s);
    c = NULL;
    make_cfg(&cfg, sub, sync);
    if (pl_store_open(&cfg, &s) != PL_OK || pl_store_conn_open(s, &c) != PL_OK)
        goto out;
    t0 = now_s();
    while (done < TOTAL) {
        for (k = 0; k < batch; k++, done++) {
            size_t ci = (done * 7919) % NCONVS; /* interleaved */
            mk_msg(&m[k], &cv[ci].id, &u[done % NUSERS].id, ++seq[ci], "b",
                   buf[k], 160);
            /* ~100 B of content, like a chat line */
            snprintf(buf[k], 160,
                     "%s the quick brown fox jumps over the "
                     "lazy dog, again and again and again",
                     "msg");
            m[k].content_len = strlen(buf[k]);
        }
        t1 = now_s();
        if (pl_store_append(c, m, batch, NULL, 0) != PL_OK) {
            printf("bench: append failed\n");
            break;
        }
        lat[nlat++] = now_s() - t1;
    }
    dt = now_s() - t0;
    qsort(lat, nlat, sizeof(*lat), dbl_cmp);
    printf("append synchronous=%-6s batch=%-4zu %zu msgs over %d convs: "
           "%.2f s, %.0f rows/s; commit p50 %.2f p99 %.2f max %.1f ms\n",
           sync, batch, done, NCONVS, dt, (double)done / dt,
           nlat ? lat[nlat / 2] * 1e3 : 0.0,
           nlat ? lat[nlat * 99 / 100] * 1e3 : 0.0,
           nlat ? lat[nlat - 1] * 1e3 : 0.0);
out:
    pl_store_conn_close(c);
    pl_store_close(s);
    free(u);
    free(cv);
    free(m);
    free(buf);
    free(seq);
    free(lat);
}

static void bench(void)
{
    const char *env = getenv("PARLEY_STORE_BENCH");

    if (!env || strcmp(env, "1") != 0)
        return; /* a benchmark, not a test: only on request */
    bench_one("full", 100);
    bench_one("full", 1000);
    bench_one("normal", 100);
    bench_one("normal", 1000);
}

/* --- one conversation across the merge point ------------------------------ */

static void append_seqs(pl_store_conn *c, const pl_uuid *conv,
                        const pl_uuid *sender, int64_t from, int64_t to,
                        pl_status want)
{
    pl_msg m[128];
    char buf[128][64];
    size_t n = 0;

    for (int64_t s = from; s <= to && n < 128; s++, n++)
        mk_msg(&m[n], conv, sender, s, "mx", buf[n], 64);
    CHECK_EQ_INT(pl_store_append(c, m, n, NULL, 0), want);
}

static void test_mixed(pl_store *s, pl_store_conn *c, const pl_uuid *sender)
{
    pl_conv cv = mk_group("mixed", 7), *l;
    pl_store_conn *c2 = NULL;
    int64_t last = 0;
    pl_msg got;
    size_t n;

    CHECK_EQ_INT(pl_store_conv_create_group(c, &cv, sender, NULL, 0), PL_OK);
    CHECK_EQ_INT(pl_store_conn_open(s, &c2), PL_OK);
    if (!c2)
        return;
    pl_sq_set_merge_rows(s, 1); /* seqs 1..60 merged */
    append_seqs(c, &cv.id, sender, 1, 60, PL_OK);
    pl_sq_set_merge_rows(s, 1000000); /* 61..100 stay in the tail */
    append_seqs(c, &cv.id, sender, 61, 100, PL_OK);

    check_range(c, &cv.id, 50, 0, 20, 51, 20, true);
    check_range(c2, &cv.id, 50, 0, 20, 51, 20, true); /* c2 syncs */
    check_range(c2, &cv.id, -1, 65, 10, 55, 10, true);
    check_range(c2, &cv.id, -1, 0, 10, 91, 10, true);
    check_range(c2, &cv.id, 0, 0, 1000, 1, 100, false);
    check_range(c2, &cv.id, -1, 0, 100, 1, 100, false);
    CHECK_EQ_INT(pl_store_conv_last_seq(c2, &cv.id, &last), PL_OK);
    CHECK_EQ_INT(last, 100);

    /* The fences hold on both sides and from the other connection. */
    append_seqs(c2, &cv.id, sender, 30, 30, PL_ERR_CONFLICT);
    append_seqs(c2, &cv.id, sender, 70, 70, PL_ERR_CONFLICT);
    CHECK_EQ_INT(pl_store_msg_by_client_id(c2, &cv.id, sender, "mx-30", &got),
                 PL_OK);
    CHECK_EQ_INT(got.seq, 30);
    pl_msg_clear(&got);
    CHECK_EQ_INT(pl_store_msg_by_client_id(c2, &cv.id, sender, "mx-70", &got),
                 PL_OK);
    CHECK_EQ_INT(got.seq, 70);
    pl_msg_clear(&got);

    /* A failed batch leaves nothing in c2's tail: its seqs are free. */
    append_seqs(c2, &cv.id, sender, 101, 101, PL_OK);
    {
        pl_msg m[5];
        char buf[5][64];
        for (int i = 0; i < 5; i++)
            mk_msg(&m[i], &cv.id, sender, 102 + i, "mx", buf[i], 64);
        m[4].seq = 50;
        CHECK_EQ_INT(pl_store_append(c2, m, 5, NULL, 0), PL_ERR_CONFLICT);
    }
    CHECK_EQ_INT(pl_store_conv_last_seq(c, &cv.id, &last), PL_OK);
    CHECK_EQ_INT(last, 101);
    append_seqs(c2, &cv.id, sender, 102, 110, PL_OK);

    /* Out of order in the tail: reads still come back sorted. */
    append_seqs(c, &cv.id, sender, 200, 200, PL_OK);
    append_seqs(c, &cv.id, sender, 150, 150, PL_OK);
    check_range(c2, &cv.id, 109, 0, 1, 110, 1, true);
    CHECK_EQ_INT(pl_store_conv_last_seq(c2, &cv.id, &last), PL_OK);
    CHECK_EQ_INT(last, 200);
    {
        pl_msg *m;
        bool more;
        CHECK_EQ_INT(pl_store_msgs_range(c2, &cv.id, 108, 0, 10, &m, &n, &more),
                     PL_OK);
        CHECK_EQ_INT(n, 4);
        if (n == 4) {
            CHECK_EQ_INT(m[2].seq, 150);
            CHECK_EQ_INT(m[3].seq, 200);
        }
        pl_msg_list_free(m, n);
        CHECK_EQ_INT(pl_store_msgs_range(c2, &cv.id, -1, 0, 2, &m, &n, &more),
                     PL_OK);
        CHECK_EQ_INT(n, 2);
        if (n == 2) {
            CHECK_EQ_INT(m[0].seq, 150);
            CHECK_EQ_INT(m[1].seq, 200);
        }
        CHECK(more);
        pl_msg_list_free(m, n);
    }

    /* c2 merges everything; c sees the same data through the index. */
    pl_sq_set_merge_rows(s, 1);
    append_seqs(c2, &cv.id, sender, 201, 201, PL_OK);
    pl_sq_set_merge_rows(s, 1000000);
    check_range(c, &cv.id, 100, 0, 10, 101, 10, true);
    append_seqs(c, &cv.id, sender, 201, 201, PL_ERR_CONFLICT);
    append_seqs(c, &cv.id, sender, 100, 100, PL_ERR_CONFLICT);
    CHECK_EQ_INT(pl_store_conv_last_seq(c, &cv.id, &last), PL_OK);
    CHECK_EQ_INT(last, 201);

    /* conv_list sees the tail: a new message makes it the most recent. */
    {
        pl_msg m;
        char buf[64];
        mk_msg(&m, &cv.id, sender, 202, "mx", buf, sizeof(buf));
        m.created_ms = 1900000000000;
        CHECK_EQ_INT(pl_store_append(c2, &m, 1, NULL, 0), PL_OK);
    }
    CHECK_EQ_INT(pl_store_conv_list(c, sender, 1, &l, &n), PL_OK);
    CHECK_EQ_INT(n, 1);
    if (n == 1)
        CHECK(pl_uuid_eq(&l[0].id, &cv.id));
    free(l);
    pl_store_conn_close(c2);
}

static void run_suite(const char *sub, int64_t merge_rows)
{
    pl_config cfg;
    pl_store *s = NULL;
    pl_store_conn *c = NULL;
    msg_fixture *f = calloc(1, sizeof(*f));

    printf("suite %s (merge every %lld rows)\n", sub, (long long)merge_rows);
    make_cfg(&cfg, sub, "full");
    CHECK_EQ_INT(pl_store_open(&cfg, &s), PL_OK);
    if (s) {
        pl_sq_set_merge_rows(s, merge_rows);
        CHECK_EQ_INT(pl_store_conn_open(s, &c), PL_OK);
    }
    if (c) {
        store_suite(s, c, f);
        test_mixed(s, c, &f->sender.id);
    }
    pl_store_conn_close(c);
    pl_store_close(s);
    if (c)
        test_reopen(&cfg, f);
    free(f);
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/parley-store-test-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_open();
    run_suite("tail", 1000000);
    run_suite("merged", 250);
    bench();
    rm_tree(tmpdir);
    UNIT_DONE();
}
