/* test_uuid.c - UUID formatting, parsing and v4/v7 bit layout. */
#include "core/uuid.h"

#include <stdlib.h>

#include "unit.h"

static int version_of(const pl_uuid *u)
{
    return u->b[6] >> 4;
}

static int variant_ok(const pl_uuid *u)
{
    return (u->b[8] & 0xc0) == 0x80;
}

static void test_fmt_parse_round_trip(void)
{
    static const char canon[] = "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6";
    char buf[PL_UUID_STRLEN + 1];
    pl_uuid u, v;

    CHECK_EQ_INT(pl_uuid_parse(canon, 36, &u), PL_OK);
    CHECK_EQ_INT(u.b[0], 0x01);
    CHECK_EQ_INT(u.b[15], 0xa6);
    CHECK_STR(pl_uuid_fmt(&u, buf), canon);
    CHECK_EQ_INT(strlen(buf), PL_UUID_STRLEN);
    /* upper case parses to the same value; output is lower case */
    CHECK_EQ_INT(pl_uuid_parse("0192F3A4-5B6C-7D8E-9FA0-B1C2D3E4F5A6", 36, &v),
                 PL_OK);
    CHECK(pl_uuid_eq(&u, &v));
    CHECK_EQ_INT(pl_uuid_cmp(&u, &v), 0);
    for (int i = 0; i < 100; i++) {
        pl_uuid_v4(&u);
        pl_uuid_fmt(&u, buf);
        CHECK_EQ_INT(pl_uuid_parse(buf, strlen(buf), &v), PL_OK);
        CHECK(pl_uuid_eq(&u, &v));
    }
}

static void test_parse_rejects(void)
{
    static const char *bad[] = {
        "",
        "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a",    /* 35 */
        "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6a",  /* 37 */
        "0192f3a405b6c-7d8e-9fa0-b1c2d3e4f5a6",   /* hyphen missing */
        "0192f3a4-5b6c-7d8e-9fa0b-1c2d3e4f5a6",   /* hyphen misplaced */
        "0192f3g4-5b6c-7d8e-9fa0-b1c2d3e4f5a6",   /* not hex */
        "{192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a}",
        "0192f3a4 5b6c 7d8e 9fa0 b1c2d3e4f5a6",
        "0192f3a45b6c7d8e9fa0b1c2d3e4f5a6",       /* no hyphens */
        "+192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6",
    };
    pl_uuid u;

    memset(&u, 0xee, sizeof u);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(pl_uuid_parse(bad[i], strlen(bad[i]), &u),
                     PL_ERR_INVALID);
    CHECK_EQ_INT(u.b[0], 0xee); /* untouched on failure */
    CHECK_EQ_INT(pl_uuid_parse(NULL, 36, &u), PL_ERR_INVALID);
    /* len is authoritative: a valid prefix of a longer buffer parses, and
     * a short len of a valid string does not */
    CHECK_EQ_INT(pl_uuid_parse("0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6xyz", 36,
                               &u), PL_OK);
    CHECK_EQ_INT(pl_uuid_parse("0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6", 30, &u),
                 PL_ERR_INVALID);
    /* embedded NUL */
    CHECK_EQ_INT(pl_uuid_parse("0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5\0" "6", 36,
                               &u), PL_ERR_INVALID);
}

static void test_v4_bits(void)
{
    pl_uuid a, b;

    pl_uuid_v4(&a);
    pl_uuid_v4(&b);
    CHECK_EQ_INT(version_of(&a), 4);
    CHECK(variant_ok(&a));
    CHECK(!pl_uuid_eq(&a, &b));
    CHECK(!pl_uuid_is_nil(&a));
}

static void test_v7_bits_and_order(void)
{
    const int64_t ms = 1795500231123LL; /* 2026-11-24T06:03:51.123Z */
    char buf[PL_UUID_STRLEN + 1];
    pl_uuid a, b, prev;
    int64_t got = 0;

    pl_uuid_v7(&a, ms);
    CHECK_EQ_INT(version_of(&a), 7);
    CHECK(variant_ok(&a));
    for (int i = 0; i < 6; i++)
        got = got << 8 | a.b[i];
    CHECK_EQ_INT(got, ms);
    pl_uuid_fmt(&a, buf);
    CHECK_EQ_INT(buf[14], '7');
    CHECK(strchr("89ab", buf[19]) != NULL);
    /* ids of later milliseconds sort after earlier ones, whatever the
     * random tail */
    pl_uuid_v7(&prev, ms);
    for (int i = 1; i <= 1000; i++) {
        pl_uuid_v7(&b, ms + i);
        CHECK(pl_uuid_cmp(&prev, &b) < 0);
        CHECK(pl_uuid_cmp(&b, &prev) > 0);
        prev = b;
    }
    /* same millisecond: random tails differ */
    pl_uuid_v7(&b, ms);
    CHECK(!pl_uuid_eq(&a, &b));
    CHECK_EQ_INT(memcmp(a.b, b.b, 6), 0);
}

static void test_nil_cmp_hash(void)
{
    pl_uuid nil, a, b;

    memset(&nil, 0, sizeof nil);
    CHECK(pl_uuid_is_nil(&nil));
    CHECK_EQ_INT(pl_uuid_parse("00000000-0000-0000-0000-000000000000", 36, &a),
                 PL_OK);
    CHECK(pl_uuid_is_nil(&a));
    CHECK_EQ_INT(pl_uuid_parse("00000000-0000-0000-0000-000000000001", 36, &b),
                 PL_OK);
    CHECK(!pl_uuid_is_nil(&b));
    CHECK_EQ_INT(pl_uuid_cmp(&a, &b), -1);
    CHECK_EQ_INT(pl_uuid_cmp(&b, &a), 1);
    CHECK(pl_uuid_hash(&a) != pl_uuid_hash(&b));
    CHECK(pl_uuid_hash(&b) == pl_uuid_hash(&b));
    /* v7 ids of one millisecond must not collide in a hash table's low
     * bits just because they share a timestamp */
    int distinct = 0;
    uint64_t first = 0;
    for (int i = 0; i < 64; i++) {
        pl_uuid_v7(&a, 1795500231123LL);
        uint64_t h = pl_uuid_hash(&a) & 1023;
        if (i == 0)
            first = h;
        else if (h != first)
            distinct++;
    }
    CHECK(distinct > 50);
}

int main(void)
{
    test_fmt_parse_round_trip();
    test_parse_rejects();
    test_v4_bits();
    test_v7_bits_and_order();
    test_nil_cmp_hash();
    UNIT_DONE();
}
