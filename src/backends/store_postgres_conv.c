/* store_postgres_conv.c - conversations and members of the PostgreSQL
 * store. Multi-row writes are single statements (CTEs), so each is
 * all-or-nothing on its own; member_count is maintained by the statements
 * that add and remove members. */
#include <stdlib.h>
#include <string.h>

#include "store_postgres_int.h"

/* --- conversations ------------------------------------------------------ */

/* Fills out from row 0 of a CONV_COLS select (store_postgres_schema.c). */
static pl_status read_conv(const PGresult *r, pl_conv *out)
{
    int64_t type = 0;
    pl_status rc = pl_pg_get_uuid(r, 0, 0, &out->id);

    if (rc == PL_OK)
        rc = pl_pg_get_int(r, 0, 1, &type);
    pl_pg_get_str(r, 0, 2, out->name, sizeof(out->name));
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, 0, 3, &out->created_ms);
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, 0, 4, &out->last_seq);
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, 0, 5, &out->member_count);
    out->type = (int)type;
    out->last_read_seq = 0;
    out->role = 0;
    return rc;
}

/* Runs a conversation SELECT whose parameters are set. */
static pl_status conv_query(pl_pg_conn *c, int stmt, pl_conv *out)
{
    PGresult *r;
    pl_status rc = pl_pg_call(c, stmt, &r);

    if (rc == PL_OK)
        rc = PQntuples(r) == 1 ? read_conv(r, out) : PL_ERR_NOTFOUND;
    PQclear(r);
    return rc;
}

pl_status pl_pg_conv_get(pl_store_conn *conn, const pl_uuid *conv_id,
                         pl_conv *out)
{
    pl_pg_conn *c = PL_PG(conn);

    pl_pg_p_uuid(pl_pg_params_begin(c), conv_id);
    return conv_query(c, PG_CONV_GET, out);
}

/* Two int4 columns of the one row of r. */
static pl_status two_ints(const PGresult *r, int64_t *a, int64_t *b)
{
    pl_status rc = PQntuples(r) == 1 ? PL_OK : PL_ERR_IO;

    if (rc == PL_OK)
        rc = pl_pg_get_int(r, 0, 0, a);
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, 0, 1, b);
    return rc;
}

/* Inserts the pair's conversation unless it has one. */
static pl_status direct_insert(pl_pg_conn *c, const pl_uuid *lo,
                               const pl_uuid *hi, pl_conv *conv, bool *created)
{
    pl_pg_params *p = pl_pg_params_begin(c);
    int64_t users = 0, inserted = 0;
    PGresult *r;
    pl_status rc;

    pl_pg_p_uuid(p, &conv->id);
    pl_pg_p_uuid(p, lo);
    pl_pg_p_uuid(p, hi);
    pl_pg_p_i64(p, conv->created_ms);
    rc = pl_pg_call(c, PG_DIRECT_CREATE, &r);
    if (rc == PL_OK)
        rc = two_ints(r, &users, &inserted);
    PQclear(r);
    if (rc == PL_OK && users != 2)
        rc = PL_ERR_NOTFOUND; /* both users must exist */
    *created = rc == PL_OK && inserted == 1;
    return rc;
}

pl_status pl_pg_conv_create_direct(pl_store_conn *conn, const pl_uuid *a,
                                   const pl_uuid *b, pl_conv *conv,
                                   bool *created)
{
    pl_pg_conn *c = PL_PG(conn);
    int cmp = pl_uuid_cmp(a, b); /* uuid order = memcmp order */
    const pl_uuid *lo = cmp < 0 ? a : b, *hi = cmp < 0 ? b : a;
    pl_pg_params *p;
    pl_status rc;

    *created = false;
    if (cmp == 0)
        return PL_ERR_INVALID;
    rc = direct_insert(c, lo, hi, conv, created);
    if (rc != PL_OK)
        return rc;
    if (*created) {
        conv->type = PL_CONV_DIRECT;
        conv->name[0] = '\0';
        conv->last_seq = 0;
        conv->last_read_seq = 0;
        conv->role = PL_ROLE_MEMBER;
        conv->member_count = 2;
        return PL_OK;
    }
    /* The pair has one (maybe created concurrently): a second round trip,
     * only on this path. */
    p = pl_pg_params_begin(c);
    pl_pg_p_uuid(p, lo);
    pl_pg_p_uuid(p, hi);
    rc = conv_query(c, PG_CONV_BY_PAIR, conv);
    return rc == PL_ERR_NOTFOUND ? PL_ERR_IO : rc;
}

/* An array parameter of n uuids. */
static void uuid_array(pl_pg_params *p, const pl_uuid *ids, size_t n)
{
    pl_pg_arr_begin(p, PG_OID_UUID, n);
    for (size_t i = 0; i < n; i++)
        pl_pg_arr_uuid(p, &ids[i]);
    pl_pg_arr_end(p);
}

