/* store_postgres_int.h - internals shared by the files of the PostgreSQL
 * store backend (store_postgres*.c). Nothing else includes this, except
 * the backend's own unit test.
 *
 * Wire format: every statement is prepared once per connection and run
 * with binary parameters and binary results (uuid = 16 bytes, integers
 * big-endian, text/bytea raw). Many-row inputs are one array parameter per
 * column, expanded with unnest() on the server, so every store call is ONE
 * statement: one round trip and, for writes, one implicit transaction.
 *
 * Connection loss: a pl_pg_conn whose connection broke drops it and the
 * next call reconnects (and re-prepares); connection attempts back off
 * exponentially (PG_BACKOFF_MIN_MS..PG_BACKOFF_MAX_MS) and calls made
 * inside the back-off window fail at once with PL_ERR_BUSY. */
#ifndef PL_STORE_POSTGRES_INT_H
#define PL_STORE_POSTGRES_INT_H

#include <libpq-fe.h>

#include "store_int.h"

/* Every statement a connection uses, prepared at connect. */
enum pl_pg_stmt {
    PG_USERS_INSERT,
    PG_USER_BY_NAME,
    PG_USER_BY_ID,
    PG_USERS_EXIST,
    PG_DIRECT_CREATE,
    PG_CONV_BY_PAIR,
    PG_GROUP_CREATE,
    PG_CONV_GET,
    PG_CONV_LIST,
    PG_CONV_IDS,
    PG_MEM_ROLE,
    PG_MEM_ADD,
    PG_MEM_REMOVE,
    PG_MEM_PAGE,
    PG_MEM_COUNT,
    PG_LAST_SEQ,
    PG_MSG_BY_CMID,
    PG_APPEND,
    PG_RANGE_AFTER,
    PG_RANGE_BEFORE,
    PG_OFFSET_GET,
    PG__COUNT
};

#define PG_BACKOFF_MIN_MS 50
#define PG_BACKOFF_MAX_MS 2000
#define PG_MAX_PARAMS 12

typedef struct pl_pg_store {
    struct pl_store base; /* first: the wrappers reach base.ops */
    char dsn[512];
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
} pl_pg_store;

/* Binary parameters of one statement. Values are copied into buf (kept
 * across calls: its capacity is reused) and referenced by offset until
 * the call, because buf may move while growing. The first error (NOMEM,
 * INVALID) sticks in err and fails the call. */
typedef struct pl_pg_params {
    int n;
    size_t off[PG_MAX_PARAMS];
    int len[PG_MAX_PARAMS];
    size_t arr_start, arr_count; /* the array being built */
    char *buf;
    size_t used, cap;
    pl_status err;
} pl_pg_params;

typedef struct pl_pg_conn {
    struct pl_store_conn base; /* first */
    pl_pg_store *store;
    PGconn *pg;          /* NULL while disconnected */
    int64_t retry_at_ms; /* no connection attempt before (monotonic) */
    int64_t backoff_ms;  /* 0 after a success */
    int64_t connects;    /* successful connections so far */
    pl_pg_params p;
} pl_pg_conn;

#define PL_PG(c) ((pl_pg_conn *)(c))

/* --- store_postgres_schema.c ------------------------------------------ */

/* Brings the schema (in the connection's current schema) to the newest
 * version: one transaction under an advisory lock, so several parleyd
 * starting at once apply each migration once. */
pl_status pl_pg_migrate(PGconn *pg);
/* The SQL text of statement i (enum pl_pg_stmt). */
const char *pl_pg_sql(int i);
/* How many migrations this build knows (the schema version it writes). */
int pl_pg_schema_version(void);

/* --- store_postgres.c: connections and calls --------------------------- */

/* Maps a failed result (SQLSTATE) to a status; PL_OK for success. */
pl_status pl_pg_result_status(const PGresult *res);
/* Opens a connection with the store's settings (blocking, bounded by
 * connect_timeout_ms). *out is NULL on failure. */
pl_status pl_pg_connect(const pl_pg_store *s, PGconn **out);
/* Starts a call's parameters: clears c->p. */
pl_pg_params *pl_pg_params_begin(pl_pg_conn *c);
/* Runs prepared statement stmt with c->p, reconnecting first if needed.
 * On PL_OK *res holds the result (PQclear it); on error *res is NULL. */
pl_status pl_pg_call(pl_pg_conn *c, int stmt, PGresult **res);
/* Test hook: the backend process id of the live connection, 0 if none. */
int pl_pg_backend_pid(pl_store_conn *c);

/* --- store_postgres_wire.c: binary encoding ----------------------------- */

void pl_pg_params_reset(pl_pg_params *p);
void pl_pg_params_free(pl_pg_params *p);
void pl_pg_p_uuid(pl_pg_params *p, const pl_uuid *id);
void pl_pg_p_i64(pl_pg_params *p, int64_t v);
void pl_pg_p_i32(pl_pg_params *p, int32_t v);
/* A NUL-terminated string of at most max bytes (copied); PL_ERR_INVALID
 * sticks if it is longer. */
