/* gw_rest.c - the REST router and the handler kit (see gw_rest.h). */
#include "gw_rest.h"

#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/timeutil.h"
#include "gw_static.h"

/* --- jobs ------------------------------------------------------------------ */

rest_job *rest_job_new(gw_conn *c, rest_work_fn work)
{
    rest_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->gw = c->gw;
    j->conn_id = c->id;
    j->node = c->gw->node;
    j->work = work;
    j->caller = c->user_id;
    memcpy(j->caller_name, c->username, sizeof(j->caller_name));
    j->status = 500;
    return j;
}

static void job_free(rest_job *j)
{
    json_decref(j->in);
    json_decref(j->out);
    free(j);
}

void rest_job_run(pl_worker *w, void *arg)
{
    rest_job *j = arg;
    j->work(w, j);
}

static void job_done(pl_loop *l, void *arg)
{
    rest_job *j = arg;
    gw_conn *c = l ? gw_conn_find(j->gw, j->conn_id) : NULL;
    if (c && c->state == GW_HTTP) {
        gw_http_respond_json(c, j->status, j->out);
        j->out = NULL;
        gw_http_request_done(c);
    }
    job_free(j);
}

pl_status rest_submit(gw_conn *c, pl_workpool *pool, rest_job *j)
{
    if (!j) {
        gw_http_respond_error(c, 500, "internal", "out of memory");
        return PL_ERR_NOMEM;
    }
    gw_conn_pause(c);
    if (pl_workpool_submit(pool, c->gw->loop, rest_job_run, job_done, j) != PL_OK) {
        job_free(j);
        gw_http_respond_error(c, 503, "overloaded", "server busy, retry later");
        gw_conn_resume(c);
        return PL_ERR_BUSY;
    }
    return PL_OK;
}

void rest_error(rest_job *j, int status, const char *code, const char *msg)
{
    json_decref(j->out);
    j->status = status;
    j->out = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
}

void rest_store_error(rest_job *j, pl_status st)
{
    if (st == PL_ERR_BUSY) {
        rest_error(j, 503, "overloaded", "storage busy, retry later");
        return;
    }
    pl_log(PL_LOG_ERROR, "store_error", "status", PL_LS, pl_status_str(st),
           NULL);
    rest_error(j, 500, "internal", "storage error");
}

bool rest_require_member(pl_worker *w, rest_job *j, int *role)
{
    pl_status st = pl_store_member_role(w->store, &j->conv, &j->caller, role);
    if (st == PL_OK)
        return true;
    if (st != PL_ERR_NOTFOUND) {
        rest_store_error(j, st);
        return false;
    }
    pl_conv cv;
    st = pl_store_conv_get(w->store, &j->conv, &cv);
    if (st == PL_ERR_NOTFOUND)
        rest_error(j, 404, "not_found", "no such conversation");
    else if (st == PL_OK)
        rest_error(j, 403, "not_a_member", "not a member of this conversation");
    else
        rest_store_error(j, st);
    return false;
}

json_t *rest_conv_json(const pl_conv *cv)
{
    char id[PL_UUID_STRLEN + 1], ts[PL_TIME_STRLEN + 1];
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "conversation_id",
                     pl_uuid_fmt(&cv->id, id), "type",
                     cv->type == PL_CONV_DIRECT ? "direct" : "group", "name",
                     cv->name, "created_at", pl_time_fmt(cv->created_ms, ts),
                     "last_seq", (json_int_t)cv->last_seq, "member_count",
                     (json_int_t)cv->member_count);
}

void rest_publish_membership(pl_node *node, const pl_uuid *conv,
                             const pl_uuid *users, size_t n, bool add,
                             int64_t seq)
{
    char id[PL_UUID_STRLEN + 1];
    json_t *ids = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(ids, json_string(pl_uuid_fmt(&users[i], id)));
    json_t *o = json_pack("{s:s,s:o,s:s,s:I}", "conversation_id",
                          pl_uuid_fmt(conv, id), "user_ids", ids, "op",
                          add ? "add" : "remove", "seq", (json_int_t)seq);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    pl_rbuf *payload = s ? pl_rbuf_copy(s, strlen(s)) : NULL;
    free(s);
    if (!payload)
        return;
    pl_bus_msg m = {.topic = PL_TOPIC_MEMBERSHIP, .key = *conv,
                    .payload = payload};
    pl_bus_publish(node->bus, &m);
    pl_rbuf_unref(payload);
}

