/* fuzz_redis.c - libFuzzer target for what the Redis client reads from the
 * network: RESP bytes go through hiredis' reader (as on a socket), and
 * every reply tree through the CLUSTER SLOTS decoder and, for error and
 * string replies, the MOVED/ASK parser. The input is also hashed as a key.
 * Checks: decoded ranges are inside the slot space and ordered, hosts are
 * NUL-terminated within their buffer, ports in 1..65535. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)   \
    do {             \
        if (!(c))    \
            abort(); \
    } while (0)

static void check_slots(const redisReply *r)
{
    pl_redis_range rg[16];
    size_t n = 0;
    pl_status st = pl_redis_slots_decode(r, "self", rg, 16, &n);
    REQUIRE(n <= 16);
    for (size_t i = 0; st == PL_OK && i < n; i++) {
        REQUIRE(rg[i].start <= rg[i].end && rg[i].end < PL_REDIS_SLOTS);
        REQUIRE(memchr(rg[i].host, '\0', sizeof(rg[i].host)) != NULL);
        REQUIRE(rg[i].port >= 1 && rg[i].port <= 65535);
    }
}

static void check_redirect(const redisReply *r)
{
    char host[PL_REDIS_HOST_MAX + 1];
    int slot = -1, port = -1;
    pl_status st;
    if (r->type != REDIS_REPLY_ERROR && r->type != REDIS_REPLY_STRING)
        return;
    pl_redis_redirect k = pl_redis_parse_redirect(r->str, r->len, &slot, host,
                                                  sizeof(host), &port, &st);
    if (k != PL_REDIS_NOT_REDIRECT && st == PL_OK) {
        REQUIRE(slot >= 0 && slot < PL_REDIS_SLOTS);
        REQUIRE(port >= 1 && port <= 65535);
        REQUIRE(strlen(host) <= PL_REDIS_HOST_MAX);
    }
}

static void walk(const redisReply *r, int depth)
{
    check_redirect(r);
    if (r->type != REDIS_REPLY_ARRAY || depth > 8)
        return;
    for (size_t i = 0; i < r->elements; i++)
        walk(r->element[i], depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    REQUIRE(pl_redis_key_slot(data, size) < PL_REDIS_SLOTS);
    redisReader *rd = redisReaderCreate();
    if (!rd)
        return 0;
    pl_redis_reader_limit(rd); /* as on every connection */
    redisReaderFeed(rd, (const char *)data, size);
    for (int i = 0; i < 16; i++) {
        void *rep = NULL;
        if (redisReaderGetReply(rd, &rep) != REDIS_OK || !rep)
            break;
        check_slots(rep);
        walk(rep, 0);
        freeReplyObject(rep);
    }
    redisReaderFree(rd);
    return 0;
}
