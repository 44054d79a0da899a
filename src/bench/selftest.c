/* selftest.c - `parley-bench selftest`: checks of the pieces whose bugs
 * would silently skew every figure (the histogram, the JSON field scanner,
 * URL checks). Prints "N passed, M failed"; exit status 1 on a failure. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/hist.h"
#include "bench/jscan.h"

static int passed, failed;

#define T_CHECK(cond)                                                          \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            fprintf(stderr, "selftest %s:%d: %s\n", __FILE__, __LINE__,        \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

/* |got - want| within frac of want. */
static int near(uint64_t got, uint64_t want, double frac)
{
    double d = (double)got - (double)want;
    return (d < 0 ? -d : d) <= frac * (double)want;
}

static void test_hist_buckets(void)
{
    size_t prev = 0;
    for (uint64_t v = 1024; v < 60000000000ull; v += v / 97 + 1) {
        size_t i = bh_index(v);
        T_CHECK(i >= prev && i < BH_BUCKETS);
        T_CHECK(i == BH_BUCKETS - 1 || bh_bucket_low(i) <= v);
        T_CHECK(i == BH_BUCKETS - 1 || bh_bucket_low(i + 1) > v);
        prev = i;
        if (failed > 10)
            return;
    }
    T_CHECK(bh_index(0) == 0 && bh_index(1000) == 0); /* below 1 us */
    T_CHECK(bh_index(UINT64_MAX) == BH_BUCKETS - 1);
}

static void test_hist_quantiles(void)
{
    static bh_hist h, h2;
    bh_init(&h);
    T_CHECK(bh_quantile(&h, 0.5) == 0 && h.count == 0);
    for (uint64_t v = 1; v <= 100000; v++) /* 1 us .. 100 ms, uniform */
        bh_record(&h, v * 1000);
    T_CHECK(h.count == 100000 && h.min == 1000 && h.max == 100000000);
    T_CHECK(near(bh_quantile(&h, 0.5), 50000000, 0.02));
    T_CHECK(near(bh_quantile(&h, 0.99), 99000000, 0.02));
    T_CHECK(near(bh_quantile(&h, 0.999), 99900000, 0.02));
    T_CHECK(bh_quantile(&h, 1.0) == 100000000);
    T_CHECK(bh_quantile(&h, 0.0) >= 1000);
    T_CHECK(near((uint64_t)bh_mean(&h), 50000500, 0.001));
    bh_init(&h2);
    bh_record(&h2, 70000000000ull); /* beyond the range: clamped */
    bh_merge(&h2, &h);
    T_CHECK(h2.count == 100001 && h2.max == 70000000000ull);
    T_CHECK(bh_quantile(&h2, 1.0) == 70000000000ull);
    T_CHECK(near(bh_quantile(&h2, 0.5), 50000000, 0.02));
}

static void test_jscan(void)
{
    const char *f = "{\"type\":\"ack\",\"nested\":{\"type\":\"x\",\"a\":[1,"
                    "{\"b\":\"}\"}]},\"esc\":\"a\\\"b\",\"seq\":42,"
                    "\"client_msg_id\":\"d0.7\",\"neg\":-3,\"t\":true}";
    js_val v;
    T_CHECK(js_get(f, strlen(f), "type", &v) == 1 && js_eq(&v, "ack"));
    T_CHECK(js_get(f, strlen(f), "seq", &v) == 1 && js_int(&v) == 42);
    T_CHECK(js_get(f, strlen(f), "client_msg_id", &v) == 1 &&
            js_eq(&v, "d0.7"));
    T_CHECK(js_get(f, strlen(f), "esc", &v) == 1 && v.len == 4);
    T_CHECK(js_get(f, strlen(f), "neg", &v) == 1 && js_int(&v) == -1);
    T_CHECK(js_get(f, strlen(f), "t", &v) == 1 && !v.is_str && v.len == 4);
    T_CHECK(js_get(f, strlen(f), "b", &v) == 0); /* nested: not top level */
    T_CHECK(js_get(f, strlen(f), "missing", &v) == 0);
    T_CHECK(js_get(f, 20, "seq", &v) == -1); /* truncated */
    T_CHECK(js_get("[1]", 3, "a", &v) == -1);
    T_CHECK(js_get("{\"a\" 1}", 7, "a", &v) == -1);
    T_CHECK(js_get("{}", 2, "a", &v) == 0);
    T_CHECK(js_get(" { \"a\" : \"\" } ", 14, "a", &v) == 1 && v.len == 0);
    js_val s = {"12", 2, 1};
    T_CHECK(js_int(&s) == -1); /* a string is not an integer */
}

static void test_url(void)
{
    bench_target t;
    char err[BENCH_ERRLEN];
    T_CHECK(bench_parse_url("http://127.0.0.1:8080", &t, err, sizeof(err)) ==
            PL_OK);
    T_CHECK(strcmp(t.hostport, "127.0.0.1:8080") == 0);
    T_CHECK(bench_parse_url("http://localhost:9", &t, err, sizeof(err)) ==
            PL_OK);
    T_CHECK(bench_parse_url("http://127.9.8.7/", &t, err, sizeof(err)) ==
            PL_OK);
    T_CHECK(bench_parse_url("http://10.0.0.1:80", &t, err, sizeof(err)) !=
            PL_OK);
    T_CHECK(bench_parse_url("http://example.com", &t, err, sizeof(err)) !=
            PL_OK);
    T_CHECK(bench_parse_url("https://127.0.0.1", &t, err, sizeof(err)) !=
            PL_OK);
    T_CHECK(bench_parse_url("http://127.0.0.1:0", &t, err, sizeof(err)) !=
            PL_OK);
    T_CHECK(bench_parse_url("http://127.0.0.1:80/x", &t, err, sizeof(err)) !=
            PL_OK);
}

int bench_selftest(void)
{
    test_hist_buckets();
    test_hist_quantiles();
    test_jscan();
    test_url();
    printf("selftest: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
