/* test_redis_proto.c - the pure parts of the Redis client: CRC16 and key
 * slots (the Redis Cluster specification's vectors), redirect errors,
 * addresses, and CLUSTER SLOTS decoding over reply trees built by hiredis'
 * own RESP reader from literal protocol text. */
#include <hiredis/hiredis.h>
#include <stdlib.h>

#include "backends/redis.h"
#include "unit.h"

static uint16_t slot_of(const char *k) { return pl_redis_key_slot(k, strlen(k)); }

static void test_crc16(void)
{
    CHECK_EQ_INT(pl_redis_crc16("123456789", 9), 0x31C3);
    CHECK_EQ_INT(pl_redis_crc16("", 0), 0);
    CHECK_EQ_INT(slot_of("foo"), 12182);  /* CLUSTER KEYSLOT foo */
    CHECK_EQ_INT(slot_of("bar"), 5061);
    CHECK_EQ_INT(slot_of("hello"), 866);
    CHECK_EQ_INT(slot_of(""), 0);
    /* hash tags: only what is between the first { and the next } counts */
    CHECK_EQ_INT(slot_of("{user1000}.following"), slot_of("user1000"));
    CHECK_EQ_INT(slot_of("{user1000}.followers"), slot_of("user1000"));
    CHECK_EQ_INT(slot_of("foo{}{bar}"), slot_of("foo{}{bar}")); /* whole key */
    CHECK(slot_of("foo{}{bar}") != slot_of("bar"));
    CHECK_EQ_INT(slot_of("foo{{bar}}zap"), slot_of("{bar"));
    CHECK_EQ_INT(slot_of("foo{bar}{zap}"), slot_of("bar"));
    CHECK_EQ_INT(slot_of("{"), pl_redis_crc16("{", 1) & 16383);
    CHECK_EQ_INT(slot_of("a{b"), pl_redis_crc16("a{b", 3) & 16383);
    /* binary keys: a NUL inside the tag is part of it */
    CHECK_EQ_INT(pl_redis_key_slot("{a\0b}", 5), pl_redis_crc16("a\0b", 3) & 16383);
}

static void test_redirect(void)
{
    char host[65];
    int slot = -1, port = -1;
    pl_status st;
    const char *m = "MOVED 3999 127.0.0.1:6381";
    CHECK_EQ_INT(pl_redis_parse_redirect(m, strlen(m), &slot, host, sizeof(host),
                                         &port, &st), PL_REDIS_MOVED);
    CHECK_EQ_INT(st, PL_OK);
    CHECK_EQ_INT(slot, 3999);
    CHECK_STR(host, "127.0.0.1");
    CHECK_EQ_INT(port, 6381);
    const char *a = "ASK 16383 ::1:7000";
    CHECK_EQ_INT(pl_redis_parse_redirect(a, strlen(a), &slot, host, sizeof(host),
                                         &port, &st), PL_REDIS_ASK);
    CHECK_EQ_INT(st, PL_OK);
    CHECK_STR(host, "::1");
    CHECK_EQ_INT(port, 7000);
    const char *e = "MOVED 12 :6380"; /* Redis 7: unknown endpoint */
    pl_redis_parse_redirect(e, strlen(e), &slot, host, sizeof(host), &port, &st);
    CHECK_EQ_INT(st, PL_OK);
    CHECK_STR(host, "");
    const char *other = "ERR unknown command";
    CHECK_EQ_INT(pl_redis_parse_redirect(other, strlen(other), &slot, host,
                                         sizeof(host), &port, &st),
                 PL_REDIS_NOT_REDIRECT);
    const char *bad[] = {"MOVED 16384 h:1", "MOVED x h:1", "MOVED 1 h:0",
                         "MOVED 1 h:65536", "MOVED 1 h", "MOVED 1", "ASK ",
                         "MOVED -1 h:1", "MOVED 1 h:1x", "MOVED 1 h:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pl_redis_parse_redirect(bad[i], strlen(bad[i]), &slot, host,
                                sizeof(host), &port, &st);
        CHECK_EQ_INT(st, PL_ERR_INVALID);
    }
    /* a host longer than the buffer is refused, not truncated */
    char longm[200];
    memset(longm, 'h', sizeof(longm));
    memcpy(longm, "MOVED 1 ", 8);
    memcpy(longm + sizeof(longm) - 5, ":123", 4);
    pl_redis_parse_redirect(longm, sizeof(longm) - 1, &slot, host, sizeof(host),
                            &port, &st);
    CHECK_EQ_INT(st, PL_ERR_INVALID);
}

static void test_addr(void)
{
    char host[65];
    int port;
    CHECK_EQ_INT(pl_redis_parse_addr("[::1]:6379", 10, host, sizeof(host), &port), PL_OK);
    CHECK_STR(host, "::1");
    CHECK_EQ_INT(port, 6379);
    CHECK_EQ_INT(pl_redis_parse_addr("localhost:1", 11, host, sizeof(host), &port), PL_OK);
    CHECK_EQ_INT(pl_redis_parse_addr("localhost", 9, host, sizeof(host), &port),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_redis_parse_addr("h:99999", 7, host, sizeof(host), &port),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_redis_parse_addr("h:12", 4, host, 1, &port), PL_ERR_INVALID);
}

/* Parses RESP text into a reply tree (NULL if incomplete or invalid). */
static redisReply *resp(const char *text)
{
    redisReader *rd = redisReaderCreate();
    void *rep = NULL;
    redisReaderFeed(rd, text, strlen(text));
    if (redisReaderGetReply(rd, &rep) != REDIS_OK)
        rep = NULL;
    redisReaderFree(rd);
    return rep;
}

