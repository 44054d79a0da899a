/* fuzz_utf8.c - libFuzzer target for the UTF-8 validator.
 *
 * The one-shot verdict must equal byte-by-byte feeding, feeding in chunks
 * derived from the input, and an independent code-point-decoding reference.
 * After each byte the state must say ACCEPT exactly when the prefix is
 * valid and REJECT exactly when no continuation can make it valid. */
#include "proto/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)      \
    do {                \
        if (!(c))       \
            abort();    \
    } while (0)

enum { R_VALID, R_INVALID, R_PARTIAL };

/* 1 if [lo, hi] holds a scalar value whose shortest form has need
 * continuation bytes. */
static int range_ok(uint32_t lo, uint32_t hi, int need)
{
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    static const uint32_t max[4] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

    if (lo < min[need])
        lo = min[need];
    if (hi > max[need])
        hi = max[need];
    return lo <= hi && !(lo >= 0xD800 && hi <= 0xDFFF);
}

/* Checks the sequence starting at s[0] (a non-ASCII byte). Returns its
 * length, 0 if invalid, or -1 if it runs past n but may still be valid. */
static int ref_seq(const uint8_t *s, size_t n)
{
    int need, k, rem;
    uint32_t cp, lo, hi;

    if (s[0] >= 0xC0 && s[0] <= 0xDF)
        need = 1;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        need = 2;
    else if (s[0] >= 0xF0 && s[0] <= 0xF7)
        need = 3;
    else
        return 0;
    cp = s[0] & (0x3F >> need);
    for (k = 1; k <= need && (size_t)k < n; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    rem = need - (k - 1);
    lo = cp << (6 * rem);
    hi = lo | ((1u << (6 * rem)) - 1);
    if (!range_ok(lo, hi, need))
        return 0;
    return rem ? -1 : need + 1;
}

static int ref_check(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        int r;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        r = ref_seq(s + i, n - i);
        if (r == 0)
            return R_INVALID;
        if (r < 0)
            return R_PARTIAL;
        i += (size_t)r;
    }
    return R_VALID;
}

static int verdict(uint32_t st)
{
    if (st == PL_UTF8_ACCEPT)
        return R_VALID;
    return st == PL_UTF8_REJECT ? R_INVALID : R_PARTIAL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    uint32_t whole, st = PL_UTF8_ACCEPT, seed = (uint32_t)size;
    int reject_seen = 0;
    size_t i;

    memcpy(buf, data, size);
    whole = pl_utf8_feed(PL_UTF8_ACCEPT, buf, size);
    REQUIRE(verdict(whole) == ref_check(buf, size));
    REQUIRE(pl_utf8_valid(buf, size) == (whole == PL_UTF8_ACCEPT));

    /* Byte by byte; per-prefix reference for inputs small enough. */
    for (i = 0; i < size; i++) {
        st = pl_utf8_feed(st, buf + i, 1);
        REQUIRE(!reject_seen || st == PL_UTF8_REJECT);
        reject_seen |= st == PL_UTF8_REJECT;
        if (size <= 256)
            REQUIRE(verdict(st) == ref_check(buf, i + 1));
    }
    REQUIRE(st == whole);

    /* In chunks whose sizes come from the input itself. */
    st = PL_UTF8_ACCEPT;
    for (i = 0; i < size;) {
        size_t step;
        seed = seed * 1103515245u + 12345u + buf[i];
        step = 1 + (seed >> 16) % 40;
        if (step > size - i)
            step = size - i;
        st = pl_utf8_feed(st, buf + i, step);
        i += step;
    }
    REQUIRE(st == whole);
    free(buf);
    return 0;
}
