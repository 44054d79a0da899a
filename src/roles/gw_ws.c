/* gw_ws.c - WebSocket sessions: the upgrade, RFC 6455 framing rules,
 * the client frames (send, typing, read, ping) and the server frames. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/jsonw.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/timeutil.h"
#include "../proto/utf8.h"
#include "../proto/ws_msg.h"
#include "gw_rest.h"
#include "presence_role.h"

#define TYPING_THROTTLE_MS 3000
#define TYPING_BURST 5

/* --- sending ------------------------------------------------------------- */

void gw_ws_send_json(gw_conn *c, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        return;
    pl_rbuf *b = pl_rbuf_ws_text(s, strlen(s));
    free(s);
    if (b)
        gw_conn_send(c, b);
}

void gw_ws_send_error(gw_conn *c, const char *code, const char *message,
                      const char *client_msg_id)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "type", "error", "code", code,
                          "message", message);
    if (o && client_msg_id)
        json_object_set_new(o, "client_msg_id", json_string(client_msg_id));
    gw_ws_send_json(c, o);
}

void gw_ws_close(gw_conn *c, int code, const char *reason)
{
    if (c->state == GW_DEAD || c->state == GW_CLOSING || c->close_after_flush)
        return;
    c->state = GW_CLOSING; /* the close frame is exempt from the bound */
    size_t rlen = strlen(reason);
    if (rlen > 123)
        rlen = 123;
    uint8_t hdr[14];
    size_t hl = pl_ws_write_header(hdr, 1, PL_WS_CLOSE, 2 + rlen);
    pl_rbuf *b = pl_rbuf_new(hl + 2 + rlen);
    if (b) {
        memcpy(b->data, hdr, hl);
        b->data[hl] = (uint8_t)(code >> 8);
        b->data[hl + 1] = (uint8_t)code;
        memcpy(b->data + hl + 2, reason, rlen);
        gw_conn_send(c, b);
    }
    pl_log(PL_LOG_DEBUG, "ws_close", "peer", PL_LS, c->peer, "code", PL_LI,
           (int64_t)code, "reason", PL_LS, reason, NULL);
    gw_conn_close_after_flush(c);
}

/* --- session start ------------------------------------------------------- */

typedef struct load_job {
    gw_loop *gw;
    uint64_t conn_id;
    pl_uuid user;
    pl_uuid *convs;
    size_t n;
    pl_status st;
} load_job;

static void load_work(pl_worker *w, void *arg)
{
    load_job *j = arg;
    j->st = pl_store_conv_ids_for_user(w->store, &j->user, &j->convs, &j->n);
}

static void start_load(gw_conn *c);

static void send_hello(gw_conn *c)
{
    char uid[PL_UUID_STRLEN + 1], sid[PL_UUID_STRLEN + 1];
    gw_ws_send_json(c, json_pack("{s:s,s:s,s:s,s:I}", "type", "hello",
                                 "user_id", pl_uuid_fmt(&c->user_id, uid),
                                 "session_id", pl_uuid_fmt(&c->session_id, sid),
                                 "heartbeat_interval_ms",
                                 (json_int_t)c->gw->node->cfg.heartbeat_ms));
}

void gw_ws_open(gw_conn *c)
{
    c->state = GW_WS_OPEN;
    send_hello(c);
    gw_conn_resume(c);
}

static void load_done(pl_loop *l, void *arg)
{
    load_job *j = arg;
    gw_conn *c = l ? gw_conn_find(j->gw, j->conn_id) : NULL;
    if (!c || c->state != GW_WS_LOADING) {
        if (l)
            gw_loading_end(j->gw, &j->user, 0);
        goto out;
    }
    if (j->st != PL_OK) {
        gw_loading_end(j->gw, &c->user_id, c->load_gen);
        gw_ws_close(c, PL_WS_CLOSE_TRY_AGAIN, "could not load conversations");
        goto out;
    }
    /* a membership change of this user raced with the load: again */
    if (gw_loading_end(j->gw, &c->user_id, c->load_gen)) {
        start_load(c);
        goto out;
    }
    if (gw_index_add_conn(j->gw, c, j->convs, j->n) != PL_OK) {
        gw_ws_close(c, PL_WS_CLOSE_INTERNAL, "out of memory");
        goto out;
    }
    PL_METRIC_ADD(ws_connections, 1); /* counted while c->user is set */
    pl_presence_role_online(c->gw->node, &c->user_id);
    gw_relay_hello(c); /* cluster mode: once its channels are subscribed */
out:
    free(j->convs);
    free(j);
}

