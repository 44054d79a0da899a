/* store.c - the pl_store_* wrappers and the registry of store backends.
 *
 * This is the only file that names a backend: add new ones to `backends`.
 * Each wrapper dispatches through the ops table found in the first member
 * of the backend's struct; a method a backend leaves NULL answers PL_ERR. */
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "store_int.h"

static const pl_store_ops *const backends[] = {
    &pl_store_sqlite_ops,
    &pl_store_postgres_ops,
};

/* --- lifecycle ------------------------------------------------------ */

pl_status pl_store_open(const struct pl_config *cfg, pl_store **out)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        const pl_store_ops *ops = backends[i];
        if (strcmp(ops->name, cfg->store) == 0)
            return ops->open ? ops->open(cfg, out) : PL_ERR;
    }
    return PL_ERR_NOTFOUND;
}

void pl_store_close(pl_store *s)
{
    if (s && s->ops->close)
        s->ops->close(s);
}

const char *pl_store_name(const pl_store *s)
{
    return s->ops->name;
}

pl_status pl_store_conn_open(pl_store *s, pl_store_conn **out)
{
    return s->ops->conn_open ? s->ops->conn_open(s, out) : PL_ERR;
}

void pl_store_conn_close(pl_store_conn *c)
{
    if (c && c->ops->conn_close)
        c->ops->conn_close(c);
}

/* --- users ---------------------------------------------------------- */

pl_status pl_store_user_create(pl_store_conn *c, const pl_user *u)
{
    return c->ops->user_create ? c->ops->user_create(c, u) : PL_ERR;
}

pl_status pl_store_users_create_bulk(pl_store_conn *c, const pl_user *u,
                                     size_t n)
{
    return c->ops->users_create_bulk ? c->ops->users_create_bulk(c, u, n)
                                     : PL_ERR;
}

pl_status pl_store_user_by_name(pl_store_conn *c, const char *username,
                                pl_user *out)
{
    return c->ops->user_by_name ? c->ops->user_by_name(c, username, out)
                                : PL_ERR;
}

pl_status pl_store_user_by_id(pl_store_conn *c, const pl_uuid *id, pl_user *out)
{
    return c->ops->user_by_id ? c->ops->user_by_id(c, id, out) : PL_ERR;
}

pl_status pl_store_users_exist(pl_store_conn *c, const pl_uuid *ids, size_t n,
                               bool *found)
{
    return c->ops->users_exist ? c->ops->users_exist(c, ids, n, found) : PL_ERR;
}

/* --- conversations and members --------------------------------------- */

pl_status pl_store_conv_create_direct(pl_store_conn *c, const pl_uuid *a,
                                      const pl_uuid *b, pl_conv *conv,
                                      bool *created)
{
    return c->ops->conv_create_direct
               ? c->ops->conv_create_direct(c, a, b, conv, created)
               : PL_ERR;
}

pl_status pl_store_conv_create_group(pl_store_conn *c, const pl_conv *conv,
                                     const pl_uuid *creator,
                                     const pl_uuid *members, size_t n)
{
    return c->ops->conv_create_group
               ? c->ops->conv_create_group(c, conv, creator, members, n)
               : PL_ERR;
}

pl_status pl_store_conv_get(pl_store_conn *c, const pl_uuid *conv_id,
                            pl_conv *out)
{
    return c->ops->conv_get ? c->ops->conv_get(c, conv_id, out) : PL_ERR;
}

pl_status pl_store_conv_list(pl_store_conn *c, const pl_uuid *user,
                             size_t limit, pl_conv **out, size_t *n)
{
    return c->ops->conv_list ? c->ops->conv_list(c, user, limit, out, n)
                             : PL_ERR;
}

pl_status pl_store_conv_ids_for_user(pl_store_conn *c, const pl_uuid *user,
                                     pl_uuid **out, size_t *n)
{
    return c->ops->conv_ids_for_user
               ? c->ops->conv_ids_for_user(c, user, out, n)
               : PL_ERR;
}

pl_status pl_store_member_role(pl_store_conn *c, const pl_uuid *conv,
                               const pl_uuid *user, int *role)
{
    return c->ops->member_role ? c->ops->member_role(c, conv, user, role)
                               : PL_ERR;
}

