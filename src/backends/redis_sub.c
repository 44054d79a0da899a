/* redis_sub.c - the subscriber of redis.h (pl_redis_sub).
 *
 * A pl_redis for the topology (mode, slot map, MOVED) plus one subscriber
 * connection per node. Every channel records the node it was sent to, or
 * -1 for "to (re)subscribe": a dropped connection, an unsolicited
 * sunsubscribe (its slot migrated) or a -MOVED answer put it back to -1,
 * and the next poll routes it again with the (reloaded) map.
 *
 * A gateway subscribes one channel per conversation with an online member
 * (hundreds of thousands), so nothing per poll or per message is linear in
 * the number of channels: channels are found through a hash map keyed by
 * a 128-bit BLAKE2b digest of the name (the name is compared as well), and
 * the channels waiting to be (re)sent sit on a to-do list. Only the rare
 * events (a lost connection, an error reply) walk every channel. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../core/hmap.h"
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
    bool queued;    /* on the to-do list */
    bool removed;   /* removed while queued: freed when the list is run */
} subch;

typedef struct subconn {
    redisContext *c;
    int64_t retry_at_ms;
} subconn;

struct pl_redis_sub {
    pl_redis *topo;
    subconn conns[PL_REDIS_MAX_NODES];
    pl_hmap chans;  /* digest of the name -> subch */
    subch **todo;   /* channels to (re)send; may hold removed ones */
    size_t ntodo, todo_cap;
    size_t nconfirmed;
    uint64_t resubscribes;
    pl_redis_sub_state_fn state_fn;
    void *state_ctx;
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
    pl_hmap_init(&s->chans);
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
    for (size_t i = 0; i < s->ntodo; i++)
        if (s->todo[i]->removed)
            free(s->todo[i]);
    for (size_t i = 0; i < s->chans.cap; i++)
        free(s->chans.slots[i].val);
    pl_hmap_free(&s->chans);
    free(s->todo);
    free(s);
}

void pl_redis_sub_on_state(pl_redis_sub *s, pl_redis_sub_state_fn fn,
                           void *ctx)
{
    s->state_fn = fn;
    s->state_ctx = ctx;
}

static pl_uuid digest(const char *ch, size_t len)
{
    pl_uuid k;
    crypto_generichash(k.b, sizeof(k.b), (const unsigned char *)ch, len,
                       NULL, 0);
    return k;
}

static subch *find(const pl_redis_sub *s, const char *ch, size_t len)
{
    pl_uuid k = digest(ch, len);
    subch *c = pl_hmap_get(&s->chans, &k);
    if (c && c->len == len && memcmp(c->name, ch, len) == 0)
        return c;
    return NULL;
}

/* Records a confirmation (on) or its loss, and tells the owner. */
static void set_confirmed(pl_redis_sub *s, subch *ch, bool on)
{
    if (ch->confirmed == on)
        return;
    ch->confirmed = on;
    if (on)
        s->nconfirmed++;
    else
        s->nconfirmed--;
    if (s->state_fn)
        s->state_fn(s->state_ctx, ch->name, ch->len, on);
}

/* Puts ch on the to-do list (to be sent again). PL_ERR_NOMEM only if the
 * list cannot grow: ch then waits for the next walk over its node. */
static pl_status enqueue(pl_redis_sub *s, subch *ch)
{
    ch->node = -1;
    if (ch->queued)
        return PL_OK;
    if (s->ntodo == s->todo_cap) {
        size_t cap = s->todo_cap ? s->todo_cap * 2 : 64;
        subch **p = realloc(s->todo, cap * sizeof(*p));
        if (!p)
            return PL_ERR_NOMEM;
        s->todo = p;
        s->todo_cap = cap;
    }
    s->todo[s->ntodo++] = ch;
    ch->queued = true;
    return PL_OK;
}

