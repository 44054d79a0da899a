/* presence_redis_cmds.c - the Redis side of presence=redis: keys, Lua
 * scripts and the pipelined batches that run them.
 *
 * Keys (the {hash tag} keeps a user's two keys in one slot, so one script
 * may touch both in a Redis Cluster):
 *   pl:on:{USER}    sorted set: gateway id -> expiry (ms, Redis clock).
 *                   The user is online while a member has not expired.
 *                   PEXPIREAT = the latest expiry, so a key whose gateways
 *                   all died disappears by itself.
 *   pl:seen:{USER}  last seen, ms; no TTL (survives every restart).
 *   pl:gws          sorted set: gateway id -> last heartbeat (ms).
 *   pl:gwu:{GW}     set of the users with connections on gateway GW, so a
 *                   gateway that finds GW dead can take them offline.
 * The scripts read the time with TIME on the Redis server: gateways' clocks
 * need not agree. Transitions are decided inside the scripts, atomically
 * per user. Every reply is checked for type and range before use. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/metrics.h"
#include "presence_redis_int.h"

#define LUA_NOW                                                           \
    "local t = redis.call('TIME')\n"                                      \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

typedef struct script {
    const char *body;
    char sha[41];
} script;

/* KEYS on, seen; ARGV gw, ttl_ms. Returns 1 if the user was offline. */
static script s_add = {LUA_NOW
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "local before = redis.call('ZCARD', KEYS[1])\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
    "local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')\n"
    "redis.call('PEXPIREAT', KEYS[1], top[2])\n"
    "if before == 0 then return 1 end\n"
    "return 0\n", ""};

/* KEYS on, seen; ARGV gw, seen_ms. Returns {1 if now offline, last seen}. */
static script s_del = {LUA_NOW
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "local left = redis.call('ZCARD', KEYS[1])\n"
    "local seen = tonumber(ARGV[2])\n"
    "local old = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
    "if seen > old then redis.call('SET', KEYS[2], ARGV[2])\n"
    "else seen = old end\n"
    "if left == 0 then return {1, seen} end\n"
    "return {0, seen}\n", ""};

/* KEYS on, seen. Returns {live gateways, last seen}. */
static script s_get = {LUA_NOW
    "local n = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')\n"
    "local seen = tonumber(redis.call('GET', KEYS[2]) or '0') or 0\n"
    "return {n, seen}\n", ""};

/* KEYS gws; ARGV gw, ttl_ms, max. Heartbeat, then claim (remove) at most
 * max gateways silent for a TTL: the claim is atomic, so exactly one
 * gateway reaps each dead one. Returns {gw, last beat, ...}. */
static script s_beat = {LUA_NOW
    "redis.call('ZADD', KEYS[1], now, ARGV[1])\n"
    "local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf',\n"
    "    now - tonumber(ARGV[2]), 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))\n"
    "for i = 1, #dead, 2 do redis.call('ZREM', KEYS[1], dead[i]) end\n"
    "return dead\n", ""};

static void sha1_hex(script *s)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s->body, strlen(s->body), md, &n, EVP_sha1(), NULL);
    for (unsigned int i = 0; i < n && i < 20; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
}

static void scripts_init_once(void)
{
    sha1_hex(&s_add);
    sha1_hex(&s_del);
    sha1_hex(&s_get);
    sha1_hex(&s_beat);
}

void pr_scripts_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, scripts_init_once);
}

/* --- one script call, with its argument storage -------------------------- */

typedef struct call {
    char k1[48], k2[48], num[24], uid[PL_UUID_STRLEN + 1];
    const char *argv[7];
    size_t lens[7];
    const char *sargv[3]; /* SADD/SREM gwkey uid */
    size_t slens[3];
} call;

static void set_arg(const char **argv, size_t *lens, int i, const char *s)
{
    argv[i] = s;
    lens[i] = strlen(s);
}

/* EVALSHA sha 2 pl:on:{u} pl:seen:{u} gw arg */
static void script_call(call *c, const script *s, const pl_uuid *user,
                        const char *gw, const char *arg)
{
    pl_uuid_fmt(user, c->uid);
    snprintf(c->k1, sizeof(c->k1), "pl:on:{%s}", c->uid);
    snprintf(c->k2, sizeof(c->k2), "pl:seen:{%s}", c->uid);
    set_arg(c->argv, c->lens, 0, "EVALSHA");
    set_arg(c->argv, c->lens, 1, s->sha);
    set_arg(c->argv, c->lens, 2, "2");
    set_arg(c->argv, c->lens, 3, c->k1);
    set_arg(c->argv, c->lens, 4, c->k2);
    set_arg(c->argv, c->lens, 5, gw);
    set_arg(c->argv, c->lens, 6, arg);
}

static bool is_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && r->len >= 8 &&
           memcmp(r->str, "NOSCRIPT", 8) == 0;
}

/* Runs cmds; those answered NOSCRIPT (a Redis that restarted, or a new
 * node) run again as EVAL with the body, which also caches it there. */
