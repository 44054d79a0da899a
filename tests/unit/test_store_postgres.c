/* test_store_postgres.c - the PostgreSQL store backend through the
 * pl_store_* API against a real server: the backend-neutral cases of
 * store_suite.h plus migrations, the conflict fence, the denormalised
 * counters, timeouts and connection loss.
 *
 * Needs PARLEY_TEST_PG_DSN (a libpq URI or keyword=value conninfo, e.g. from
 * `scripts/infra/postgres.sh up DIR` then DIR/postgres/env as
 * PARLEY_PG_DSN); without it prints SKIP and exits 77 (ctest: skipped).
 * Each run works in fresh schemas of that database and drops them.
 *
 * Set PARLEY_STORE_BENCH=1 to also print (never assert) the append
 * throughput at batch 100 and 1000, through pl_store_append (one unnest
 * statement) and, for comparison, through libpq's pipeline mode (one
 * INSERT per row); docs/PERFORMANCE.md quotes it. */
#include <libpq-fe.h>
#include <signal.h>
#include <unistd.h>

#include "backends/store_postgres_int.h" /* pl_pg_backend_pid */
#include "core/timeutil.h"
#include "store_suite.h"

#define SKIP_EXIT 77

static const char *base_dsn;
static PGconn *admin; /* the test's own connection, for checks and sabotage */
static char schemas[16][64];
static int nschemas;

/* --- helpers ----------------------------------------------------------------
 */

static void admin_exec(const char *sql)
{
    PGresult *r = PQexec(admin, sql);

    if (PQresultStatus(r) != PGRES_COMMAND_OK &&
        PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "admin: %s: %s", sql, PQerrorMessage(admin));
    PQclear(r);
}

/* The one integer answered by sql, -1 on error. */
static long long admin_int(const char *sql)
{
    PGresult *r = PQexec(admin, sql);
    long long v = -1;

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = atoll(PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "admin: %s: %s", sql, PQerrorMessage(admin));
    PQclear(r);
    return v;
}

/* A fresh schema; cfg points the store at it. */
static void make_cfg(pl_config *cfg, const char *tag)
{
    char sql[128];
    char *name = schemas[nschemas < 16 ? nschemas++ : 15];

    pl_config_defaults(cfg);
    snprintf(cfg->store, sizeof(cfg->store), "postgres");
    snprintf(name, 64, "unit_%s_%d_%ld", tag, (int)getpid(), (long)time(NULL));
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", name);
    admin_exec(sql);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", name);
    admin_exec(sql);
    if (strncmp(base_dsn, "postgres", 8) == 0) /* a URI */
        snprintf(cfg->pg_dsn, sizeof(cfg->pg_dsn),
                 "%s%coptions=-c%%20search_path%%3D%s", base_dsn,
                 strchr(base_dsn, '?') ? '&' : '?', name);
    else
        snprintf(cfg->pg_dsn, sizeof(cfg->pg_dsn),
                 "%s options='-c search_path=%s'", base_dsn, name);
}

static void drop_schemas(void)
{
    char sql[128];

    for (int i = 0; i < nschemas; i++) {
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %.63s CASCADE",
                 schemas[i]);
        admin_exec(sql);
    }
}

/* SET search_path of the admin connection to the last schema made. */
static void admin_use(const char *schema)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SET search_path = %s", schema);
    admin_exec(sql);
}

/* --- lifecycle and migrations -----------------------------------------------
 */

static void test_open(void)
{
    pl_config cfg;
    pl_store *s = NULL;
    int64_t t0;

    make_cfg(&cfg, "open");
    snprintf(cfg.pg_dsn, sizeof(cfg.pg_dsn), "host=127.0.0.1 port='");
    CHECK_EQ_INT(pl_store_open(&cfg, &s), PL_ERR_INVALID);

    /* Nothing listens on port 1: refused at once, not a hang. */
    snprintf(cfg.pg_dsn, sizeof(cfg.pg_dsn), "host=127.0.0.1 port=1");
    cfg.pg_connect_timeout_ms = 2000;
    t0 = pl_mono_ms();
    CHECK(pl_store_open(&cfg, &s) != PL_OK);
    CHECK(pl_mono_ms() - t0 < 2500);
}