static void start_load(gw_conn *c)
{
    load_job *j = calloc(1, sizeof(*j));
    if (!j) {
        gw_ws_close(c, PL_WS_CLOSE_INTERNAL, "out of memory");
        return;
    }
    j->gw = c->gw;
    j->conn_id = c->id;
    j->user = c->user_id;
    c->load_gen = gw_loading_begin(c->gw, &c->user_id);
    if (pl_workpool_submit(c->gw->node->store_pool, c->gw->loop, load_work,
                           load_done, j) != PL_OK) {
        gw_loading_end(c->gw, &c->user_id, c->load_gen);
        free(j);
        gw_ws_close(c, PL_WS_CLOSE_TRY_AGAIN, "server busy, retry later");
    }
}

/* --- upgrade --------------------------------------------------------------- */

/* The request side of the handshake (RFC 6455 4.2.1), checked before the
 * token so a malformed request is a 400 whoever sends it. Returns NULL and
 * fills accept, or why the upgrade is refused with *status 400, or 426 for
 * a version other than 13 (4.4: the answer names the version we speak). */
static const char *check_upgrade(const gw_request *r, char accept[29],
                                 int *status)
{
    const pl_http_request *q = r->req;
    const pl_http_header *up = pl_http_find_header(q, "upgrade");
    const pl_http_header *conn = pl_http_find_header(q, "connection");
    const pl_http_header *ver = pl_http_find_header(q, "sec-websocket-version");
    const pl_http_header *key = pl_http_find_header(q, "sec-websocket-key");
    *status = 400;
    if (q->method.len != 3 || memcmp(q->method.p, "GET", 3) != 0)
        return "WebSocket upgrade must use GET";
    if (q->minor_version < 1)
        return "WebSocket upgrade needs HTTP/1.1";
    if (!up || !pl_http_has_token(up->value, "websocket") || !conn ||
        !pl_http_has_token(conn->value, "upgrade"))
        return "expected a WebSocket upgrade request";
    if (!ver)
        return "Sec-WebSocket-Version is required";
    if (ver->value.len != 2 || memcmp(ver->value.p, "13", 2) != 0) {
        *status = 426;
        return "Sec-WebSocket-Version must be 13";
    }
    if (!key || pl_ws_accept_key(key->value.p, key->value.len, accept) != 0)
        return "missing or bad Sec-WebSocket-Key";
    return NULL;
}

/* 426 carries Sec-WebSocket-Version, which the generic responder has no
 * slot for; the connection is closed after it like any failed upgrade
 * with a body the client may not expect. */
static void refuse_version(gw_conn *c, const char *why)
{
    char body[160], resp[512];
    int bl = snprintf(body, sizeof(body),
                      "{\"error\":{\"code\":\"invalid_request\","
                      "\"message\":\"%s\"}}", why);
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 426 Upgrade Required\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %d\r\nCache-Control: no-store\r\n"
                     "Connection: close\r\n\r\n%s", bl, body);
    pl_rbuf *b = n > 0 && (size_t)n < sizeof(resp)
                     ? pl_rbuf_copy(resp, (size_t)n) : NULL;
    PL_METRIC_ADD(http_4xx_total, 1);
    c->keep_alive = false;
    if (b)
        gw_conn_send(c, b);
    gw_conn_close_after_flush(c);
}

/* Browsers send Origin; a page from another site must not open sessions
 * with a token it obtained (e.g. from a URL). Exact, case-sensitive match
 * against the allowed-origins list; no Origin header: not a browser. */
