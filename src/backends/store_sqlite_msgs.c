/* store_sqlite_msgs.c - messages and read offsets of the SQLite store.
 *
 * pl_sq_append is the hot path: one BEGIN IMMEDIATE ... COMMIT per group
 * commit, one prepared INSERT per message at the end of the log, the
 * conversation and sender rowids from the per-connection cache. The fences
 * (a duplicate (conv, seq) or (conv, sender, client_msg_id) fails the
 * batch) are checked against the merged indexes (read-only probes) and the
 * in-memory tail; the write lock of BEGIN IMMEDIATE plus pl_sq_sync make
 * both exact. Every PL_SQ_MERGE_ROWS rows the log is merged into the indexes in
 * one sorted bulk insert (see store_sqlite_int.h for why). */
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_int.h"

/* --- the tail: keeping it equal to the snapshot ------------------------ */

static pl_status tail_state(pl_sq_conn *c, int64_t *indexed, int64_t *maxid)
{
    sqlite3_stmt *st = c->st[SQ_TAIL_STATE];
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *indexed = sqlite3_column_int64(st, 0);
        *maxid = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return PL_OK;
    return rc == SQLITE_DONE ? PL_ERR_IO : pl_sq_status(rc);
}

/* Adds the log rows (upto, hi] to the tail. */
static pl_status tail_scan(pl_sq_conn *c, int64_t hi)
{
    sqlite3_stmt *st = c->st[SQ_TAIL_SCAN];
    pl_status rc = PL_OK;
    pl_sq_tent e;
    int src = SQLITE_DONE;

    sqlite3_bind_int64(st, 1, c->tail.upto);
    sqlite3_bind_int64(st, 2, hi);
    while (rc == PL_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        e.rowid = sqlite3_column_int64(st, 0);
        e.conv = sqlite3_column_int64(st, 1);
        e.seq = sqlite3_column_int64(st, 2);
        e.sender = sqlite3_column_int64(st, 3);
        pl_sq_col_str(st, 4, e.cmid, sizeof(e.cmid));
        e.created_ms = sqlite3_column_int64(st, 5);
        rc = pl_sq_tail_add(&c->tail, &e);
    }
    if (rc == PL_OK && src != SQLITE_DONE)
        rc = pl_sq_status(src);
    sqlite3_reset(st);
    if (rc != PL_OK)
        c->tail.base = -1; /* half-filled: rebuild next time */
    return rc;
}

pl_status pl_sq_sync(pl_sq_conn *c)
{
    int64_t indexed = 0, maxid = 0;
    pl_status rc = tail_state(c, &indexed, &maxid);

    if (rc != PL_OK)
        return rc;
    /* A merge (any connection), an invalidated tail, or rows that are no
     * longer there (rolled back): start over from the merge point. */
    if (c->tail.base != indexed || c->tail.upto > maxid)
        pl_sq_tail_reset(&c->tail, indexed);
    if (c->tail.upto < maxid)
        rc = tail_scan(c, maxid);
    return rc;
}

pl_status pl_sq_read_begin(pl_sq_conn *c)
{
    pl_status rc = pl_sq_exec(c, c->st[SQ_READ_BEGIN]);

    if (rc == PL_OK && (rc = pl_sq_sync(c)) != PL_OK)
        pl_sq_exec(c, c->st[SQ_ROLLBACK]);
    return rc;
}

pl_status pl_sq_read_end(pl_sq_conn *c, pl_status rc)
{
    pl_status crc = pl_sq_exec(c, c->st[SQ_COMMIT]);

    if (crc != PL_OK && !sqlite3_get_autocommit(c->db))
        pl_sq_exec(c, c->st[SQ_ROLLBACK]);
    return rc != PL_OK ? rc : crc;
}

void pl_sq_tail_patch(pl_sq_conn *c, int64_t conv, int64_t *last_seq,
                      int64_t *activity_ms)
{
    const pl_sq_tent *e = pl_sq_tail_last(&c->tail, conv);

    if (!e || e->seq <= *last_seq)
        return;
    *last_seq = e->seq;
    if (activity_ms)
        *activity_ms = e->created_ms;
}

/* --- reading ----------------------------------------------------------- */

/* Fills m from a row of MSG_COLS (store_sqlite_schema.c); m->content is
 * malloc'd. conv_id is set by the caller. */