typedef struct opener {
    pl_config *cfg;
    pl_status rc;
} opener;

static void *open_main(void *arg)
{
    opener *o = arg;
    pl_store *s = NULL;

    o->rc = pl_store_open(o->cfg, &s);
    pl_store_close(s);
    return NULL;
}

static void test_migrations(void)
{
    enum { N = 4 };
    pl_config cfg;
    opener o[N];
    pthread_t t[N];
    char sql[160];

    /* N instances start at once on an empty schema: each migration is
     * applied once, all of them succeed. */
    make_cfg(&cfg, "migr");
    for (int i = 0; i < N; i++) {
        o[i].cfg = &cfg;
        o[i].rc = PL_ERR;
        CHECK(pthread_create(&t[i], NULL, open_main, &o[i]) == 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(o[i].rc, PL_OK);
    }
    admin_use(schemas[nschemas - 1]);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM schema_migrations WHERE version <= %d",
             pl_pg_schema_version());
    CHECK_EQ_INT(admin_int(sql), pl_pg_schema_version());
    CHECK_EQ_INT(admin_int("SELECT max(version) FROM schema_migrations"),
                 pl_pg_schema_version());
    /* Idempotent: opening again changes nothing. */
    open_main(&o[0]);
    CHECK_EQ_INT(o[0].rc, PL_OK);
    CHECK_EQ_INT(admin_int("SELECT count(*) FROM schema_migrations"),
                 pl_pg_schema_version());
    /* A schema from a newer parley is refused, not downgraded. */
    snprintf(sql, sizeof(sql),
             "INSERT INTO schema_migrations VALUES (%d, now())",
             pl_pg_schema_version() + 1);
    admin_exec(sql);
    open_main(&o[0]);
    CHECK_EQ_INT(o[0].rc, PL_ERR_INVALID);
}

/* --- the fence and the counters ------------------------------------------- */

static void append_range(pl_store_conn *c, const pl_uuid *conv,
                         const pl_uuid *sender, int64_t from, int64_t to,
                         const char *tag, pl_status want)
{
    pl_msg m[64];
    char buf[64][64];
    size_t n = 0;

    for (int64_t s = from; s <= to && n < 64; s++, n++)
        mk_msg(&m[n], conv, sender, s, tag, buf[n], 64);
    CHECK_EQ_INT(pl_store_append(c, m, n, NULL, 0), want);
}

typedef struct racer {
    pl_store *s;
    pl_uuid conv, sender;
    const char *tag;
    int wins, conflicts, other;
} racer;

/* Both racers store seqs 1..200 of one conversation, 10 per batch: each
 * batch either wins whole or fails whole with CONFLICT. */
static void *racer_main(void *arg)
{
    racer *r = arg;
    pl_store_conn *c = NULL;
    pl_msg m[10];
    char buf[10][64];

    if (pl_store_conn_open(r->s, &c) != PL_OK) {
        r->other = -1;
        return NULL;
    }
    for (int64_t b = 0; b < 20; b++) {
        for (int i = 0; i < 10; i++)
            mk_msg(&m[i], &r->conv, &r->sender, b * 10 + i + 1, r->tag, buf[i],
                   64);
        pl_status rc = pl_store_append(c, m, 10, NULL, 0);
        if (rc == PL_OK)
            r->wins++;
        else if (rc == PL_ERR_CONFLICT)
            r->conflicts++;
        else
            r->other++;
    }
    pl_store_conn_close(c);
    return NULL;
}