static bool origin_allowed(gw_conn *c, const gw_request *r)
{
    const char *list = c->gw->node->cfg.allowed_origins;
    const pl_http_header *h = pl_http_find_header(r->req, "origin");
    if (!h || strcmp(list, "*") == 0)
        return true;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && p[0] == ' ') {
            p++;
            n--;
        }
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n == h->value.len && memcmp(p, h->value.p, n) == 0)
            return true;
        p = end ? end + 1 : p + strlen(p);
    }
    return false;
}

static bool upgrade_auth(gw_conn *c, const gw_request *r)
{
    const pl_http_header *h = pl_http_find_header(r->req, "authorization");
    if (h && h->value.len > 7 && strncasecmp(h->value.p, "Bearer ", 7) == 0)
        return gw_auth_token(c, h->value.p + 7, h->value.len - 7) == PL_OK;
    char tok[PL_JWT_MAX_TOKEN + 1];
    long n = pl_http_query_param(r->req->query, "access_token", tok,
                                 sizeof(tok));
    return n > 0 && gw_auth_token(c, tok, (size_t)n) == PL_OK;
}

void gw_ws_upgrade(gw_conn *c, const gw_request *r)
{
    char accept[29];
    int status;
    const char *why = check_upgrade(r, accept, &status);
    if (why) {
        if (status == 426)
            refuse_version(c, why);
        else
            gw_http_respond_error(c, status, "invalid_request", why);
        return;
    }
    if (!origin_allowed(c, r)) {
        gw_http_respond_error(c, 403, "forbidden",
                              "this Origin may not open WebSocket sessions");
        return;
    }
    if (!upgrade_auth(c, r)) {
        PL_METRIC_ADD(auth_failures_total, 1);
        gw_http_respond_error(c, 401, "unauthorized",
                              "missing, invalid or expired token");
        return;
    }
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    pl_rbuf *b = pl_rbuf_copy(resp, (size_t)n);
    if (!b) {
        gw_conn_close(c);
        return;
    }
    gw_conn_send(c, b);
    c->state = GW_WS_LOADING;
    c->in_max = (size_t)c->gw->node->cfg.max_frame + 14;
    pl_uuid_v4(&c->session_id);
    gw_conn_pause(c);
    start_load(c);
}

/* --- client frames ----------------------------------------------------------- */

static void submit_req(gw_conn *c, pl_msg_req *r, const char *cmid)
{
    r->ctx_id = c->id;
    r->ctx_kind = GW_VIA_WS;
    r->user_id = c->user_id;
    if (gw_submit(c->gw, r) != PL_OK) {
        pl_msg_req_free(r);
        gw_ws_send_error(c, "overloaded", "server busy, retry later", cmid);
    }
}

/* The send rate limit: a token bucket per connection and one per user on
 * this loop (a user with several devices shares it). Over the limit the
 * send is refused, not queued: error rate_limited with retry_after_ms. */
static bool send_allowed(gw_conn *c, const char *cmid)
{
    const pl_config *cfg = &c->gw->node->cfg;
    int64_t now = pl_loop_now_ms(c->gw->loop), retry = 0;
    double rate = (double)cfg->send_rate, burst = (double)cfg->send_burst;
    bool ok = pl_bucket_take(&c->send_bucket, rate, burst, now, &retry);
    if (ok && c->user)
        ok = pl_bucket_take(&c->user->send_bucket, rate, burst, now, &retry);
    if (ok)
        return true;
    json_t *e = json_pack("{s:s,s:s,s:s,s:I}", "type", "error", "code",
                          "rate_limited", "message",
                          "sending too fast: retry after retry_after_ms",
                          "retry_after_ms", (json_int_t)retry);
    if (e && cmid)
        json_object_set_new(e, "client_msg_id", json_string(cmid));
    gw_ws_send_json(c, e);
    return false;
}

_Static_assert(PL_WS_MSG_CMID_MAX == PL_CLIENT_MSG_ID_MAX,
               "a decoded client_msg_id fits pl_msg_req");

