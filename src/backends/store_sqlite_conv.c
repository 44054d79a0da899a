/* store_sqlite_conv.c - conversations and members of the SQLite store.
 * Multi-row writes run in one BEGIN IMMEDIATE transaction so they are
 * all-or-nothing and never need a lock upgrade (no SQLITE_BUSY_SNAPSHOT in
 * WAL mode). */
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_int.h"

/* --- conversations ----------------------------------------------------- */

/* Steps a SELECT of CONV_COLS (store_sqlite_schema.c) and fills out,
 * last_seq including the tail (call with the tail synced). */
static pl_status read_conv(pl_sq_conn *c, sqlite3_stmt *st, pl_conv *out)
{
    int rc = sqlite3_step(st);
    pl_status ret = PL_OK;

    if (rc == SQLITE_ROW) {
        ret = pl_sq_col_uuid(st, 0, &out->id);
        out->type = sqlite3_column_int(st, 1);
        pl_sq_col_str(st, 2, out->name, sizeof(out->name));
        out->created_ms = sqlite3_column_int64(st, 3);
        out->last_seq = sqlite3_column_int64(st, 4);
        out->member_count = sqlite3_column_int64(st, 5);
        out->last_read_seq = 0;
        out->role = 0;
        pl_sq_tail_patch(c, sqlite3_column_int64(st, 6), &out->last_seq, NULL);
    } else {
        ret = rc == SQLITE_DONE ? PL_ERR_NOTFOUND : pl_sq_status(rc);
    }
    sqlite3_reset(st);
    return ret;
}

pl_status pl_sq_conv_get(pl_store_conn *conn, const pl_uuid *conv_id,
                         pl_conv *out)
{
    pl_sq_conn *c = PL_SQ(conn);
    sqlite3_stmt *st = c->st[SQ_CONV_BY_UUID];
    pl_status rc = pl_sq_read_begin(c);

    if (rc != PL_OK)
        return rc;
    pl_sq_bind_uuid(st, 1, conv_id);
    rc = read_conv(c, st, out);
    return pl_sq_read_end(c, rc);
}

/* Inserts the conversation row; *rowid is the new row. dkey may be NULL. */
static pl_status insert_conv(pl_sq_conn *c, const pl_conv *conv, int type,
                             const uint8_t *dkey, int64_t *rowid)
{
    sqlite3_stmt *st = c->st[SQ_CONV_INSERT];
    pl_status rc = pl_sq_bind_uuid(st, 1, &conv->id);

    sqlite3_bind_int(st, 2, type);
    if (rc == PL_OK)
        rc = pl_sq_bind_str(st, 3, type == PL_CONV_DIRECT ? "" : conv->name,
                            PL_CONV_NAME_MAX);
    if (dkey)
        sqlite3_bind_blob(st, 4, dkey, 32, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, conv->created_ms);
    if (rc != PL_OK) {
        sqlite3_reset(st);
        return rc;
    }
    rc = pl_sq_exec(c, st);
    *rowid = sqlite3_last_insert_rowid(c->db);
    return rc;
}

/* INSERT OR IGNORE of one membership; *inserted = whether it is new. */
static pl_status insert_member(pl_sq_conn *c, int64_t conv, int64_t user,
                               const pl_uuid *user_id, int role, int64_t now_ms,
                               bool *inserted)
{
    sqlite3_stmt *st = c->st[SQ_MEM_INSERT];
    pl_status rc;

    sqlite3_bind_int64(st, 1, conv);
    sqlite3_bind_int64(st, 2, user);
    pl_sq_bind_uuid(st, 3, user_id);
    sqlite3_bind_int(st, 4, role);
    sqlite3_bind_int64(st, 5, now_ms);
    rc = pl_sq_exec(c, st);
    if (inserted)
        *inserted = rc == PL_OK && sqlite3_changes(c->db) > 0;
    return rc;
}

