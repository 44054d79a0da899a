/* gw_rest_conv.c - conversations and members. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/timeutil.h"
#include "gw_rest.h"

#define MAX_IDS_PER_CALL 1000
#define CONV_LIST_MAX 1000

/* --- create --------------------------------------------------------------- */

static void create_direct(pl_worker *w, rest_job *j, const pl_uuid *other)
{
    pl_conv cv;
    memset(&cv, 0, sizeof(cv));
    pl_uuid_v4(&cv.id);
    cv.type = PL_CONV_DIRECT;
    cv.created_ms = pl_now_ms();
    bool created = false;
    pl_status st = pl_store_conv_create_direct(w->store, &j->caller, other,
                                               &cv, &created);
    if (st == PL_ERR_NOTFOUND) {
        rest_error(j, 404, "user_not_found", "no such user");
        return;
    }
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    st = pl_store_conv_get(w->store, &cv.id, &cv); /* the real count */
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    if (created) {
        pl_uuid both[2] = {j->caller, *other};
        rest_publish_membership(j->node, &cv.id, both, 2, true, 0);
    }
    j->status = created ? 201 : 200;
    j->out = rest_conv_json(&cv);
}

static void create_group(pl_worker *w, rest_job *j, const pl_uuid *ids,
                         size_t n)
{
    pl_conv cv;
    memset(&cv, 0, sizeof(cv));
    pl_uuid_v4(&cv.id);
    cv.type = PL_CONV_GROUP;
    cv.created_ms = pl_now_ms();
    snprintf(cv.name, sizeof(cv.name), "%s",
             json_string_value(json_object_get(j->in, "name")));
    pl_status st = pl_store_conv_create_group(w->store, &cv, &j->caller, ids, n);
    if (st == PL_ERR_NOTFOUND) {
        rest_error(j, 404, "user_not_found", "a member_ids entry is no user");
        return;
    }
    if (st == PL_OK)
        st = pl_store_conv_get(w->store, &cv.id, &cv);
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    pl_uuid *all = malloc((n + 1) * sizeof(*all));
    if (all) {
        all[0] = j->caller;
        memcpy(all + 1, ids, n * sizeof(*ids));
        rest_publish_membership(j->node, &cv.id, all, n + 1, true, 0);
        free(all);
    }
    j->status = 201;
    j->out = rest_conv_json(&cv);
}

static void conv_create_work(pl_worker *w, rest_job *j)
{
    size_t n = 0;
    const char *err;
    pl_uuid *ids = rest_uuid_array(json_object_get(j->in, "member_ids"),
                                   MAX_IDS_PER_CALL, &n, &err);
    const char *type = json_string_value(json_object_get(j->in, "type"));
    if (strcmp(type, "direct") == 0)
        create_direct(w, j, &ids[0]);
    else
        create_group(w, j, ids, n);
    free(ids);
}

/* Returns NULL if the body is a valid create request, else why not. */
static const char *check_create(json_t *o, const pl_uuid *caller)
{
    const char *type = json_string_value(json_object_get(o, "type"));
    size_t n = 0;
    const char *err;
    pl_uuid *ids = rest_uuid_array(json_object_get(o, "member_ids"),
                                   MAX_IDS_PER_CALL, &n, &err);
    const char *why = NULL;
    if (!type || (strcmp(type, "direct") && strcmp(type, "group")))
        why = "type must be \"direct\" or \"group\"";
    else if (!ids)
        why = strcmp(err, "too_many") == 0
                  ? "at most 1000 member_ids per call"
                  : "member_ids must be an array of user ids";
    else if (strcmp(type, "direct") == 0 &&
             (n != 1 || pl_uuid_eq(&ids[0], caller)))
        why = "a direct conversation needs exactly one other member";
    else if (strcmp(type, "group") == 0) {
        const char *name = json_string_value(json_object_get(o, "name"));
        size_t len = name ? strlen(name) : 0;
        if (len == 0 || len > PL_CONV_NAME_MAX)
            why = "a group needs a name of 1 to 128 bytes";
    }
    free(ids);
    return why;
}

void rest_conv_create(gw_conn *c, const gw_request *r)
{
    json_t *o = rest_body_object(c, r);
    if (!o)
        return;
    const char *why = check_create(o, &c->user_id);
    if (why) {
        json_decref(o);
        gw_http_respond_error(c, 400, "invalid_request", why);
        return;
    }
    rest_job *j = rest_job_new(c, conv_create_work);
    if (j)
        j->in = o;
    else
        json_decref(o);
    rest_submit(c, c->gw->node->store_pool, j);
}