static pl_status run_scripts(pl_redis *rc, pl_redis_cmd *cmds, size_t n,
                             const script *const *bodies)
{
    pl_status st = pl_redis_run(rc, cmds, n);
    for (size_t i = 0; i < n; i++) {
        if (!is_noscript(cmds[i].reply))
            continue;
        freeReplyObject(cmds[i].reply);
        const char **argv = (const char **)cmds[i].argv;
        argv[0] = "EVAL";
        argv[1] = bodies[i]->body;
        ((size_t *)cmds[i].lens)[0] = 4;
        ((size_t *)cmds[i].lens)[1] = strlen(bodies[i]->body);
        pl_status s = pl_redis_run(rc, &cmds[i], 1);
        if (s != PL_OK)
            st = s;
    }
    return st;
}

static void free_replies(pl_redis_cmd *cmds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cmds[i].reply)
            freeReplyObject(cmds[i].reply);
}

static bool int_reply(const redisReply *r, long long *v)
{
    if (!r || r->type != REDIS_REPLY_INTEGER)
        return false;
    *v = r->integer;
    return true;
}

/* {a, b} with two integers. */
static bool pair_reply(const redisReply *r, long long *a, long long *b)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
           int_reply(r->element[0], a) && int_reply(r->element[1], b);
}

/* Counts a failed script; logs the first error of a batch only (a down
 * cluster fails every user of a refresh). */
static void script_failed(const redisReply *r, bool *logged)
{
    PL_METRIC_ADD(presence_redis_errors_total, 1);
    if (*logged)
        return;
    *logged = true;
    pl_log(PL_LOG_WARN, "presence_redis_error", "error", PL_LS,
           r && r->type == REDIS_REPLY_ERROR ? r->str
           : r                               ? "unexpected reply"
                                             : "no reply",
           NULL);
}

/* --- changes ------------------------------------------------------------------ */

/* Decodes the script reply of change ch; reports its transition. */
static bool decode_change(rpres *p, const pr_change *ch, const redisReply *r,
                          bool *logged)
{
    long long a, b;
    if (ch->online && int_reply(r, &a) && (a == 0 || a == 1)) {
        if (a == 1)
            pl_presence_emit(&p->base, &ch->user, true, 0);
        return true;
    }
    if (!ch->online && pair_reply(r, &a, &b) && (a == 0 || a == 1) && b >= 0) {
        if (a == 1)
            pl_presence_emit(&p->base, &ch->user, false, b);
        return true;
    }
    script_failed(r, logged);
    return false;
}

pl_status pr_apply(rpres *p, pl_redis *rc, const char *gw, const pr_change *ch,
                   size_t n, bool *done)
{
    call *calls = calloc(n ? n : 1, sizeof(*calls));
    pl_redis_cmd *cmds = calloc(2 * n + 1, sizeof(*cmds));
    const script **bodies = calloc(2 * n + 1, sizeof(*bodies));
    char gwkey[PR_GW_MAX + 16], ttl[24];
    pl_status st = PL_ERR_NOMEM;
    if (!calls || !cmds || !bodies)
        goto out;
    snprintf(gwkey, sizeof(gwkey), "pl:gwu:{%s}", gw);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)p->ttl_ms);
    for (size_t i = 0; i < n; i++) {
        call *c = &calls[i];
        snprintf(c->num, sizeof(c->num), "%lld", (long long)ch[i].seen_ms);
        bodies[2 * i] = ch[i].online ? &s_add : &s_del;
        script_call(c, bodies[2 * i], &ch[i].user, gw,
                    ch[i].online ? ttl : c->num);
        cmds[2 * i] = (pl_redis_cmd){7, c->argv, c->lens, 3, NULL, PL_OK};
        set_arg(c->sargv, c->slens, 0, ch[i].online ? "SADD" : "SREM");
        set_arg(c->sargv, c->slens, 1, gwkey);
        set_arg(c->sargv, c->slens, 2, c->uid);
        cmds[2 * i + 1] = (pl_redis_cmd){3, c->sargv, c->slens, 1, NULL, PL_OK};
        bodies[2 * i + 1] = &s_add; /* never NOSCRIPT */
    }
    st = run_scripts(rc, cmds, 2 * n, bodies);
    bool logged = false;
    for (size_t i = 0; i < n; i++) {
        done[i] = decode_change(p, &ch[i], cmds[2 * i].reply, &logged);
        if (!done[i])
            st = st == PL_OK ? PL_ERR_IO : st;
    }
    free_replies(cmds, 2 * n);
out:
    free(calls);
    free(cmds);
    free(bodies);
    return st;
}

