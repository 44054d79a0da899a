/* store_sqlite_int.h - internals shared by the files of the SQLite store
 * backend (store_sqlite*.c). Nothing outside src/backends/store_sqlite*.c
 * includes this, except the backend's own unit test.
 *
 * Layout: the API speaks UUIDs, the schema joins on integer rowids. Each
 * connection keeps a small direct-mapped cache uuid -> rowid per table so a
 * batch append of 1000 messages does not cost 2000 extra lookups (rows are
 * never deleted, so a committed mapping never goes stale; the cache is
 * dropped on every ROLLBACK because a mapping learnt inside a rolled-back
 * transaction may name a row that no longer exists).
 *
 * Messages: `messages` is an append-only log in arrival order. Its
 * per-conversation indexes (msg_seq, msg_dedupe) are separate tables that
 * are filled in bulk, PL_SQ_MERGE_ROWS rows at a time: indexing each group
 * commit directly dirties about one index page per touched conversation
 * per commit, which measured 4-6x slower than the log alone. The unmerged tail
 * (rowids above merge_state.indexed_upto) is indexed in memory per
 * connection (pl_sq_tail), kept equal to the connection's snapshot by
 * pl_sq_sync() at the start of every message operation. */
#ifndef PL_STORE_SQLITE_INT_H
#define PL_STORE_SQLITE_INT_H

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "store_int.h"

/* Every statement a connection uses, prepared once at conn_open. */
enum pl_sq_stmt {
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_USER_INSERT,
    SQ_USER_BY_NAME,
    SQ_USER_BY_UUID,
    SQ_USER_ROWID,
    SQ_CONV_ROWID,
    SQ_CONV_INSERT,
    SQ_CONV_BY_UUID,
    SQ_CONV_BY_DKEY,
    SQ_CONV_LIST,
    SQ_CONV_IDS,
    SQ_MEM_INSERT,
    SQ_MEM_PROMOTE,
    SQ_MEM_ROLE,
    SQ_MEM_DELETE,
    SQ_MEM_PAGE,
    SQ_MEM_COUNT,
    SQ_STATE_DELETE,
    SQ_OFFSET_UPSERT,
    SQ_MSG_INSERT,
    SQ_MSG_BY_ROWID,
    SQ_READ_BEGIN,
    SQ_TAIL_STATE,
    SQ_TAIL_SCAN,
    SQ_IDX_HAS_SEQ,
    SQ_IDX_CMID,
    SQ_IDX_LAST_SEQ,
    SQ_IDX_AFTER,
    SQ_IDX_BEFORE,
    SQ_MERGE_SEQ,
    SQ_MERGE_DEDUPE,
    SQ_MERGE_MARK,
    SQ_OFFSET_GET,
    SQ__COUNT
};

#define PL_SQ_CACHE_SLOTS 4096 /* per table; a power of two */

typedef struct pl_sq_cache_ent {
    pl_uuid id;
    int64_t rowid; /* 0 = empty slot (SQLite rowids start at 1) */
} pl_sq_cache_ent;

enum pl_sq_table { SQ_T_USERS, SQ_T_CONVS, SQ_T__COUNT };

/* Log rows per merge into msg_seq/msg_dedupe: bigger amortises the
 * per-conversation page writes over more rows, smaller shortens the stall
 * of the commit that runs the merge (~20-40 ms at 8192 on a 2-core VM). */
#define PL_SQ_MERGE_ROWS 8192

typedef struct pl_sq_store {
    struct pl_store base; /* first: the wrappers reach base.ops */
    char path[PATH_MAX];
    int sync_full;      /* 1 = synchronous=FULL, 0 = NORMAL */
    int64_t merge_rows; /* PL_SQ_MERGE_ROWS; tests lower it */
} pl_sq_store;

/* One unmerged log row. */
typedef struct pl_sq_tent {
    int64_t rowid, conv, seq, sender, created_ms;
    char cmid[PL_CLIENT_MSG_ID_MAX + 1];
} pl_sq_tent;

/* A (seq, rowid) pair: one candidate row of a range read. */
typedef struct pl_sq_ref {
    int64_t seq, rowid;
} pl_sq_ref;

