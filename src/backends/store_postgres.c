/* store_postgres.c - the PostgreSQL store backend (cluster mode): lifecycle,
 * connections, the one call path every method uses, and the ops table.
 *
 * One libpq connection per pl_store_conn (the API promises one thread per
 * pl_store_conn at a time, so no locking). Every method is one prepared
 * statement in autocommit: a write is its own transaction, committed when
 * the statement completes - one round trip, no BEGIN/COMMIT messages.
 *
 * Errors (SQLSTATE -> pl_status, see pl_pg_result_status):
 *   23505 unique violation      -> PL_ERR_CONFLICT (the append fence)
 *   23503 foreign key, P0002    -> PL_ERR_NOTFOUND (an unknown id)
 *   40001, 40P01, 55P03, 57014  -> PL_ERR_BUSY (rolled back for sure:
 *                                  serialization, deadlock, lock or
 *                                  statement timeout)
 *   class 22, 23502, 23514      -> PL_ERR_INVALID
 *   anything else               -> PL_ERR_IO
 * PL_ERR_BUSY also means "not sent": no connection (the server is down, or
 * this connection is inside its reconnect back-off). A connection that
 * breaks while a call is in flight gives PL_ERR_IO: the call may or may
 * not have committed, so it must not be retried blindly (the messaging
 * role re-checks a send through msg_by_client_id). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../core/timeutil.h"
#include "store_postgres_int.h"

/* The client-side deadline of a call is the server's statement_timeout
 * plus this: the server cancels a slow statement first (a clean
 * rollback, PL_ERR_BUSY); the client deadline only catches a server that
 * stopped answering at all. */
#define CLIENT_GRACE_MS 2000

/* --- status ------------------------------------------------------------- */

static pl_status sqlstate_status(const char *s)
{
    static const char *const busy[] = {"40001", "40P01", "55P03",
                                       "57014", "53300", NULL};

    if (!s)
        return PL_ERR_IO;
    if (strcmp(s, "23505") == 0)
        return PL_ERR_CONFLICT;
    if (strcmp(s, "23503") == 0 || strcmp(s, "P0002") == 0)
        return PL_ERR_NOTFOUND;
    for (int i = 0; busy[i]; i++)
        if (strcmp(s, busy[i]) == 0)
            return PL_ERR_BUSY;
    if (strncmp(s, "22", 2) == 0 || strcmp(s, "23502") == 0 ||
        strcmp(s, "23514") == 0)
        return PL_ERR_INVALID;
    return PL_ERR_IO;
}

pl_status pl_pg_result_status(const PGresult *res)
{
    if (!res)
        return PL_ERR_IO;
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK: return PL_OK;
    case PGRES_FATAL_ERROR:
        return sqlstate_status(PQresultErrorField(res, PG_DIAG_SQLSTATE));
    default: return PL_ERR_IO;
    }
}

/* --- connecting ----------------------------------------------------------- */

/* Waits until fd is ready for events or the deadline passes. 1 = ready,
 * 0 = timed out, -1 = error. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};

    for (;;) {
        int64_t left = deadline_ms - pl_mono_ms();
        int r;
        if (left <= 0)
            return 0;
        r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* The connection's first error line, for logs. */
static void conn_error(PGconn *pg, char *buf, size_t cap)
{
    const char *m = pg ? PQerrorMessage(pg) : "out of memory";
    size_t n = strcspn(m, "\n");

    snprintf(buf, cap, "%.*s", (int)(n < 400 ? n : 400), m);
}

/* Server notices ("relation ... already exists, skipping") go to the
 * debug log instead of libpq's default, stderr. */
static void notice(void *arg, const char *msg)
{
    (void)arg;
    if (pl_log_enabled(PL_LOG_DEBUG))
        pl_log(PL_LOG_DEBUG, "store_notice", "store", PL_LS, "postgres",
               "message", PL_LS, msg, NULL);
}

