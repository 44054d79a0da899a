/* gw_static.h - the browser client's files, embedded in the binary at
 * build time (cmake/embed_web.cmake generates the table from web/) and
 * served by the gateway at "/" and the asset paths, same origin as /v1.
 *
 * Everything here is read-only static data: no ownership to track. */
#ifndef PL_GW_STATIC_H
#define PL_GW_STATIC_H

#include <stdbool.h>
#include <stddef.h>

#include "../proto/http_parse.h"

typedef struct pl_web_asset {
    const char *path;  /* URL path: "/" (web/index.html) or "/js/app.js" */
    const char *ctype; /* Content-Type */
    const unsigned char *data;
    size_t len;
    const char *etag; /* strong validator, quoted: "\"0123456789abcdef\"" */
} pl_web_asset;

/* Generated (build/gen/web_assets.c). */
extern const pl_web_asset pl_web_assets[];
extern const size_t pl_web_nassets;

/* The asset at URL path p (exact match, no query), or NULL. */
const pl_web_asset *gw_static_find(pl_str p);

/* True if an If-None-Match value matches etag (RFC 9110 weak comparison:
 * "*", or any entity tag of the comma list with W/ ignored). */
bool gw_static_etag_matches(pl_str if_none_match, const char *etag);

/* Writes the Content-Security-Policy value into out (cap bytes): only
 * same-origin resources, WebSocket to the same host (named explicitly,
 * since older browsers do not let 'self' cover ws:), no framing. host is
 * the request's Host header, used only when it is a plain host[:port].
 * Returns the length, or -1 if cap is too small. */
int gw_static_csp(pl_str host, char *out, size_t cap);

typedef struct gw_conn gw_conn;
typedef struct gw_request gw_request;

/* Answers r if its path is one of the client's files (GET and HEAD; 405
 * for other methods) and returns true; returns false, having sent
 * nothing, for any other path. */
bool gw_static_route(gw_conn *c, const gw_request *r);

#endif