typedef struct pl_sq_tconv {
    int64_t conv; /* conversation rowid; 0 = free slot */
    uint32_t *ix; /* indexes into pl_sq_tail.ents, arrival order */
    size_t n, cap;
    bool sorted; /* seqs ascending in arrival order (the normal case) */
} pl_sq_tconv;

typedef struct pl_sq_tail {
    pl_sq_tent *ents; /* rowid order */
    size_t n, cap;
    pl_sq_tconv *convs; /* open addressing by conversation rowid */
    size_t nconvs, conv_cap;
    uint32_t *dedupe; /* open addressing: ents index + 1, 0 = empty */
    size_t dedupe_cap;
    int64_t base; /* merge_state.indexed_upto it extends; -1 = invalid */
    int64_t upto; /* holds exactly the log rows (base, upto] */
} pl_sq_tail;

typedef struct pl_sq_conn {
    struct pl_store_conn base; /* first */
    pl_sq_store *store;
    sqlite3 *db;
    sqlite3_stmt *st[SQ__COUNT];
    pl_sq_tail tail;
    pl_sq_cache_ent cache[SQ_T__COUNT][PL_SQ_CACHE_SLOTS];
} pl_sq_conn;

#define PL_SQ(c) ((pl_sq_conn *)(c))

/* --- store_sqlite_schema.c ------------------------------------------- */

/* Brings the schema of db to the newest version in one transaction. */
pl_status pl_sq_migrate(sqlite3 *db);
/* The SQL text of statement i (enum pl_sq_stmt). */
const char *pl_sq_sql(int i);

/* --- store_sqlite.c: helpers ----------------------------------------- */

pl_status pl_sq_status(int rc);
/* Steps st expecting no row, then resets it. */
pl_status pl_sq_exec(pl_sq_conn *c, sqlite3_stmt *st);
pl_status pl_sq_begin(pl_sq_conn *c);
pl_status pl_sq_commit(pl_sq_conn *c);
/* Rolls back if a transaction is open and drops the rowid caches.
 * Returns rc unchanged so error paths can `return pl_sq_rollback(c, rc)`. */
pl_status pl_sq_rollback(pl_sq_conn *c, pl_status rc);
/* uuid -> rowid of users (SQ_T_USERS) or conversations (SQ_T_CONVS);
 * PL_ERR_NOTFOUND if no such row. */
pl_status pl_sq_rowid(pl_sq_conn *c, int table, const pl_uuid *id,
                      int64_t *rowid);
pl_status pl_sq_bind_uuid(sqlite3_stmt *st, int i, const pl_uuid *id);
/* Binds the NUL-terminated string s of at most max bytes (borrowed until
 * the statement is reset); PL_ERR_INVALID if longer. */
pl_status pl_sq_bind_str(sqlite3_stmt *st, int i, const char *s, size_t max);
/* Reads a 16-byte blob column; PL_ERR_IO if it is not one. */
pl_status pl_sq_col_uuid(sqlite3_stmt *st, int col, pl_uuid *out);
/* Copies a text column into dst[cap] (truncating, always terminated). */
void pl_sq_col_str(sqlite3_stmt *st, int col, char *dst, size_t cap);
/* Makes room for one more element in a malloc'd array. */
pl_status pl_sq_grow(void **arr, size_t *cap, size_t n, size_t elem);
/* A size_t limit as an SQL LIMIT (+extra), saturated. */
int64_t pl_sq_limit(size_t limit, int extra);

/* Test hook: merge the log into the indexes every rows rows. */
void pl_sq_set_merge_rows(pl_store *s, int64_t rows);

/* --- store_sqlite_tail.c: the in-memory tail index -------------------- */

void pl_sq_tail_init(pl_sq_tail *t);
void pl_sq_tail_free(pl_sq_tail *t);
/* Drops every entry; the tail then holds the rows (base, base]. */
void pl_sq_tail_reset(pl_sq_tail *t, int64_t base);
/* Adds a row with a rowid above every held one; upto = its rowid. */
pl_status pl_sq_tail_add(pl_sq_tail *t, const pl_sq_tent *e);
const pl_sq_tent *pl_sq_tail_seq(const pl_sq_tail *t, int64_t conv,
                                 int64_t seq);
