/* test_timeutil.c - RFC 3339 formatting/parsing and the clocks. */
#include "core/timeutil.h"

#include <stdlib.h>

#include "unit.h"

#define T0 1795500231123LL /* 2026-11-24T06:03:51.123Z */

static pl_status parse(const char *s, int64_t *ms)
{
    return pl_time_parse(s, strlen(s), ms);
}

static void test_fmt(void)
{
    char buf[PL_TIME_STRLEN + 1];

    CHECK_STR(pl_time_fmt(T0, buf), "2026-11-24T06:03:51.123Z");
    CHECK_EQ_INT(strlen(buf), PL_TIME_STRLEN);
    CHECK_STR(pl_time_fmt(0, buf), "1970-01-01T00:00:00.000Z");
    CHECK_STR(pl_time_fmt(-1, buf), "1969-12-31T23:59:59.999Z");
    CHECK_STR(pl_time_fmt(951782400007LL, buf), "2000-02-29T00:00:00.007Z");
    CHECK_STR(pl_time_fmt(253402300799999LL, buf), "9999-12-31T23:59:59.999Z");
    /* out-of-range values clamp instead of overflowing the buffer */
    CHECK_STR(pl_time_fmt(INT64_MAX, buf), "9999-12-31T23:59:59.999Z");
    CHECK_STR(pl_time_fmt(INT64_MIN, buf), "0000-01-01T00:00:00.000Z");
}

static void test_parse_ok(void)
{
    int64_t ms = 0;

    CHECK_EQ_INT(parse("2026-11-24T06:03:51.123Z", &ms), PL_OK);
    CHECK_EQ_INT(ms, T0);
    CHECK_EQ_INT(parse("2026-11-24T06:03:51Z", &ms), PL_OK);
    CHECK_EQ_INT(ms, T0 - 123);
    CHECK_EQ_INT(parse("2026-11-24t06:03:51.1z", &ms), PL_OK);
    CHECK_EQ_INT(ms, T0 - 23);
    /* digits beyond milliseconds are truncated */
    CHECK_EQ_INT(parse("2026-11-24T06:03:51.123999999Z", &ms), PL_OK);
    CHECK_EQ_INT(ms, T0);
    CHECK_EQ_INT(parse("2026-11-24T08:03:51.123+02:00", &ms), PL_OK);
    CHECK_EQ_INT(ms, T0);
    CHECK_EQ_INT(parse("2026-11-23T23:33:51.123-06:30", &ms), PL_OK);
    CHECK_EQ_INT(ms, T0);
    CHECK_EQ_INT(parse("2026-11-24T06:03:51.123+00:00", &ms), PL_OK);
    CHECK_EQ_INT(ms, T0);
    CHECK_EQ_INT(parse("2024-02-29T00:00:00Z", &ms), PL_OK);
    CHECK_EQ_INT(parse("1969-12-31T23:59:59.999Z", &ms), PL_OK);
    CHECK_EQ_INT(ms, -1);
    /* len bounds the input: trailing bytes beyond it are not looked at */
    CHECK_EQ_INT(pl_time_parse("2026-11-24T06:03:51.123Zjunk", 24, &ms), PL_OK);
    CHECK_EQ_INT(ms, T0);
}

static void test_parse_rejects(void)
{
    static const char *bad[] = {
        "",
        "2026-11-24",
        "2026-11-24T06:03:51",          /* no zone */
        "2026-11-24T06:03:51.Z",        /* empty fraction */
        "2026-11-24T06:03:51.1234567890Z", /* 10 fraction digits */
        "2026-11-24 06:03:51Z",
        "2026-13-24T06:03:51Z",
        "2026-00-24T06:03:51Z",
        "2026-11-31T06:03:51Z",
        "2025-02-29T06:03:51Z",         /* not a leap year */
        "1900-02-29T06:03:51Z",
        "2026-11-24T24:00:00Z",
        "2026-11-24T06:60:00Z",
        "2026-11-24T06:03:61Z",
        "2026-11-24T06:03:51+2:00",
        "2026-11-24T06:03:51+24:00",
        "2026-11-24T06:03:51+02:60",
        "2026-11-24T06:03:51+0200",
        "2026-11-24T06:03:51ZZ",
        "2026-11-24T06:03:51.123Z ",
        " 2026-11-24T06:03:51.123Z",
        "+026-11-24T06:03:51Z",
        "2026-1a-24T06:03:51Z",
    };
    int64_t ms = 42;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pl_status st = parse(bad[i], &ms);
        if (st != PL_ERR_INVALID)
            fprintf(stderr, "accepted: '%s'\n", bad[i]);
        CHECK_EQ_INT(st, PL_ERR_INVALID);
    }
    CHECK_EQ_INT(ms, 42);
    /* a truncated len must fail, never read on */
    CHECK_EQ_INT(pl_time_parse("2026-11-24T06:03:51.123Z", 23, &ms),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_time_parse("2026-11-24T06:03:51.123Z", 0, &ms),
                 PL_ERR_INVALID);
}

static void test_round_trip(void)
{
    char buf[PL_TIME_STRLEN + 1];
    int64_t back = 0;

    for (int64_t ms = -86400000LL * 800; ms < 4102444800000LL;
         ms += 86399999LL * 37 + 7) {
        pl_time_fmt(ms, buf);
        CHECK_EQ_INT(pl_time_parse(buf, strlen(buf), &back), PL_OK);
        CHECK_EQ_INT(back, ms);
    }
}

static void test_clocks(void)
{
    int64_t now = pl_now_ms();
    int64_t m1 = pl_mono_ms();
    uint64_t n1 = pl_mono_ns();

    CHECK(now > 1700000000000LL); /* after 2023 */
    CHECK(m1 >= 0);
    uint64_t n2 = pl_mono_ns();
    CHECK(n2 >= n1);
    CHECK(pl_mono_ms() >= m1);
    CHECK(pl_now_ms() >= now);
}

int main(void)
{
    test_fmt();
    test_parse_ok();
    test_parse_rejects();
    test_round_trip();
    test_clocks();
    UNIT_DONE();
}