static void on_send(gw_conn *c, const pl_ws_msg *m)
{
    if (!send_allowed(c, m->client_msg_id))
        return;
    pl_msg_req *r = pl_msg_req_new(PL_REQ_SEND);
    char *copy = malloc(m->content_len + 1);
    if (!r || !copy) {
        free(copy);
        pl_msg_req_free(r);
        gw_ws_send_error(c, "overloaded", "out of memory", m->client_msg_id);
        return;
    }
    memcpy(copy, m->content, m->content_len + 1);
    r->content = copy;
    r->content_len = m->content_len;
    r->conv_id = m->conv;
    memcpy(r->client_msg_id, m->client_msg_id, strlen(m->client_msg_id) + 1);
    submit_req(c, r, m->client_msg_id);
}

/* At most one typing event per conversation per TYPING_THROTTLE_MS, and
 * at most TYPING_BURST events per connection per throttle period over all
 * conversations (so cycling through many conversations does not evade the
 * per-conversation slots). */
static bool typing_throttled(gw_conn *c, const pl_uuid *conv)
{
    int64_t now = pl_loop_now_ms(c->gw->loop);
    double per_ms = (double)TYPING_BURST / TYPING_THROTTLE_MS;
    c->typing_tokens += (double)(now - c->typing_refill_ms) * per_ms;
    if (c->typing_tokens > TYPING_BURST || c->typing_refill_ms == 0)
        c->typing_tokens = TYPING_BURST;
    c->typing_refill_ms = now;
    int slot = 0;
    for (int i = 0; i < GW_TYPING_SLOTS; i++) {
        if (pl_uuid_eq(&c->typing[i].conv, conv)) {
            if (now - c->typing[i].at_ms < TYPING_THROTTLE_MS)
                return true;
            slot = i;
            break;
        }
        if (c->typing[i].at_ms < c->typing[slot].at_ms)
            slot = i; /* least recently used */
    }
    if (c->typing_tokens < 1)
        return true;
    c->typing_tokens -= 1;
    c->typing[slot].conv = *conv;
    c->typing[slot].at_ms = now;
    return false;
}

static void on_typing(gw_conn *c, const pl_ws_msg *msg)
{
    pl_uuid conv = msg->conv;
    if (!gw_index_is_member(c->gw, &c->user_id, &conv)) {
        gw_ws_send_error(c, "not_a_member", "not a member of this conversation",
                         NULL);
        return;
    }
    if (typing_throttled(c, &conv))
        return; /* throttled: at most one typing event per 3 s */
    if (gw_conv_members(c->gw, &conv) > c->gw->node->cfg.typing_max_members)
        return; /* large group: typing is not broadcast (documented) */
    char cid[PL_UUID_STRLEN + 1], uid[PL_UUID_STRLEN + 1];
    json_t *ev = json_pack("{s:s,s:s,s:s}", "type", "typing", "conversation_id",
                           pl_uuid_fmt(&conv, cid), "user_id",
                           pl_uuid_fmt(&c->user_id, uid));
    char *s = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    pl_rbuf *payload = s ? pl_rbuf_copy(s, strlen(s)) : NULL;
    free(s);
    if (!payload)
        return;
    pl_bus_msg m = {.topic = PL_TOPIC_EVENTS, .key = conv,
                    .exclude_user = c->user_id, .payload = payload};
    pl_bus_publish(c->gw->node->bus, &m);
    pl_rbuf_unref(payload);
}

static void on_read(gw_conn *c, const pl_ws_msg *m)
{
    pl_msg_req *r = pl_msg_req_new(PL_REQ_READ);
    if (!r) {
        gw_ws_send_error(c, "overloaded", "out of memory", NULL);
        return;
    }
    r->conv_id = m->conv;
    r->seq = m->seq;
    submit_req(c, r, NULL);
}

/* The ack of every send, written directly (core/jsonw.h): the same bytes
 * as jansson, without a tree of allocations per message. */