static void test_fence(pl_store *s, pl_store_conn *c, const pl_uuid *sender)
{
    pl_conv cv = mk_group("fence", 1);
    pl_store_conn *c2 = NULL;
    racer r[2];
    pthread_t t[2];
    int64_t last = 0;
    pl_msg got;

    CHECK_EQ_INT(pl_store_conv_create_group(c, &cv, sender, NULL, 0), PL_OK);
    CHECK_EQ_INT(pl_store_conn_open(s, &c2), PL_OK);
    if (!c2)
        return;
    append_range(c, &cv.id, sender, 1, 10, "f", PL_OK);
    /* A zombie writer on another connection: seq taken, id taken. */
    append_range(c2, &cv.id, sender, 10, 11, "z", PL_ERR_CONFLICT);
    append_range(c2, &cv.id, sender, 5, 5, "z", PL_ERR_CONFLICT);
    CHECK_EQ_INT(pl_store_conv_last_seq(c2, &cv.id, &last), PL_OK);
    CHECK_EQ_INT(last, 10);
    {
        pl_msg m;
        char buf[64];
        mk_msg(&m, &cv.id, sender, 11, "f", buf, sizeof(buf));
        snprintf(m.client_msg_id, sizeof(m.client_msg_id), "f-3");
        CHECK_EQ_INT(pl_store_append(c2, &m, 1, NULL, 0), PL_ERR_CONFLICT);
    }
    /* The retry check the messaging role does after a CONFLICT. */
    CHECK_EQ_INT(pl_store_msg_by_client_id(c2, &cv.id, sender, "f-3", &got),
                 PL_OK);
    CHECK_EQ_INT(got.seq, 3);
    pl_msg_clear(&got);
    pl_store_conn_close(c2);

    /* Two writers race for the same seqs of a new conversation. */
    cv = mk_group("race", 2);
    CHECK_EQ_INT(pl_store_conv_create_group(c, &cv, sender, NULL, 0), PL_OK);
    for (int i = 0; i < 2; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].s = s;
        r[i].conv = cv.id;
        r[i].sender = *sender;
        r[i].tag = i ? "rb" : "ra";
        CHECK(pthread_create(&t[i], NULL, racer_main, &r[i]) == 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_INT(r[0].other + r[1].other, 0);
    CHECK_EQ_INT(r[0].wins + r[1].wins, 20);
    CHECK_EQ_INT(r[0].conflicts + r[1].conflicts, 20);
    CHECK_EQ_INT(pl_store_conv_last_seq(c, &cv.id, &last), PL_OK);
    CHECK_EQ_INT(last, 200);
    check_range(c, &cv.id, 0, 0, 200, 1, 200, false);
}

/* The columns kept by the statements equal what a scan computes. */
static void test_counters(const char *schema)
{
    admin_use(schema);
    CHECK_EQ_INT(admin_int("SELECT count(*) FROM conversations c WHERE"
                           " c.member_count <> (SELECT count(*) FROM"
                           " conversation_members m WHERE m.conv_id = c.id)"),
                 0);
    CHECK_EQ_INT(admin_int("SELECT count(*) FROM conversations c WHERE"
                           " c.last_seq <> coalesce((SELECT max(seq) FROM"
                           " messages m WHERE m.conv_id = c.id), 0)"),
                 0);
    CHECK(admin_int("SELECT count(*) FROM conversations") > 10);
}

/* --- timeouts and connection loss ------------------------------------------
 */

typedef struct killer {
    int pid;
    int delay_ms;
} killer;

static void *killer_main(void *arg)
{
    killer *k = arg;
    char sql[96];

    usleep((useconds_t)k->delay_ms * 1000);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", k->pid);
    admin_exec(sql);
    return NULL;
}

static void test_reconnect(pl_store *s, const pl_uuid *sender)
{
    pl_store_conn *c = NULL;
    pl_conv cv = mk_group("reconnect", 3);
    int64_t last = -1;
    killer k = {0, 300};
    pthread_t t;
    int pid;

    CHECK_EQ_INT(pl_store_conn_open(s, &c), PL_OK);
    if (!c)
        return;
    CHECK_EQ_INT(pl_store_conv_create_group(c, &cv, sender, NULL, 0), PL_OK);

    /* Lost while idle (server restart, admin kill): the next call notices
     * before sending and runs on a new connection. */
    pid = pl_pg_backend_pid(c);
    k.pid = pid;
    k.delay_ms = 0;
    killer_main(&k);
    usleep(100 * 1000);
    CHECK_EQ_INT(pl_store_conv_last_seq(c, &cv.id, &last), PL_OK);
    CHECK_EQ_INT(last, 0);
    CHECK(pl_pg_backend_pid(c) != pid && pl_pg_backend_pid(c) != 0);

    /* Lost in flight: the append waits on a lock, its backend is killed:
     * an error (the outcome is unknown), never a crash; nothing stored. */
    admin_exec("BEGIN");
    admin_use(schemas[0]);
    admin_exec("LOCK TABLE conversations IN EXCLUSIVE MODE");
    k.pid = pl_pg_backend_pid(c);
    k.delay_ms = 300;
    CHECK(pthread_create(&t, NULL, killer_main, &k) == 0);
    append_range(c, &cv.id, sender, 1, 3, "rc", PL_ERR_IO);
    pthread_join(t, NULL);
    admin_exec("ROLLBACK");
    /* The next call reconnects. */
    CHECK_EQ_INT(pl_store_conv_last_seq(c, &cv.id, &last), PL_OK);
    CHECK_EQ_INT(last, 0);
    append_range(c, &cv.id, sender, 1, 3, "rc", PL_OK);
    CHECK_EQ_INT(pl_store_conv_last_seq(c, &cv.id, &last), PL_OK);
    CHECK_EQ_INT(last, 3);
    pl_store_conn_close(c);
}

/* A server that stops answering (its backend stopped): the call gives up
 * at the client deadline (pg-timeout-ms + 2 s) with IO, the next call
 * reconnects. Needs the right to signal the backend (root, or the
 * server's own user); skipped otherwise. */
static void test_no_answer(pl_store_conn *c, const pl_uuid *conv)
{
    int pid = pl_pg_backend_pid(c);
    int64_t last = -1, t0;

    if (pid <= 0 || kill(pid, SIGSTOP) != 0) {
        printf("SKIP: test_no_answer: cannot stop backend %d\n", pid);
        return;
    }
    t0 = pl_mono_ms();
    CHECK_EQ_INT(pl_store_conv_last_seq(c, conv, &last), PL_ERR_IO);
    CHECK(pl_mono_ms() - t0 >= 2000 && pl_mono_ms() - t0 < 5000);
    kill(pid, SIGCONT);
    CHECK_EQ_INT(pl_store_conv_last_seq(c, conv, &last), PL_OK);
    CHECK_EQ_INT(last, 3);
    CHECK(pl_pg_backend_pid(c) != pid);
}

/* A statement stuck on a lock past pg-timeout-ms is cancelled by the
 * server: BUSY (rolled back for sure, safe to retry), nothing stored. */
static void test_timeout(const pl_config *base, const pl_uuid *sender)
{
    pl_config cfg = *base;
    pl_store *s = NULL;
    pl_store_conn *c = NULL;
    pl_conv cv = mk_group("timeout", 4);
    int64_t last = -1, t0;

    cfg.pg_timeout_ms = 300;
    CHECK_EQ_INT(pl_store_open(&cfg, &s), PL_OK);
    if (!s || pl_store_conn_open(s, &c) != PL_OK) {
        pl_store_close(s);
        CHECK(0);
        return;
    }
    CHECK_EQ_INT(pl_store_conv_create_group(c, &cv, sender, NULL, 0), PL_OK);
    admin_exec("BEGIN");
    admin_use(schemas[0]);
    admin_exec("LOCK TABLE conversations IN EXCLUSIVE MODE");
    t0 = pl_mono_ms();
    append_range(c, &cv.id, sender, 1, 3, "to", PL_ERR_BUSY);
    CHECK(pl_mono_ms() - t0 < 2000);
    admin_exec("ROLLBACK");
    CHECK_EQ_INT(pl_store_conv_last_seq(c, &cv.id, &last), PL_OK);
    CHECK_EQ_INT(last, 0);
    append_range(c, &cv.id, sender, 1, 3, "to", PL_OK);
    test_no_answer(c, &cv.id);
    pl_store_conn_close(c);
    pl_store_close(s);
}

/* --- throughput (printed, not asserted) ------------------------------------
 */

typedef struct bench_set {
    pl_user u[100];
    pl_conv cv[1000];
    int64_t seq[1000];
} bench_set;

static void bench_setup(pl_store_conn *c, bench_set *b, const char *tag)
{
    char name[32];

    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "%s%d", tag, i);
        b->u[i] = mk_user(name);
    }
    pl_store_users_create_bulk(c, b->u, 100);
    for (int i = 0; i < 1000; i++) {
        b->cv[i] = mk_group("bench", i);
        pl_store_conv_create_group(c, &b->cv[i], &b->u[i % 100].id, NULL, 0);
        b->seq[i] = 0;
    }
}