/* Resolves the user and adds them; NOTFOUND if the user does not exist. */
static pl_status add_member(pl_sq_conn *c, int64_t conv, const pl_uuid *user,
                            int role, int64_t now_ms, bool *inserted)
{
    int64_t urow;
    pl_status rc = pl_sq_rowid(c, SQ_T_USERS, user, &urow);

    if (rc == PL_OK)
        rc = insert_member(c, conv, urow, user, role, now_ms, inserted);
    return rc;
}

/* Looks up the pair's conversation by key; if none, creates it. Runs
 * inside the caller's transaction. */
static pl_status direct_in_tx(pl_sq_conn *c, const pl_uuid *a, const pl_uuid *b,
                              const uint8_t *key, pl_conv *conv, bool *created)
{
    sqlite3_stmt *st = c->st[SQ_CONV_BY_DKEY];
    int64_t conv_row, urow;
    pl_status rc;

    /* Both users must exist, also when the pair already has a row. */
    rc = pl_sq_rowid(c, SQ_T_USERS, a, &urow);
    if (rc == PL_OK)
        rc = pl_sq_rowid(c, SQ_T_USERS, b, &urow);
    if (rc != PL_OK)
        return rc;
    if ((rc = pl_sq_sync(c)) != PL_OK)
        return rc;
    sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
    rc = read_conv(c, st, conv);
    if (rc != PL_ERR_NOTFOUND)
        return rc; /* found (PL_OK) or a real error */
    rc = insert_conv(c, conv, PL_CONV_DIRECT, key, &conv_row);
    if (rc == PL_OK)
        rc = add_member(c, conv_row, a, PL_ROLE_MEMBER, conv->created_ms, NULL);
    if (rc == PL_OK)
        rc = add_member(c, conv_row, b, PL_ROLE_MEMBER, conv->created_ms, NULL);
    if (rc == PL_OK) {
        conv->type = PL_CONV_DIRECT;
        conv->name[0] = '\0';
        conv->last_seq = 0;
        conv->last_read_seq = 0;
        conv->role = PL_ROLE_MEMBER;
        conv->member_count = 2;
        *created = true;
    }
    return rc;
}

pl_status pl_sq_conv_create_direct(pl_store_conn *conn, const pl_uuid *a,
                                   const pl_uuid *b, pl_conv *conv,
                                   bool *created)
{
    pl_sq_conn *c = PL_SQ(conn);
    uint8_t key[32]; /* the two ids sorted: one key per unordered pair */
    int cmp = memcmp(a->b, b->b, 16);
    pl_status rc;

    *created = false;
    if (cmp == 0)
        return PL_ERR_INVALID;
    memcpy(key, cmp < 0 ? a->b : b->b, 16);
    memcpy(key + 16, cmp < 0 ? b->b : a->b, 16);
    rc = pl_sq_begin(c);
    if (rc != PL_OK)
        return rc;
    rc = direct_in_tx(c, a, b, key, conv, created);
    if (rc != PL_OK) {
        *created = false;
        return pl_sq_rollback(c, rc);
    }
    rc = pl_sq_commit(c);
    if (rc != PL_OK)
        *created = false;
    return rc;
}

static pl_status group_in_tx(pl_sq_conn *c, const pl_conv *conv,
                             const pl_uuid *creator, const pl_uuid *members,
                             size_t n)
{
    int64_t conv_row;
    pl_status rc = insert_conv(c, conv, PL_CONV_GROUP, NULL, &conv_row);

    /* The creator goes first so a listed creator is ignored, not demoted. */
    if (rc == PL_OK)
        rc = add_member(c, conv_row, creator, PL_ROLE_ADMIN, conv->created_ms,
                        NULL);
    for (size_t i = 0; rc == PL_OK && i < n; i++)
        rc = add_member(c, conv_row, &members[i], PL_ROLE_MEMBER,
                        conv->created_ms, NULL);
    return rc;
}

pl_status pl_sq_conv_create_group(pl_store_conn *conn, const pl_conv *conv,
                                  const pl_uuid *creator,
                                  const pl_uuid *members, size_t n)
{
    pl_sq_conn *c = PL_SQ(conn);
    pl_status rc = pl_sq_begin(c);

    if (rc != PL_OK)
        return rc;
    rc = group_in_tx(c, conv, creator, members, n);
    if (rc != PL_OK)
        return pl_sq_rollback(c, rc);
    return pl_sq_commit(c);
}