static void send_ack(gw_conn *c, const pl_msg_req *r)
{
    char buf[320 + PL_CLIENT_MSG_ID_MAX * 6], id[PL_UUID_STRLEN + 1],
        ts[PL_TIME_STRLEN + 1];
    pl_jsonw w;
    pl_jsonw_init(&w, buf, sizeof(buf));
    PL_JSONW_LIT(&w, "{\"type\":\"ack\",\"client_msg_id\":");
    pl_jsonw_str(&w, r->client_msg_id, strlen(r->client_msg_id));
    PL_JSONW_LIT(&w, ",\"conversation_id\":\"");
    pl_jsonw_raw(&w, pl_uuid_fmt(&r->conv_id, id), PL_UUID_STRLEN);
    PL_JSONW_LIT(&w, "\",\"seq\":");
    pl_jsonw_int(&w, r->msg.seq);
    PL_JSONW_LIT(&w, ",\"message_id\":\"");
    pl_jsonw_raw(&w, pl_uuid_fmt(&r->msg.msg_id, id), PL_UUID_STRLEN);
    PL_JSONW_LIT(&w, "\",\"created_at\":\"");
    pl_jsonw_raw(&w, pl_time_fmt(r->msg.created_ms, ts), PL_TIME_STRLEN);
    PL_JSONW_LIT(&w, "\"}");
    pl_rbuf *b = w.ok ? pl_rbuf_ws_text(buf, w.len) : NULL;
    if (b)
        gw_conn_send(c, b);
}

void gw_ws_msg_result(gw_conn *c, pl_msg_req *r)
{
    if (c->state != GW_WS_OPEN)
        return;
    const char *cmid = r->kind == PL_REQ_SEND ? r->client_msg_id : NULL;
    if (r->st != PL_OK) {
        const char *code;
        int status = gw_msg_error(r->st, &code);
        gw_ws_send_error(c, code,
                         status == 403 ? "not a member of this conversation"
                                       : pl_status_str(r->st),
                         cmid);
        return;
    }
    if (r->kind != PL_REQ_SEND)
        return; /* a read: the `read` event is the confirmation */
    send_ack(c, r);
}

/* One whole text message: decoded and validated by pl_ws_msg_decode (no
 * connection involved, so it is unit-tested and fuzzed alone), then acted
 * on here. */
static void on_text(gw_conn *c, const char *p, size_t len)
{
    pl_ws_msg m;
    PL_METRIC_ADD(ws_frames_in_total, 1);
    if (pl_ws_msg_decode(p, len, (size_t)c->gw->node->cfg.max_content, &m) !=
        PL_OK)
        gw_ws_send_error(c, m.err_code, m.err_message, m.err_client_msg_id);
    else if (m.type == PL_WS_MSG_SEND)
        on_send(c, &m);
    else if (m.type == PL_WS_MSG_TYPING)
        on_typing(c, &m);
    else if (m.type == PL_WS_MSG_READ)
        on_read(c, &m);
    else if (m.type == PL_WS_MSG_SYNC)
        gw_ws_sync(c, &m);
    else if (m.type == PL_WS_MSG_PRESENCE_SUBSCRIBE)
        gw_presence_subscribe(c, m.root);
    else
        gw_ws_send_json(c, json_pack("{s:s}", "type", "pong"));
    pl_ws_msg_free(&m);
}

/* --- framing ------------------------------------------------------------------ */

static bool valid_close_code(int code)
{
    /* RFC 6455 7.4 plus the IANA registry (1012-1014); 1004-1006 and 1015
     * are reserved and must not be sent on the wire. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static void on_close_frame(gw_conn *c, const uint8_t *p, size_t len)
{
    if (len == 1) {
        gw_ws_close(c, PL_WS_CLOSE_PROTOCOL, "bad close frame");
        return;
    }
    int code = len >= 2 ? (p[0] << 8) | p[1] : PL_WS_CLOSE_NORMAL;
    if (len >= 2 && !valid_close_code(code))
        gw_ws_close(c, PL_WS_CLOSE_PROTOCOL, "bad close code");
    else if (len > 2 && !pl_utf8_valid(p + 2, len - 2))
        gw_ws_close(c, PL_WS_CLOSE_INVALID_DATA, "close reason is not UTF-8");
    else
        gw_ws_close(c, code, "");
}

static void on_control(gw_conn *c, int opcode, const uint8_t *p, size_t len)
{
    if (opcode == PL_WS_PING) {
        uint8_t hdr[14];
        size_t hl = pl_ws_write_header(hdr, 1, PL_WS_PONG, len);
        pl_rbuf *b = pl_rbuf_new(hl + len);
        if (b) {
            memcpy(b->data, hdr, hl);
            memcpy(b->data + hl, p, len);
            gw_conn_send(c, b);
        }
    } else if (opcode == PL_WS_CLOSE) {
        on_close_frame(c, p, len);
    } /* PONG: nothing to do; it counted as traffic */
}