pl_uuid *rest_uuid_array(json_t *arr, size_t max, size_t *n, const char **err)
{
    *err = "bad";
    if (!json_is_array(arr))
        return NULL;
    size_t len = json_array_size(arr);
    if (len > max) {
        *err = "too_many";
        return NULL;
    }
    pl_uuid *ids = malloc((len ? len : 1) * sizeof(*ids));
    if (!ids)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || pl_uuid_parse(s, strlen(s), &ids[i]) != PL_OK) {
            free(ids);
            return NULL;
        }
    }
    *n = len;
    return ids;
}

bool rest_valid_client_msg_id(const char *s)
{
    return pl_ws_msg_valid_cmid(s); /* one rule for REST and WebSocket */
}

json_t *rest_body_object(gw_conn *c, const gw_request *r)
{
    json_error_t err;
    json_t *o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!o) {
        gw_http_respond_error(c, 400, "invalid_json", "body is not valid JSON");
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        gw_http_respond_error(c, 400, "invalid_request",
                              "body must be a JSON object");
        return NULL;
    }
    return o;
}

/* --- routing --------------------------------------------------------------- */

#define MAX_SEGS 8

typedef struct path {
    pl_str seg[MAX_SEGS];
    int n;
} path;

static void split_path(pl_str p, path *out)
{
    out->n = 0;
    size_t i = 0;
    while (i < p.len && out->n < MAX_SEGS + 1) {
        while (i < p.len && p.p[i] == '/')
            i++;
        size_t start = i;
        while (i < p.len && p.p[i] != '/')
            i++;
        if (i > start) {
            if (out->n == MAX_SEGS) {
                out->n = MAX_SEGS + 1; /* too deep: matches nothing */
                return;
            }
            out->seg[out->n++] = (pl_str){p.p + start, i - start};
        }
    }
}

static bool seg_is(const path *p, int i, const char *s)
{
    return i < p->n && p->seg[i].len == strlen(s) &&
           memcmp(p->seg[i].p, s, p->seg[i].len) == 0;
}

static bool method_is(const gw_request *r, const char *m)
{
    return r->req->method.len == strlen(m) &&
           memcmp(r->req->method.p, m, r->req->method.len) == 0;
}

static bool authenticate(gw_conn *c, const gw_request *r)
{
    const pl_http_header *h = pl_http_find_header(r->req, "authorization");
    if (h && h->value.len > 7 && strncasecmp(h->value.p, "Bearer ", 7) == 0 &&
        gw_auth_token(c, h->value.p + 7, h->value.len - 7) == PL_OK)
        return true;
    PL_METRIC_ADD(auth_failures_total, 1);
    gw_http_respond_error(c, 401, "unauthorized",
                          "missing, invalid or expired token");
    return false;
}

static void route_ops(gw_conn *c, const gw_request *r, const path *p)
{
    if (!method_is(r, "GET")) {
        gw_http_respond_error(c, 405, "method_not_allowed", "use GET");
        return;
    }
    if (seg_is(p, 0, "healthz")) {
        gw_http_respond_json(c, 200, json_pack("{s:s}", "status", "ok"));
    } else if (seg_is(p, 0, "readyz")) {
        int st = atomic_load(&c->gw->node->state);
        const char *s = st == PL_NODE_READY      ? "ready"
                        : st == PL_NODE_DRAINING ? "draining"
                                                 : "starting";
        gw_http_respond_json(c, st == PL_NODE_READY ? 200 : 503,
                             json_pack("{s:s}", "status", s));
    } else {
        pl_dbuf d;
        pl_dbuf_init(&d, 1 << 20);
        pl_metrics_render(&d);
        gw_http_respond_raw(c, 200, "text/plain; version=0.0.4", d.p ? d.p : "",
                            d.len);
        pl_dbuf_free(&d);
    }
}

static bool parse_id(gw_conn *c, pl_str s, pl_uuid *out)
{
    if (pl_uuid_parse(s.p, s.len, out) == PL_OK)
        return true;
    gw_http_respond_error(c, 400, "invalid_request", "malformed id in the path");
    return false;
}

static void route_users(gw_conn *c, const gw_request *r, const path *p)
{
    pl_uuid id;
    if (p->n != 2 && p->n != 3)
        gw_http_respond_error(c, 404, "not_found", "no such endpoint");
    else if (!method_is(r, "GET"))
        gw_http_respond_error(c, 405, "method_not_allowed", "use GET");
    else if (p->n == 2)
        rest_user_find(c, r);
    else if (parse_id(c, p->seg[2], &id)) /* answers 400 itself if not */
        rest_user_get(c, r, &id);
}