static pl_status read_msg(sqlite3_stmt *st, pl_msg *m)
{
    const void *text = sqlite3_column_text(st, 4);
    size_t len = (size_t)sqlite3_column_bytes(st, 4);
    pl_status rc;

    m->seq = sqlite3_column_int64(st, 0);
    m->created_ms = sqlite3_column_int64(st, 5);
    pl_sq_col_str(st, 3, m->client_msg_id, sizeof(m->client_msg_id));
    m->content = NULL;
    m->content_len = 0;
    rc = pl_sq_col_uuid(st, 1, &m->msg_id);
    if (rc == PL_OK)
        rc = pl_sq_col_uuid(st, 2, &m->sender_id);
    if (rc != PL_OK)
        return rc;
    if (!text && sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
        return PL_ERR_NOMEM;
    if (!text) /* SQL NULL: sqlite reports 0 bytes; make it explicit */
        len = 0;
    m->content = malloc(len + 1);
    if (!m->content)
        return PL_ERR_NOMEM;
    if (len)
        memcpy(m->content, text, len);
    m->content[len] = '\0';
    m->content_len = len;
    return PL_OK;
}

/* The log row rowid of conversation conv into out. */
static pl_status fetch_msg(pl_sq_conn *c, int64_t rowid, const pl_uuid *conv,
                           pl_msg *out)
{
    sqlite3_stmt *st = c->st[SQ_MSG_BY_ROWID];
    pl_status rc;
    int src = SQLITE_DONE;

    sqlite3_bind_int64(st, 1, rowid);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        out->conv_id = *conv;
        rc = read_msg(st, out);
    } else {
        /* An index entry without its row: the database is damaged. */
        rc = src == SQLITE_DONE ? PL_ERR_IO : pl_sq_status(src);
    }
    sqlite3_reset(st);
    return rc;
}