pl_status pl_pg_connect(const pl_pg_store *s, PGconn **out)
{
    /* Keys before dbname (the expanded DSN) are defaults it may
     * override; keepalives notice a peer that vanished without a FIN. */
    const char *keys[] = {
        "application_name", "keepalives_idle", "keepalives_interval",
        "keepalives_count", "dbname",          NULL};
    const char *vals[] = {"parleyd", "10", "5", "3", s->dsn, NULL};
    int64_t deadline = pl_mono_ms() + s->connect_timeout_ms;
    PGconn *pg = PQconnectStartParams(keys, vals, 1);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;

    *out = NULL;
    if (!pg)
        return PL_ERR_NOMEM;
    while (PQstatus(pg) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        short ev = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        if (wait_fd(PQsocket(pg), ev, deadline) <= 0)
            break;
        st = PQconnectPoll(pg);
    }
    if (st != PGRES_POLLING_OK || PQstatus(pg) != CONNECTION_OK) {
        char err[512];
        conn_error(pg, err, sizeof(err));
        pl_log(PL_LOG_WARN, "store_connect_failed", "store", PL_LS, "postgres",
               "error", PL_LS, err[0] ? err : "connect timeout", NULL);
        PQfinish(pg);
        return PL_ERR_BUSY;
    }
    PQsetNoticeProcessor(pg, notice, NULL);
    *out = pg;
    return PL_OK;
}

/* Runs a utility command with PQexec (blocking; session setup only). */
static pl_status exec_simple(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    pl_status rc = pl_pg_result_status(r);

    PQclear(r);
    return rc;
}

/* Session settings and every prepared statement of a new connection. */
static pl_status session_setup(pl_pg_conn *c, PGconn *pg)
{
    char sql[96], name[16];
    pl_status rc;

    snprintf(sql, sizeof(sql), "SET statement_timeout = %lld",
             (long long)c->store->timeout_ms);
    rc = exec_simple(pg, sql);
    for (int i = 0; rc == PL_OK && i < PG__COUNT; i++) {
        PGresult *r;
        snprintf(name, sizeof(name), "pl%d", i);
        r = PQprepare(pg, name, pl_pg_sql(i), 0, NULL);
        rc = pl_pg_result_status(r);
        if (rc != PL_OK)
            pl_log(PL_LOG_ERROR, "store_prepare_failed", "statement", PL_LI,
                   (int64_t)i, "error", PL_LS, PQresultErrorMessage(r), NULL);
        PQclear(r);
    }
    if (rc == PL_OK && PQsetnonblocking(pg, 1) != 0)
        rc = PL_ERR_IO;
    return rc;
}

static void conn_drop(pl_pg_conn *c, const char *why)
{
    char err[512];

    if (!c->pg)
        return;
    conn_error(c->pg, err, sizeof(err));
    pl_log(PL_LOG_WARN, "store_connection_lost", "store", PL_LS, "postgres",
           "reason", PL_LS, why, "error", PL_LS, err, NULL);
    PQfinish(c->pg);
    c->pg = NULL;
}

/* A connection that broke while idle (server restarted or killed) has an
 * end-of-file or a FATAL message waiting: notice it before sending, so the
 * call goes to a fresh connection instead of failing. */
static void check_idle(pl_pg_conn *c)
{
    struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};

    if (pfd.fd < 0 || PQstatus(c->pg) != CONNECTION_OK) {
        PQfinish(c->pg);
        c->pg = NULL;
        return;
    }
    /* Usually the FATAL message and the end-of-file arrive together, but
     * the first read may take only the message: read while there is more
     * (an idle connection gets at most a few small notices). */
    for (int i = 0; i < 4 && poll(&pfd, 1, 0) > 0; i++) {
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK) {
            PQfinish(c->pg); /* nothing was in flight: no need to log */
            c->pg = NULL;
            return;
        }
    }
}

