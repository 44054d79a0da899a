/* fuzz_http.c - libFuzzer target for the HTTP request head parser.
 *
 * Invariants: results are -2, -1 or a head length within the input; every
 * pl_str points inside the head; names are tokens, values are trimmed and
 * free of control characters; a prefix of the input never parses to a
 * different head (monotonic); lookups and query decoding stay in bounds. */
#include "proto/http_parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)      \
    do {                \
        if (!(c))       \
            abort();    \
    } while (0)

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7F;
}

static void check_inside(pl_str s, const char *buf, size_t n)
{
    REQUIRE(s.p >= buf && s.p <= buf + n);
    REQUIRE(s.len <= (size_t)(buf + n - s.p));
}

static int parse_copy(const uint8_t *data, size_t n, pl_http_request *req)
{
    char *copy = malloc(n ? n : 1);
    int r;

    memcpy(copy, data, n);
    r = pl_http_parse_request(copy, n, req);
    free(copy);
    return r;
}

static void check_request(const pl_http_request *req, const char *buf,
                          size_t r)
{
    REQUIRE(buf[r - 1] == '\n');
    REQUIRE(req->minor_version == 0 || req->minor_version == 1);
    REQUIRE(req->method.len > 0);
    check_inside(req->method, buf, r);
    for (size_t i = 0; i < req->method.len; i++)
        REQUIRE(is_tchar((unsigned char)req->method.p[i]));
    check_inside(req->target, buf, r);
    check_inside(req->path, buf, r);
    check_inside(req->query, buf, r);
    REQUIRE(req->target.len > 0);
    REQUIRE(req->target.p[0] == '/' ||
            (req->target.len == 1 && req->target.p[0] == '*'));
    for (size_t i = 0; i < req->target.len; i++) {
        unsigned char c = (unsigned char)req->target.p[i];
        REQUIRE(c > 0x20 && c < 0x7F);
    }
    REQUIRE(req->path.p == req->target.p);
    if (req->path.len == req->target.len)
        REQUIRE(req->query.len == 0);
    else
        REQUIRE(req->path.len + 1 + req->query.len == req->target.len &&
                req->target.p[req->path.len] == '?');
    REQUIRE(memchr(req->path.p, '?', req->path.len) == NULL);
    REQUIRE(req->nheaders <= PL_HTTP_MAX_HEADERS);
}

static void check_header(const pl_http_request *req, size_t idx,
                         const char *buf, size_t r)
{
    const pl_http_header *h = &req->headers[idx];
    const pl_http_header *found;
    char name[256];

    check_inside(h->name, buf, r);
    check_inside(h->value, buf, r);
    REQUIRE(h->name.len > 0);
    for (size_t i = 0; i < h->name.len; i++)
        REQUIRE(is_tchar((unsigned char)h->name.p[i]));
    for (size_t i = 0; i < h->value.len; i++)
        REQUIRE(!is_ctl((unsigned char)h->value.p[i]));
    if (h->value.len > 0) {
        REQUIRE(h->value.p[0] != ' ' && h->value.p[0] != '\t');
        REQUIRE(h->value.p[h->value.len - 1] != ' ' &&
                h->value.p[h->value.len - 1] != '\t');
    }
    if (h->name.len >= sizeof(name))
        return;
    memcpy(name, h->name.p, h->name.len);
    name[h->name.len] = '\0';
    found = pl_http_find_header(req, name);
    REQUIRE(found != NULL && found <= h && found >= req->headers);
    REQUIRE(found->name.len == h->name.len &&
            strncasecmp(found->name.p, name, h->name.len) == 0);
}

/* A token copied out of the value must be found in it. */
static void check_has_token(pl_str v)
{
    char tok[64];
    size_t s = 0, e;

    (void)pl_http_has_token(v, "upgrade");
    (void)pl_http_has_token(v, "");
    while (s < v.len && (v.p[s] == ' ' || v.p[s] == '\t'))
        s++;
    e = s;
    while (e < v.len && v.p[e] != ',')
        e++;
    while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
        e--;
    if (e == s || e - s >= sizeof(tok))
        return;
    memcpy(tok, v.p + s, e - s);
    tok[e - s] = '\0';
    if (strlen(tok) != e - s)
        return; /* embedded NUL: not expressible as a C token */
    REQUIRE(pl_http_has_token(v, tok) == 1);
}

static void check_query(pl_str q, const char *name, size_t cap)
{
    char *out = malloc(cap ? cap : 1);
    long r = pl_http_query_param(q, name, out, cap);

    REQUIRE(r >= -2);
    if (r >= 0) {
        REQUIRE((size_t)r < cap);
        REQUIRE(out[r] == '\0');
        REQUIRE(strlen(out) == (size_t)r);
    }
    free(out);
}

/* The first key of a query, as a C string (empty if none). */
static void first_key(pl_str q, char *out, size_t cap)
{
    size_t n = 0;

    while (n < q.len && n + 1 < cap && q.p[n] != '=' && q.p[n] != '&' &&
           q.p[n] != '\0')
        n++;
    memcpy(out, q.p, n);
    out[n] = '\0';
}

static void check_queries(pl_str q, size_t cap)
{
    char key[64];

    first_key(q, key, sizeof(key));
    check_query(q, "access_token", cap);
    check_query(q, "limit", cap);
    check_query(q, key, cap);
    check_query(q, key, 4096);
}

/* Prefix lengths to re-parse: all of them for small inputs. */
static int want_prefix(size_t k, size_t size)
{
    return size <= 512 || k < 64 || size - k < 64 || k % 97 == 0;
}

static void check_prefixes(const uint8_t *data, size_t size, int r)
{
    pl_http_request req;

    for (size_t k = 0; k < size; k++) {
        int rk;
        if (!want_prefix(k, size))
            continue;
        rk = parse_copy(data, k, &req);
        if (r > 0)
            REQUIRE(k < (size_t)r ? rk == -2 : rk == r);
        else if (r == -1)
            REQUIRE(rk == -2 || rk == -1);
        else
            REQUIRE(rk == -2);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pl_http_request req;
    char *buf = malloc(size ? size : 1);
    int r;

    memcpy(buf, data, size);
    r = pl_http_parse_request(buf, size, &req);
    REQUIRE(r == -1 || r == -2 || (r > 0 && (size_t)r <= size));
    if (r > 0) {
        check_request(&req, buf, (size_t)r);
        for (size_t i = 0; i < req.nheaders; i++) {
            check_header(&req, i, buf, (size_t)r);
            check_has_token(req.headers[i].value);
        }
        check_queries(req.query, size ? data[0] % 40 : 0);
    }
    check_prefixes(data, size, r);
    /* The raw input as a query string: arbitrary bytes, NULs included. */
    {
        pl_str q = {buf, size};
        check_queries(q, size > 1 ? data[1] % 40 : 1);
    }
    free(buf);
    return 0;
}