/* Steps a statement whose first column is one integer into *v. */
static pl_status step_int(sqlite3_stmt *st, int64_t *v)
{
    int src = sqlite3_step(st);

    if (src == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (src == SQLITE_ROW)
        return PL_OK;
    return src == SQLITE_DONE ? PL_ERR_NOTFOUND : pl_sq_status(src);
}

pl_status pl_sq_conv_last_seq(pl_store_conn *conn, const pl_uuid *conv,
                              int64_t *last_seq)
{
    pl_sq_conn *c = PL_SQ(conn);
    sqlite3_stmt *st = c->st[SQ_IDX_LAST_SEQ];
    int64_t crow, v = 0;
    pl_status rc = pl_sq_rowid(c, SQ_T_CONVS, conv, &crow);

    if (rc != PL_OK || (rc = pl_sq_read_begin(c)) != PL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, crow);
    rc = step_int(st, &v);
    if (rc == PL_OK) {
        pl_sq_tail_patch(c, crow, &v, NULL);
        *last_seq = v;
    }
    return pl_sq_read_end(c, rc);
}

/* The rowid of (conv, sender, cmid) in the tail or the merged index. */
static pl_status find_cmid(pl_sq_conn *c, int64_t crow, int64_t srow,
                           const char *cmid, int64_t *rowid)
{
    const pl_sq_tent *e = pl_sq_tail_cmid(&c->tail, crow, srow, cmid);
    sqlite3_stmt *st = c->st[SQ_IDX_CMID];

    if (e) {
        *rowid = e->rowid;
        return PL_OK;
    }
    sqlite3_bind_int64(st, 1, crow);
    sqlite3_bind_int64(st, 2, srow);
    pl_sq_bind_str(st, 3, cmid, PL_CLIENT_MSG_ID_MAX);
    return step_int(st, rowid);
}

pl_status pl_sq_msg_by_client_id(pl_store_conn *conn, const pl_uuid *conv,
                                 const pl_uuid *sender,
                                 const char *client_msg_id, pl_msg *out)
{
    pl_sq_conn *c = PL_SQ(conn);
    int64_t crow, srow, rowid = 0;
    pl_status rc = pl_sq_rowid(c, SQ_T_CONVS, conv, &crow);

    if (rc == PL_OK)
        rc = pl_sq_rowid(c, SQ_T_USERS, sender, &srow);
    if (rc != PL_OK)
        return rc;
    /* An over-long id cannot have been stored. */
    if (strnlen(client_msg_id, PL_CLIENT_MSG_ID_MAX + 1) > PL_CLIENT_MSG_ID_MAX)
        return PL_ERR_NOTFOUND;
    if ((rc = pl_sq_read_begin(c)) != PL_OK)
        return rc;
    rc = find_cmid(c, crow, srow, client_msg_id, &rowid);
    if (rc == PL_OK)
        rc = fetch_msg(c, rowid, conv, out);
    return pl_sq_read_end(c, rc);
}

/* A range read's candidates: up to want (seq, rowid) pairs from the merged
 * index, in the direction of travel. */
static pl_status index_refs(pl_sq_conn *c, int64_t crow, bool desc,
                            int64_t bound, int64_t want, pl_sq_ref **out,
                            size_t *n)
{
    sqlite3_stmt *st = c->st[desc ? SQ_IDX_BEFORE : SQ_IDX_AFTER];
    size_t cap = 0;
    pl_status rc = PL_OK;
    int src = SQLITE_DONE;

    sqlite3_bind_int64(st, 1, crow);
    sqlite3_bind_int64(st, 2, bound);
    sqlite3_bind_int64(st, 3, want);
    while (rc == PL_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        rc = pl_sq_grow((void **)out, &cap, *n, sizeof(**out));
        if (rc == PL_OK) {
            (*out)[*n].seq = sqlite3_column_int64(st, 0);
            (*out)[(*n)++].rowid = sqlite3_column_int64(st, 1);
        }
    }
    if (rc == PL_OK && src != SQLITE_DONE)
        rc = pl_sq_status(src);
    sqlite3_reset(st);
    return rc;
}

/* Merges the index and tail candidates (both in the direction of travel,
 * disjoint) into a, keeping the first want. Returns how many. */
static size_t merge_refs(pl_sq_ref *a, size_t na, const pl_sq_ref *b, size_t nb,
                         bool desc, size_t want)
{
    pl_sq_ref *out = malloc((na + nb > 0 ? na + nb : 1) * sizeof(*out));
    size_t i = 0, j = 0, k = 0;

    if (!out)
        return SIZE_MAX;
    while (k < want && (i < na || j < nb)) {
        bool take_a =
            j >= nb ||
            (i < na && (desc ? a[i].seq > b[j].seq : a[i].seq < b[j].seq));
        out[k++] = take_a ? a[i++] : b[j++];
    }
    memcpy(a, out, k * sizeof(*out));
    free(out);
    return k;
}

/* Collects the seqs and rowids of a range read: *refs (malloc'd, room for
 * at least the tail's rows too), *n of them, at most want. */
static pl_status range_refs(pl_sq_conn *c, int64_t crow, bool desc,
                            int64_t bound, size_t want, pl_sq_ref **refs,
                            size_t *n)
{
    size_t nt = 0, tmax = want < c->tail.n ? want : c->tail.n;
    pl_sq_ref *t = malloc((tmax ? tmax : 1) * sizeof(*t));
    pl_status rc = t ? PL_OK : PL_ERR_NOMEM;
    size_t k;

    if (rc == PL_OK)
        rc = index_refs(c, crow, desc, bound, pl_sq_limit(want, 0), refs, n);
    if (rc == PL_OK)
        rc = pl_sq_tail_range(&c->tail, crow, desc ? INT64_MIN : bound,
                              desc ? bound : INT64_MAX, desc, tmax, t, &nt);
    if (rc == PL_OK && nt > 0) {
        pl_sq_ref *grown = realloc(*refs, (*n + nt) * sizeof(**refs));
        if (!grown)
            rc = PL_ERR_NOMEM;
        else
            *refs = grown;
        k = rc == PL_OK ? merge_refs(*refs, *n, t, nt, desc, want) : 0;
        if (k == SIZE_MAX)
            rc = PL_ERR_NOMEM;
        else
            *n = k;
    }
    free(t);
    return rc;
}

static pl_status fetch_refs(pl_sq_conn *c, const pl_uuid *conv,
                            const pl_sq_ref *refs, size_t count, pl_msg **out,
                            size_t *n)
{
    pl_status rc = PL_OK;

    if (count == 0)
        return PL_OK;
    *out = calloc(count, sizeof(**out));
    if (!*out)
        return PL_ERR_NOMEM;
    for (size_t i = 0; rc == PL_OK && i < count; i++) {
        rc = fetch_msg(c, refs[i].rowid, conv, &(*out)[i]);
        (*n)++; /* counted even on error: its content is freed */
    }
    return rc;
}

static void reverse_msgs(pl_msg *m, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        pl_msg t = m[i];
        m[i] = m[n - 1 - i];
        m[n - 1 - i] = t;
    }
}

