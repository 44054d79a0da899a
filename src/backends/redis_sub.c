/* redis_sub.c - the subscriber of redis.h (pl_redis_sub).
 *
 * A pl_redis for the topology (mode, slot map, MOVED) plus one subscriber
 * connection per node. Every channel records the node it was sent to, or
 * -1 for "to (re)subscribe": a dropped connection, an unsolicited
 * sunsubscribe (its slot migrated) or a -MOVED answer put it back to -1,
 * and the next poll routes it again with the (reloaded) map. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/timeutil.h"
#include "redis_int.h"

#define SUB_RETRY_MS 500

typedef struct subch {
    char name[PL_REDIS_CHANNEL_MAX];
    size_t len;
    int node;       /* node it was sent to; -1: to (re)subscribe */
    bool confirmed; /* the server acknowledged it */
    bool ever;      /* sent at least once: later sends are resubscribes */
} subch;

typedef struct subconn {
    redisContext *c;
    int64_t retry_at_ms;
} subconn;

struct pl_redis_sub {
    pl_redis *topo;
    subconn conns[PL_REDIS_MAX_NODES];
    subch *ch;
    size_t n, cap;
    uint64_t resubscribes;
};

pl_status pl_redis_sub_open(const pl_redis_opts *o, pl_redis_sub **out)
{
    pl_redis_sub *s = calloc(1, sizeof(*s));
    if (!s)
        return PL_ERR_NOMEM;
    pl_status st = pl_redis_open(o, &s->topo);
    if (st != PL_OK) {
        free(s);
        return st;
    }
    *out = s;
    return PL_OK;
}

void pl_redis_sub_close(pl_redis_sub *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < PL_REDIS_MAX_NODES; i++)
        if (s->conns[i].c)
            redisFree(s->conns[i].c);
    pl_redis_close(s->topo);
    free(s->ch);
    free(s);
}

static int find(const pl_redis_sub *s, const char *ch, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->ch[i].len == len && memcmp(s->ch[i].name, ch, len) == 0)
            return (int)i;
    return -1;
}

pl_status pl_redis_sub_add(pl_redis_sub *s, const char *ch, size_t len)
{
    if (len == 0 || len > PL_REDIS_CHANNEL_MAX)
        return PL_ERR_INVALID;
    if (find(s, ch, len) >= 0)
        return PL_OK;
    if (s->n == PL_REDIS_SUB_MAX)
        return PL_ERR_TOOLARGE;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        subch *p = realloc(s->ch, cap * sizeof(*p));
        if (!p)
            return PL_ERR_NOMEM;
        s->ch = p;
        s->cap = cap;
    }
    subch *c = &s->ch[s->n++];
    memset(c, 0, sizeof(*c));
    memcpy(c->name, ch, len);
    c->len = len;
    c->node = -1;
    return PL_OK;
}

static const char *verb(const pl_redis_sub *s, bool sub)
{
    if (s->topo->cluster)
        return sub ? "SSUBSCRIBE" : "SUNSUBSCRIBE";
    return sub ? "SUBSCRIBE" : "UNSUBSCRIBE";
}

/* Appends "(S)(UN)SUBSCRIBE channel" to c's output (sent at the flush). */
static int append_verb(pl_redis_sub *s, redisContext *c, const subch *ch,
                       bool sub)
{
    const char *argv[2] = {verb(s, sub), ch->name};
    size_t lens[2] = {strlen(argv[0]), ch->len};
    return redisAppendCommandArgv(c, 2, argv, lens);
}

pl_status pl_redis_sub_remove(pl_redis_sub *s, const char *ch, size_t len)
{
    int i = find(s, ch, len);
    if (i < 0)
        return PL_ERR_NOTFOUND;
    subch *c = &s->ch[i];
    if (c->node >= 0 && s->conns[c->node].c)
        append_verb(s, s->conns[c->node].c, c, false);
    s->ch[i] = s->ch[--s->n];
    return PL_OK;
}

/* Drops node's connection: its channels are to be resubscribed. */
static void drop(pl_redis_sub *s, int node)
{
    subconn *sc = &s->conns[node];
    if (!sc->c)
        return;
    pl_log(PL_LOG_WARN, "redis_subscriber_lost", "host", PL_LS,
           s->topo->nodes[node].host, "port", PL_LI,
           (int64_t)s->topo->nodes[node].port, "error", PL_LS,
           sc->c->errstr[0] ? sc->c->errstr : "protocol", NULL);
    redisFree(sc->c);
    sc->c = NULL;
    sc->retry_at_ms = 0; /* once at once: the usual restart case */
    for (size_t i = 0; i < s->n; i++)
        if (s->ch[i].node == node) {
            s->ch[i].node = -1;
            s->ch[i].confirmed = false;
        }
    if (s->topo->cluster)
        s->topo->stale = true;
}

static redisContext *sub_conn(pl_redis_sub *s, int node)
{
    subconn *sc = &s->conns[node];
    const rnode *n = &s->topo->nodes[node];
    if (sc->c || pl_mono_ms() < sc->retry_at_ms)
        return sc->c;
    int ms = s->topo->o.connect_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(n->host, n->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        sc->retry_at_ms = pl_mono_ms() + SUB_RETRY_MS;
        return NULL;
    }
    ms = s->topo->o.command_timeout_ms; /* bounds writes; reads follow poll */
    tv = (struct timeval){ms / 1000, (ms % 1000) * 1000};
    redisSetTimeout(c, tv);
    redisEnableKeepAlive(c);
    pl_redis_reader_limit(c->reader);
    sc->c = c;
    return c;
}