pl_status pl_pg_conv_create_group(pl_store_conn *conn, const pl_conv *conv,
                                  const pl_uuid *creator,
                                  const pl_uuid *members, size_t n)
{
    pl_pg_conn *c = PL_PG(conn);
    pl_pg_params *p = pl_pg_params_begin(c);
    PGresult *r;
    pl_status rc;

    pl_pg_p_uuid(p, &conv->id);
    pl_pg_p_str(p, conv->name, PL_CONV_NAME_MAX);
    pl_pg_p_i64(p, conv->created_ms);
    pl_pg_p_uuid(p, creator);
    uuid_array(p, members, n);
    rc = pl_pg_call(c, PG_GROUP_CREATE, &r);
    PQclear(r);
    return rc;
}

/* --- a user's conversations -------------------------------------------- */

static pl_status list_row(const PGresult *r, int row, pl_conv *cv)
{
    int64_t type = 0, role = 0;
    pl_status rc;

    memset(cv, 0, sizeof(*cv));
    rc = pl_pg_get_uuid(r, row, 0, &cv->id);
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, row, 1, &type);
    pl_pg_get_str(r, row, 2, cv->name, sizeof(cv->name));
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, row, 3, &cv->created_ms);
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, row, 4, &cv->last_seq);
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, row, 5, &cv->last_read_seq);
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, row, 6, &role);
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, row, 7, &cv->member_count);
    cv->type = (int)type;
    cv->role = (int)role;
    return rc;
}

/* The rows of a per-user query: no row = no such user (NOTFOUND), one row
 * with a NULL first column = the user has none. *rows = how many real. */
static pl_status user_rows(pl_pg_conn *c, int stmt, PGresult **r, int *rows)
{
    pl_status rc = pl_pg_call(c, stmt, r);

    *rows = 0;
    if (rc != PL_OK)
        return rc;
    *rows = PQntuples(*r);
    if (*rows == 0)
        return PL_ERR_NOTFOUND;
    if (*rows == 1 && PQgetisnull(*r, 0, 0))
        *rows = 0;
    return PL_OK;
}