pl_status pr_fetch(rpres *p, pl_redis *rc, const pl_uuid *users, size_t n,
                   bool *online, int64_t *seen)
{
    call *calls = calloc(n ? n : 1, sizeof(*calls));
    pl_redis_cmd *cmds = calloc(n ? n : 1, sizeof(*cmds));
    const script **bodies = calloc(n ? n : 1, sizeof(*bodies));
    pl_status st = PL_ERR_NOMEM;
    (void)p;
    if (!calls || !cmds || !bodies)
        goto out;
    for (size_t i = 0; i < n; i++) {
        script_call(&calls[i], &s_get, &users[i], "-", "-");
        cmds[i] = (pl_redis_cmd){5, calls[i].argv, calls[i].lens, 3, NULL,
                                 PL_OK}; /* EVALSHA sha 2 k1 k2 */
        bodies[i] = &s_get;
    }
    st = run_scripts(rc, cmds, n, bodies);
    bool logged = false;
    for (size_t i = 0; i < n; i++) {
        long long live, ls;
        if (pair_reply(cmds[i].reply, &live, &ls) && live >= 0 && ls >= 0) {
            online[i] = live > 0;
            seen[i] = ls;
        } else {
            script_failed(cmds[i].reply, &logged);
            st = st == PL_OK ? PL_ERR_IO : st;
        }
    }
    free_replies(cmds, n);
out:
    free(calls);
    free(cmds);
    free(bodies);
    return st;
}

/* --- heartbeat and reaping ------------------------------------------------- */

/* Takes one batch of a dead gateway's users offline. */
static void reap_batch(rpres *p, const char *dead, const redisReply *members,
                       int64_t seen)
{
    pr_change ch[PR_BATCH];
    bool done[PR_BATCH];
    size_t n = 0;
    for (size_t i = 0; i < members->elements && n < PR_BATCH; i++) {
        const redisReply *m = members->element[i];
        if (m->type == REDIS_REPLY_STRING &&
            pl_uuid_parse(m->str, m->len, &ch[n].user) == PL_OK) {
            ch[n].online = false;
            ch[n++].seen_ms = seen;
        }
    }
    if (n)
        pr_apply(p, p->rc, dead, ch, n, done);
}

/* SSCANs pl:gwu:{dead} and takes every user offline, then deletes it. */
static void reap(rpres *p, const char *dead, int64_t last_beat)
{
    char key[PR_GW_MAX + 16], cursor[24] = "0";
    snprintf(key, sizeof(key), "pl:gwu:{%s}", dead);
    pl_log(PL_LOG_INFO, "presence_gateway_reaped", "gateway", PL_LS, dead,
           "last_beat_ms", PL_LI, last_beat, NULL);
    for (int rounds = 0; rounds < 100000; rounds++) {
        redisReply *r = pl_redis_cmdv(p->rc, 1, "SSCAN", key, cursor, "COUNT",
                                      "256", NULL);
        bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                  r->element[0]->type == REDIS_REPLY_STRING &&
                  r->element[0]->len < sizeof(cursor) &&
                  r->element[1]->type == REDIS_REPLY_ARRAY;
        if (ok) {
            reap_batch(p, dead, r->element[1], last_beat);
            memcpy(cursor, r->element[0]->str, r->element[0]->len);
            cursor[r->element[0]->len] = '\0';
        }
        if (r)
            freeReplyObject(r);
        if (!ok || strcmp(cursor, "0") == 0)
            break;
    }
    redisReply *r = pl_redis_cmdv(p->rc, 1, "DEL", key, NULL);
    if (r)
        freeReplyObject(r);
}

static bool beat_entry_ok(const redisReply *gw, const redisReply *score)
{
    return gw->type == REDIS_REPLY_STRING && gw->len > 0 &&
           gw->len < PR_GW_MAX && !memchr(gw->str, '\0', gw->len) &&
           score->type == REDIS_REPLY_STRING && score->len < 24;
}

pl_status pr_beat_and_reap(rpres *p)
{
    char ttl[24], max[8];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)p->ttl_ms);
    snprintf(max, sizeof(max), "%d", PR_REAP_MAX);
    const char *argv[] = {"EVALSHA", s_beat.sha, "1", "pl:gws", p->gw, ttl, max};
    size_t lens[7];
    for (int i = 0; i < 7; i++)
        lens[i] = strlen(argv[i]);
    pl_redis_cmd c = {7, argv, lens, 3, NULL, PL_OK};
    const script *bodies[] = {&s_beat};
    run_scripts(p->rc, &c, 1, bodies);
    redisReply *r = c.reply;
    bool logged = false;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        script_failed(r, &logged);
        free_replies(&c, 1);
        return PL_ERR_IO;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        char gw[PR_GW_MAX], num[24];
        if (!beat_entry_ok(r->element[i], r->element[i + 1]))
            continue;
        memcpy(gw, r->element[i]->str, r->element[i]->len);
        gw[r->element[i]->len] = '\0';
        memcpy(num, r->element[i + 1]->str, r->element[i + 1]->len);
        num[r->element[i + 1]->len] = '\0';
        reap(p, gw, strtoll(num, NULL, 10));
    }
    free_replies(&c, 1);
    return PL_OK;
}

void pr_leave(rpres *p)
{
    char key[PR_GW_MAX + 16];
    snprintf(key, sizeof(key), "pl:gwu:{%s}", p->gw);
    redisReply *a = pl_redis_cmdv(p->rc, 1, "ZREM", "pl:gws", p->gw, NULL);
    redisReply *b = pl_redis_cmdv(p->rc, 1, "DEL", key, NULL);
    if (a)
        freeReplyObject(a);
    if (b)
        freeReplyObject(b);
}
