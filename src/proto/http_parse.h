/* http_parse.h - zero-copy HTTP/1.1 request head parser (picohttpparser-shaped).
 *
 * Nothing is copied: method, path and header names/values point into the
 * caller's buffer. The parser is stateless: call it again with the whole
 * buffer when more bytes arrive (heads are small and bounded). */
#ifndef PL_HTTP_PARSE_H
#define PL_HTTP_PARSE_H

#include <stddef.h>

#define PL_HTTP_MAX_HEADERS 64

typedef struct pl_str {
    const char *p;
    size_t len;
} pl_str;

typedef struct pl_http_header {
    pl_str name;
    pl_str value; /* leading/trailing spaces and tabs trimmed */
} pl_http_header;

typedef struct pl_http_request {
    pl_str method;
    pl_str target;   /* raw request-target, e.g. "/v1/x?a=b" */
    pl_str path;     /* target up to '?' */
    pl_str query;    /* after '?', empty if none */
    int minor_version; /* 0 or 1 (HTTP/1.x only) */
    pl_http_header headers[PL_HTTP_MAX_HEADERS];
    size_t nheaders;
} pl_http_request;

/* Parses a request head from buf[0..len).
 * Returns the head length in bytes (> 0, including the final CRLFCRLF),
 *  -2 if the head is incomplete (need more bytes),
 *  -1 on a malformed head (bad request line, bad token characters, control
 *     characters in values, more than PL_HTTP_MAX_HEADERS headers, a version
 *     other than HTTP/1.0 or HTTP/1.1, obsolete line folding).
 * Accepts CRLF and bare LF line endings. */
int pl_http_parse_request(const char *buf, size_t len, pl_http_request *req);

/* Case-insensitive header lookup; NULL if absent (first match). */
const pl_http_header *pl_http_find_header(const pl_http_request *req,
                                          const char *name);
/* 1 if the comma-separated header value contains token (case-insensitive),
 * e.g. pl_http_has_token(v, "upgrade") for "Connection: keep-alive, Upgrade". */
int pl_http_has_token(pl_str value, const char *token);

/* Finds query parameter name in a raw query string and percent-decodes its
 * value into out (cap bytes, NUL-terminated). Returns decoded length, -1 if
 * absent, -2 if malformed or too long. '+' decodes to space. */
long pl_http_query_param(pl_str query, const char *name, char *out, size_t cap);

#endif
