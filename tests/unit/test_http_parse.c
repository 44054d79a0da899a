/* test_http_parse.c - request head parser, header lookup, query decoding. */
#include "proto/http_parse.h"
#include "unit.h"

#include <stdlib.h>

static pl_http_request req;

/* Parses from an exact-size heap copy so ASan sees any read past len. */
static int parse_n(const char *s, size_t n)
{
    char *copy = malloc(n ? n : 1);
    int r;

    memcpy(copy, s, n);
    r = pl_http_parse_request(copy, n, &req);
    free(copy);
    return r;
}

static int parse(const char *s)
{
    return pl_http_parse_request(s, strlen(s), &req);
}

static int str_is(pl_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static void test_valid_simple(void)
{
    const char *h = "GET /v1/me HTTP/1.1\r\nHost: example.com\r\n"
                    "Authorization: Bearer abc.def\r\n\r\n";

    CHECK_EQ_INT(parse(h), strlen(h));
    CHECK(str_is(req.method, "GET"));
    CHECK(str_is(req.target, "/v1/me"));
    CHECK(str_is(req.path, "/v1/me"));
    CHECK_EQ_INT(req.query.len, 0);
    CHECK_EQ_INT(req.minor_version, 1);
    CHECK_EQ_INT(req.nheaders, 2);
    CHECK(str_is(req.headers[0].name, "Host"));
    CHECK(str_is(req.headers[0].value, "example.com"));
    CHECK(str_is(req.headers[1].value, "Bearer abc.def"));
}

static void test_valid_variants(void)
{
    const char *h;

    /* Query split, HTTP/1.0, bare LF, trimmed OWS, empty value. */
    h = "POST /a/b?x=1&y=%20 HTTP/1.0\nX-A: \t v a l \t\nX-Empty:\n"
        "X-B:v\n\n";
    CHECK_EQ_INT(parse(h), strlen(h));
    CHECK(str_is(req.method, "POST"));
    CHECK(str_is(req.path, "/a/b"));
    CHECK(str_is(req.query, "x=1&y=%20"));
    CHECK_EQ_INT(req.minor_version, 0);
    CHECK_EQ_INT(req.nheaders, 3);
    CHECK(str_is(req.headers[0].value, "v a l"));
    CHECK(str_is(req.headers[1].value, ""));
    CHECK(str_is(req.headers[2].value, "v"));

    /* Trailing bytes (a body) are not part of the head. */
    h = "PUT / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
    CHECK_EQ_INT(parse(h), strlen(h) - 2);

    /* "?" with empty query; asterisk-form; obs-text in a value; token
     * method with unusual tchars. */
    CHECK_EQ_INT(parse("GET /? HTTP/1.1\r\n\r\n"), 19);
    CHECK(str_is(req.path, "/"));
    CHECK_EQ_INT(req.query.len, 0);
    CHECK(parse("OPTIONS * HTTP/1.1\r\n\r\n") > 0);
    CHECK(str_is(req.target, "*"));
    CHECK(parse("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n") > 0);
    CHECK(str_is(req.headers[0].value, "caf\xc3\xa9"));
    CHECK(parse("M-1!#$%&'*+.^_`|~ / HTTP/1.1\r\n\r\n") > 0);
    CHECK(parse("GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09az:x\r\n\r\n") > 0);

    /* Leading empty lines before the request-line are skipped. */
    h = "\r\n\nGET / HTTP/1.1\r\n\r\n";
    CHECK_EQ_INT(parse(h), strlen(h));
    CHECK(str_is(req.method, "GET"));
}

static void test_incomplete_every_split(void)
{
    const char *heads[] = {
        ("GET /v1/ws?access_token=abc HTTP/1.1\r\nHost: h\r\n"
         "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n"),
        "GET / HTTP/1.0\n\n",
        "\r\nPOST /x HTTP/1.1\r\nA:\r\nB: c\r\n\r\n",
    };

    for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++) {
        size_t n = strlen(heads[k]);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            if (parse_n(heads[k], i) != -2)
                bad++;
        }
        CHECK_EQ_INT(bad, 0);
        CHECK_EQ_INT(parse_n(heads[k], n), n);
    }
}