/* Connects if needed, at most once per back-off interval. */
static pl_status ensure_conn(pl_pg_conn *c)
{
    PGconn *pg;
    pl_status rc;

    if (c->pg)
        check_idle(c);
    if (c->pg)
        return PL_OK;
    if (pl_mono_ms() < c->retry_at_ms)
        return PL_ERR_BUSY;
    rc = pl_pg_connect(c->store, &pg);
    if (rc == PL_OK && (rc = session_setup(c, pg)) != PL_OK)
        PQfinish(pg);
    if (rc != PL_OK) {
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : PG_BACKOFF_MIN_MS;
        if (c->backoff_ms > PG_BACKOFF_MAX_MS)
            c->backoff_ms = PG_BACKOFF_MAX_MS;
        c->retry_at_ms = pl_mono_ms() + c->backoff_ms;
        return rc == PL_ERR_NOMEM ? rc : PL_ERR_BUSY;
    }
    c->pg = pg;
    c->backoff_ms = 0;
    if (c->connects++ > 0)
        pl_log(PL_LOG_INFO, "store_reconnected", "store", PL_LS, "postgres",
               NULL);
    return PL_OK;
}

/* --- calls ---------------------------------------------------------------- */

pl_pg_params *pl_pg_params_begin(pl_pg_conn *c)
{
    pl_pg_params_reset(&c->p);
    return &c->p;
}

/* Sends everything libpq buffered (nonblocking mode: it may take several
 * writes), reading meanwhile so the server never blocks on its output. */
static pl_status flush(pl_pg_conn *c, int64_t deadline)
{
    int fl;

    while ((fl = PQflush(c->pg)) == 1) {
        int r = wait_fd(PQsocket(c->pg), POLLIN | POLLOUT, deadline);
        if (r <= 0)
            return r == 0 ? PL_AGAIN : PL_ERR_IO;
        if (!PQconsumeInput(c->pg))
            return PL_ERR_IO;
    }
    return fl < 0 ? PL_ERR_IO : PL_OK;
}

/* Reads until PQgetResult would not block. */
static pl_status wait_ready(pl_pg_conn *c, int64_t deadline)
{
    while (PQisBusy(c->pg)) {
        int r = wait_fd(PQsocket(c->pg), POLLIN, deadline);
        if (r <= 0)
            return r == 0 ? PL_AGAIN : PL_ERR_IO;
        if (!PQconsumeInput(c->pg))
            return PL_ERR_IO;
    }
    return PL_OK;
}

/* Collects the statement's results up to the end marker, each read with
 * the deadline (PQgetResult blocks otherwise); keeps the first. */
static pl_status take_result(pl_pg_conn *c, int64_t deadline, PGresult **res)
{
    PGresult *r;
    pl_status rc;

    for (;;) {
        if ((rc = wait_ready(c, deadline)) != PL_OK) {
            PQclear(*res);
            *res = NULL;
            return rc;
        }
        if ((r = PQgetResult(c->pg)) == NULL)
            return PL_OK;
        if (!*res)
            *res = r;
        else
            PQclear(r);
    }
}

static pl_status send_stmt(pl_pg_conn *c, int stmt)
{
    const char *vals[PG_MAX_PARAMS];
    int lens[PG_MAX_PARAMS], fmts[PG_MAX_PARAMS];
    char name[16];

    snprintf(name, sizeof(name), "pl%d", stmt);
    pl_pg_params_resolve(&c->p, vals, lens, fmts);
    if (!PQsendQueryPrepared(c->pg, name, c->p.n, vals, lens, fmts, 1))
        return PL_ERR_IO;
    return PL_OK;
}

pl_status pl_pg_call(pl_pg_conn *c, int stmt, PGresult **res)
{
    int64_t deadline;
    pl_status rc;

    *res = NULL;
    if (c->p.err != PL_OK)
        return c->p.err;
    if ((rc = ensure_conn(c)) != PL_OK)
        return rc;
    deadline = pl_mono_ms() + c->store->timeout_ms + CLIENT_GRACE_MS;
    rc = send_stmt(c, stmt);
    if (rc == PL_OK)
        rc = flush(c, deadline);
    if (rc == PL_OK)
        rc = take_result(c, deadline, res);
    if (rc != PL_OK) {
        /* In flight and lost (or no answer in time): the outcome is
         * unknown, the connection unusable. */
        conn_drop(c, rc == PL_AGAIN ? "timeout" : "io");
        return PL_ERR_IO;
    }
    rc = pl_pg_result_status(*res);
    if (rc != PL_OK) {
        if (rc == PL_ERR_IO && pl_log_enabled(PL_LOG_DEBUG))
            pl_log(PL_LOG_DEBUG, "store_error", "statement", PL_LI,
                   (int64_t)stmt, "error", PL_LS,
                   *res ? PQresultErrorMessage(*res) : "no result", NULL);
        PQclear(*res);
        *res = NULL;
        if (PQstatus(c->pg) != CONNECTION_OK) {
            conn_drop(c, "io");
            rc = PL_ERR_IO;
        }
    }
    return rc;
}

