/* redis_client.c - see redis.h: connections with backoff, topology (single
 * or cluster, the slot map) and one command with MOVED/ASK/TRYAGAIN. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../core/timeutil.h"
#include "redis_int.h"

#define BACKOFF_MIN_MS 100
#define TRYAGAIN_PAUSE_MS 20
#define CMDV_MAX_ARGS 32

/* --- nodes and connections ----------------------------------------------- */

static int node_find(const pl_redis *r, const char *host, int port)
{
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].port == port && strcmp(r->nodes[i].host, host) == 0)
            return (int)i;
    return -1;
}

/* The index of host:port, added if new; -1 when the table is full. */
static int node_get(pl_redis *r, const char *host, int port)
{
    int i = node_find(r, host, port);
    if (i >= 0 || r->nnodes == PL_REDIS_MAX_NODES)
        return i;
    rnode *n = &r->nodes[r->nnodes];
    memset(n, 0, sizeof(*n));
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->port = port;
    return (int)r->nnodes++;
}

static struct timeval tv_ms(int ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static void connect_failed(pl_redis *r, rnode *n, const char *why)
{
    r->stats.io_errors++;
    n->backoff_ms = n->backoff_ms ? n->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (n->backoff_ms > r->o.backoff_max_ms)
        n->backoff_ms = r->o.backoff_max_ms;
    n->retry_at_ms = pl_mono_ms() + n->backoff_ms;
    pl_log(PL_LOG_WARN, "redis_connect_failed", "host", PL_LS, n->host,
           "port", PL_LI, (int64_t)n->port, "error", PL_LS, why,
           "retry_in_ms", PL_LI, (int64_t)n->backoff_ms, NULL);
}

redisContext *rnode_ctx(pl_redis *r, int i)
{
    rnode *n = &r->nodes[i];
    if (n->c || pl_mono_ms() < n->retry_at_ms)
        return n->c;
    redisContext *c = redisConnectWithTimeout(
        n->host, n->port, tv_ms(r->o.connect_timeout_ms));
    if (!c || c->err) {
        connect_failed(r, n, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv_ms(r->o.command_timeout_ms)) != REDIS_OK) {
        connect_failed(r, n, "setting the timeout failed");
        redisFree(c);
        return NULL;
    }
    redisEnableKeepAlive(c);
    pl_redis_reader_limit(c->reader);
    n->c = c;
    n->worked = false;
    r->stats.connects++;
    if (n->was_connected)
        r->stats.reconnects++;
    n->was_connected = true;
    return c;
}

void rnode_fail(pl_redis *r, int i)
{
    rnode *n = &r->nodes[i];
    if (!n->c)
        return;
    r->stats.io_errors++;
    pl_log(PL_LOG_WARN, "redis_connection_lost", "host", PL_LS, n->host,
           "port", PL_LI, (int64_t)n->port, "error", PL_LS,
           n->c->errstr[0] ? n->c->errstr : "protocol", NULL);
    redisFree(n->c);
    n->c = NULL;
    if (n->worked) { /* a stale socket: try once more right away */
        n->backoff_ms = 0;
        n->retry_at_ms = 0;
    } else {
        connect_failed(r, n, "no answer");
    }
    if (r->cluster)
        r->stale = true;
}

/* Sends one command (after ASKING if asking) on node i and reads its
 * reply: the reply, or NULL after an I/O error (the node is failed). */
static redisReply *node_exec(pl_redis *r, int i, int argc, const char **argv,
                             const size_t *lens, bool asking)
{
    redisContext *c = rnode_ctx(r, i);
    void *rep = NULL;
    if (!c)
        return NULL;
    if (asking && redisAppendCommand(c, "ASKING") != REDIS_OK)
        goto fail;
    if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK)
        goto fail;
    if (asking) {
        if (redisGetReply(c, &rep) != REDIS_OK)
            goto fail;
        freeReplyObject(rep); /* +OK, or an error the command repeats */
        rep = NULL;
    }
    if (redisGetReply(c, &rep) != REDIS_OK)
        goto fail;
    r->nodes[i].worked = true;
    r->nodes[i].backoff_ms = 0;
    return rep;
fail:
    rnode_fail(r, i);
    return NULL;
}

/* --- topology -------------------------------------------------------------- */

/* At most one range per slot; the reply's length bounds the allocation. */
static pl_status install_map(pl_redis *r, const redisReply *rep, int from)
{
    size_t cap = rep && rep->type == REDIS_REPLY_ARRAY ? rep->elements : 0;
    if (cap > PL_REDIS_SLOTS)
        return PL_ERR_TOOLARGE;
    pl_redis_range *rg = malloc((cap ? cap : 1) * sizeof(*rg));
    size_t n = 0;
    if (!rg)
        return PL_ERR_NOMEM;
    pl_status st = pl_redis_slots_decode(rep, r->nodes[from].host, rg, cap,
                                         &n);
    if (st != PL_OK) {
        free(rg);
        return st;
    }
    memset(r->slots, RNODE_NONE, sizeof(r->slots));
    for (size_t k = 0; k < n; k++) {
        int i = node_get(r, rg[k].host, rg[k].port);
        if (i < 0)
            continue; /* over the node bound: those slots get redirected */
        memset(r->slots + rg[k].start, i, (size_t)rg[k].end - rg[k].start + 1);
    }
    free(rg);
    r->stats.map_loads++;
    return PL_OK;
}