/* Sends what is not subscribed to the node its slot maps to. */
static pl_status sync_channels(pl_redis_sub *s)
{
    pl_status st = PL_OK;
    if (pl_redis_connect(s->topo) != PL_OK)
        return PL_ERR_IO;
    for (size_t i = 0; i < s->n; i++) {
        subch *ch = &s->ch[i];
        if (ch->node >= 0)
            continue;
        const char *argv[2] = {"SSUBSCRIBE", ch->name};
        size_t lens[2] = {10, ch->len};
        pl_redis_cmd route = {2, argv, lens, 1, NULL, PL_OK};
        int node = redis_route(s->topo, &route);
        redisContext *c = node != RNODE_NONE ? sub_conn(s, node) : NULL;
        if (!c || append_verb(s, c, ch, true) != REDIS_OK) {
            st = PL_ERR_IO;
            continue;
        }
        ch->node = node;
        s->resubscribes += ch->ever;
        ch->ever = true;
    }
    for (int i = 0; i < PL_REDIS_MAX_NODES; i++) {
        int done = 0;
        while (s->conns[i].c && !done)
            if (redisBufferWrite(s->conns[i].c, &done) != REDIS_OK)
                drop(s, i);
    }
    return st;
}

static bool str_el(const redisReply *r, size_t i)
{
    return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING;
}

static bool is_kind(const redisReply *k, const char *a, const char *b)
{
    return (k->len == strlen(a) && memcmp(k->str, a, k->len) == 0) ||
           (k->len == strlen(b) && memcmp(k->str, b, k->len) == 0);
}

/* An error on a subscriber connection: a -MOVED for SSUBSCRIBE (the map
 * was old) updates the map; what this node has not confirmed goes again. */
static void handle_error(pl_redis_sub *s, int node, const redisReply *r)
{
    redis_is_redirect(s->topo, r, node);
    for (size_t i = 0; i < s->n; i++)
        if (s->ch[i].node == node && !s->ch[i].confirmed)
            s->ch[i].node = -1;
    pl_log(PL_LOG_WARN, "redis_subscribe_error", "error", PL_LS, r->str,
           NULL);
}

static void handle(pl_redis_sub *s, int node, const redisReply *r,
                   pl_redis_msg_fn fn, void *ctx)
{
    if (r->type == REDIS_REPLY_ERROR) {
        handle_error(s, node, r);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || !str_el(r, 0) || !str_el(r, 1))
        return;
    const redisReply *kind = r->element[0], *ch = r->element[1];
    if (is_kind(kind, "message", "smessage") && str_el(r, 2)) {
        fn(ctx, ch->str, ch->len, r->element[2]->str, r->element[2]->len);
        return;
    }
    int i = find(s, ch->str, ch->len);
    if (i < 0 || s->ch[i].node != node)
        return; /* e.g. the answer to a channel removed since */
    if (is_kind(kind, "subscribe", "ssubscribe")) {
        s->ch[i].confirmed = true;
    } else if (is_kind(kind, "unsubscribe", "sunsubscribe")) {
        s->ch[i].node = -1; /* not asked for: its slot moved away */
        s->ch[i].confirmed = false;
        s->topo->stale = s->topo->cluster;
    }
}

static void read_node(pl_redis_sub *s, int node, pl_redis_msg_fn fn,
                      void *ctx)
{
    redisContext *c = s->conns[node].c;
    if (redisBufferRead(c) != REDIS_OK) {
        drop(s, node);
        return;
    }
    for (;;) {
        void *rep = NULL;
        if (redisGetReplyFromReader(c, &rep) != REDIS_OK) {
            drop(s, node);
            return;
        }
        if (!rep)
            return;
        handle(s, node, rep, fn, ctx);
        freeReplyObject(rep);
    }
}

pl_status pl_redis_sub_poll(pl_redis_sub *s, int timeout_ms,
                            pl_redis_msg_fn fn, void *ctx)
{
    pl_status st = sync_channels(s);
    struct pollfd fds[PL_REDIS_MAX_NODES];
    int node_of[PL_REDIS_MAX_NODES], n = 0;
    for (int i = 0; i < PL_REDIS_MAX_NODES; i++)
        if (s->conns[i].c) {
            fds[n] = (struct pollfd){.fd = s->conns[i].c->fd, .events = POLLIN};
            node_of[n++] = i;
        }
    if (poll(fds, (nfds_t)n, timeout_ms) <= 0)
        return st;
    for (int k = 0; k < n; k++)
        if (fds[k].revents && s->conns[node_of[k]].c)
            read_node(s, node_of[k], fn, ctx);
    return st;
}

void pl_redis_sub_counts(const pl_redis_sub *s, uint64_t *resubscribes,
                         size_t *confirmed)
{
    *resubscribes = s->resubscribes;
    *confirmed = 0;
    for (size_t i = 0; i < s->n; i++)
        *confirmed += s->ch[i].confirmed;
}
