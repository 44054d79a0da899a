/* gw_http.c - HTTP/1.1 on a gateway connection: framing requests
 * (head + Content-Length body), keep-alive, and writing responses. One
 * request is handled at a time per connection; while an asynchronous
 * request is in flight, reading is paused (pipelined requests wait in the
 * kernel's buffer, which is the natural back-pressure). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/metrics.h"
#include "gw_int.h"

static const char *reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

void gw_http_respond_fields(gw_conn *c, int status, const char *fields,
                            const void *body, size_t len)
{
    char head[128];
    if (c->gw->draining)
        c->keep_alive = false; /* shutting down: finish this one, then go */
    int hl = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n", status,
                      reason(status));
    const char *conn = c->keep_alive ? "Connection: keep-alive\r\n\r\n"
                                     : "Connection: close\r\n\r\n";
    size_t fl = strlen(fields), cl = strlen(conn);
    if (status >= 500)
        PL_METRIC_ADD(http_5xx_total, 1);
    else if (status >= 400)
        PL_METRIC_ADD(http_4xx_total, 1);
    pl_rbuf *b = pl_rbuf_new((size_t)hl + fl + cl + len);
    if (!b) {
        gw_conn_close(c);
        return;
    }
    /* a byte buffer, not a C string: no NUL is wanted after the parts */
    uint8_t *p = b->data;
    memcpy(p, head, (size_t)hl);
    p += hl;
    memcpy(p, fields, fl); // NOLINT(bugprone-not-null-terminated-result)
    p += fl;
    memcpy(p, conn, cl); // NOLINT(bugprone-not-null-terminated-result)
    p += cl;
    if (len)
        memcpy(p, body, len);
    gw_conn_send(c, b);
    if (!c->keep_alive)
        gw_conn_close_after_flush(c);
}

void gw_http_respond_raw(gw_conn *c, int status, const char *ctype,
                         const char *body, size_t len)
{
    char fields[256];
    snprintf(fields, sizeof(fields),
             "Content-Type: %s\r\nContent-Length: %zu\r\n"
             "Cache-Control: no-store\r\n",
             ctype, len);
    gw_http_respond_fields(c, status, fields, body, len);
}

void gw_http_respond_retry(gw_conn *c, int status, const char *code,
                           const char *message, int64_t retry_ms)
{
    char fields[256];
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                          message);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    size_t len = s ? strlen(s) : 0;
    json_decref(o);
    snprintf(fields, sizeof(fields),
             "Content-Type: application/json\r\nContent-Length: %zu\r\n"
             "Cache-Control: no-store\r\nRetry-After: %lld\r\n",
             len, (long long)(retry_ms > 0 ? (retry_ms + 999) / 1000 : 1));
    gw_http_respond_fields(c, status, fields, s ? s : "", len);
    free(s);
}

void gw_http_respond_json(gw_conn *c, int status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (status == 204 || !s)
        gw_http_respond_raw(c, status, "application/json", "", 0);
    else
        gw_http_respond_raw(c, status, "application/json", s, strlen(s));
    free(s);
}

void gw_http_respond_error(gw_conn *c, int status, const char *code,
                           const char *message)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                          message);
    gw_http_respond_json(c, status, o);
}

/* Replies with a protocol-level error and closes: the stream can no longer
 * be trusted to be framed correctly. */
static void fatal(gw_conn *c, int status, const char *message)
{
    c->keep_alive = false;
    gw_http_respond_error(c, status, "invalid_request", message);
    c->in_len = 0;
}

