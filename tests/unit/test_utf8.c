/* test_utf8.c - strict UTF-8 validation, one-shot and incremental. */
#include "proto/utf8.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>

/* Verdicts of the reference checker. */
enum { R_VALID, R_INVALID, R_PARTIAL };

/* 1 if some code point in [lo, hi] is a valid scalar that needs exactly
 * `need` continuation bytes (so the encoding is not overlong). */
static int range_ok(uint32_t lo, uint32_t hi, int need)
{
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    static const uint32_t max[4] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

    if (lo < min[need])
        lo = min[need];
    if (hi > max[need])
        hi = max[need];
    if (lo > hi)
        return 0;
    /* Entirely inside the surrogate block? */
    return !(lo >= 0xD800 && hi <= 0xDFFF);
}

/* Independent reference: decodes code points instead of using a DFA.
 * R_PARTIAL means the input ends inside a sequence that can still become
 * valid. */
static int ref_check(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        int need, k;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC0 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF7) {
            need = 3;
            cp = c & 0x07;
        } else {
            return R_INVALID;
        }
        for (k = 1; k <= need && i + (size_t)k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return R_INVALID;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        {
            int rem = need - (k - 1);
            uint32_t lo = cp << (6 * rem);
            uint32_t hi = lo | ((1u << (6 * rem)) - 1);
            if (!range_ok(lo, hi, need))
                return R_INVALID;
            if (rem > 0)
                return R_PARTIAL;
        }
        i += (size_t)need + 1;
    }
    return R_VALID;
}

static int verdict(uint32_t st)
{
    if (st == PL_UTF8_ACCEPT)
        return R_VALID;
    return st == PL_UTF8_REJECT ? R_INVALID : R_PARTIAL;
}

static int valid_n(const char *s, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    int r;

    memcpy(copy, s, n);
    r = pl_utf8_valid(copy, n);
    free(copy);
    return r;
}

static int valid(const char *s)
{
    return valid_n(s, strlen(s));
}

/* Splitting at every byte (once and twice) must not change the verdict. */
static int split_mismatches(const uint8_t *s, size_t n)
{
    uint32_t whole = pl_utf8_feed(PL_UTF8_ACCEPT, s, n);
    int bad = 0;

    for (size_t i = 0; i <= n; i++) {
        uint32_t st = pl_utf8_feed(PL_UTF8_ACCEPT, s, i);
        if (pl_utf8_feed(st, s + i, n - i) != whole)
            bad++;
        for (size_t j = i; j <= n && j < i + 5; j++) {
            uint32_t t = pl_utf8_feed(st, s + i, j - i);
            if (pl_utf8_feed(t, s + j, n - j) != whole)
                bad++;
        }
    }
    return bad;
}

static const char *kuhn_valid[] = {
    "", "a", "hello, world",
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", /* kosme */
    "\x00", "\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xef\xbf\xbf",
    "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",           /* U+10000, U+10FFFF */
    "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd",   /* D7FF E000 FFFD */
    "\xef\xbf\xbe", "\xf0\x9f\x98\x80 ok",           /* FFFE, emoji */
};

static const char *kuhn_invalid[] = {
    "\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80",      /* lone continuation */
    "\xc0 ", "\xe0 ", "\xf0 ", "\xf8 ", "\xfc ",    /* lead then space */
    "\xc2", "\xe0\xa0", "\xf0\x90\x80", "\xdf",      /* truncated at end */
    "\xe2\x82\xac\xe2\x82",                          /* euro + truncated */
    "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf",  /* overlong '/' */
    "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf",
    "\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf",  /* max overlongs */
    "\xc0\x80", "\xe0\x80\x80",                      /* overlong NUL */
    "\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80",  /* surrogates */
    "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf",
    "\xed\xa0\x80\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf", /* pairs */
    "\xf4\x90\x80\x80", "\xf7\xbf\xbf\xbf",          /* > U+10FFFF */
    "\xf5\x80\x80\x80", "\xfe", "\xff", "\xfe\xfe\xff\xff",
    "a\xc3", "\xc3\x28", "\xe2\x28\xa1", "\xf0\x28\x8c\xbc",
    "\xf0\x90\x28\xbc", "\xe1\x80\xe2\xf0\x91\x92\xf1\xbf\x41",
};

static void test_kuhn_cases(void)
{
    for (size_t i = 0; i < sizeof(kuhn_valid) / sizeof(*kuhn_valid); i++) {
        const char *s = kuhn_valid[i];
        size_t n = (i == 4) ? 1 : strlen(s);  /* case 4 is a lone NUL */
        CHECK(valid_n(s, n));
        CHECK_EQ_INT(split_mismatches((const uint8_t *)s, n), 0);
    }
    for (size_t i = 0; i < sizeof(kuhn_invalid) / sizeof(*kuhn_invalid);
         i++) {
        const char *s = kuhn_invalid[i];
        if (valid(s))
            fprintf(stderr, "invalid case %zu accepted\n", i);
        CHECK(!valid(s));
        CHECK_EQ_INT(split_mismatches((const uint8_t *)s, strlen(s)), 0);
    }
    /* Truncated input is PARTIAL, not REJECT, so the next fragment can
     * complete it. */
    CHECK(pl_utf8_feed(PL_UTF8_ACCEPT, (const uint8_t *)"\xf0\x9f\x98", 3)
          > PL_UTF8_REJECT);
    CHECK_EQ_INT(pl_utf8_feed(PL_UTF8_REJECT, (const uint8_t *)"a", 1),
                 PL_UTF8_REJECT);
    CHECK_EQ_INT(pl_utf8_feed(PL_UTF8_REJECT, NULL, 0), PL_UTF8_REJECT);
    CHECK_EQ_INT(pl_utf8_feed(PL_UTF8_ACCEPT, NULL, 0), PL_UTF8_ACCEPT);
}

