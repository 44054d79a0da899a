/* gw_rest_msg.c - history, sending and read offsets over REST, and the
 * return path of messaging results to the connection's loop. */
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "gw_rest.h"

/* --- history ------------------------------------------------------------- */

static void messages_list_work(pl_worker *w, rest_job *j)
{
    int role;
    if (!rest_require_member(w, j, &role))
        return;
    pl_msg *ms = NULL;
    size_t n = 0;
    bool more = false;
    pl_status st = pl_store_msgs_range(w->store, &j->conv, j->after_seq,
                                       j->before_seq, j->limit, &ms, &n, &more);
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *s = pl_msg_to_json(&ms[i], false, &len);
        json_array_append_new(arr, s ? json_loadb(s, len, 0, NULL) : json_null());
        free(s);
    }
    pl_msg_list_free(ms, n);
    j->status = 200;
    j->out = json_pack("{s:o,s:b}", "messages", arr, "has_more", more);
}

void rest_messages_list(gw_conn *c, const gw_request *r, const pl_uuid *conv)
{
    int64_t after, before, limit;
    if (!rest_query_int(c, r, "after_seq", 0, INT64_MAX, -1, &after) ||
        !rest_query_int(c, r, "before_seq", 1, INT64_MAX, -1, &before) ||
        !rest_query_int(c, r, "limit", 1, 200, 50, &limit))
        return;
    if (after >= 0 && before > 0) {
        gw_http_respond_error(c, 400, "invalid_request",
                              "give after_seq or before_seq, not both");
        return;
    }
    if (after < 0 && before < 0)
        before = INT64_MAX; /* the latest page */
    rest_job *j = rest_job_new(c, messages_list_work);
    if (j) {
        j->conv = *conv;
        j->after_seq = after;
        j->before_seq = before;
        j->limit = (size_t)limit;
    }
    rest_submit(c, c->gw->node->store_pool, j);
}

/* --- messaging requests ---------------------------------------------------- */

int gw_msg_error(pl_status st, const char **code)
{
    switch (st) {
    case PL_ERR_NOTFOUND: *code = "not_found"; return 404;
    case PL_ERR_FORBIDDEN: *code = "not_a_member"; return 403;
    case PL_ERR_BUSY: *code = "overloaded"; return 503;
    default: *code = "internal"; return 500;
    }
}

static void rest_msg_result(gw_conn *c, pl_msg_req *r)
{
    if (r->st != PL_OK) {
        const char *code;
        int status = gw_msg_error(r->st, &code);
        gw_http_respond_error(c, status, code,
                              status == 403 ? "not a member of this conversation"
                                            : pl_status_str(r->st));
    } else if (r->kind == PL_REQ_SEND) {
        size_t len;
        char *s = pl_msg_to_json(&r->msg, false, &len);
        gw_http_respond_raw(c, r->duplicate ? 200 : 201, "application/json",
                            s ? s : "{}", s ? len : 2);
        free(s);
    } else {
        char id[PL_UUID_STRLEN + 1];
        gw_http_respond_json(c, 200,
                             json_pack("{s:s,s:I}", "conversation_id",
                                       pl_uuid_fmt(&r->conv_id, id),
                                       "last_read_seq",
                                       (json_int_t)r->read_seq));
    }
    gw_http_request_done(c);
}

static void msg_result_task(pl_loop *l, void *arg)
{
    pl_msg_req *r = arg;
    gw_conn *c = l ? gw_conn_find(pl_loop_data(l), r->ctx_id) : NULL;
    if (c && r->ctx_kind == GW_VIA_REST && c->state == GW_HTTP)
        rest_msg_result(c, r);
    else if (c && r->ctx_kind == GW_VIA_WS)
        gw_ws_msg_result(c, r);
    pl_msg_req_free(r);
}

void gw_msg_done(pl_msg_req *r)
{
    gw_loop *gw = r->ctx;
    if (pl_loop_post(gw->loop, msg_result_task, r, true) != PL_OK)
        pl_msg_req_free(r); /* loop gone (shutdown): the client retries */
}

static bool submit(gw_conn *c, pl_msg_req *r)
{
    r->ctx_id = c->id;
    if (gw_submit(c->gw, r) != PL_OK) {
        pl_msg_req_free(r);
        return false;
    }
    return true;
}

void rest_message_post(gw_conn *c, const gw_request *r, const pl_uuid *conv)
{
    json_t *o = rest_body_object(c, r);
    if (!o)
        return;
    const char *cmid = json_string_value(json_object_get(o, "client_msg_id"));
    json_t *content = json_object_get(o, "content");
    size_t clen = json_string_length(content);
    int status = 400;
    const char *code = "invalid_request", *why = NULL;
    if (!cmid || !rest_valid_client_msg_id(cmid))
        why = "client_msg_id must be 1 to 64 visible ASCII characters";
    else if (!json_is_string(content) || clen == 0)
        why = "content must be a non-empty string";
    else if (clen > (size_t)c->gw->node->cfg.max_content) {
        status = 413;
        code = "content_too_large";
        why = "content is over the size limit";
    }
    pl_msg_req *req = why ? NULL : pl_msg_req_new(PL_REQ_SEND);
    if (req) {
        req->conv_id = *conv;
        req->user_id = c->user_id;
        req->ctx_kind = GW_VIA_REST;
        memcpy(req->client_msg_id, cmid, strlen(cmid) + 1);
        req->content = malloc(clen + 1);
        if (req->content) {
            memcpy(req->content, json_string_value(content), clen + 1);
            req->content_len = clen;
        }
    }
    json_decref(o);
    if (why) {
        gw_http_respond_error(c, status, code, why);
        return;
    }
    if (req && !req->content) { /* out of memory for the copy */
        pl_msg_req_free(req);
        req = NULL;
    }
    gw_conn_pause(c);
    if (!req || !submit(c, req)) { /* submit frees req when it fails */
        gw_http_respond_error(c, 503, "overloaded", "server busy, retry later");
        gw_conn_resume(c);
    }
}

void rest_read_post(gw_conn *c, const gw_request *r, const pl_uuid *conv)
{
    json_t *o = rest_body_object(c, r);
    if (!o)
        return;
    json_t *seq = json_object_get(o, "seq");
    bool ok = json_is_integer(seq) && json_integer_value(seq) >= 0;
    int64_t v = ok ? json_integer_value(seq) : 0;
    json_decref(o);
    if (!ok) {
        gw_http_respond_error(c, 400, "invalid_request",
                              "seq must be a non-negative integer");
        return;
    }
    pl_msg_req *req = pl_msg_req_new(PL_REQ_READ);
    if (req) {
        req->conv_id = *conv;
        req->user_id = c->user_id;
        req->seq = v;
        req->ctx_kind = GW_VIA_REST;
    }
    gw_conn_pause(c);
    if (!req || !submit(c, req)) {
        gw_http_respond_error(c, 503, "overloaded", "server busy, retry later");
        gw_conn_resume(c);
    }
}