static pl_status range_in_tx(pl_sq_conn *c, const pl_uuid *conv, int64_t crow,
                             bool desc, int64_t bound, size_t limit,
                             pl_msg **out, size_t *n, bool *has_more)
{
    /* One row past the page tells whether there is more. */
    size_t want = limit < SIZE_MAX ? limit + 1 : limit;
    pl_sq_ref *refs = NULL;
    size_t nrefs = 0;
    pl_status rc = range_refs(c, crow, desc, bound, want, &refs, &nrefs);

    if (rc == PL_OK) {
        *has_more = nrefs > limit;
        rc = fetch_refs(c, conv, refs, *has_more ? limit : nrefs, out, n);
    }
    free(refs);
    if (rc == PL_OK && desc)
        reverse_msgs(*out, *n);
    return rc;
}

pl_status pl_sq_msgs_range(pl_store_conn *conn, const pl_uuid *conv,
                           int64_t after_seq, int64_t before_seq, size_t limit,
                           pl_msg **out, size_t *n, bool *has_more)
{
    pl_sq_conn *c = PL_SQ(conn);
    bool desc = after_seq < 0;
    int64_t crow;
    pl_status rc;

    *out = NULL;
    *n = 0;
    *has_more = false;
    rc = pl_sq_rowid(c, SQ_T_CONVS, conv, &crow);
    if (rc != PL_OK || (rc = pl_sq_read_begin(c)) != PL_OK)
        return rc;
    /* Neither bound: the newest page, i.e. before "infinity". */
    if (desc && before_seq <= 0)
        before_seq = INT64_MAX;
    rc = range_in_tx(c, conv, crow, desc, desc ? before_seq : after_seq, limit,
                     out, n, has_more);
    rc = pl_sq_read_end(c, rc);
    if (rc != PL_OK) {
        pl_msg_list_free(*out, *n);
        *out = NULL;
        *n = 0;
        *has_more = false;
    }
    return rc;
}

/* --- writing ----------------------------------------------------------- */

/* PL_ERR_CONFLICT if (conv, seq) or (conv, sender, cmid) is stored. */
static pl_status check_fences(pl_sq_conn *c, int64_t crow, int64_t srow,
                              const pl_msg *m)
{
    sqlite3_stmt *st = c->st[SQ_IDX_HAS_SEQ];
    int64_t v;
    pl_status rc;

    if (pl_sq_tail_seq(&c->tail, crow, m->seq))
        return PL_ERR_CONFLICT;
    sqlite3_bind_int64(st, 1, crow);
    sqlite3_bind_int64(st, 2, m->seq);
    rc = step_int(st, &v);
    if (rc == PL_ERR_NOTFOUND)
        rc = find_cmid(c, crow, srow, m->client_msg_id, &v);
    if (rc == PL_OK)
        return PL_ERR_CONFLICT;
    return rc == PL_ERR_NOTFOUND ? PL_OK : rc;
}

static pl_status insert_msg(pl_sq_conn *c, const pl_msg *m)
{
    sqlite3_stmt *st = c->st[SQ_MSG_INSERT];
    pl_sq_tent e;
    /* rows are validated by pl_store_append (store.c) */
    pl_status rc = pl_sq_rowid(c, SQ_T_CONVS, &m->conv_id, &e.conv);
    if (rc == PL_OK)
        rc = pl_sq_rowid(c, SQ_T_USERS, &m->sender_id, &e.sender);
    if (rc == PL_OK)
        rc = check_fences(c, e.conv, e.sender, m);
    if (rc != PL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, e.conv);
    sqlite3_bind_int64(st, 2, m->seq);
    pl_sq_bind_uuid(st, 3, &m->msg_id);
    sqlite3_bind_int64(st, 4, e.sender);
    pl_sq_bind_str(st, 5, m->client_msg_id, PL_CLIENT_MSG_ID_MAX);
    /* "" for an empty content: NULL would violate NOT NULL. */
    sqlite3_bind_text(st, 6, m->content ? m->content : "", (int)m->content_len,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, m->created_ms);
    if ((rc = pl_sq_exec(c, st)) != PL_OK)
        return rc;
    /* In the tail at once, so a duplicate later in the batch is seen. */
    e.rowid = sqlite3_last_insert_rowid(c->db);
    e.seq = m->seq;
    e.created_ms = m->created_ms;
    memcpy(e.cmid, m->client_msg_id, sizeof(e.cmid));
    return pl_sq_tail_add(&c->tail, &e);
}