/* Resolves the user and lists the rows of a statement bound to its rowid
 * (?1), calling each() per row. */
static pl_status per_user_rows(pl_sq_conn *c, int stmt, const pl_uuid *user,
                               void **arr, size_t elem, size_t *n,
                               pl_status (*each)(pl_sq_conn *, sqlite3_stmt *,
                                                 void *))
{
    sqlite3_stmt *st = c->st[stmt];
    size_t cap = 0;
    int64_t urow;
    pl_status rc = pl_sq_rowid(c, SQ_T_USERS, user, &urow);
    int src = SQLITE_DONE;

    *arr = NULL;
    *n = 0;
    if (rc != PL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, urow);
    while (rc == PL_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        rc = pl_sq_grow(arr, &cap, *n, elem);
        if (rc == PL_OK)
            rc = each(c, st, (char *)*arr + *n * elem);
        if (rc == PL_OK)
            (*n)++;
    }
    if (rc == PL_OK && src != SQLITE_DONE)
        rc = pl_sq_status(src);
    sqlite3_reset(st);
    if (rc != PL_OK) {
        free(*arr);
        *arr = NULL;
        *n = 0;
    }
    return rc;
}

/* A conv_list row with its sort keys. */
typedef struct list_ent {
    pl_conv cv;
    int64_t activity_ms, rowid;
} list_ent;

static pl_status list_row(pl_sq_conn *c, sqlite3_stmt *st, void *dst)
{
    list_ent *le = dst;
    pl_conv *cv = &le->cv;

    memset(le, 0, sizeof(*le));
    cv->type = sqlite3_column_int(st, 1);
    pl_sq_col_str(st, 2, cv->name, sizeof(cv->name));
    cv->created_ms = sqlite3_column_int64(st, 3);
    cv->last_seq = sqlite3_column_int64(st, 4);
    cv->last_read_seq = sqlite3_column_int64(st, 5);
    cv->role = sqlite3_column_int(st, 6);
    cv->member_count = sqlite3_column_int64(st, 7);
    le->rowid = sqlite3_column_int64(st, 8);
    le->activity_ms = sqlite3_column_int64(st, 9);
    pl_sq_tail_patch(c, le->rowid, &cv->last_seq, &le->activity_ms);
    return pl_sq_col_uuid(st, 0, &cv->id);
}

/* Most recent activity first; ties: the newer conversation first. */
static int list_cmp(const void *a, const void *b)
{
    const list_ent *x = a, *y = b;

    if (x->activity_ms != y->activity_ms)
        return x->activity_ms > y->activity_ms ? -1 : 1;
    return x->rowid > y->rowid ? -1 : x->rowid < y->rowid;
}

static pl_status list_in_tx(pl_sq_conn *c, const pl_uuid *user, size_t limit,
                            pl_conv **out, size_t *n)
{
    list_ent *le;
    size_t nle;
    pl_status rc = per_user_rows(c, SQ_CONV_LIST, user, (void **)&le,
                                 sizeof(*le), &nle, list_row);

    if (rc != PL_OK)
        return rc;
    /* Sorted here, not in SQL: the tail can move any row to the front. */
    if (nle > 1)
        qsort(le, nle, sizeof(*le), list_cmp);
    *n = nle < limit ? nle : limit;
    if (*n > 0) {
        *out = malloc(*n * sizeof(**out));
        if (!*out)
            rc = PL_ERR_NOMEM;
        for (size_t i = 0; rc == PL_OK && i < *n; i++)
            (*out)[i] = le[i].cv;
    }
    if (rc != PL_OK)
        *n = 0;
    free(le);
    return rc;
}

