/* store_sqlite.c - the embedded (reference) store backend: lifecycle,
 * connection setup and the helpers shared by store_sqlite_*.c.
 *
 * One database file, DATA_DIR/parley.db, in WAL mode: readers never block
 * the writer and a commit is one append + fsync of the WAL. Every
 * connection is opened in multi-thread mode (no SQLite mutexes): the API
 * promises one thread per pl_store_conn at a time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../core/config.h"
#include "store_sqlite_int.h"

#define BUSY_TIMEOUT_MS 10000

/* --- status and statement helpers ------------------------------------ */

pl_status pl_sq_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return PL_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return PL_ERR_BUSY;
    case SQLITE_CONSTRAINT: return PL_ERR_CONFLICT;
    case SQLITE_NOMEM: return PL_ERR_NOMEM;
    default: return PL_ERR_IO;
    }
}

pl_status pl_sq_exec(pl_sq_conn *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? PL_OK : pl_sq_status(rc);
}

static void cache_drop(pl_sq_conn *c)
{
    memset(c->cache, 0, sizeof(c->cache));
}

pl_status pl_sq_begin(pl_sq_conn *c)
{
    return pl_sq_exec(c, c->st[SQ_BEGIN]);
}

pl_status pl_sq_commit(pl_sq_conn *c)
{
    pl_status rc = pl_sq_exec(c, c->st[SQ_COMMIT]);

    return rc == PL_OK ? PL_OK : pl_sq_rollback(c, rc);
}

pl_status pl_sq_rollback(pl_sq_conn *c, pl_status rc)
{
    /* Some errors (IOERR, FULL, NOMEM) roll back by themselves; a second
     * ROLLBACK would only fail. */
    if (!sqlite3_get_autocommit(c->db))
        pl_sq_exec(c, c->st[SQ_ROLLBACK]);
    cache_drop(c);
    return rc;
}

static pl_sq_cache_ent *cache_slot(pl_sq_conn *c, int table, const pl_uuid *id)
{
    uint64_t h = pl_uuid_hash(id);

    return &c->cache[table][h & (PL_SQ_CACHE_SLOTS - 1)];
}

pl_status pl_sq_rowid(pl_sq_conn *c, int table, const pl_uuid *id,
                      int64_t *rowid)
{
    pl_sq_cache_ent *e = cache_slot(c, table, id);
    sqlite3_stmt *st;
    int rc;

    if (e->rowid != 0 && memcmp(e->id.b, id->b, sizeof(id->b)) == 0) {
        *rowid = e->rowid;
        return PL_OK;
    }
    st = c->st[table == SQ_T_USERS ? SQ_USER_ROWID : SQ_CONV_ROWID];
    pl_sq_bind_uuid(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *rowid = sqlite3_column_int64(st, 0);
        e->id = *id;
        e->rowid = *rowid;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return PL_OK;
    return rc == SQLITE_DONE ? PL_ERR_NOTFOUND : pl_sq_status(rc);
}

pl_status pl_sq_bind_uuid(sqlite3_stmt *st, int i, const pl_uuid *id)
{
    return pl_sq_status(
        sqlite3_bind_blob(st, i, id->b, sizeof(id->b), SQLITE_STATIC));
}

pl_status pl_sq_bind_str(sqlite3_stmt *st, int i, const char *s, size_t max)
{
    size_t len = strnlen(s, max + 1);

    if (len > max)
        return PL_ERR_INVALID;
    return pl_sq_status(sqlite3_bind_text(st, i, s, (int)len, SQLITE_STATIC));
}

pl_status pl_sq_col_uuid(sqlite3_stmt *st, int col, pl_uuid *out)
{
    const void *p = sqlite3_column_blob(st, col);

    if (!p || sqlite3_column_bytes(st, col) != (int)sizeof(out->b))
        return PL_ERR_IO;
    memcpy(out->b, p, sizeof(out->b));
    return PL_OK;
}

void pl_sq_col_str(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t len = s ? (size_t)sqlite3_column_bytes(st, col) : 0;

    if (cap == 0)
        return;
    if (len >= cap)
        len = cap - 1;
    if (len)
        memcpy(dst, s, len);
    dst[len] = '\0';
}

pl_status pl_sq_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return PL_OK;
    ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / elem)
        return PL_ERR_NOMEM;
    p = realloc(*arr, ncap * elem);
    if (!p)
        return PL_ERR_NOMEM;
    *arr = p;
    *cap = ncap;
    return PL_OK;
}

int64_t pl_sq_limit(size_t limit, int extra)
{
    if (limit >= (size_t)INT64_MAX - (size_t)extra)
        return INT64_MAX;
    return (int64_t)limit + extra;
}

/* --- the store --------------------------------------------------------- */

/* mkdir -p with mode 0700 for the components we create. */
static pl_status make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strnlen(dir, sizeof(path));

    if (len == 0 || len >= sizeof(path))
        return PL_ERR_INVALID;
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return PL_ERR_IO;
        path[i] = i < len ? '/' : '\0';
    }
    return PL_OK;
}

static pl_status parse_sync(const char *s, int *full)
{
    if (s[0] == '\0' || strcasecmp(s, "full") == 0)
        *full = 1;
    else if (strcasecmp(s, "normal") == 0)
        *full = 0;
    else
        return PL_ERR_INVALID;
    return PL_OK;
}

static pl_status db_open(const pl_sq_store *s, sqlite3 **out);