static pl_status upsert_offset(pl_sq_conn *c, const pl_read_offset *o)
{
    sqlite3_stmt *st = c->st[SQ_OFFSET_UPSERT];
    int64_t crow, urow;
    pl_status rc = pl_sq_rowid(c, SQ_T_CONVS, &o->conv_id, &crow);

    if (rc == PL_OK)
        rc = pl_sq_rowid(c, SQ_T_USERS, &o->user_id, &urow);
    if (rc != PL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, crow);
    sqlite3_bind_int64(st, 2, urow);
    sqlite3_bind_int64(st, 3, o->seq);
    return pl_sq_exec(c, st);
}

static pl_status merge_in_tx(pl_sq_conn *c, int64_t lo, int64_t hi)
{
    sqlite3_stmt *seq = c->st[SQ_MERGE_SEQ];
    sqlite3_stmt *dedupe = c->st[SQ_MERGE_DEDUPE];
    sqlite3_stmt *mark = c->st[SQ_MERGE_MARK];
    pl_status rc;

    sqlite3_bind_int64(seq, 1, lo);
    sqlite3_bind_int64(seq, 2, hi);
    rc = pl_sq_exec(c, seq);
    sqlite3_bind_int64(dedupe, 1, lo);
    sqlite3_bind_int64(dedupe, 2, hi);
    if (rc == PL_OK)
        rc = pl_sq_exec(c, dedupe);
    sqlite3_bind_int64(mark, 1, hi);
    if (rc == PL_OK)
        rc = pl_sq_exec(c, mark);
    return rc;
}

/* Moves the whole tail into msg_seq/msg_dedupe once it is long enough.
 * Failure only leaves the tail longer: the next append tries again. */
static void maybe_merge(pl_sq_conn *c)
{
    int64_t hi;
    bool merge;
    pl_status rc;

    if (c->tail.base < 0 || c->tail.upto - c->tail.base < c->store->merge_rows)
        return;
    if (pl_sq_begin(c) != PL_OK)
        return;
    rc = pl_sq_sync(c); /* another connection may have merged already */
    hi = c->tail.upto;
    merge = rc == PL_OK && hi - c->tail.base >= c->store->merge_rows;
    if (merge)
        rc = merge_in_tx(c, c->tail.base, hi);
    if (rc != PL_OK) {
        pl_sq_rollback(c, rc);
        c->tail.base = -1;
        return;
    }
    if (pl_sq_commit(c) != PL_OK)
        c->tail.base = -1;
    else if (merge)
        pl_sq_tail_reset(&c->tail, hi);
}

static pl_status append_in_tx(pl_sq_conn *c, const pl_msg *msgs, size_t nmsgs,
                              const pl_read_offset *offs, size_t noffs)
{
    pl_status rc = nmsgs ? pl_sq_sync(c) : PL_OK;

    for (size_t i = 0; rc == PL_OK && i < nmsgs; i++)
        rc = insert_msg(c, &msgs[i]);
    for (size_t i = 0; rc == PL_OK && i < noffs; i++)
        rc = upsert_offset(c, &offs[i]);
    return rc;
}

pl_status pl_sq_append(pl_store_conn *conn, const pl_msg *msgs, size_t nmsgs,
                       const pl_read_offset *offs, size_t noffs)
{
    pl_sq_conn *c = PL_SQ(conn);
    pl_status rc;

    if (nmsgs == 0 && noffs == 0)
        return PL_OK;
    rc = pl_sq_begin(c);
    if (rc != PL_OK)
        return rc;
    rc = append_in_tx(c, msgs, nmsgs, offs, noffs);
    if (rc == PL_OK)
        rc = pl_sq_commit(c);
    else
        pl_sq_rollback(c, rc);
    if (rc != PL_OK) {
        if (nmsgs)
            c->tail.base = -1; /* it holds rows that were rolled back */
        return rc;
    }
    if (nmsgs)
        maybe_merge(c);
    return PL_OK;
}

pl_status pl_sq_read_offsets(pl_store_conn *conn, const pl_read_offset *offs,
                             size_t n)
{
    return pl_sq_append(conn, NULL, 0, offs, n);
}