pl_status pl_store_members_add(pl_store_conn *c, const pl_uuid *conv,
                               const pl_uuid *users, size_t n, int role,
                               int64_t now_ms, size_t *added)
{
    return c->ops->members_add
               ? c->ops->members_add(c, conv, users, n, role, now_ms, added)
               : PL_ERR;
}

pl_status pl_store_member_remove(pl_store_conn *c, const pl_uuid *conv,
                                 const pl_uuid *user)
{
    return c->ops->member_remove ? c->ops->member_remove(c, conv, user)
                                 : PL_ERR;
}

pl_status pl_store_members_page(pl_store_conn *c, const pl_uuid *conv,
                                const pl_uuid *after, size_t limit,
                                pl_member **out, size_t *n)
{
    return c->ops->members_page
               ? c->ops->members_page(c, conv, after, limit, out, n)
               : PL_ERR;
}

pl_status pl_store_member_count(pl_store_conn *c, const pl_uuid *conv,
                                int64_t *count)
{
    return c->ops->member_count ? c->ops->member_count(c, conv, count) : PL_ERR;
}

/* --- messages ------------------------------------------------------- */

pl_status pl_store_conv_last_seq(pl_store_conn *c, const pl_uuid *conv,
                                 int64_t *last_seq)
{
    return c->ops->conv_last_seq ? c->ops->conv_last_seq(c, conv, last_seq)
                                 : PL_ERR;
}

pl_status pl_store_msg_by_client_id(pl_store_conn *c, const pl_uuid *conv,
                                    const pl_uuid *sender,
                                    const char *client_msg_id, pl_msg *out)
{
    return c->ops->msg_by_client_id
               ? c->ops->msg_by_client_id(c, conv, sender, client_msg_id, out)
               : PL_ERR;
}

/* Rows no backend may store, checked once here for all of them: the
 * whole batch is refused before anything is written. */
static pl_status check_batch(const pl_msg *msgs, size_t nmsgs,
                             const pl_read_offset *offs, size_t noffs)
{
    for (size_t i = 0; i < nmsgs; i++) {
        const pl_msg *m = &msgs[i];
        if (m->seq <= 0 || m->content_len > INT32_MAX ||
            (!m->content && m->content_len) ||
            strnlen(m->client_msg_id, sizeof(m->client_msg_id)) >
                PL_CLIENT_MSG_ID_MAX)
            return PL_ERR_INVALID;
    }
    for (size_t i = 0; i < noffs; i++)
        if (offs[i].seq < 0)
            return PL_ERR_INVALID;
    return PL_OK;
}

pl_status pl_store_append(pl_store_conn *c, const pl_msg *msgs, size_t nmsgs,
                          const pl_read_offset *offs, size_t noffs)
{
    pl_status rc = check_batch(msgs, nmsgs, offs, noffs);
    if (rc != PL_OK)
        return rc;
    return c->ops->append ? c->ops->append(c, msgs, nmsgs, offs, noffs)
                          : PL_ERR;
}

pl_status pl_store_msgs_range(pl_store_conn *c, const pl_uuid *conv,
                              int64_t after_seq, int64_t before_seq,
                              size_t limit, pl_msg **out, size_t *n,
                              bool *has_more)
{
    return c->ops->msgs_range
               ? c->ops->msgs_range(c, conv, after_seq, before_seq, limit, out,
                                    n, has_more)
               : PL_ERR;
}

pl_status pl_store_read_offsets(pl_store_conn *c, const pl_read_offset *offs,
                                size_t n)
{
    pl_status rc = check_batch(NULL, 0, offs, n);
    if (rc != PL_OK)
        return rc;
    return c->ops->read_offsets ? c->ops->read_offsets(c, offs, n) : PL_ERR;
}

/* --- message memory --------------------------------------------------- */

void pl_msg_clear(pl_msg *m)
{
    if (!m)
        return;
    free(m->content);
    m->content = NULL;
    m->content_len = 0;
}

void pl_msg_list_free(pl_msg *msgs, size_t n)
{
    if (!msgs)
        return;
    for (size_t i = 0; i < n; i++)
        pl_msg_clear(&msgs[i]);
    free(msgs);
}

pl_status pl_store_read_offset_get(pl_store_conn *c, const pl_uuid *conv,
                                   const pl_uuid *user, int64_t *seq)
{
    return c->ops->read_offset_get ? c->ops->read_offset_get(c, conv, user, seq)
                                   : PL_ERR;
}