static bool is_error(const redisReply *rep)
{
    return rep && rep->type == REDIS_REPLY_ERROR;
}

/* Learns the mode from node i (AUTO only) and, in a cluster, its map. */
static pl_status load_from(pl_redis *r, int i)
{
    const char *info[] = {"CLUSTER", "INFO"}, *slots[] = {"CLUSTER", "SLOTS"};
    size_t info_l[] = {7, 4}, slots_l[] = {7, 5};
    if (!r->known && r->o.mode == PL_REDIS_AUTO) {
        redisReply *rep = node_exec(r, i, 2, info, info_l, false);
        if (!rep)
            return PL_ERR_IO;
        r->cluster = !is_error(rep); /* "cluster support disabled" */
        freeReplyObject(rep);
    } else if (!r->known) {
        r->cluster = r->o.mode == PL_REDIS_CLUSTER;
    }
    if (!r->cluster) {
        r->single = i;
        return PL_OK;
    }
    redisReply *rep = node_exec(r, i, 2, slots, slots_l, false);
    if (!rep)
        return PL_ERR_IO;
    pl_status st = is_error(rep) ? PL_ERR_PROTO : install_map(r, rep, i);
    if (st != PL_OK)
        pl_log(PL_LOG_WARN, "redis_bad_slot_map", "host", PL_LS,
               r->nodes[i].host, "port", PL_LI, (int64_t)r->nodes[i].port,
               "status", PL_LS, pl_status_str(st), NULL);
    freeReplyObject(rep);
    return st;
}

pl_status pl_redis_connect(pl_redis *r)
{
    if (r->known && !r->stale) {
        if (r->cluster || rnode_ctx(r, r->single))
            return PL_OK;
        return PL_ERR_IO;
    }
    /* seeds first, then nodes learned from earlier maps */
    for (size_t i = 0; i < r->nnodes; i++)
        if (load_from(r, (int)i) == PL_OK) {
            r->known = true;
            r->stale = false;
            return PL_OK;
        }
    return PL_ERR_IO;
}

bool pl_redis_is_cluster(const pl_redis *r) { return r->cluster; }

int redis_route(pl_redis *r, const pl_redis_cmd *c)
{
    if (!r->cluster)
        return r->single;
    if (c->key >= 0 && c->key < c->argc) {
        uint16_t s = pl_redis_key_slot(c->argv[c->key], c->lens[c->key]);
        if (r->slots[s] != RNODE_NONE)
            return r->slots[s];
        r->stale = true;
    }
    for (size_t i = 0; i < r->nnodes; i++) /* any node; MOVED will tell */
        if (r->nodes[i].c)
            return (int)i;
    return r->nnodes ? 0 : RNODE_NONE;
}

/* --- one command with redirects --------------------------------------------- */

static bool has_prefix(const redisReply *rep, const char *p)
{
    size_t n = strlen(p);
    return rep->len >= n && memcmp(rep->str, p, n) == 0;
}

/* Where a MOVED/ASK reply points: the node index, or -1. */
static int redirect_target(pl_redis *r, const redisReply *rep, int from,
                           pl_redis_redirect *kind, int *slot)
{
    char host[PL_REDIS_HOST_MAX + 1];
    int port;
    pl_status st;
    *kind = pl_redis_parse_redirect(rep->str, rep->len, slot, host,
                                    sizeof(host), &port, &st);
    if (*kind == PL_REDIS_NOT_REDIRECT || st != PL_OK)
        return -1;
    return node_get(r, host[0] ? host : r->nodes[from].host, port);
}

bool redis_is_redirect(pl_redis *r, const redisReply *rep, int from)
{
    if (!is_error(rep) || !r->cluster)
        return false;
    if (has_prefix(rep, "TRYAGAIN") || has_prefix(rep, "ASK "))
        return true;
    pl_redis_redirect kind;
    int slot, to = redirect_target(r, rep, from, &kind, &slot);
    if (kind != PL_REDIS_MOVED || to < 0)
        return false;
    r->stats.moved++;
    r->slots[slot] = (uint8_t)to;
    r->stale = true; /* a moved slot rarely moves alone */
    return true;
}

static void pause_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