static pl_status sq_open(const struct pl_config *cfg, pl_store **out)
{
    pl_sq_store *s = calloc(1, sizeof(*s));
    sqlite3 *db = NULL;
    pl_status rc = s ? PL_OK : PL_ERR_NOMEM;
    int n;

    if (rc == PL_OK)
        rc = parse_sync(cfg->sqlite_synchronous, &s->sync_full);
    if (rc == PL_OK)
        rc = make_dirs(cfg->data_dir);
    if (rc == PL_OK) {
        n = snprintf(s->path, sizeof(s->path), "%s/parley.db", cfg->data_dir);
        if (n < 0 || (size_t)n >= sizeof(s->path))
            rc = PL_ERR_INVALID;
    }
    if (rc == PL_OK)
        rc = db_open(s, &db);
    if (rc == PL_OK)
        rc = pl_sq_migrate(db);
    sqlite3_close(db);
    if (rc != PL_OK) {
        free(s);
        return rc;
    }
    s->base.ops = &pl_store_sqlite_ops;
    s->merge_rows = cfg->sqlite_merge_rows > 0 ? cfg->sqlite_merge_rows
                                               : PL_SQ_MERGE_ROWS;
    *out = &s->base;
    return PL_OK;
}

static void sq_close(pl_store *s)
{
    free(s);
}

void pl_sq_set_merge_rows(pl_store *s, int64_t rows)
{
    ((pl_sq_store *)s)->merge_rows = rows > 0 ? rows : 1;
}

/* --- connections ------------------------------------------------------- */

/* Runs a PRAGMA that may return a row (journal_mode does); with want,
 * the first column must equal it. */
static pl_status pragma(sqlite3 *db, const char *sql, const char *want)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    const unsigned char *v;

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && want) {
            v = sqlite3_column_text(st, 0);
            rc = v && strcasecmp((const char *)v, want) == 0 ? SQLITE_DONE
                                                             : SQLITE_ERROR;
        }
        if (rc == SQLITE_ROW)
            rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? PL_OK : pl_sq_status(rc);
}

static pl_status db_open(const pl_sq_store *s, sqlite3 **out)
{
    int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    sqlite3 *db = NULL;
    pl_status rc;

    if (sqlite3_open_v2(s->path, &db, flags, NULL) != SQLITE_OK) {
        sqlite3_close(db); /* open allocates a handle even on failure */
        return PL_ERR_IO;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    rc = pragma(db, "PRAGMA journal_mode = WAL", "wal");
    if (rc == PL_OK)
        rc = pragma(db,
                    s->sync_full ? "PRAGMA synchronous = FULL"
                                 : "PRAGMA synchronous = NORMAL",
                    NULL);
    if (rc == PL_OK)
        rc = pragma(db, "PRAGMA foreign_keys = ON", NULL);
    if (rc == PL_OK)
        rc = pragma(db, "PRAGMA cache_size = -65536", NULL); /* 64 MiB */
    if (rc == PL_OK)
        rc = pragma(db, "PRAGMA temp_store = MEMORY", NULL);
    /* Checkpoint every 64 MiB of WAL instead of 4: pages rewritten by
     * many commits are copied to the database once (measured +50% on
     * interleaved appends); the file is cut back to 64 MiB after. A
     * checkpointer thread instead was measured and rejected
     * (docs/PERFORMANCE.md). */
    if (rc == PL_OK)
        rc = pragma(db, "PRAGMA wal_autocheckpoint = 16384", NULL);
    if (rc == PL_OK)
        rc = pragma(db, "PRAGMA journal_size_limit = 67108864", NULL);
    if (rc != PL_OK) {
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return PL_OK;
}

static void sq_conn_close(pl_store_conn *conn)
{
    pl_sq_conn *c = PL_SQ(conn);

    if (!c)
        return;
    for (int i = 0; i < SQ__COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    pl_sq_tail_free(&c->tail);
    free(c);
}

static pl_status sq_conn_open(pl_store *store, pl_store_conn **out)
{
    pl_sq_store *s = (pl_sq_store *)store;
    pl_sq_conn *c = calloc(1, sizeof(*c));
    pl_status rc = c ? PL_OK : PL_ERR_NOMEM;

    if (rc == PL_OK) {
        c->store = s;
        pl_sq_tail_init(&c->tail);
        rc = db_open(s, &c->db);
    }
    for (int i = 0; rc == PL_OK && i < SQ__COUNT; i++)
        rc = pl_sq_status(sqlite3_prepare_v3(c->db, pl_sq_sql(i), -1,
                                             SQLITE_PREPARE_PERSISTENT,
                                             &c->st[i], NULL));
    if (rc != PL_OK) {
        sq_conn_close(c ? &c->base : NULL);
        return rc;
    }
    c->base.ops = &pl_store_sqlite_ops;
    *out = &c->base;
    return PL_OK;
}

const pl_store_ops pl_store_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .conn_open = sq_conn_open,
    .conn_close = sq_conn_close,
    .user_create = pl_sq_user_create,
    .users_create_bulk = pl_sq_users_create_bulk,
    .user_by_name = pl_sq_user_by_name,
    .user_by_id = pl_sq_user_by_id,
    .users_exist = pl_sq_users_exist,
    .conv_create_direct = pl_sq_conv_create_direct,
    .conv_create_group = pl_sq_conv_create_group,
    .conv_get = pl_sq_conv_get,
    .conv_list = pl_sq_conv_list,
    .conv_ids_for_user = pl_sq_conv_ids_for_user,
    .member_role = pl_sq_member_role,
    .members_add = pl_sq_members_add,
    .member_remove = pl_sq_member_remove,
    .members_page = pl_sq_members_page,
    .member_count = pl_sq_member_count,
    .conv_last_seq = pl_sq_conv_last_seq,
    .msg_by_client_id = pl_sq_msg_by_client_id,
    .append = pl_sq_append,
    .msgs_range = pl_sq_msgs_range,
    .read_offsets = pl_sq_read_offsets,
    .read_offset_get = pl_sq_read_offset_get,
};