static size_t encode(uint32_t cp, int width, uint8_t *o)
{
    switch (width) {
    case 1:
        o[0] = (uint8_t)cp;
        return 1;
    case 2:
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    case 3:
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    default:
        o[0] = (uint8_t)(0xF0 | cp >> 18);
        o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[3] = (uint8_t)(0x80 | (cp & 0x3F));
        return 4;
    }
}

/* Every code point in every width: valid iff shortest form and a scalar. */
static void test_all_code_points(void)
{
    int bad = 0;

    for (uint32_t cp = 0; cp <= 0x1FFFFF; cp++) {
        for (int w = 1; w <= 4; w++) {
            static const uint32_t cap[5] = {0, 0x7F, 0x7FF, 0xFFFF, 0x1FFFFF};
            uint8_t b[4];
            int want, shortest;
            size_t n;

            if (cp > cap[w])
                continue;
            shortest = w == 1 || cp > cap[w - 1];
            want = shortest && cp <= 0x10FFFF &&
                   !(cp >= 0xD800 && cp <= 0xDFFF);
            n = encode(cp, w, b);
            if (pl_utf8_valid(b, n) != want)
                bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* All 1-, 2- and 3-byte strings, compared state by state with ref_check. */
static void test_exhaustive_short(void)
{
    int bad = 0;
    uint8_t b[4];

    for (unsigned x = 0; x < 256; x++) {
        uint32_t s1;
        b[0] = (uint8_t)x;
        s1 = pl_utf8_feed(PL_UTF8_ACCEPT, b, 1);
        bad += verdict(s1) != ref_check(b, 1);
        for (unsigned y = 0; y < 256; y++) {
            uint32_t s2;
            b[1] = (uint8_t)y;
            s2 = pl_utf8_feed(s1, b + 1, 1);
            bad += verdict(s2) != ref_check(b, 2);
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (uint8_t)z;
                bad += verdict(pl_utf8_feed(s2, b + 2, 1)) !=
                       ref_check(b, 3);
            }
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* 4-byte strings over the interesting byte values around every boundary. */
static void test_four_byte_grid(void)
{
    static const uint8_t v[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                                0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED,
                                0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
    const size_t nv = sizeof(v);
    int bad = 0;

    for (size_t a = 0; a < nv; a++)
        for (size_t b = 0; b < nv; b++)
            for (size_t c = 0; c < nv; c++)
                for (size_t d = 0; d < nv; d++) {
                    uint8_t s[4] = {v[a], v[b], v[c], v[d]};
                    bad += verdict(pl_utf8_feed(PL_UTF8_ACCEPT, s, 4)) !=
                           ref_check(s, 4);
                }
    CHECK_EQ_INT(bad, 0);
}

/* Long ASCII runs go through the 16-byte fast path: a bad byte or a
 * multi-byte character must be seen at every offset and alignment. */
static void test_fast_path(void)
{
    enum { N = 100 };
    uint8_t *buf = malloc(N);
    int bad = 0;

    for (size_t pos = 0; pos < N; pos++) {
        memset(buf, 'a', N);
        buf[pos] = 0x80;
        bad += pl_utf8_valid(buf, N) != 0;
        bad += split_mismatches(buf, N) != 0;
        if (pos + 4 <= N) {
            memcpy(buf + pos, "\xf0\x9f\x98\x80", 4);
            bad += pl_utf8_valid(buf, N) != 1;
            bad += pl_utf8_valid(buf, pos + 3) != 0;
            memcpy(buf + pos, "\xed\xa0\x80", 3);
            bad += pl_utf8_valid(buf, N) != 0;
        }
    }
    memset(buf, 'z', N);
    bad += pl_utf8_valid(buf, N) != 1;
    bad += pl_utf8_valid(buf + 3, N - 3) != 1;
    buf[N - 1] = 0xC3;
    bad += pl_utf8_valid(buf, N) != 0;
    free(buf);
    CHECK_EQ_INT(bad, 0);
}

/* Random mixed text, split incrementally at random points. */
static void test_random_incremental(void)
{
    static const char *pieces[] = {"a", "bc ", "\xc3\xa9", "\xe2\x82\xac",
                                   "\xf0\x9f\x98\x80", "0123456789abcdef",
                                   "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf"};
    uint8_t buf[512];
    unsigned seed = 12345;
    int bad = 0;

    for (int round = 0; round < 2000; round++) {
        size_t n = 0;
        while (n < sizeof(buf) - 16) {
            const char *p = pieces[(seed = seed * 1103515245 + 12345) >> 16
                                   & 7];
            memcpy(buf + n, p, strlen(p));
            n += strlen(p);
        }
        if (round & 1) /* corrupt one byte */
            buf[(seed >> 8) % n] ^= (uint8_t)(1 + (seed >> 3) % 255);
        {
            uint32_t st = PL_UTF8_ACCEPT;
            size_t i = 0;
            while (i < n) {
                size_t step = 1 + ((seed = seed * 1103515245 + 12345) >> 16)
                                      % 37;
                if (step > n - i)
                    step = n - i;
                st = pl_utf8_feed(st, buf + i, step);
                i += step;
            }
            bad += verdict(st) != ref_check(buf, n);
            bad += st != pl_utf8_feed(PL_UTF8_ACCEPT, buf, n);
        }
    }
    CHECK_EQ_INT(bad, 0);
}

int main(void)
{
    test_kuhn_cases();
    test_all_code_points();
    test_exhaustive_short();
    test_four_byte_grid();
    test_fast_path();
    test_random_incremental();
    UNIT_DONE();
}