static void test_malformed(void)
{
    static const char *bad[] = {
        " GET / HTTP/1.1\r\n\r\n",              /* leading space */
        "GET  / HTTP/1.1\r\n\r\n",              /* double space */
        "GET / HTTP/1.1 \r\n\r\n",              /* trailing space */
        "GET /\r\n\r\n",                        /* HTTP/0.9 */
        "GET / HTTP/2.0\r\n\r\n",               /* version */
        "GET / HTTP/1.2\r\n\r\n",
        "GET / http/1.1\r\n\r\n",
        "GET / HTTP/1.10\r\n\r\n",
        "GET x HTTP/1.1\r\n\r\n",               /* not origin-form */
        "GET http://a/ HTTP/1.1\r\n\r\n",       /* absolute-form */
        "GET ** HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",               /* non-token method */
        "GET /a\x01 HTTP/1.1\r\n\r\n",          /* control in target */
        "GET /\x80 HTTP/1.1\r\n\r\n",           /* non-ASCII target */
        "GET /a\rb HTTP/1.1\r\n\r\n",           /* bare CR */
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",   /* space before colon */
        "GET / HTTP/1.1\r\nHost\r\n\r\n",       /* no colon */
        "GET / HTTP/1.1\r\n: x\r\n\r\n",        /* empty name */
        "GET / HTTP/1.1\r\nA(b: x\r\n\r\n",     /* non-token name */
        "GET / HTTP/1.1\r\nA: x\r\n y\r\n\r\n", /* obs-fold */
        "GET / HTTP/1.1\r\nA: x\r\n\ty\r\n\r\n",
        "GET / HTTP/1.1\r\nA: x\x7f\r\n\r\n",   /* DEL */
        "GET / HTTP/1.1\r\nA: x\x1by\r\n\r\n",  /* ESC */
        "GET / HTTP/1.1\r\nA: x\ry\r\n\r\n",    /* bare CR in value */
        "GET / HTTP/1.1\r\nA: x\r\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\r\n",             /* CR CR LF */
        "\x01GET / HTTP/1.1\r\n\r\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse(bad[i]);
        if (r != -1)
            fprintf(stderr, "malformed case %zu parsed as %d\n", i, r);
        CHECK_EQ_INT(r, -1);
    }
    /* NUL in the method, target and a value. */
    CHECK_EQ_INT(parse_n("G\0T / HTTP/1.1\r\n\r\n", 19), -1);
    CHECK_EQ_INT(parse_n("GET /\0 HTTP/1.1\r\n\r\n", 20), -1);
    CHECK_EQ_INT(parse_n("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 24), -1);
    /* An error in a complete line is reported before the head ends. */
    CHECK_EQ_INT(parse("GET / HTTP/1.1\r\nBad Name: x\r\nMore"), -1);
    CHECK_EQ_INT(parse("GET / HTTP/9.9\r\n"), -1);
}

static void test_header_limit(void)
{
    char buf[4096];
    size_t n = 0;

    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < PL_HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "H%d: %d\r\n", i, i);
    memcpy(buf + n, "\r\n", 3);
    CHECK_EQ_INT(parse(buf), n + 2);
    CHECK_EQ_INT(req.nheaders, PL_HTTP_MAX_HEADERS);
    CHECK(str_is(req.headers[63].name, "H63"));
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "One: more\r\n\r\n");
    CHECK_EQ_INT(parse(buf), -1);
}

static void test_find_header(void)
{
    const pl_http_header *h;

    CHECK(parse("GET / HTTP/1.1\r\nContent-Length: 5\r\nX-Dup: 1\r\n"
                "x-dup: 2\r\nUpgrade: WebSocket\r\n\r\n") > 0);
    h = pl_http_find_header(&req, "content-length");
    CHECK(h != NULL && str_is(h->value, "5"));
    h = pl_http_find_header(&req, "X-DUP");
    CHECK(h != NULL && str_is(h->value, "1"));
    CHECK(pl_http_find_header(&req, "Content-Lengt") == NULL);
    CHECK(pl_http_find_header(&req, "Content-Length2") == NULL);
    CHECK(pl_http_find_header(&req, "") == NULL);
}

static pl_str mk(const char *s)
{
    pl_str v = {s, strlen(s)};
    return v;
}

static void test_has_token(void)
{
    CHECK(pl_http_has_token(mk("keep-alive, Upgrade"), "upgrade"));
    CHECK(pl_http_has_token(mk("Upgrade"), "upgrade"));
    CHECK(pl_http_has_token(mk(" \tUPGRADE\t ,x"), "upgrade"));
    CHECK(pl_http_has_token(mk("a,,b"), "b"));
    CHECK(pl_http_has_token(mk("a, b ,c"), "b"));
    CHECK(!pl_http_has_token(mk("upgrades"), "upgrade"));
    CHECK(!pl_http_has_token(mk("xupgrade"), "upgrade"));
    CHECK(!pl_http_has_token(mk("up grade"), "upgrade"));
    CHECK(!pl_http_has_token(mk(""), "upgrade"));
    CHECK(!pl_http_has_token(mk("keep-alive"), "upgrade"));
    CHECK(!pl_http_has_token(mk("a,,b"), ""));
    /* Not NUL-terminated: the match must stop at len. */
    CHECK(!pl_http_has_token((pl_str){"upgradeX", 6}, "upgrade"));
    CHECK(pl_http_has_token((pl_str){"a,upgradeX", 9}, "upgrade"));
}