void redis_exec1(pl_redis *r, pl_redis_cmd *c)
{
    int node = redis_route(r, c), hops = 0, io_retries = 0;
    bool asking = false;
    const char **argv = (const char **)c->argv;
    c->reply = NULL;
    c->st = PL_ERR_IO;
    while (node != RNODE_NONE) {
        redisReply *rep = node_exec(r, node, c->argc, argv, c->lens, asking);
        asking = false;
        if (!rep) {
            if (io_retries++ > 0 || pl_redis_connect(r) != PL_OK)
                return;
            node = redis_route(r, c);
            continue;
        }
        pl_redis_redirect kind = PL_REDIS_NOT_REDIRECT;
        int slot, to = -1;
        if (is_error(rep) && r->cluster && hops < r->o.max_redirects)
            to = redirect_target(r, rep, node, &kind, &slot);
        if (to >= 0 && kind == PL_REDIS_MOVED) {
            r->stats.moved++;
            r->slots[slot] = (uint8_t)to;
            r->stale = true;
        } else if (to >= 0 && kind == PL_REDIS_ASK) {
            r->stats.ask++;
            asking = true;
        } else if (is_error(rep) && r->cluster &&
                   hops < r->o.max_redirects && has_prefix(rep, "TRYAGAIN")) {
            r->stats.tryagain++; /* multi-key command mid-migration */
            pause_ms(TRYAGAIN_PAUSE_MS);
            to = node;
        } else {
            c->reply = rep;
            c->st = PL_OK;
            return;
        }
        freeReplyObject(rep);
        node = to;
        hops++;
    }
}

/* --- the rest of the API ------------------------------------------------------ */

static pl_status add_seeds(pl_redis *r, const char *addrs)
{
    const char *p = addrs;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char host[PL_REDIS_HOST_MAX + 1];
        int port;
        if (pl_redis_parse_addr(p, len, host, sizeof(host), &port) != PL_OK ||
            node_get(r, host, port) < 0)
            return PL_ERR_INVALID;
        p += len + (comma ? 1 : 0);
    }
    r->nseeds = r->nnodes;
    return r->nseeds ? PL_OK : PL_ERR_INVALID;
}

void pl_redis_opts_from_config(const pl_config *cfg, pl_redis_opts *o)
{
    *o = (pl_redis_opts){
        .addrs = cfg->redis_addrs,
        .mode = strcmp(cfg->redis_mode, "cluster") == 0  ? PL_REDIS_CLUSTER
                : strcmp(cfg->redis_mode, "single") == 0 ? PL_REDIS_SINGLE
                                                         : PL_REDIS_AUTO,
        .connect_timeout_ms = (int)cfg->redis_connect_timeout_ms,
        .command_timeout_ms = (int)cfg->redis_command_timeout_ms,
    };
}

pl_status pl_redis_open(const pl_redis_opts *o, pl_redis **out)
{
    pl_redis *r = calloc(1, sizeof(*r));
    if (!r)
        return PL_ERR_NOMEM;
    r->o = *o;
    r->o.addrs = NULL; /* not kept: the seeds are parsed now */
    if (r->o.connect_timeout_ms <= 0)
        r->o.connect_timeout_ms = 1000;
    if (r->o.command_timeout_ms <= 0)
        r->o.command_timeout_ms = 2000;
    if (r->o.max_redirects <= 0)
        r->o.max_redirects = 5;
    if (r->o.backoff_max_ms <= 0)
        r->o.backoff_max_ms = 2000;
    memset(r->slots, RNODE_NONE, sizeof(r->slots));
    if (!o->addrs || add_seeds(r, o->addrs) != PL_OK) {
        free(r);
        return PL_ERR_INVALID;
    }
    *out = r;
    return PL_OK;
}

void pl_redis_close(pl_redis *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].c)
            redisFree(r->nodes[i].c);
    free(r);
}

void pl_redis_get_stats(const pl_redis *r, pl_redis_stats *out)
{
    *out = r->stats;
}

/* Collects a NULL-terminated vararg list (at most CMDV_MAX_ARGS). */
static int collect_args(const char *arg0, va_list ap, const char **argv,
                        size_t *lens)
{
    int argc = 0;
    for (const char *a = arg0; a; a = va_arg(ap, const char *)) {
        if (argc == CMDV_MAX_ARGS)
            return -1;
        argv[argc] = a;
        lens[argc++] = strlen(a);
    }
    return argc;
}

redisReply *pl_redis_cmdv(pl_redis *r, int key, const char *arg0, ...)
{
    const char *argv[CMDV_MAX_ARGS];
    size_t lens[CMDV_MAX_ARGS];
    va_list ap;
    va_start(ap, arg0);
    int argc = collect_args(arg0, ap, argv, lens);
    va_end(ap);
    if (argc <= 0)
        return NULL;
    pl_redis_cmd c = {argc, argv, lens, key, NULL, PL_OK};
    if (pl_redis_connect(r) != PL_OK)
        return NULL;
    redis_exec1(r, &c);
    return c.reply;
}

redisReply *pl_redis_node_cmdv(pl_redis *r, const char *addr,
                               const char *arg0, ...)
{
    const char *argv[CMDV_MAX_ARGS];
    size_t lens[CMDV_MAX_ARGS];
    char host[PL_REDIS_HOST_MAX + 1];
    int port, i;
    va_list ap;
    va_start(ap, arg0);
    int argc = collect_args(arg0, ap, argv, lens);
    va_end(ap);
    if (argc <= 0 ||
        pl_redis_parse_addr(addr, strlen(addr), host, sizeof(host), &port) !=
            PL_OK ||
        (i = node_get(r, host, port)) < 0)
        return NULL;
    return node_exec(r, i, argc, argv, lens, false);
}