int pl_pg_backend_pid(pl_store_conn *conn)
{
    pl_pg_conn *c = PL_PG(conn);

    return c->pg ? PQbackendPID(c->pg) : 0;
}

/* --- the store ------------------------------------------------------------ */

static pl_status pg_open(const pl_config *cfg, pl_store **out)
{
    pl_pg_store *s = calloc(1, sizeof(*s));
    PQconninfoOption *opts;
    PGconn *pg = NULL;
    pl_status rc = s ? PL_OK : PL_ERR_NOMEM;
    size_t len = strnlen(cfg->pg_dsn, sizeof(cfg->pg_dsn));

    if (rc == PL_OK && len >= sizeof(s->dsn))
        rc = PL_ERR_INVALID;
    if (rc == PL_OK) {
        memcpy(s->dsn, cfg->pg_dsn, len + 1);
        s->connect_timeout_ms = cfg->pg_connect_timeout_ms;
        s->timeout_ms = cfg->pg_timeout_ms;
        /* A DSN libpq cannot parse is a configuration error, not a
         * server that is down. */
        opts = PQconninfoParse(s->dsn, NULL);
        if (!opts)
            rc = PL_ERR_INVALID;
        PQconninfoFree(opts);
    }
    /* Unreachable at start is an error to report, not a busy store. */
    if (rc == PL_OK && (rc = pl_pg_connect(s, &pg)) == PL_ERR_BUSY)
        rc = PL_ERR_IO;
    if (rc == PL_OK)
        rc = pl_pg_migrate(pg);
    PQfinish(pg);
    if (rc != PL_OK) {
        free(s);
        return rc;
    }
    s->base.ops = &pl_store_postgres_ops;
    *out = &s->base;
    return PL_OK;
}

static void pg_close(pl_store *s)
{
    free(s);
}

static void pg_conn_close(pl_store_conn *conn)
{
    pl_pg_conn *c = PL_PG(conn);

    if (!c)
        return;
    PQfinish(c->pg);
    pl_pg_params_free(&c->p);
    free(c);
}

static pl_status pg_conn_open(pl_store *store, pl_store_conn **out)
{
    pl_pg_conn *c = calloc(1, sizeof(*c));
    pl_status rc;

    if (!c)
        return PL_ERR_NOMEM;
    c->base.ops = &pl_store_postgres_ops;
    c->store = (pl_pg_store *)store;
    pl_pg_params_reset(&c->p);
    rc = ensure_conn(c);
    if (rc != PL_OK) {
        pg_conn_close(&c->base);
        return rc;
    }
    *out = &c->base;
    return PL_OK;
}

const pl_store_ops pl_store_postgres_ops = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .user_create = pl_pg_user_create,
    .users_create_bulk = pl_pg_users_create_bulk,
    .user_by_name = pl_pg_user_by_name,
    .user_by_id = pl_pg_user_by_id,
    .users_exist = pl_pg_users_exist,
    .conv_create_direct = pl_pg_conv_create_direct,
    .conv_create_group = pl_pg_conv_create_group,
    .conv_get = pl_pg_conv_get,
    .conv_list = pl_pg_conv_list,
    .conv_ids_for_user = pl_pg_conv_ids_for_user,
    .member_role = pl_pg_member_role,
    .members_add = pl_pg_members_add,
    .member_remove = pl_pg_member_remove,
    .members_page = pl_pg_members_page,
    .member_count = pl_pg_member_count,
    .conv_last_seq = pl_pg_conv_last_seq,
    .msg_by_client_id = pl_pg_msg_by_client_id,
    .append = pl_pg_append,
    .msgs_range = pl_pg_msgs_range,
    .read_offsets = pl_pg_read_offsets,
    .read_offset_get = pl_pg_read_offset_get,
};