static void test_query_param(void)
{
    char out[16];
    pl_str q = mk("a=1&access_token=x.y-z&name=J%C3%A9r%c3%b4me+X&"
                  "empty=&flag&pct=%41%2b%25&aa=2");

    CHECK_EQ_INT(pl_http_query_param(q, "a", out, sizeof(out)), 1);
    CHECK_STR(out, "1");
    CHECK_EQ_INT(pl_http_query_param(q, "access_token", out, sizeof(out)), 5);
    CHECK_STR(out, "x.y-z");
    CHECK_EQ_INT(pl_http_query_param(q, "name", out, sizeof(out)), 10);
    CHECK_STR(out, "J\xc3\xa9r\xc3\xb4me X");
    CHECK_EQ_INT(pl_http_query_param(q, "empty", out, sizeof(out)), 0);
    CHECK_STR(out, "");
    CHECK_EQ_INT(pl_http_query_param(q, "flag", out, sizeof(out)), 0);
    CHECK_EQ_INT(pl_http_query_param(q, "pct", out, sizeof(out)), 3);
    CHECK_STR(out, "A+%");
    CHECK_EQ_INT(pl_http_query_param(q, "aa", out, sizeof(out)), 1);
    CHECK_STR(out, "2");
    CHECK_EQ_INT(pl_http_query_param(q, "missing", out, sizeof(out)), -1);
    CHECK_EQ_INT(pl_http_query_param(q, "acc", out, sizeof(out)), -1);
    CHECK_EQ_INT(pl_http_query_param(mk(""), "a", out, sizeof(out)), -1);

    /* First occurrence wins; keys match case-sensitively. */
    CHECK_EQ_INT(pl_http_query_param(mk("k=1&k=2"), "k", out, 16), 1);
    CHECK_STR(out, "1");
    CHECK_EQ_INT(pl_http_query_param(mk("K=1"), "k", out, 16), -1);

    /* Malformed escapes, %00, and values that do not fit. */
    CHECK_EQ_INT(pl_http_query_param(mk("k=%"), "k", out, 16), -2);
    CHECK_EQ_INT(pl_http_query_param(mk("k=%4"), "k", out, 16), -2);
    CHECK_EQ_INT(pl_http_query_param(mk("k=%4g"), "k", out, 16), -2);
    CHECK_EQ_INT(pl_http_query_param(mk("k=%g4&x=1"), "k", out, 16), -2);
    CHECK_EQ_INT(pl_http_query_param(mk("k=a%00b"), "k", out, 16), -2);
    CHECK_EQ_INT(pl_http_query_param((pl_str){"k=a\0b", 5}, "k", out, 16), -2);
    CHECK_EQ_INT(pl_http_query_param(mk("k=123"), "k", out, 4), 3);
    CHECK_EQ_INT(pl_http_query_param(mk("k=1234"), "k", out, 4), -2);
    CHECK_EQ_INT(pl_http_query_param(mk("k=%41%41%41"), "k", out, 4), 3);
    CHECK_EQ_INT(pl_http_query_param(mk("k="), "k", out, 0), -2);
    CHECK_EQ_INT(pl_http_query_param(mk("k="), "k", out, 1), 0);
    /* A malformed value elsewhere does not matter. */
    CHECK_EQ_INT(pl_http_query_param(mk("x=%zz&k=v"), "k", out, 16), 1);
    /* Not NUL-terminated: decoding stops at len. */
    CHECK_EQ_INT(pl_http_query_param((pl_str){"k=abc", 3}, "k", out, 16), 1);
    CHECK_STR(out, "a");
    CHECK_EQ_INT(pl_http_query_param((pl_str){"k=%41", 4}, "k", out, 16), -2);
}

static void test_query_from_request(void)
{
    char tok[64];

    CHECK(parse("GET /v1/ws?access_token=eyJ.a%2Eb HTTP/1.1\r\n\r\n") > 0);
    CHECK_EQ_INT(pl_http_query_param(req.query, "access_token", tok,
                                     sizeof(tok)), 7);
    CHECK_STR(tok, "eyJ.a.b");
    CHECK(parse("GET /v1/ws HTTP/1.1\r\n\r\n") > 0);
    CHECK_EQ_INT(pl_http_query_param(req.query, "access_token", tok,
                                     sizeof(tok)), -1);
}

int main(void)
{
    test_valid_simple();
    test_valid_variants();
    test_incomplete_every_split();
    test_malformed();
    test_header_limit();
    test_find_header();
    test_has_token();
    test_query_param();
    test_query_from_request();
    UNIT_DONE();
}