const pl_sq_tent *pl_sq_tail_cmid(const pl_sq_tail *t, int64_t conv,
                                  int64_t sender, const char *cmid);
/* The conversation's held row with the highest seq, NULL if none. */
const pl_sq_tent *pl_sq_tail_last(const pl_sq_tail *t, int64_t conv);
/* Up to max rows of conv with lo < seq < hi into out, ascending seq, or
 * descending (the highest first) with desc. */
pl_status pl_sq_tail_range(const pl_sq_tail *t, int64_t conv, int64_t lo,
                           int64_t hi, bool desc, size_t max, pl_sq_ref *out,
                           size_t *n);

/* --- store_sqlite_users.c, store_sqlite_conv.c ------------------------- */

pl_status pl_sq_user_create(pl_store_conn *, const pl_user *);
pl_status pl_sq_users_create_bulk(pl_store_conn *, const pl_user *, size_t);
pl_status pl_sq_user_by_name(pl_store_conn *, const char *, pl_user *);
pl_status pl_sq_user_by_id(pl_store_conn *, const pl_uuid *, pl_user *);
pl_status pl_sq_users_exist(pl_store_conn *, const pl_uuid *, size_t, bool *);
pl_status pl_sq_conv_create_direct(pl_store_conn *, const pl_uuid *,
                                   const pl_uuid *, pl_conv *, bool *);
pl_status pl_sq_conv_create_group(pl_store_conn *, const pl_conv *,
                                  const pl_uuid *, const pl_uuid *, size_t);
pl_status pl_sq_conv_get(pl_store_conn *, const pl_uuid *, pl_conv *);
pl_status pl_sq_conv_list(pl_store_conn *, const pl_uuid *, size_t, pl_conv **,
                          size_t *);
pl_status pl_sq_conv_ids_for_user(pl_store_conn *, const pl_uuid *, pl_uuid **,
                                  size_t *);
pl_status pl_sq_read_offset_get(pl_store_conn *, const pl_uuid *,
                                const pl_uuid *, int64_t *);
pl_status pl_sq_member_role(pl_store_conn *, const pl_uuid *, const pl_uuid *,
                            int *);
pl_status pl_sq_members_add(pl_store_conn *, const pl_uuid *, const pl_uuid *,
                            size_t, int, int64_t, size_t *);
pl_status pl_sq_member_remove(pl_store_conn *, const pl_uuid *,
                              const pl_uuid *);
pl_status pl_sq_members_page(pl_store_conn *, const pl_uuid *, const pl_uuid *,
                             size_t, pl_member **, size_t *);
pl_status pl_sq_member_count(pl_store_conn *, const pl_uuid *, int64_t *);

/* --- store_sqlite_msgs.c: messages and read offsets -------------------- */

/* Brings c->tail up to the current snapshot; call inside a transaction
 * (pl_sq_read_begin or pl_sq_begin). */
pl_status pl_sq_sync(pl_sq_conn *c);
/* BEGIN (deferred) + pl_sq_sync: a consistent read of log and tail.
 * End it with pl_sq_read_end. */
pl_status pl_sq_read_begin(pl_sq_conn *c);
pl_status pl_sq_read_end(pl_sq_conn *c, pl_status rc);
/* Raises *last_seq / *activity_ms with the conversation's tail rows. */
void pl_sq_tail_patch(pl_sq_conn *c, int64_t conv, int64_t *last_seq,
                      int64_t *activity_ms);

pl_status pl_sq_conv_last_seq(pl_store_conn *, const pl_uuid *, int64_t *);
pl_status pl_sq_msg_by_client_id(pl_store_conn *, const pl_uuid *,
                                 const pl_uuid *, const char *, pl_msg *);
pl_status pl_sq_append(pl_store_conn *, const pl_msg *, size_t,
                       const pl_read_offset *, size_t);
pl_status pl_sq_msgs_range(pl_store_conn *, const pl_uuid *, int64_t, int64_t,
                           size_t, pl_msg **, size_t *, bool *);
pl_status pl_sq_read_offsets(pl_store_conn *, const pl_read_offset *, size_t);

#endif
