/* uuid.c - RFC 9562 UUIDs: v4 (random) and v7 (Unix ms + random). */
#include "uuid.h"

#include <string.h>

#include <sodium.h>

#include "util.h"

/* Byte offsets of the four hyphens in the canonical 36-char form. */
static int is_hyphen_pos(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

static void set_version(pl_uuid *u, unsigned version)
{
    u->b[6] = (uint8_t)((u->b[6] & 0x0f) | (version << 4));
    u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80); /* variant 10 */
}

void pl_uuid_v4(pl_uuid *out)
{
    /* randombytes_buf is safe before sodium_init() in 1.0.18: it falls back
     * to its default implementation, which initialises itself lazily. */
    randombytes_buf(out->b, sizeof out->b);
    set_version(out, 4);
}

void pl_uuid_v7(pl_uuid *out, int64_t unix_ms)
{
    uint64_t ms = (uint64_t)unix_ms & 0xffffffffffffULL;

    randombytes_buf(out->b + 6, sizeof out->b - 6);
    for (int i = 0; i < 6; i++)
        out->b[i] = (uint8_t)(ms >> (8 * (5 - i)));
    set_version(out, 7);
}

char *pl_uuid_fmt(const pl_uuid *u, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[o++] = '-';
        buf[o++] = hex[u->b[i] >> 4];
        buf[o++] = hex[u->b[i] & 0x0f];
    }
    buf[o] = '\0';
    return buf;
}


pl_status pl_uuid_parse(const char *s, size_t len, pl_uuid *out)
{
    pl_uuid tmp;
    size_t n = 0;
    int hi = -1;

    if (s == NULL || len != PL_UUID_STRLEN)
        return PL_ERR_INVALID;
    for (size_t i = 0; i < len; i++) {
        if (is_hyphen_pos(i)) {
            if (s[i] != '-')
                return PL_ERR_INVALID;
            continue;
        }
        int v = pl_hexval(s[i]);
        if (v < 0)
            return PL_ERR_INVALID;
        if (hi < 0) {
            hi = v;
        } else {
            tmp.b[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    *out = tmp;
    return PL_OK;
}

bool pl_uuid_eq(const pl_uuid *a, const pl_uuid *b)
{
    return memcmp(a->b, b->b, sizeof a->b) == 0;
}

bool pl_uuid_is_nil(const pl_uuid *u)
{
    static const pl_uuid nil;

    return pl_uuid_eq(u, &nil);
}

int pl_uuid_cmp(const pl_uuid *a, const pl_uuid *b)
{
    int c = memcmp(a->b, b->b, sizeof a->b);

    return (c > 0) - (c < 0);
}

uint64_t pl_uuid_hash(const pl_uuid *u)
{
    uint64_t lo, hi;

    /* v7 ids share their leading timestamp bytes, so fold both halves and
     * mix: the tail is random in both versions. */
    memcpy(&hi, u->b, 8);
    memcpy(&lo, u->b + 8, 8);
    uint64_t h = lo ^ (hi * 0x9e3779b97f4a7c15ULL);
    h ^= h >> 29;
    return h;
}
