/* store_postgres_msgs.c - messages and read offsets of the PostgreSQL
 * store.
 *
 * pl_pg_append is the hot path: the whole group commit - N messages and M
 * read offsets - is ONE statement (PG_APPEND in store_postgres_schema.c)
 * with one array parameter per column, expanded by unnest() on the
 * server: one round trip, one implicit transaction, one WAL flush.
 *
 * Why unnest and not libpq's pipeline mode (N single-row INSERTs, one
 * Sync): measured with `PARLEY_STORE_BENCH=1 build/test_store_postgres`
 * (docs/PERFORMANCE.md), the same batches through a pipeline were 1.4-4.7x
 * slower (batch 1000: 10-13 k vs 27-62 k rows/s on a loaded 2-core VM) - each
 * row is a separate Bind/Execute with its own executor start-up, and the
 * conversation updates are more statements again - while the unnest
 * statement plans once and inserts every row in one executor run. */
#include <stdlib.h>
#include <string.h>

#include "store_postgres_int.h"

/* --- reading ------------------------------------------------------------- */

/* Fills m from row `row` of MSG_COLS; m->content is malloc'd. */
static pl_status read_msg(const PGresult *r, int row, const pl_uuid *conv,
                          pl_msg *m)
{
    pl_status rc;

    memset(m, 0, sizeof(*m));
    m->conv_id = *conv;
    rc = pl_pg_get_int(r, row, 0, &m->seq);
    if (rc == PL_OK)
        rc = pl_pg_get_uuid(r, row, 1, &m->msg_id);
    if (rc == PL_OK)
        rc = pl_pg_get_uuid(r, row, 2, &m->sender_id);
    pl_pg_get_str(r, row, 3, m->client_msg_id, sizeof(m->client_msg_id));
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, row, 5, &m->created_ms);
    if (rc == PL_OK)
        rc = pl_pg_get_blob(r, row, 4, &m->content, &m->content_len);
    return rc;
}

pl_status pl_pg_conv_last_seq(pl_store_conn *conn, const pl_uuid *conv,
                              int64_t *last_seq)
{
    pl_pg_conn *c = PL_PG(conn);
    PGresult *r;
    pl_status rc;

    pl_pg_p_uuid(pl_pg_params_begin(c), conv);
    rc = pl_pg_call(c, PG_LAST_SEQ, &r);
    if (rc == PL_OK)
        rc = PQntuples(r) == 1 ? pl_pg_get_int(r, 0, 0, last_seq)
                               : PL_ERR_NOTFOUND;
    PQclear(r);
    return rc;
}

pl_status pl_pg_msg_by_client_id(pl_store_conn *conn, const pl_uuid *conv,
                                 const pl_uuid *sender,
                                 const char *client_msg_id, pl_msg *out)
{
    pl_pg_conn *c = PL_PG(conn);
    pl_pg_params *p = pl_pg_params_begin(c);
    PGresult *r;
    pl_status rc;

    pl_pg_p_uuid(p, conv);
    pl_pg_p_uuid(p, sender);
    pl_pg_p_str(p, client_msg_id, PL_CLIENT_MSG_ID_MAX);
    rc = pl_pg_call(c, PG_MSG_BY_CMID, &r);
    if (rc == PL_OK && PQntuples(r) != 1)
        rc = PL_ERR_NOTFOUND;
    if (rc == PL_OK && (rc = read_msg(r, 0, conv, out)) != PL_OK)
        pl_msg_clear(out);
    PQclear(r);
    /* An over-long or non-UTF-8 id cannot have been stored. */
    return rc == PL_ERR_INVALID ? PL_ERR_NOTFOUND : rc;
}

/* Copies rows [from, from + count) of a range result into *out. */
static pl_status range_rows(const PGresult *r, int from, int count,
                            const pl_uuid *conv, pl_msg **out, size_t *n)
{
    pl_status rc = PL_OK;

    if (count == 0)
        return PL_OK;
    *out = calloc((size_t)count, sizeof(**out));
    if (!*out)
        return PL_ERR_NOMEM;
    for (int i = 0; rc == PL_OK && i < count; i++) {
        rc = read_msg(r, from + i, conv, &(*out)[i]);
        (*n)++; /* counted even on error: its content is freed */
    }
    return rc;
}