static bool parse_length(const pl_http_request *req, size_t max, size_t *len,
                         gw_conn *c)
{
    *len = 0;
    if (pl_http_find_header(req, "transfer-encoding")) {
        fatal(c, 411, "Transfer-Encoding is not supported: send Content-Length");
        return false;
    }
    const pl_http_header *h = pl_http_find_header(req, "content-length");
    if (!h)
        return true;
    size_t v = 0;
    if (h->value.len == 0 || h->value.len > 12) {
        fatal(c, 400, "bad Content-Length");
        return false;
    }
    for (size_t i = 0; i < h->value.len; i++) {
        char ch = h->value.p[i];
        if (ch < '0' || ch > '9') {
            fatal(c, 400, "bad Content-Length");
            return false;
        }
        v = v * 10 + (size_t)(ch - '0');
    }
    if (v > max) {
        c->keep_alive = false;
        gw_http_respond_error(c, 413, "payload_too_large",
                              "request body too large");
        /* The body is still coming. Closing now, with it unread, would
         * reset the connection, and the peer (nginx sending the body)
         * could lose this answer: read and drop the rest until the peer
         * closes, as a closing WebSocket does (bounded in time). */
        c->state = GW_CLOSING;
        c->in_len = 0;
        return false;
    }
    *len = v;
    return true;
}

static bool wants_keep_alive(const pl_http_request *req)
{
    const pl_http_header *h = pl_http_find_header(req, "connection");
    if (req->minor_version == 0)
        return h && pl_http_has_token(h->value, "keep-alive");
    return !(h && pl_http_has_token(h->value, "close"));
}

/* Handles the request starting at c->in + *off. Returns true if one was
 * handled (and *off advanced past it) and the caller may continue. */
static bool process_one(gw_conn *c, size_t *off)
{
    const pl_config *cfg = &c->gw->node->cfg;
    pl_http_request req;
    const char *base = (const char *)c->in + *off;
    size_t avail = c->in_len - *off;
    int n = pl_http_parse_request(base, avail, &req);
    if (n == -2) {
        if (avail > (size_t)cfg->max_header)
            fatal(c, 431, "request head too large");
        return false;
    }
    if (n < 0) {
        fatal(c, 400, "malformed HTTP request");
        return false;
    }
    if ((size_t)n > (size_t)cfg->max_header) {
        fatal(c, 431, "request head too large");
        return false;
    }
    size_t blen;
    if (!parse_length(&req, (size_t)cfg->max_body, &blen, c))
        return false;
    if (avail - (size_t)n < blen)
        return false; /* body not complete yet */
    c->keep_alive = wants_keep_alive(&req) && !c->gw->draining;
    PL_METRIC_ADD(http_requests_total, 1);
    gw_request r = {&req, base + n, blen};
    /* per-address limits first, for every route (else answered 429) */
    if (gw_limits_request(c, &r))
        gw_rest_route(c, &r); /* copies what it keeps */
    *off += (size_t)n + blen;
    return true;
}

/* Drops the consumed prefix once per call (not once per request: that
 * would be quadratic for pipelined requests), and gives back the memory
 * of a large body once it is consumed. */
static void compact(gw_conn *c, size_t off)
{
    if (c->in_len == 0 || off == 0) {
        if (off)
            c->in_len = 0;
    } else {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    /* give the buffer back when it is empty and large, or when the
     * connection became a WebSocket (idle sessions should hold nothing) */
    if (c->in_len == 0 && (c->in_cap > 65536 || c->state != GW_HTTP)) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    if (off && c->state == GW_HTTP)
        c->request_ms = c->in_len ? pl_loop_now_ms(c->gw->loop) : 0;
}

void gw_http_process(gw_conn *c)
{
    size_t off = 0;
    size_t limit = (size_t)c->gw->node->cfg.outbound_limit;
    while (c->state == GW_HTTP && !c->reading_paused && off < c->in_len &&
           !c->close_after_flush) {
        if (c->out.bytes > limit) { /* the client does not read: stop */
            c->out_paused = true;
            gw_conn_pause(c);
            break;
        }
        if (!process_one(c, &off))
            break;
    }
    if (c->in_len == 0) /* a fatal error dropped the input */
        off = 0;
    compact(c, off);
    /* an upgrade may leave WebSocket bytes behind */
    if (c->state == GW_WS_OPEN && c->in_len > 0)
        gw_ws_process(c);
}

void gw_http_request_done(gw_conn *c)
{
    if (c->state == GW_DEAD)
        return;
    gw_conn_resume(c);
}