/* --- list and get ---------------------------------------------------------- */

static json_t *summary_json(const pl_conv *cv)
{
    json_t *o = rest_conv_json(cv);
    int64_t unread = cv->last_seq - cv->last_read_seq;
    json_object_set_new(o, "last_read_seq", json_integer(cv->last_read_seq));
    json_object_set_new(o, "unread_count", json_integer(unread > 0 ? unread : 0));
    json_object_set_new(o, "role", json_string(cv->role == PL_ROLE_ADMIN
                                                   ? "admin"
                                                   : "member"));
    return o;
}

static void conv_list_work(pl_worker *w, rest_job *j)
{
    pl_conv *cvs = NULL;
    size_t n = 0;
    pl_status st = pl_store_conv_list(w->store, &j->caller, CONV_LIST_MAX,
                                      &cvs, &n);
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, summary_json(&cvs[i]));
    free(cvs);
    j->status = 200;
    j->out = json_pack("{s:o}", "conversations", arr);
}

void rest_conv_list(gw_conn *c, const gw_request *r)
{
    rest_submit(c, c->gw->node->store_pool, rest_job_new(c, conv_list_work));
}

static void conv_get_work(pl_worker *w, rest_job *j)
{
    int role;
    if (!rest_require_member(w, j, &role))
        return;
    pl_conv cv;
    pl_status st = pl_store_conv_get(w->store, &j->conv, &cv);
    if (st == PL_OK)
        st = pl_store_read_offset_get(w->store, &j->conv, &j->caller,
                                      &cv.last_read_seq);
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    cv.role = role;
    j->status = 200;
    j->out = summary_json(&cv);
}

void rest_conv_get(gw_conn *c, const gw_request *r, const pl_uuid *conv)
{
    rest_job *j = rest_job_new(c, conv_get_work);
    if (j)
        j->conv = *conv;
    rest_submit(c, c->gw->node->store_pool, j);
}

/* --- members ---------------------------------------------------------------- */

static void members_add_work(pl_worker *w, rest_job *j)
{
    int caller_role;
    if (!rest_require_member(w, j, &caller_role))
        return;
    pl_conv cv;
    pl_status st = pl_store_conv_get(w->store, &j->conv, &cv);
    if (st == PL_OK && cv.type == PL_CONV_DIRECT) {
        rest_error(j, 400, "invalid_request",
                   "members cannot be added to a direct conversation");
        return;
    }
    if (caller_role != PL_ROLE_ADMIN) {
        rest_error(j, 403, "forbidden", "only admins may add members");
        return;
    }
    size_t n = 0, added = 0;
    const char *err;
    pl_uuid *ids = rest_uuid_array(json_object_get(j->in, "user_ids"),
                                   MAX_IDS_PER_CALL, &n, &err);
    const char *role = json_string_value(json_object_get(j->in, "role"));
    int r = role && strcmp(role, "admin") == 0 ? PL_ROLE_ADMIN : PL_ROLE_MEMBER;
    if (st == PL_OK)
        st = pl_store_members_add(w->store, &j->conv, ids, n, r, pl_now_ms(),
                                  &added);
    if (st == PL_ERR_NOTFOUND)
        rest_error(j, 404, "user_not_found", "a user_ids entry is no user");
    else if (st != PL_OK)
        rest_store_error(j, st);
    else {
        int64_t last = 0; /* a failed read: the newcomers sync */
        pl_store_conv_last_seq(w->store, &j->conv, &last);
        rest_publish_membership(j->node, &j->conv, ids, n, true, last);
        j->status = 200;
        j->out = json_pack("{s:I}", "added", (json_int_t)added);
    }
    free(ids);
}

void rest_members_add(gw_conn *c, const gw_request *r, const pl_uuid *conv)
{
    json_t *o = rest_body_object(c, r);
    if (!o)
        return;
    size_t n;
    const char *err;
    pl_uuid *ids = rest_uuid_array(json_object_get(o, "user_ids"),
                                   MAX_IDS_PER_CALL, &n, &err);
    json_t *role = json_object_get(o, "role");
    const char *rs = json_string_value(role);
    const char *why = NULL;
    if (!ids)
        why = strcmp(err, "too_many") == 0 ? "at most 1000 user_ids per call"
                                           : "user_ids must be an array of ids";
    else if (n == 0)
        why = "user_ids must not be empty";
    else if (role && (!rs || (strcmp(rs, "member") && strcmp(rs, "admin"))))
        why = "role must be \"member\" or \"admin\"";
    free(ids);
    if (why) {
        json_decref(o);
        gw_http_respond_error(c, 400, "invalid_request", why);
        return;
    }
    rest_job *j = rest_job_new(c, members_add_work);
    if (j) {
        j->conv = *conv;
        j->in = o;
    } else {
        json_decref(o);
    }
    rest_submit(c, c->gw->node->store_pool, j);
}