static void route_conv_sub(gw_conn *c, const gw_request *r, const path *p,
                           const pl_uuid *conv)
{
    bool get = method_is(r, "GET"), post = method_is(r, "POST");
    pl_uuid uid;
    if (p->n == 3 && get)
        rest_conv_get(c, r, conv);
    else if (p->n == 4 && seg_is(p, 3, "members") && post)
        rest_members_add(c, r, conv);
    else if (p->n == 4 && seg_is(p, 3, "members") && get)
        rest_members_list(c, r, conv);
    else if (p->n == 5 && seg_is(p, 3, "members") && method_is(r, "DELETE")) {
        if (parse_id(c, p->seg[4], &uid))
            rest_member_remove(c, r, conv, &uid);
    } else if (p->n == 4 && seg_is(p, 3, "messages") && get)
        rest_messages_list(c, r, conv);
    else if (p->n == 4 && seg_is(p, 3, "messages") && post)
        rest_message_post(c, r, conv);
    else if (p->n == 4 && seg_is(p, 3, "read") && post)
        rest_read_post(c, r, conv);
    else if (p->n == 4 && seg_is(p, 3, "presence") && get)
        rest_conv_presence(c, r, conv);
    else
        gw_http_respond_error(c, 405, "method_not_allowed",
                              "method not allowed here");
}

static bool conv_path_known(const path *p)
{
    return p->n == 3 ||
           (p->n == 4 && (seg_is(p, 3, "members") || seg_is(p, 3, "messages") ||
                          seg_is(p, 3, "read") || seg_is(p, 3, "presence"))) ||
           (p->n == 5 && seg_is(p, 3, "members"));
}

static void route_convs(gw_conn *c, const gw_request *r, const path *p)
{
    pl_uuid conv;
    if (p->n > 2 && !conv_path_known(p))
        gw_http_respond_error(c, 404, "not_found", "no such endpoint");
    else if (p->n == 2 && method_is(r, "POST"))
        rest_conv_create(c, r);
    else if (p->n == 2 && method_is(r, "GET"))
        rest_conv_list(c, r);
    else if (p->n == 2)
        gw_http_respond_error(c, 405, "method_not_allowed", "use GET or POST");
    else if (parse_id(c, p->seg[2], &conv))
        route_conv_sub(c, r, p, &conv);
}

static void route_v1(gw_conn *c, const gw_request *r, const path *p)
{
    if (seg_is(p, 1, "auth") && p->n == 3 &&
        (seg_is(p, 2, "register") || seg_is(p, 2, "login"))) {
        if (!method_is(r, "POST"))
            gw_http_respond_error(c, 405, "method_not_allowed", "use POST");
        else if (seg_is(p, 2, "register"))
            rest_register(c, r);
        else
            rest_login(c, r);
        return;
    }
    if (seg_is(p, 1, "ws") && p->n == 2) {
        if (!method_is(r, "GET"))
            gw_http_respond_error(c, 405, "method_not_allowed", "use GET");
        else
            gw_ws_upgrade(c, r); /* authenticates (header or query) */
        return;
    }
    bool known = (seg_is(p, 1, "me") && p->n == 2) || seg_is(p, 1, "users") ||
                 seg_is(p, 1, "conversations");
    if (!known) {
        gw_http_respond_error(c, 404, "not_found", "no such endpoint");
        return;
    }
    if (!authenticate(c, r))
        return;
    if (seg_is(p, 1, "me"))
        method_is(r, "GET") ? rest_me(c, r)
                            : gw_http_respond_error(c, 405,
                                                    "method_not_allowed",
                                                    "use GET");
    else if (seg_is(p, 1, "users"))
        route_users(c, r, p);
    else
        route_convs(c, r, p);
}

/* What this process serves besides the ops endpoints: everything when it
 * runs the gateway role, only /v1/auth/ for an auth-only process, nothing
 * for the other roles (their listener is for health checks and metrics). */
static bool served(gw_conn *c, const path *p)
{
    const pl_config *cfg = &c->gw->node->cfg;
    if (pl_config_has_role(cfg, "gateway"))
        return true;
    return pl_config_has_role(cfg, "auth") && p->n >= 2 &&
           seg_is(p, 0, "v1") && seg_is(p, 1, "auth");
}

void gw_rest_route(gw_conn *c, const gw_request *r)
{
    path p;
    split_path(r->req->path, &p);
    if (p.n == 1 && (seg_is(&p, 0, "healthz") || seg_is(&p, 0, "readyz") ||
                     seg_is(&p, 0, "metrics")))
        route_ops(c, r, &p);
    else if (!served(c, &p))
        gw_http_respond_error(c, 404, "not_found",
                              "not served by this instance's roles");
    else if (p.n >= 2 && p.n <= MAX_SEGS && seg_is(&p, 0, "v1"))
        route_v1(c, r, &p);
    else if (!gw_static_route(c, r)) /* the browser client (gw_static.c) */
        gw_http_respond_error(c, 404, "not_found", "no such endpoint");
}