pl_status pl_sq_conv_list(pl_store_conn *conn, const pl_uuid *user,
                          size_t limit, pl_conv **out, size_t *n)
{
    pl_sq_conn *c = PL_SQ(conn);
    pl_status rc;

    *out = NULL;
    *n = 0;
    if ((rc = pl_sq_read_begin(c)) != PL_OK)
        return rc;
    rc = list_in_tx(c, user, limit, out, n);
    return pl_sq_read_end(c, rc);
}

static pl_status id_row(pl_sq_conn *c, sqlite3_stmt *st, void *dst)
{
    return pl_sq_col_uuid(st, 0, dst);
}

pl_status pl_sq_conv_ids_for_user(pl_store_conn *conn, const pl_uuid *user,
                                  pl_uuid **out, size_t *n)
{
    return per_user_rows(PL_SQ(conn), SQ_CONV_IDS, user, (void **)out,
                         sizeof(**out), n, id_row);
}

/* --- members ----------------------------------------------------------- */

/* Binds ?1 = conversation rowid and ?2 = user rowid of st. */
static pl_status bind_pair(pl_sq_conn *c, sqlite3_stmt *st, const pl_uuid *conv,
                           const pl_uuid *user)
{
    int64_t crow, urow;
    pl_status rc = pl_sq_rowid(c, SQ_T_CONVS, conv, &crow);

    if (rc == PL_OK)
        rc = pl_sq_rowid(c, SQ_T_USERS, user, &urow);
    if (rc != PL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, crow);
    sqlite3_bind_int64(st, 2, urow);
    return PL_OK;
}

pl_status pl_sq_member_role(pl_store_conn *conn, const pl_uuid *conv,
                            const pl_uuid *user, int *role)
{
    pl_sq_conn *c = PL_SQ(conn);
    sqlite3_stmt *st = c->st[SQ_MEM_ROLE];
    pl_status rc = bind_pair(c, st, conv, user);
    int src;

    if (rc != PL_OK)
        return rc;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *role = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    if (src == SQLITE_ROW)
        return PL_OK;
    return src == SQLITE_DONE ? PL_ERR_NOTFOUND : pl_sq_status(src);
}

pl_status pl_sq_read_offset_get(pl_store_conn *conn, const pl_uuid *conv,
                                const pl_uuid *user, int64_t *seq)
{
    pl_sq_conn *c = PL_SQ(conn);
    sqlite3_stmt *st = c->st[SQ_OFFSET_GET];
    pl_status rc = bind_pair(c, st, conv, user);
    if (rc != PL_OK)
        return rc;
    int src = sqlite3_step(st);
    *seq = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? PL_OK : pl_sq_status(src);
}

static pl_status add_in_tx(pl_sq_conn *c, const pl_uuid *conv,
                           const pl_uuid *users, size_t n, int role,
                           int64_t now_ms, size_t *added)
{
    sqlite3_stmt *promote = c->st[SQ_MEM_PROMOTE];
    int64_t crow, urow;
    pl_status rc = pl_sq_rowid(c, SQ_T_CONVS, conv, &crow);
    bool fresh;

    for (size_t i = 0; rc == PL_OK && i < n; i++) {
        rc = pl_sq_rowid(c, SQ_T_USERS, &users[i], &urow);
        if (rc == PL_OK)
            rc = insert_member(c, crow, urow, &users[i], role, now_ms, &fresh);
        if (rc != PL_OK)
            break;
        if (fresh) {
            (*added)++;
        } else if (role == PL_ROLE_ADMIN) {
            sqlite3_bind_int64(promote, 1, crow);
            sqlite3_bind_int64(promote, 2, urow);
            sqlite3_bind_int(promote, 3, PL_ROLE_ADMIN);
            rc = pl_sq_exec(c, promote);
        }
    }
    return rc;
}

pl_status pl_sq_members_add(pl_store_conn *conn, const pl_uuid *conv,
                            const pl_uuid *users, size_t n, int role,
                            int64_t now_ms, size_t *added)
{
    pl_sq_conn *c = PL_SQ(conn);
    pl_status rc;

    *added = 0;
    if (role != PL_ROLE_MEMBER && role != PL_ROLE_ADMIN)
        return PL_ERR_INVALID;
    rc = pl_sq_begin(c);
    if (rc != PL_OK)
        return rc;
    rc = add_in_tx(c, conv, users, n, role, now_ms, added);
    if (rc == PL_OK)
        rc = pl_sq_commit(c);
    else
        pl_sq_rollback(c, rc);
    if (rc != PL_OK)
        *added = 0;
    return rc;
}