/* The next batch: interleaved over 1000 conversations, ~100 B each. */
static void bench_batch(bench_set *b, pl_msg *m, char (*buf)[160], size_t batch,
                        size_t *done)
{
    for (size_t k = 0; k < batch; k++, (*done)++) {
        size_t ci = (*done * 7919) % 1000;
        mk_msg(&m[k], &b->cv[ci].id, &b->u[*done % 100].id, ++b->seq[ci], "b",
               buf[k], 160);
        snprintf(buf[k], 160,
                 "%s the quick brown fox jumps over the lazy "
                 "dog, again and again and again",
                 "msg");
        m[k].content_len = strlen(buf[k]);
    }
}

/* The pipeline alternative to the unnest statement: BEGIN, one INSERT per
 * message and one UPDATE per conversation, COMMIT, one Sync. */
static int pipeline_append(PGconn *pg, const pl_msg *m, size_t n)
{
    char seq[24], ms[24];
    const char *v[7];
    int len[7] = {16, 0, 16, 16, 0, 0, 0}, fmt[7] = {1, 0, 1, 1, 0, 1, 0};
    PGresult *r;
    int bad = 0;

    PQsendQueryParams(pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(seq, sizeof(seq), "%lld", (long long)m[i].seq);
        snprintf(ms, sizeof(ms), "%lld", (long long)m[i].created_ms);
        v[0] = (const char *)m[i].conv_id.b;
        v[1] = seq;
        v[2] = (const char *)m[i].msg_id.b;
        v[3] = (const char *)m[i].sender_id.b;
        v[4] = m[i].client_msg_id;
        v[5] = m[i].content;
        len[5] = (int)m[i].content_len;
        v[6] = ms;
        PQsendQueryPrepared(pg, "ins", 7, v, len, fmt, 0);
        PQsendQueryPrepared(pg, "upd", 3, (const char *[]){v[0], seq, ms},
                            (int[]){16, 0, 0}, (int[]){1, 0, 0}, 0);
    }
    PQsendQueryParams(pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    PQpipelineSync(pg);
    for (;;) {
        r = PQgetResult(pg);
        if (!r) {
            continue; /* end of one query's results */
        }
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (PQresultStatus(r) == PGRES_FATAL_ERROR)
            bad = 1;
        PQclear(r);
    }
    return bad;
}

static PGconn *bench_pipeline_conn(const char *dsn)
{
    PGconn *pg = PQconnectdb(dsn);
    PGresult *r;

    r = PQprepare(pg, "ins",
                  "INSERT INTO messages (conv_id, seq, msg_id, sender_id,"
                  " client_msg_id, content, created_ms)"
                  " VALUES ($1::uuid, $2::int8, $3::uuid, $4::uuid, $5::text,"
                  " $6::bytea, $7::int8)",
                  0, NULL);
    PQclear(r);
    r = PQprepare(pg, "upd",
                  "UPDATE conversations SET last_seq = greatest(last_seq,"
                  " $2::int8), last_msg_ms = $3::int8 WHERE id = $1::uuid",
                  0, NULL);
    PQclear(r);
    PQenterPipelineMode(pg);
    return pg;
}

static void bench_one(const pl_config *cfg, size_t batch, bool pipeline)
{
    enum { TOTAL = 100000 };
    pl_store *s = NULL;
    pl_store_conn *c = NULL;
    PGconn *pg = NULL;
    bench_set *b = calloc(1, sizeof(*b));
    pl_msg *m = calloc(batch, sizeof(*m));
    char(*buf)[160] = calloc(batch, 160);
    size_t done = 0;
    double t0, dt;
    char tag[16];

    snprintf(tag, sizeof(tag), "b%zu%c", batch, pipeline ? 'p' : 'u');
    if (pl_store_open(cfg, &s) != PL_OK || pl_store_conn_open(s, &c) != PL_OK)
        goto out;
    bench_setup(c, b, tag);
    if (pipeline)
        pg = bench_pipeline_conn(cfg->pg_dsn);
    t0 = now_s();
    while (done < TOTAL) {
        bench_batch(b, m, buf, batch, &done);
        if (pipeline ? pipeline_append(pg, m, batch) != 0
                     : pl_store_append(c, m, batch, NULL, 0) != PL_OK) {
            printf("bench: append failed\n");
            break;
        }
    }
    dt = now_s() - t0;
    printf("append %-8s batch=%-4zu %zu msgs over 1000 convs: %.2f s, "
           "%.0f rows/s\n",
           pipeline ? "pipeline" : "unnest", batch, done, dt,
           (double)done / dt);
out:
    PQfinish(pg);
    pl_store_conn_close(c);
    pl_store_close(s);
    free(b);
    free(m);
    free(buf);
}

static void bench(void)
{
    const char *env = getenv("PARLEY_STORE_BENCH");
    pl_config cfg;

    if (!env || strcmp(env, "1") != 0)
        return; /* a benchmark, not a test: only on request */
    make_cfg(&cfg, "bench");
    bench_one(&cfg, 100, false);
    bench_one(&cfg, 1000, false);
    bench_one(&cfg, 100, true);
    bench_one(&cfg, 1000, true);
}

/* --- main --------------------------------------------------------------------
 */

static void run_suite(void)
{
    pl_config cfg;
    pl_store *s = NULL;
    pl_store_conn *c = NULL;
    msg_fixture *f = calloc(1, sizeof(*f));

    make_cfg(&cfg, "suite"); /* schemas[0]: the tests that LOCK use it */
    CHECK_EQ_INT(pl_store_open(&cfg, &s), PL_OK);
    if (s)
        CHECK_EQ_INT(pl_store_conn_open(s, &c), PL_OK);
    if (c) {
        CHECK_STR(pl_store_name(s), "postgres");
        store_suite(s, c, f);
        test_fence(s, c, &f->sender.id);
        test_reconnect(s, &f->sender.id);
        test_timeout(&cfg, &f->sender.id);
        test_counters(schemas[0]);
    }
    pl_store_conn_close(c);
    pl_store_close(s);
    if (c)
        test_reopen(&cfg, f);
    free(f);
}

int main(void)
{
    base_dsn = getenv("PARLEY_TEST_PG_DSN");
    if (!base_dsn || !*base_dsn) {
        printf("SKIP: test_store_postgres: PARLEY_TEST_PG_DSN is not set "
               "(scripts/test.sh starts a server and sets it)\n");
        return SKIP_EXIT;
    }
    admin = PQconnectdb(base_dsn);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "cannot connect to %s: %s", base_dsn,
                PQerrorMessage(admin));
        PQfinish(admin);
        return 1;
    }
    admin_exec("SET client_min_messages = warning");
    run_suite();
    test_open();
    test_migrations();
    bench();
    admin_exec("RESET search_path");
    drop_schemas();
    PQfinish(admin);
    UNIT_DONE();
}