void pl_pg_p_str(pl_pg_params *p, const char *s, size_t max);
/* Arrays: begin with the element type and count, add exactly count
 * elements of that type, end. One array is built at a time. */
enum {
    PG_OID_BOOL = 16,
    PG_OID_BYTEA = 17,
    PG_OID_INT8 = 20,
    PG_OID_INT4 = 23,
    PG_OID_TEXT = 25,
    PG_OID_UUID = 2950
};
void pl_pg_arr_begin(pl_pg_params *p, uint32_t oid, size_t count);
void pl_pg_arr_uuid(pl_pg_params *p, const pl_uuid *id);
void pl_pg_arr_i64(pl_pg_params *p, int64_t v);
/* len bytes of text or bytea (copied). */
void pl_pg_arr_bytes(pl_pg_params *p, const void *data, size_t len);
/* A NUL-terminated string of at most max bytes; INVALID if longer. */
void pl_pg_arr_str(pl_pg_params *p, const char *s, size_t max);
void pl_pg_arr_end(pl_pg_params *p);
/* Resolves the values for PQexecPrepared; vals/lens/fmts have room for
 * PG_MAX_PARAMS. */
void pl_pg_params_resolve(const pl_pg_params *p, const char **vals, int *lens,
                          int *fmts);

/* Binary result columns; PL_ERR_IO if the value has an unexpected size
 * (never NULL: callers test PQgetisnull first where NULL is possible). */
pl_status pl_pg_get_uuid(const PGresult *r, int row, int col, pl_uuid *out);
/* int2, int4 or int8, by the value's length. */
pl_status pl_pg_get_int(const PGresult *r, int row, int col, int64_t *out);
pl_status pl_pg_get_bool(const PGresult *r, int row, int col, bool *out);
/* Copies text into dst[cap] (truncating, always terminated). */
void pl_pg_get_str(const PGresult *r, int row, int col, char *dst, size_t cap);
/* A malloc'd NUL-terminated copy of a text/bytea value, *len its bytes. */
pl_status pl_pg_get_blob(const PGresult *r, int row, int col, char **out,
                         size_t *len);

/* --- store_postgres_users.c, _conv.c, _msgs.c ---------------------------- */

pl_status pl_pg_user_create(pl_store_conn *, const pl_user *);
pl_status pl_pg_users_create_bulk(pl_store_conn *, const pl_user *, size_t);
pl_status pl_pg_user_by_name(pl_store_conn *, const char *, pl_user *);
pl_status pl_pg_user_by_id(pl_store_conn *, const pl_uuid *, pl_user *);
pl_status pl_pg_users_exist(pl_store_conn *, const pl_uuid *, size_t, bool *);
pl_status pl_pg_conv_create_direct(pl_store_conn *, const pl_uuid *,
                                   const pl_uuid *, pl_conv *, bool *);
pl_status pl_pg_conv_create_group(pl_store_conn *, const pl_conv *,
                                  const pl_uuid *, const pl_uuid *, size_t);
pl_status pl_pg_conv_get(pl_store_conn *, const pl_uuid *, pl_conv *);
pl_status pl_pg_conv_list(pl_store_conn *, const pl_uuid *, size_t, pl_conv **,
                          size_t *);
pl_status pl_pg_conv_ids_for_user(pl_store_conn *, const pl_uuid *, pl_uuid **,
                                  size_t *);
pl_status pl_pg_member_role(pl_store_conn *, const pl_uuid *, const pl_uuid *,
                            int *);
pl_status pl_pg_members_add(pl_store_conn *, const pl_uuid *, const pl_uuid *,
                            size_t, int, int64_t, size_t *);
pl_status pl_pg_member_remove(pl_store_conn *, const pl_uuid *,
                              const pl_uuid *);
pl_status pl_pg_members_page(pl_store_conn *, const pl_uuid *, const pl_uuid *,
                             size_t, pl_member **, size_t *);
pl_status pl_pg_member_count(pl_store_conn *, const pl_uuid *, int64_t *);
pl_status pl_pg_conv_last_seq(pl_store_conn *, const pl_uuid *, int64_t *);
pl_status pl_pg_msg_by_client_id(pl_store_conn *, const pl_uuid *,
                                 const pl_uuid *, const char *, pl_msg *);
pl_status pl_pg_append(pl_store_conn *, const pl_msg *, size_t,
                       const pl_read_offset *, size_t);
pl_status pl_pg_msgs_range(pl_store_conn *, const pl_uuid *, int64_t, int64_t,
                           size_t, pl_msg **, size_t *, bool *);
pl_status pl_pg_read_offsets(pl_store_conn *, const pl_read_offset *, size_t);
pl_status pl_pg_read_offset_get(pl_store_conn *, const pl_uuid *,
                                const pl_uuid *, int64_t *);

#endif
