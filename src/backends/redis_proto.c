/* redis_proto.c - pure helpers of the Redis client: key slots, redirect
 * errors, CLUSTER SLOTS decoding, addresses. No I/O, no allocation, so
 * they are unit-tested and fuzzed directly (fuzz/fuzz_redis.c). Everything
 * here reads bytes that came from the network or the configuration and
 * checks every length against its buffer. */
#include "redis.h"

#include <string.h>

/* CRC16-CCITT, polynomial 0x1021, initial 0, no reflection (XModem): the
 * variant of the Redis Cluster specification. Bitwise: 16384 slots are
 * hashed per key, not per byte stream, so a table buys nothing here. */
uint16_t pl_redis_crc16(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021)
                               : (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t pl_redis_key_slot(const void *key, size_t len)
{
    const char *k = key;
    const char *open = len ? memchr(k, '{', len) : NULL;
    if (open) {
        size_t off = (size_t)(open - k) + 1;
        const char *close = memchr(k + off, '}', len - off);
        if (close && close > k + off) /* "{}" is no tag: whole key */
            return pl_redis_crc16(k + off, (size_t)(close - (k + off))) &
                   (PL_REDIS_SLOTS - 1);
    }
    return pl_redis_crc16(k, len) & (PL_REDIS_SLOTS - 1);
}

/* Decimal in [min, max], all of [s, s+len). */
static bool parse_num(const char *s, size_t len, long min, long max,
                      long *out)
{
    long v = 0;
    if (len == 0 || len > 9)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

pl_status pl_redis_parse_addr(const char *s, size_t len, char *host,
                              size_t hostcap, int *port)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (!colon)
        return PL_ERR_INVALID;
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    long p;
    if (hlen >= hostcap || hlen > PL_REDIS_HOST_MAX || memchr(h, '\0', hlen) ||
        !parse_num(colon + 1, len - (size_t)(colon + 1 - s), 1, 65535, &p))
        return PL_ERR_INVALID;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return PL_OK;
}

pl_redis_redirect pl_redis_parse_redirect(const char *s, size_t len,
                                          int *slot, char *host,
                                          size_t hostcap, int *port,
                                          pl_status *st)
{
    pl_redis_redirect kind;
    size_t skip;
    *st = PL_OK;
    if (len >= 6 && memcmp(s, "MOVED ", 6) == 0) {
        kind = PL_REDIS_MOVED;
        skip = 6;
    } else if (len >= 4 && memcmp(s, "ASK ", 4) == 0) {
        kind = PL_REDIS_ASK;
        skip = 4;
    } else {
        return PL_REDIS_NOT_REDIRECT;
    }
    const char *p = s + skip, *end = s + len;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    long v;
    if (!sp || !parse_num(p, (size_t)(sp - p), 0, PL_REDIS_SLOTS - 1, &v))
        goto bad;
    *slot = (int)v;
    p = sp + 1;
    if (pl_redis_parse_addr(p, (size_t)(end - p), host, hostcap, port) !=
        PL_OK)
        goto bad;
    return kind;
bad:
    *st = PL_ERR_INVALID;
    return kind;
}

static bool int_in(const redisReply *r, long long lo, long long hi)
{
    return r && r->type == REDIS_REPLY_INTEGER && r->integer >= lo &&
           r->integer <= hi;
}

/* The master of one CLUSTER SLOTS entry: [host, port, id, ...]. Returns
 * PL_DONE for an unknown endpoint ("?"), to be skipped. */
static pl_status decode_master(const redisReply *m, const char *self_host,
                               pl_redis_range *out)
{
    if (!m || m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
        !int_in(m->element[1], 1, 65535))
        return PL_ERR_INVALID;
    const redisReply *h = m->element[0];
    const char *host = self_host;
    size_t hlen = strlen(self_host);
    if (h && h->type == REDIS_REPLY_STRING && h->len > 0) {
        host = h->str;
        hlen = h->len;
    } else if (!h || (h->type != REDIS_REPLY_NIL &&
                      h->type != REDIS_REPLY_STRING)) {
        return PL_ERR_INVALID;
    }
    if (hlen == 1 && host[0] == '?')
        return PL_DONE;
    if (hlen > PL_REDIS_HOST_MAX || memchr(host, '\0', hlen))
        return PL_ERR_INVALID;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = (int)m->element[1]->integer;
    return PL_OK;
}

pl_status pl_redis_slots_decode(const redisReply *r, const char *self_host,
                                pl_redis_range *out, size_t cap, size_t *n)
{
    *n = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY || !self_host)
        return PL_ERR_INVALID;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            !int_in(e->element[0], 0, PL_REDIS_SLOTS - 1) ||
            !int_in(e->element[1], e->element[0]->integer,
                    PL_REDIS_SLOTS - 1))
            return PL_ERR_INVALID;
        pl_redis_range rg = {.start = (uint16_t)e->element[0]->integer,
                             .end = (uint16_t)e->element[1]->integer};
        pl_status st = decode_master(e->element[2], self_host, &rg);
        if (st == PL_DONE)
            continue;
        if (st != PL_OK)
            return st;
        if (*n == cap)
            return PL_ERR_TOOLARGE;
        out[(*n)++] = rg;
    }
    return PL_OK;
}

