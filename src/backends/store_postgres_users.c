/* store_postgres_users.c - users of the PostgreSQL store. Usernames are
 * unique case-insensitively through a unique index on lower(username) (the
 * database uses the C locale: ASCII folding, like SQLite's NOCASE; the
 * contract limits usernames to ASCII). */
#include <stdlib.h>
#include <string.h>

#include "store_postgres_int.h"

/* One statement for one user or ten thousand: arrays of n. */
static pl_status insert_users(pl_pg_conn *c, const pl_user *u, size_t n)
{
    pl_pg_params *p = pl_pg_params_begin(c);
    PGresult *r;
    pl_status rc;

    pl_pg_arr_begin(p, PG_OID_UUID, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_uuid(p, &u[i].id);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_TEXT, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_str(p, u[i].username, PL_USERNAME_MAX);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_TEXT, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_str(p, u[i].pw_hash, PL_PWHASH_MAX);
    pl_pg_arr_end(p);
    pl_pg_arr_begin(p, PG_OID_INT8, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_i64(p, u[i].created_ms);
    pl_pg_arr_end(p);
    rc = pl_pg_call(c, PG_USERS_INSERT, &r);
    PQclear(r);
    return rc;
}

pl_status pl_pg_user_create(pl_store_conn *conn, const pl_user *u)
{
    return insert_users(PL_PG(conn), u, 1);
}

pl_status pl_pg_users_create_bulk(pl_store_conn *conn, const pl_user *u,
                                  size_t n)
{
    if (n == 0)
        return PL_OK;
    return insert_users(PL_PG(conn), u, n);
}

/* Fills out from the one row of a users SELECT, or PL_ERR_NOTFOUND. */
static pl_status read_user(pl_pg_conn *c, int stmt, pl_user *out)
{
    PGresult *r;
    pl_status rc = pl_pg_call(c, stmt, &r);

    if (rc == PL_OK && PQntuples(r) == 0)
        rc = PL_ERR_NOTFOUND;
    if (rc == PL_OK) {
        rc = pl_pg_get_uuid(r, 0, 0, &out->id);
        pl_pg_get_str(r, 0, 1, out->username, sizeof(out->username));
        pl_pg_get_str(r, 0, 2, out->pw_hash, sizeof(out->pw_hash));
        if (rc == PL_OK)
            rc = pl_pg_get_int(r, 0, 3, &out->created_ms);
    }
    PQclear(r);
    return rc;
}

pl_status pl_pg_user_by_name(pl_store_conn *conn, const char *username,
                             pl_user *out)
{
    pl_pg_conn *c = PL_PG(conn);
    pl_pg_params *p = pl_pg_params_begin(c);
    pl_status rc;

    pl_pg_p_str(p, username, PL_USERNAME_MAX);
    rc = read_user(c, PG_USER_BY_NAME, out);
    /* A name that is too long, or not UTF-8, cannot have been stored. */
    return rc == PL_ERR_INVALID ? PL_ERR_NOTFOUND : rc;
}

pl_status pl_pg_user_by_id(pl_store_conn *conn, const pl_uuid *id, pl_user *out)
{
    pl_pg_conn *c = PL_PG(conn);

    pl_pg_p_uuid(pl_pg_params_begin(c), id);
    return read_user(c, PG_USER_BY_ID, out);
}

pl_status pl_pg_users_exist(pl_store_conn *conn, const pl_uuid *ids, size_t n,
                            bool *found)
{
    pl_pg_conn *c = PL_PG(conn);
    pl_pg_params *p = pl_pg_params_begin(c);
    PGresult *r;
    pl_status rc;

    if (n == 0)
        return PL_OK;
    pl_pg_arr_begin(p, PG_OID_UUID, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_uuid(p, &ids[i]);
    pl_pg_arr_end(p);
    rc = pl_pg_call(c, PG_USERS_EXIST, &r);
    if (rc == PL_OK && (size_t)PQntuples(r) != n)
        rc = PL_ERR_IO;
    for (size_t i = 0; rc == PL_OK && i < n; i++)
        rc = pl_pg_get_bool(r, (int)i, 0, &found[i]);
    PQclear(r);
    return rc;
}
