/* store_sqlite_users.c - users of the SQLite store. Usernames are unique
 * case-insensitively through the column's COLLATE NOCASE (ASCII folding;
 * the contract limits usernames to ASCII). */
#include <string.h>

#include "store_sqlite_int.h"

/* --- users ------------------------------------------------------------- */

static pl_status insert_user(pl_sq_conn *c, const pl_user *u)
{
    sqlite3_stmt *st = c->st[SQ_USER_INSERT];
    pl_status rc = pl_sq_bind_uuid(st, 1, &u->id);

    if (rc == PL_OK)
        rc = pl_sq_bind_str(st, 2, u->username, PL_USERNAME_MAX);
    if (rc == PL_OK)
        rc = pl_sq_bind_str(st, 3, u->pw_hash, PL_PWHASH_MAX);
    if (rc == PL_OK)
        rc = pl_sq_status(sqlite3_bind_int64(st, 4, u->created_ms));
    if (rc == PL_OK)
        rc = pl_sq_exec(c, st);
    else
        sqlite3_reset(st);
    return rc;
}

pl_status pl_sq_user_create(pl_store_conn *conn, const pl_user *u)
{
    return insert_user(PL_SQ(conn), u);
}

pl_status pl_sq_users_create_bulk(pl_store_conn *conn, const pl_user *u,
                                  size_t n)
{
    pl_sq_conn *c = PL_SQ(conn);
    pl_status rc = pl_sq_begin(c);

    if (rc != PL_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = insert_user(c, &u[i]);
        if (rc != PL_OK)
            return pl_sq_rollback(c, rc);
    }
    return pl_sq_commit(c);
}

/* Steps a users SELECT bound by the caller and fills out from its row. */
static pl_status read_user(sqlite3_stmt *st, pl_user *out)
{
    int rc = sqlite3_step(st);
    pl_status ret = PL_OK;

    if (rc == SQLITE_ROW) {
        ret = pl_sq_col_uuid(st, 0, &out->id);
        pl_sq_col_str(st, 1, out->username, sizeof(out->username));
        pl_sq_col_str(st, 2, out->pw_hash, sizeof(out->pw_hash));
        out->created_ms = sqlite3_column_int64(st, 3);
    } else {
        ret = rc == SQLITE_DONE ? PL_ERR_NOTFOUND : pl_sq_status(rc);
    }
    sqlite3_reset(st);
    return ret;
}

pl_status pl_sq_user_by_name(pl_store_conn *conn, const char *username,
                             pl_user *out)
{
    sqlite3_stmt *st = PL_SQ(conn)->st[SQ_USER_BY_NAME];

    /* A name longer than the maximum cannot have been stored. */
    if (pl_sq_bind_str(st, 1, username, PL_USERNAME_MAX) != PL_OK)
        return PL_ERR_NOTFOUND;
    return read_user(st, out);
}

pl_status pl_sq_user_by_id(pl_store_conn *conn, const pl_uuid *id, pl_user *out)
{
    sqlite3_stmt *st = PL_SQ(conn)->st[SQ_USER_BY_UUID];

    pl_sq_bind_uuid(st, 1, id);
    return read_user(st, out);
}

pl_status pl_sq_users_exist(pl_store_conn *conn, const pl_uuid *ids, size_t n,
                            bool *found)
{
    pl_sq_conn *c = PL_SQ(conn);
    int64_t rowid;

    for (size_t i = 0; i < n; i++) {
        pl_status rc = pl_sq_rowid(c, SQ_T_USERS, &ids[i], &rowid);
        if (rc != PL_OK && rc != PL_ERR_NOTFOUND)
            return rc;
        found[i] = rc == PL_OK;
    }
    return PL_OK;
}