/* Handles one complete data frame (possibly a fragment). */
static void on_data(gw_conn *c, const pl_ws_frame *f, const uint8_t *p,
                    size_t len)
{
    /* Framing first: a new data frame inside a fragmented message is a
     * protocol error whatever its type (RFC 6455 5.4). */
    if ((f->opcode == PL_WS_CONT) != (c->frag_opcode != 0)) {
        gw_ws_close(c, PL_WS_CLOSE_PROTOCOL, "bad fragmentation");
        return;
    }
    if (f->opcode == PL_WS_BINARY) {
        gw_ws_close(c, PL_WS_CLOSE_UNSUPPORTED, "binary frames are not supported");
        return;
    }
    c->utf8_state = pl_utf8_feed(c->utf8_state, p, len);
    if (c->utf8_state == PL_UTF8_REJECT ||
        (f->fin && c->utf8_state != PL_UTF8_ACCEPT)) {
        gw_ws_close(c, PL_WS_CLOSE_INVALID_DATA, "invalid UTF-8");
        return;
    }
    if (f->fin && c->frag_opcode == 0) {
        on_text(c, (const char *)p, len);
        return;
    }
    if (pl_dbuf_append(&c->frag, p, len) != PL_OK) {
        gw_ws_close(c, PL_WS_CLOSE_TOO_BIG, "message too big");
        return;
    }
    c->frag_opcode = PL_WS_TEXT;
    if (f->fin) {
        on_text(c, c->frag.p, c->frag.len);
        c->frag.len = 0;
        c->frag_opcode = 0;
    }
}

/* Parses and handles one frame; returns its size, or 0 if incomplete or
 * the connection is closing. */
static size_t process_frame(gw_conn *c, size_t off)
{
    pl_ws_frame f;
    memset(&f, 0, sizeof(f));
    long n = pl_ws_parse_header(c->in + off, c->in_len - off,
                                (uint64_t)c->gw->node->cfg.max_frame, &f);
    if (n == PL_WS_INCOMPLETE)
        return 0;
    if (n == PL_WS_ERR_TOO_BIG || n == PL_WS_ERR_PROTOCOL || !f.masked ||
        f.rsv) {
        gw_ws_close(c, n == PL_WS_ERR_TOO_BIG ? PL_WS_CLOSE_TOO_BIG
                                              : PL_WS_CLOSE_PROTOCOL,
                    n == PL_WS_ERR_TOO_BIG ? "frame too big"
                    : n > 0 && !f.masked   ? "client frames must be masked"
                                           : "protocol error");
        return 0;
    }
    uint8_t *p = c->in + off + f.header_len;
    size_t len = (size_t)f.payload_len;
    pl_ws_unmask(p, len, f.mask, 0);
    if (f.opcode >= PL_WS_CLOSE)
        on_control(c, f.opcode, p, len);
    else
        on_data(c, &f, p, len);
    return (size_t)n;
}

void gw_ws_process(gw_conn *c)
{
    size_t off = 0;
    while (c->state == GW_WS_OPEN && !c->reading_paused && off < c->in_len) {
        size_t n = process_frame(c, off);
        if (n == 0)
            break;
        off += n;
    }
    if (c->state != GW_WS_OPEN) {
        c->in_len = 0;
        return;
    }
    memmove(c->in, c->in + off, c->in_len - off); /* once per read */
    c->in_len -= off;
    if (c->in_len == 0) { /* an idle session holds no read buffer */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}