pl_status pl_pg_msgs_range(pl_store_conn *conn, const pl_uuid *conv,
                           int64_t after_seq, int64_t before_seq, size_t limit,
                           pl_msg **out, size_t *n, bool *has_more)
{
    pl_pg_conn *c = PL_PG(conn);
    pl_pg_params *p = pl_pg_params_begin(c);
    bool desc = after_seq < 0;
    /* One row past the page tells whether there is more. */
    int64_t want = limit >= INT64_MAX ? INT64_MAX : (int64_t)limit + 1;
    PGresult *r;
    int rows = 0, keep;
    pl_status rc;

    *out = NULL;
    *n = 0;
    *has_more = false;
    /* Neither bound: the newest page, i.e. before "infinity". */
    if (desc && before_seq <= 0)
        before_seq = INT64_MAX;
    pl_pg_p_uuid(p, conv);
    pl_pg_p_i64(p, desc ? before_seq : after_seq);
    pl_pg_p_i64(p, want);
    rc = pl_pg_call(c, desc ? PG_RANGE_BEFORE : PG_RANGE_AFTER, &r);
    if (rc == PL_OK && (rows = PQntuples(r)) == 0)
        rc = PL_ERR_NOTFOUND; /* no such conversation */
    if (rc == PL_OK && rows == 1 && PQgetisnull(r, 0, 0))
        rows = 0; /* the conversation, no message in range */
    if (rc == PL_OK) {
        *has_more = (size_t)rows > limit;
        keep = *has_more ? rows - 1 : rows;
        /* Rows come ascending; the extra one is at the far end of the
         * direction of travel: the last going forward, the first back. */
        rc = range_rows(r, desc && *has_more ? 1 : 0, keep, conv, out, n);
    }
    PQclear(r);
    if (rc != PL_OK) {
        pl_msg_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        *has_more = false;
    }
    return rc;
}

/* --- writing ---------------------------------------------------------------
 */

/* $1..$7: one array per message column. */
static void msg_arrays(pl_pg_params *p, const pl_msg *m, size_t n)
{
    pl_pg_arr_begin(p, PG_OID_UUID, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_uuid(p, &m[i].conv_id);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_INT8, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_i64(p, m[i].seq);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_UUID, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_uuid(p, &m[i].msg_id);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_UUID, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_uuid(p, &m[i].sender_id);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_TEXT, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_str(p, m[i].client_msg_id, PL_CLIENT_MSG_ID_MAX);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_BYTEA, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_bytes(p, m[i].content, m[i].content_len);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_INT8, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_i64(p, m[i].created_ms);
    pl_pg_arr_end(p);
}

/* $8..$10: conversation, user, seq of each offset. */
static void offset_arrays(pl_pg_params *p, const pl_read_offset *o, size_t n)
{
    pl_pg_arr_begin(p, PG_OID_UUID, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_uuid(p, &o[i].conv_id);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_UUID, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_uuid(p, &o[i].user_id);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_INT8, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_i64(p, o[i].seq);
    pl_pg_arr_end(p);
}

pl_status pl_pg_append(pl_store_conn *conn, const pl_msg *msgs, size_t nmsgs,
                       const pl_read_offset *offs, size_t noffs)
{
    pl_pg_conn *c = PL_PG(conn);
    pl_pg_params *p;
    PGresult *r;
    pl_status rc;

    if (nmsgs == 0 && noffs == 0)
        return PL_OK;
    /* rows are validated by pl_store_append (store.c) */
    p = pl_pg_params_begin(c);
    msg_arrays(p, msgs, nmsgs);
    offset_arrays(p, offs, noffs);
    rc = pl_pg_call(c, PG_APPEND, &r);
    PQclear(r);
    return rc;
}

pl_status pl_pg_read_offsets(pl_store_conn *conn, const pl_read_offset *offs,
                             size_t n)
{
    return pl_pg_append(conn, NULL, 0, offs, n);
}