pl_status pl_pg_conv_list(pl_store_conn *conn, const pl_uuid *user,
                          size_t limit, pl_conv **out, size_t *n)
{
    pl_pg_conn *c = PL_PG(conn);
    pl_pg_params *p = pl_pg_params_begin(c);
    PGresult *r = NULL;
    int rows = 0;
    pl_status rc;

    *out = NULL;
    *n = 0;
    pl_pg_p_uuid(p, user);
    pl_pg_p_i64(p, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    rc = user_rows(c, PG_CONV_LIST, &r, &rows);
    if (rc == PL_OK && rows > 0 &&
        !(*out = calloc((size_t)rows, sizeof(**out))))
        rc = PL_ERR_NOMEM;
    for (int i = 0; rc == PL_OK && i < rows; i++)
        rc = list_row(r, i, &(*out)[i]);
    PQclear(r);
    if (rc != PL_OK) {
        free(*out);
        *out = NULL;
        return rc;
    }
    *n = (size_t)rows;
    return PL_OK;
}

pl_status pl_pg_conv_ids_for_user(pl_store_conn *conn, const pl_uuid *user,
                                  pl_uuid **out, size_t *n)
{
    pl_pg_conn *c = PL_PG(conn);
    PGresult *r = NULL;
    int rows = 0;
    pl_status rc;

    *out = NULL;
    *n = 0;
    pl_pg_p_uuid(pl_pg_params_begin(c), user);
    rc = user_rows(c, PG_CONV_IDS, &r, &rows);
    if (rc == PL_OK && rows > 0 &&
        !(*out = malloc((size_t)rows * sizeof(**out))))
        rc = PL_ERR_NOMEM;
    for (int i = 0; rc == PL_OK && i < rows; i++)
        rc = pl_pg_get_uuid(r, i, 0, &(*out)[i]);
    PQclear(r);
    if (rc != PL_OK) {
        free(*out);
        *out = NULL;
        return rc;
    }
    *n = (size_t)rows;
    return PL_OK;
}

/* --- members ------------------------------------------------------------ */

/* One integer of the one row of a (conv, ...) SELECT; NOTFOUND if none. */
static pl_status one_int(pl_pg_conn *c, int stmt, int64_t *v)
{
    PGresult *r;
    pl_status rc = pl_pg_call(c, stmt, &r);

    if (rc == PL_OK)
        rc = PQntuples(r) == 1 ? pl_pg_get_int(r, 0, 0, v) : PL_ERR_NOTFOUND;
    PQclear(r);
    return rc;
}

static void pair_params(pl_pg_conn *c, const pl_uuid *conv, const pl_uuid *user)
{
    pl_pg_params *p = pl_pg_params_begin(c);

    pl_pg_p_uuid(p, conv);
    pl_pg_p_uuid(p, user);
}

pl_status pl_pg_member_role(pl_store_conn *conn, const pl_uuid *conv,
                            const pl_uuid *user, int *role)
{
    pl_pg_conn *c = PL_PG(conn);
    int64_t v = 0;
    pl_status rc;

    pair_params(c, conv, user);
    rc = one_int(c, PG_MEM_ROLE, &v);
    if (rc == PL_OK)
        *role = (int)v;
    return rc;
}

pl_status pl_pg_read_offset_get(pl_store_conn *conn, const pl_uuid *conv,
                                const pl_uuid *user, int64_t *seq)
{
    pl_pg_conn *c = PL_PG(conn);

    pair_params(c, conv, user);
    return one_int(c, PG_OFFSET_GET, seq);
}

pl_status pl_pg_member_count(pl_store_conn *conn, const pl_uuid *conv,
                             int64_t *count)
{
    pl_pg_conn *c = PL_PG(conn);

    pl_pg_p_uuid(pl_pg_params_begin(c), conv);
    return one_int(c, PG_MEM_COUNT, count);
}

pl_status pl_pg_members_add(pl_store_conn *conn, const pl_uuid *conv,
                            const pl_uuid *users, size_t n, int role,
                            int64_t now_ms, size_t *added)
{
    pl_pg_conn *c = PL_PG(conn);
    pl_pg_params *p = pl_pg_params_begin(c);
    PGresult *r;
    int64_t fresh = 0;
    pl_status rc;

    *added = 0;
    if (role != PL_ROLE_MEMBER && role != PL_ROLE_ADMIN)
        return PL_ERR_INVALID;
    pl_pg_p_uuid(p, conv);
    uuid_array(p, users, n);
    pl_pg_p_i32(p, role);
    pl_pg_p_i64(p, now_ms);
    /* An unknown conversation or user aborts the statement (NOTFOUND). */
    rc = pl_pg_call(c, PG_MEM_ADD, &r);
    if (rc == PL_OK && PQntuples(r) != 1)
        rc = PL_ERR_IO;
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, 0, 1, &fresh);
    PQclear(r);
    if (rc == PL_OK)
        *added = (size_t)fresh;
    return rc;
}

pl_status pl_pg_member_remove(pl_store_conn *conn, const pl_uuid *conv,
                              const pl_uuid *user)
{
    pl_pg_conn *c = PL_PG(conn);
    int64_t removed = 0;
    pl_status rc;

    pair_params(c, conv, user);
    rc = one_int(c, PG_MEM_REMOVE, &removed);
    if (rc == PL_OK && removed == 0)
        rc = PL_ERR_NOTFOUND;
    return rc;
}

static pl_status member_row(const PGresult *r, int row, pl_member *m)
{
    int64_t role = 0;
    pl_status rc = pl_pg_get_uuid(r, row, 0, &m->user_id);

    pl_pg_get_str(r, row, 1, m->username, sizeof(m->username));
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, row, 2, &role);
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, row, 3, &m->joined_ms);
    if (rc == PL_OK)
        rc = pl_pg_get_int(r, row, 4, &m->last_read_seq);
    m->role = (int)role;
    return rc;
}

pl_status pl_pg_members_page(pl_store_conn *conn, const pl_uuid *conv,
                             const pl_uuid *after, size_t limit,
                             pl_member **out, size_t *n)
{
    static const pl_uuid nil; /* before every v4/v7 id */
    pl_pg_conn *c = PL_PG(conn);
    pl_pg_params *p = pl_pg_params_begin(c);
    PGresult *r = NULL;
    int rows = 0;
    pl_status rc;

    *out = NULL;
    *n = 0;
    pl_pg_p_uuid(p, conv);
    pl_pg_p_uuid(p, after ? after : &nil);
    pl_pg_p_i64(p, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
    /* Same shape as the per-user queries: no row = no conversation. */
    rc = user_rows(c, PG_MEM_PAGE, &r, &rows);
    if (rc == PL_OK && rows > 0 &&
        !(*out = calloc((size_t)rows, sizeof(**out))))
        rc = PL_ERR_NOMEM;
    for (int i = 0; rc == PL_OK && i < rows; i++)
        rc = member_row(r, i, &(*out)[i]);
    PQclear(r);
    if (rc != PL_OK) {
        free(*out);
        *out = NULL;
        return rc;
    }
    *n = (size_t)rows;
    return PL_OK;
}