static pl_status decode(const char *text, pl_redis_range *rg, size_t cap,
                        size_t *n)
{
    redisReply *r = resp(text);
    CHECK(r != NULL);
    pl_status st = pl_redis_slots_decode(r, "10.0.0.9", rg, cap, n);
    freeReplyObject(r);
    return st;
}

#define NODE(host, port, id) "*3\r\n" host "\r\n:" port "\r\n$2\r\n" id "\r\n"

static void test_slots_decode(void)
{
    pl_redis_range rg[8];
    size_t n = 99;
    /* three masters, the second with a replica, the third with a NULL
     * endpoint (= the node asked) */
    const char *ok =
        "*3\r\n"
        "*3\r\n:0\r\n:5460\r\n" NODE("$9\r\n127.0.0.1", "7000", "aa")
        "*4\r\n:5461\r\n:10922\r\n" NODE("$9\r\n127.0.0.1", "7001", "bb")
            NODE("$9\r\n127.0.0.1", "7004", "cc")
        "*3\r\n:10923\r\n:16383\r\n" NODE("$-1", "7002", "dd");
    CHECK_EQ_INT(decode(ok, rg, 8, &n), PL_OK);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(rg[0].start, 0);
    CHECK_EQ_INT(rg[0].end, 5460);
    CHECK_STR(rg[0].host, "127.0.0.1");
    CHECK_EQ_INT(rg[0].port, 7000);
    CHECK_EQ_INT(rg[1].port, 7001); /* the master, not the replica */
    CHECK_STR(rg[2].host, "10.0.0.9");
    CHECK_EQ_INT(decode(ok, rg, 2, &n), PL_ERR_TOOLARGE);
    /* "?" endpoint: skipped */
    CHECK_EQ_INT(decode("*1\r\n*3\r\n:0\r\n:1\r\n" NODE("$1\r\n?", "1", "xx"),
                        rg, 8, &n), PL_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(decode("*0\r\n", rg, 8, &n), PL_OK);
    CHECK_EQ_INT(n, 0);
    const char *bad[] = {
        ":1\r\n",                                          /* not an array */
        "*1\r\n:1\r\n",                                    /* entry not array */
        "*1\r\n*2\r\n:0\r\n:1\r\n",                        /* no master */
        "*1\r\n*3\r\n:5\r\n:4\r\n" NODE("$1\r\nh", "1", "xx"), /* start > end */
        "*1\r\n*3\r\n:0\r\n:16384\r\n" NODE("$1\r\nh", "1", "xx"),
        "*1\r\n*3\r\n:-1\r\n:3\r\n" NODE("$1\r\nh", "1", "xx"),
        "*1\r\n*3\r\n:0\r\n:3\r\n" NODE("$1\r\nh", "0", "xx"),     /* port 0 */
        "*1\r\n*3\r\n:0\r\n:3\r\n" NODE("$1\r\nh", "65536", "xx"),
        "*1\r\n*3\r\n$1\r\n0\r\n:3\r\n" NODE("$1\r\nh", "1", "xx"), /* str slot */
        "*1\r\n*3\r\n:0\r\n:3\r\n*1\r\n$1\r\nh\r\n",      /* master w/o port */
        "*1\r\n*3\r\n:0\r\n:3\r\n" NODE(":5", "1", "xx"),  /* int host */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        redisReply *r = resp(bad[i]);
        CHECK(r != NULL);
        if (!r)
            continue;
        CHECK_EQ_INT(pl_redis_slots_decode(r, "h", rg, 8, &n), PL_ERR_INVALID);
        freeReplyObject(r);
    }
    /* a host with a NUL byte, and one over PL_REDIS_HOST_MAX */
    redisReader *rd = redisReaderCreate();
    const char nul[] = "*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$3\r\na\0b\r\n:1\r\n";
    void *rep = NULL;
    redisReaderFeed(rd, nul, sizeof(nul) - 1);
    CHECK(redisReaderGetReply(rd, &rep) == REDIS_OK && rep);
    CHECK_EQ_INT(pl_redis_slots_decode(rep, "h", rg, 8, &n), PL_ERR_INVALID);
    freeReplyObject(rep);
    redisReaderFree(rd);
    char big[400];
    char host[81];
    memset(host, 'a', 80);
    host[80] = 0;
    snprintf(big, sizeof(big), "*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$80\r\n%s\r\n:1\r\n",
             host);
    CHECK_EQ_INT(decode(big, rg, 8, &n), PL_ERR_INVALID);
    CHECK_EQ_INT(pl_redis_slots_decode(NULL, "h", rg, 8, &n), PL_ERR_INVALID);
}

/* Regression (fuzz_redis, out-of-memory): an array header announcing half a
 * billion elements made hiredis calloc 4.4 GB before any element arrived.
 * A limited reader refuses it; arrays within the limit still parse. */
static void test_reader_limit(void)
{
    void *rep = NULL;
    redisReader *rd = redisReaderCreate();
    CHECK(rd != NULL);
    if (!rd)
        return;
    pl_redis_reader_limit(rd);
    redisReaderFeed(rd, "*2\r\n$1\r\na\r\n:7\r\n", 15);
    CHECK(redisReaderGetReply(rd, &rep) == REDIS_OK && rep != NULL);
    if (rep) {
        CHECK(((redisReply *)rep)->type == REDIS_REPLY_ARRAY);
        CHECK_EQ_INT(((redisReply *)rep)->elements, 2);
        freeReplyObject(rep);
    }
    rep = NULL;
    redisReaderFeed(rd, "*555555551\r\n", 13);
    CHECK(redisReaderGetReply(rd, &rep) == REDIS_ERR);
    CHECK(rep == NULL);
    redisReaderFree(rd);
}

int main(void)
{
    test_reader_limit();
    test_crc16();
    test_redirect();
    test_addr();
    test_slots_decode();
    UNIT_DONE();
}