static pl_status remove_in_tx(pl_sq_conn *c, const pl_uuid *conv,
                              const pl_uuid *user)
{
    sqlite3_stmt *del = c->st[SQ_MEM_DELETE];
    sqlite3_stmt *state = c->st[SQ_STATE_DELETE];
    pl_status rc = bind_pair(c, del, conv, user);

    if (rc == PL_OK)
        rc = pl_sq_exec(c, del);
    if (rc == PL_OK && sqlite3_changes(c->db) == 0)
        rc = PL_ERR_NOTFOUND;
    if (rc == PL_OK)
        rc = bind_pair(c, state, conv, user); /* cache hits by now */
    if (rc == PL_OK)
        rc = pl_sq_exec(c, state);
    return rc;
}

pl_status pl_sq_member_remove(pl_store_conn *conn, const pl_uuid *conv,
                              const pl_uuid *user)
{
    pl_sq_conn *c = PL_SQ(conn);
    pl_status rc = pl_sq_begin(c);

    if (rc != PL_OK)
        return rc;
    rc = remove_in_tx(c, conv, user);
    if (rc != PL_OK)
        return pl_sq_rollback(c, rc);
    return pl_sq_commit(c);
}

static pl_status member_row(sqlite3_stmt *st, pl_member *m)
{
    pl_sq_col_str(st, 1, m->username, sizeof(m->username));
    m->role = sqlite3_column_int(st, 2);
    m->joined_ms = sqlite3_column_int64(st, 3);
    m->last_read_seq = sqlite3_column_int64(st, 4);
    return pl_sq_col_uuid(st, 0, &m->user_id);
}

static pl_status page_rows(sqlite3_stmt *st, pl_member **out, size_t *n)
{
    size_t cap = 0;
    pl_status rc = PL_OK;
    int src = SQLITE_DONE;

    while (rc == PL_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        rc = pl_sq_grow((void **)out, &cap, *n, sizeof(**out));
        if (rc == PL_OK)
            rc = member_row(st, &(*out)[*n]);
        if (rc == PL_OK)
            (*n)++;
    }
    if (rc == PL_OK && src != SQLITE_DONE)
        rc = pl_sq_status(src);
    return rc;
}

pl_status pl_sq_members_page(pl_store_conn *conn, const pl_uuid *conv,
                             const pl_uuid *after, size_t limit,
                             pl_member **out, size_t *n)
{
    pl_sq_conn *c = PL_SQ(conn);
    sqlite3_stmt *st = c->st[SQ_MEM_PAGE];
    int64_t crow;
    pl_status rc;

    *out = NULL;
    *n = 0;
    rc = pl_sq_rowid(c, SQ_T_CONVS, conv, &crow);
    if (rc != PL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, crow);
    /* No cursor: the empty blob sorts before every 16-byte id. */
    if (after)
        pl_sq_bind_uuid(st, 2, after);
    else
        sqlite3_bind_blob(st, 2, "", 0, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, pl_sq_limit(limit, 0));
    rc = page_rows(st, out, n);
    sqlite3_reset(st);
    if (rc != PL_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

pl_status pl_sq_member_count(pl_store_conn *conn, const pl_uuid *conv,
                             int64_t *count)
{
    pl_sq_conn *c = PL_SQ(conn);
    sqlite3_stmt *st = c->st[SQ_MEM_COUNT];
    int64_t crow;
    pl_status rc = pl_sq_rowid(c, SQ_T_CONVS, conv, &crow);
    int src;

    if (rc != PL_OK)
        return rc;
    sqlite3_bind_int64(st, 1, crow);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return src == SQLITE_ROW ? PL_OK : pl_sq_status(src);
}
