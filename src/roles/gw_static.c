/* gw_static.c - serves the embedded browser client (see gw_static.h).
 *
 * The files change only with the binary, so each carries a strong ETag
 * computed at build time; "Cache-Control: no-cache" makes the browser
 * revalidate on every load (a 304 costs one small response) and never run
 * a stale client against a newer server. */
#include "gw_static.h"

#include <stdio.h>
#include <string.h>

#include "gw_int.h"

const pl_web_asset *gw_static_find(pl_str p)
{
    for (size_t i = 0; i < pl_web_nassets; i++) {
        const pl_web_asset *a = &pl_web_assets[i];
        if (strlen(a->path) == p.len && memcmp(a->path, p.p, p.len) == 0)
            return a;
    }
    return NULL;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* One entity-tag of an If-None-Match list (trimmed) against ours. */
static bool tag_matches(const char *p, size_t n, const char *etag)
{
    size_t elen = strlen(etag);
    if (n == 1 && p[0] == '*')
        return true;
    if (n > 2 && memcmp(p, "W/", 2) == 0) { /* weak: same for GET/HEAD */
        p += 2;
        n -= 2;
    }
    return n == elen && memcmp(p, etag, elen) == 0;
}

bool gw_static_etag_matches(pl_str v, const char *etag)
{
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && (is_space(v.p[i]) || v.p[i] == ','))
            i++;
        size_t start = i;
        while (i < v.len && v.p[i] != ',')
            i++;
        size_t end = i;
        while (end > start && is_space(v.p[end - 1]))
            end--;
        if (tag_matches(v.p + start, end - start, etag))
            return true;
    }
    return false;
}

/* A Host value safe to repeat in a header: host name, IPv4, [IPv6], port. */
static bool plain_host(pl_str h)
{
    if (h.len == 0 || h.len > 255)
        return false;
    for (size_t i = 0; i < h.len; i++) {
        char ch = h.p[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
                  ch == ':' || ch == '[' || ch == ']';
        if (!ok)
            return false;
    }
    return true;
}

int gw_static_csp(pl_str host, char *out, size_t cap)
{
    char ws[600] = "";
    if (plain_host(host))
        snprintf(ws, sizeof(ws), " ws://%.*s wss://%.*s", (int)host.len, host.p,
                 (int)host.len, host.p);
    int n = snprintf(out, cap,
                     "default-src 'self'; connect-src 'self'%s; "
                     "img-src 'self' data:; object-src 'none'; "
                     "base-uri 'none'; form-action 'none'; "
                     "frame-ancestors 'none'",
                     ws);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static bool method_is(const gw_request *r, const char *m)
{
    return r->req->method.len == strlen(m) &&
           memcmp(r->req->method.p, m, r->req->method.len) == 0;
}

/* The header lines of a 200 or 304 answer for a (RFC 9110: a 304 carries
 * the validator and the caching fields, no Content-Type or -Length). */
static int write_fields(const gw_request *r, const pl_web_asset *a, bool full,
                        char *out, size_t cap)
{
    char csp[768];
    const pl_http_header *host = pl_http_find_header(r->req, "host");
    if (gw_static_csp(host ? host->value : (pl_str){"", 0}, csp, sizeof(csp)) <
        0)
        return -1;
    char len[96] = "";
    if (full)
        snprintf(len, sizeof(len),
                 "Content-Type: %s\r\nContent-Length: %zu\r\n", a->ctype,
                 a->len);
    int n = snprintf(out, cap,
                     "%sETag: %s\r\nCache-Control: no-cache\r\n"
                     "Content-Security-Policy: %s\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "X-Frame-Options: DENY\r\n"
                     "Referrer-Policy: no-referrer\r\n"
                     "Cross-Origin-Opener-Policy: same-origin\r\n",
                     len, a->etag, csp);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

bool gw_static_route(gw_conn *c, const gw_request *r)
{
    const pl_web_asset *a = gw_static_find(r->req->path);
    if (!a)
        return false;
    bool head = method_is(r, "HEAD");
    if (!head && !method_is(r, "GET")) {
        gw_http_respond_error(c, 405, "method_not_allowed", "use GET or HEAD");
        return true;
    }
    const pl_http_header *inm = pl_http_find_header(r->req, "if-none-match");
    bool fresh = inm && gw_static_etag_matches(inm->value, a->etag);
    char fields[1536];
    if (write_fields(r, a, !fresh, fields, sizeof(fields)) < 0) {
        gw_http_respond_error(c, 500, "internal", "response head too large");
        return true;
    }
    if (fresh)
        gw_http_respond_fields(c, 304, fields, NULL, 0);
    else
        gw_http_respond_fields(c, 200, fields, head ? NULL : a->data,
                               head ? 0 : a->len);
    return true;
}