pl_status pl_redis_sub_add(pl_redis_sub *s, const char *ch, size_t len)
{
    if (len == 0 || len > PL_REDIS_CHANNEL_MAX)
        return PL_ERR_INVALID;
    pl_uuid k = digest(ch, len);
    subch *old = pl_hmap_get(&s->chans, &k);
    if (old)
        return old->len == len && memcmp(old->name, ch, len) == 0
                   ? PL_OK
                   : PL_ERR_CONFLICT; /* a BLAKE2b-128 collision */
    if (s->chans.len >= PL_REDIS_SUB_MAX)
        return PL_ERR_TOOLARGE;
    subch *c = calloc(1, sizeof(*c));
    if (!c)
        return PL_ERR_NOMEM;
    memcpy(c->name, ch, len);
    c->len = len;
    if (enqueue(s, c) != PL_OK || pl_hmap_put(&s->chans, &k, c) != PL_OK) {
        if (c->queued)
            c->removed = true; /* the list frees it */
        else
            free(c);
        return PL_ERR_NOMEM;
    }
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
    subch *c = find(s, ch, len);
    if (!c)
        return PL_ERR_NOTFOUND;
    if (c->node >= 0 && s->conns[c->node].c)
        append_verb(s, s->conns[c->node].c, c, false);
    if (c->confirmed)
        s->nconfirmed--; /* no callback: the owner asked for it */
    pl_uuid k = digest(ch, len);
    pl_hmap_del(&s->chans, &k);
    if (c->queued)
        c->removed = true;
    else
        free(c);
    return PL_OK;
}

/* Every channel sent to node goes back to the to-do list. */
static void requeue_node(pl_redis_sub *s, int node, bool only_unconfirmed)
{
    for (size_t i = 0; i < s->chans.cap; i++) {
        subch *ch = s->chans.slots[i].val;
        if (!ch || ch->node != node || (only_unconfirmed && ch->confirmed))
            continue;
        set_confirmed(s, ch, false);
        if (enqueue(s, ch) != PL_OK)
            pl_log(PL_LOG_ERROR, "redis_subscriber_oom", NULL);
    }
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
    requeue_node(s, node, false);
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

/* Sends one queued channel to the node its slot maps to; false if it
 * must stay queued. */
static bool send_one(pl_redis_sub *s, subch *ch)
{
    const char *argv[2] = {"SSUBSCRIBE", ch->name};
    size_t lens[2] = {10, ch->len};
    pl_redis_cmd route = {2, argv, lens, 1, NULL, PL_OK};
    int node = redis_route(s->topo, &route);
    redisContext *c = node != RNODE_NONE ? sub_conn(s, node) : NULL;
    if (!c || append_verb(s, c, ch, true) != REDIS_OK)
        return false;
    ch->node = node;
    s->resubscribes += ch->ever;
    ch->ever = true;
    return true;
}

/* Sends the to-do list; what cannot be sent now stays on it. */
static pl_status sync_channels(pl_redis_sub *s)
{
    pl_status st = PL_OK;
    if (s->ntodo > 0 && pl_redis_connect(s->topo) != PL_OK)
        return PL_ERR_IO;
    size_t keep = 0;
    for (size_t i = 0; i < s->ntodo; i++) {
        subch *ch = s->todo[i];
        if (ch->removed) {
            free(ch);
        } else if (ch->node >= 0 || send_one(s, ch)) {
            ch->queued = false;
        } else {
            s->todo[keep++] = ch;
            st = PL_ERR_IO;
        }
    }
    s->ntodo = keep;
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
    requeue_node(s, node, true);
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
    const redisReply *kind = r->element[0], *chr = r->element[1];
    if (is_kind(kind, "message", "smessage") && str_el(r, 2)) {
        fn(ctx, chr->str, chr->len, r->element[2]->str, r->element[2]->len);
        return;
    }
    subch *ch = find(s, chr->str, chr->len);
    if (!ch || ch->node != node)
        return; /* e.g. the answer to a channel removed since */
    if (is_kind(kind, "subscribe", "ssubscribe")) {
        set_confirmed(s, ch, true);
    } else if (is_kind(kind, "unsubscribe", "sunsubscribe")) {
        set_confirmed(s, ch, false); /* not asked for: its slot moved */
        if (enqueue(s, ch) != PL_OK)
            pl_log(PL_LOG_ERROR, "redis_subscriber_oom", NULL);
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
    *confirmed = s->nconfirmed;
}

size_t pl_redis_sub_len(const pl_redis_sub *s) { return s->chans.len; }
