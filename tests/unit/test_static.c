/* test_static.c - the embedded client's table, If-None-Match matching and
 * the Content-Security-Policy builder (gw_static.c). Serving itself is
 * tested black-box (tests/blackbox/test_web.py). */
#include "roles/gw_static.h"
#include "unit.h"

#include <stdlib.h>

static pl_str S(const char *s)
{
    return (pl_str){s, strlen(s)};
}

/* Matches from an exact-size heap copy so ASan sees any read past len. */
static bool matches(const char *v, const char *etag)
{
    size_t n = strlen(v);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, v, n);
    bool r = gw_static_etag_matches((pl_str){copy, n}, etag);
    free(copy);
    return r;
}

static void test_table(void)
{
    const pl_web_asset *index = gw_static_find(S("/"));
    CHECK(index != NULL);
    if (index) {
        CHECK_STR(index->ctype, "text/html; charset=utf-8");
        CHECK(index->len > 0);
        CHECK_EQ_INT(strlen(index->etag), 18); /* "16 hex digits" */
        CHECK(index->etag[0] == '"' && index->etag[17] == '"');
    }
    const pl_web_asset *js = gw_static_find(S("/js/app.js"));
    CHECK(js != NULL);
    if (js)
        CHECK_STR(js->ctype, "text/javascript; charset=utf-8");
    CHECK(gw_static_find(S("/index.html")) == NULL);
    CHECK(gw_static_find(S("")) == NULL);
    CHECK(gw_static_find(S("/js/app.j")) == NULL);
    CHECK(gw_static_find(S("/js/app.jsx")) == NULL);
    CHECK(gw_static_find((pl_str){"/js/app.js", 3}) == NULL); /* "/js" */
    for (size_t i = 0; i < pl_web_nassets; i++) {
        CHECK(pl_web_assets[i].path[0] == '/');
        CHECK(gw_static_find(S(pl_web_assets[i].path)) == &pl_web_assets[i]);
    }
}

static void test_etag_matches(void)
{
    const char *t = "\"0123456789abcdef\"";
    CHECK(matches("\"0123456789abcdef\"", t));
    CHECK(matches("W/\"0123456789abcdef\"", t));
    CHECK(matches("*", t));
    CHECK(matches("\"a\", \"0123456789abcdef\"", t));
    CHECK(matches("\"a\",\"0123456789abcdef\" , \"b\"", t));
    CHECK(matches(" \t\"0123456789abcdef\"\t ", t));
    CHECK(!matches("", t));
    CHECK(!matches(",,, ,", t));
    CHECK(!matches("\"0123456789abcde\"", t));
    CHECK(!matches("\"0123456789abcdef", t));
    CHECK(!matches("0123456789abcdef", t));
    CHECK(!matches("W/", t));
    CHECK(!matches("W/*", t));
    CHECK(!matches("**", t));
    CHECK(!matches("\"0123456789ABCDEF\"", t)); /* opaque: case matters */
}

static void test_csp(void)
{
    char out[768];
    int n = gw_static_csp(S("127.0.0.1:8080"), out, sizeof(out));
    CHECK(n > 0 && (size_t)n == strlen(out));
    CHECK(strstr(out, "default-src 'self';") != NULL);
    CHECK(strstr(
              out,
              "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;") !=
          NULL);
    CHECK(strstr(out, "frame-ancestors 'none'") != NULL);
    CHECK(gw_static_csp(S("[::1]:80"), out, sizeof(out)) > 0);
    CHECK(strstr(out, "ws://[::1]:80 ") != NULL);
    /* anything but a plain host[:port] is left out */
    const char *bad[] = {"", "a b", "a;b", "a\"b", "a,b", "x/y", "a'b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(gw_static_csp(S(bad[i]), out, sizeof(out)) > 0);
        CHECK(strstr(out, "connect-src 'self';") != NULL);
    }
    char host[300];
    memset(host, 'a', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    CHECK(gw_static_csp(S(host), out, sizeof(out)) >
          0); /* over 255: left out */
    CHECK(strstr(out, "connect-src 'self';") != NULL);
    CHECK(gw_static_csp(S("h"), out, 20) == -1); /* too small: refused */
}

int main(void)
{
    test_table();
    test_etag_matches();
    test_csp();
    UNIT_DONE();
}