static void member_remove_work(pl_worker *w, rest_job *j)
{
    int role;
    if (!rest_require_member(w, j, &role))
        return;
    pl_conv cv;
    pl_status st = pl_store_conv_get(w->store, &j->conv, &cv);
    if (st == PL_OK && cv.type == PL_CONV_DIRECT) {
        rest_error(j, 400, "invalid_request",
                   "members cannot be removed from a direct conversation");
        return;
    }
    if (!pl_uuid_eq(&j->target, &j->caller) && role != PL_ROLE_ADMIN) {
        rest_error(j, 403, "forbidden", "only admins may remove others");
        return;
    }
    st = pl_store_member_remove(w->store, &j->conv, &j->target);
    if (st == PL_ERR_NOTFOUND) {
        rest_error(j, 404, "not_found", "that user is not a member");
        return;
    }
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    rest_publish_membership(j->node, &j->conv, &j->target, 1, false, 0);
    j->status = 204;
}

void rest_member_remove(gw_conn *c, const gw_request *r, const pl_uuid *conv,
                        const pl_uuid *user)
{
    rest_job *j = rest_job_new(c, member_remove_work);
    if (j) {
        j->conv = *conv;
        j->target = *user;
    }
    rest_submit(c, c->gw->node->store_pool, j);
}

static void members_list_work(pl_worker *w, rest_job *j)
{
    int role;
    if (!rest_require_member(w, j, &role))
        return;
    pl_member *ms = NULL;
    size_t n = 0;
    pl_status st = pl_store_members_page(w->store, &j->conv,
                                         j->has_cursor ? &j->cursor : NULL,
                                         j->limit + 1, &ms, &n);
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    bool more = n > j->limit;
    if (more)
        n = j->limit;
    json_t *arr = json_array();
    char id[PL_UUID_STRLEN + 1], ts[PL_TIME_STRLEN + 1];
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:s,s:s,s:s,s:s}", "user_id",
                           pl_uuid_fmt(&ms[i].user_id, id), "username",
                           ms[i].username, "role",
                           ms[i].role == PL_ROLE_ADMIN ? "admin" : "member",
                           "joined_at", pl_time_fmt(ms[i].joined_ms, ts)));
    json_t *next = more ? json_string(pl_uuid_fmt(&ms[n - 1].user_id, id))
                        : json_null();
    free(ms);
    j->status = 200;
    j->out = json_pack("{s:o,s:o}", "members", arr, "next_cursor", next);
}

bool rest_query_int(gw_conn *c, const gw_request *r, const char *name,
                    int64_t min, int64_t max, int64_t def, int64_t *out)
{
    char buf[24];
    long n = pl_http_query_param(r->req->query, name, buf, sizeof(buf));
    *out = def;
    if (n == -1)
        return true;
    char *end = NULL;
    errno = 0;
    long long v = n > 0 ? strtoll(buf, &end, 10) : 0;
    if (n <= 0 || *end || errno == ERANGE || v < min || v > max) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s must be an integer from %lld to %lld",
                 name, (long long)min, (long long)max);
        gw_http_respond_error(c, 400, "invalid_request", msg);
        return false;
    }
    *out = v;
    return true;
}

void rest_members_list(gw_conn *c, const gw_request *r, const pl_uuid *conv)
{
    int64_t limit;
    if (!rest_query_int(c, r, "limit", 1, 1000, 100, &limit))
        return;
    char cur[64];
    long n = pl_http_query_param(r->req->query, "cursor", cur, sizeof(cur));
    pl_uuid cursor = {{0}};
    if (n > 0 && pl_uuid_parse(cur, (size_t)n, &cursor) != PL_OK) {
        gw_http_respond_error(c, 400, "invalid_request", "bad cursor");
        return;
    }
    if (n == -2) {
        gw_http_respond_error(c, 400, "invalid_request", "bad cursor");
        return;
    }
    rest_job *j = rest_job_new(c, members_list_work);
    if (j) {
        j->conv = *conv;
        j->limit = (size_t)limit;
        j->has_cursor = n > 0;
        j->cursor = cursor;
    }
    rest_submit(c, c->gw->node->store_pool, j);
}
