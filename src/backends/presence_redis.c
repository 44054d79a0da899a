/* presence_redis.c - presence=redis: cluster-wide presence with TTLs.
 *
 * Loops call connect/disconnect; they only touch this gateway's own counts
 * (a hash map under a mutex, as in presence_memory.c) and, when a user's
 * local count goes 0->1 or 1->0, put the user on a bounded ring. One
 * thread per process owns a Redis client: it drains the ring in pipelined
 * batches (a user's current local count decides: online here, or gone),
 * and every presence-refresh-ms it re-sends every locally online user
 * (refreshing this gateway's claim before presence-ttl-ms runs out, and
 * rebuilding everything Redis lost in a restart), beats the gateway
 * heartbeat and reaps gateways that stopped beating. Redis decides the
 * cluster-wide transitions (Lua scripts, presence_redis_cmds.c); they come
 * back through pl_presence_emit.
 *
 * Nothing a loop does waits for Redis. When the ring is full the change is
 * not lost: the user's entry stays in the map and the next refresh sends
 * it (counted in parley_presence_queue_overflows_total). When Redis is
 * down, changes fail and entries stay until a refresh succeeds; get answers
 * from the local counts. Ownership: the backend owns its map, ring, thread
 * and both clients; close stops the thread first. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/timeutil.h"
#include "../core/util.h"
#include "presence_redis_int.h"

#define LISTENER_WAIT_MS 2000

/* --- the loops' side -------------------------------------------------------- */

/* Queues user (under mu). A full ring leaves the work to the next refresh. */
static void enqueue(rpres *p, const pl_uuid *user, ruser *e)
{
    if (e->queued)
        return;
    if (p->len == p->cap) {
        if (p->overflows++ % 1000 == 0)
            pl_log(PL_LOG_WARN, "presence_queue_full", "capacity", PL_LI,
                   (int64_t)p->cap, "overflows", PL_LI,
                   (int64_t)p->overflows, NULL);
        PL_METRIC_ADD(presence_queue_overflows_total, 1);
        return;
    }
    p->ring[(p->head + p->len++) % p->cap] = *user;
    e->queued = true;
    p->enq_seq++;
    pthread_cond_signal(&p->cv);
}

static pl_status rp_connect(pl_presence *p_, const pl_uuid *user)
{
    rpres *p = (rpres *)p_;
    pl_status st = PL_OK;
    pthread_mutex_lock(&p->mu);
    ruser *e = pl_hmap_get(&p->users, user);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e || pl_hmap_put(&p->users, user, e) != PL_OK) {
            free(e);
            st = PL_ERR_NOMEM;
            goto out;
        }
    }
    if (e->conns++ == 0)
        enqueue(p, user, e);
out:
    pthread_mutex_unlock(&p->mu);
    return st;
}

static pl_status rp_disconnect(pl_presence *p_, const pl_uuid *user,
                               int64_t now_ms)
{
    rpres *p = (rpres *)p_;
    pthread_mutex_lock(&p->mu);
    ruser *e = pl_hmap_get(&p->users, user);
    if (e && e->conns > 0) {
        e->seen_ms = now_ms;
        if (--e->conns == 0)
            enqueue(p, user, e);
    }
    pthread_mutex_unlock(&p->mu);
    return e ? PL_OK : PL_ERR_NOTFOUND;
}

/* --- the thread --------------------------------------------------------------- */

/* The change that brings Redis in line with entry e of user u. */
static pr_change change_of(const pl_uuid *u, const ruser *e)
{
    return (pr_change){*u, e->conns > 0, e->seen_ms};
}

/* After a batch: forget users that are gone here and whose "gone" Redis
 * has taken (unless they came back meanwhile). */
static void forget_gone(rpres *p, const pr_change *ch, const bool *done,
                        size_t n)
{
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        if (ch[i].online || !done[i])
            continue;
        ruser *e = pl_hmap_get(&p->users, &ch[i].user);
        if (e && e->conns == 0 && !e->queued)
            free(pl_hmap_del(&p->users, &ch[i].user));
    }
    pthread_mutex_unlock(&p->mu);
}

/* Sends n changes; true when Redis applied every one. */
static bool send_changes(rpres *p, pr_change *ch, size_t n)
{
    bool done[PR_BATCH];
    if (n == 0)
        return true;
    pl_status st = pr_apply(p, p->rc, p->gw, ch, n, done);
    forget_gone(p, ch, done, n);
    return st == PL_OK;
}

/* Takes up to PR_BATCH users off the ring (under mu). */
static size_t take_ring(rpres *p, pr_change *ch)
{
    size_t n = 0;
    while (p->len > 0 && n < PR_BATCH) {
        pl_uuid u = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        ruser *e = pl_hmap_get(&p->users, &u);
        if (!e)
            continue;
        e->queued = false;
        ch[n++] = change_of(&u, e);
    }
    return n;
}

/* Re-sends every user of the map, PR_BATCH at a time; the lock is let go
 * between batches so loops are never held up for long. A resize between
 * batches may make the cursor skip or repeat a few users: they are sent
 * at the next refresh, well before the TTL (3 refreshes by default). */
static void refresh_all(rpres *p)
{
    pr_change ch[PR_BATCH];
    size_t cursor = 0, users = 0;
    for (;;) {
        size_t n = 0;
        pthread_mutex_lock(&p->mu);
        for (; cursor < p->users.cap && n < PR_BATCH; cursor++) {
            ruser *e = p->users.slots[cursor].val;
            if (e && !e->queued)
                ch[n++] = change_of(&p->users.slots[cursor].key, e);
        }
        bool end = cursor >= p->users.cap;
        pthread_mutex_unlock(&p->mu);
        send_changes(p, ch, n);
        users += n;
        if (end)
            break;
    }
    pl_log(PL_LOG_DEBUG, "presence_refreshed", "users", PL_LI, (int64_t)users,
           NULL);
}

/* A reconnect means a Redis node (or the path to it) came back: it may
 * have lost everything, so rebuild now, not at the next refresh. */
static bool reconnected(rpres *p)
{
    pl_redis_stats s;
    pl_redis_get_stats(p->rc, &s);
    bool again = s.reconnects > p->reconnects_seen;
    p->reconnects_seen = s.reconnects;
    return again;
}

static bool has_listener(rpres *p)
{
    pthread_rwlock_rdlock(&p->base.lk);
    bool yes = p->base.fn != NULL;
    pthread_rwlock_unlock(&p->base.lk);
    return yes;
}

static void periodic(rpres *p, int64_t *next_refresh)
{
    int64_t now = pl_mono_ms();
    if (now < *next_refresh && !reconnected(p))
        return;
    if (!has_listener(p) && now < p->started_ms + LISTENER_WAIT_MS) {
        /* the first pass may reap dead gateways: their users' offline
         * transitions need the presence role listening */
        *next_refresh = now + 20;
        return;
    }
    refresh_all(p);
    pr_beat_and_reap(p);
    reconnected(p); /* the refresh itself may have reconnected */
    *next_refresh = pl_mono_ms() + p->refresh_ms;
}

static void wait_work(rpres *p, int64_t next_refresh)
{
    int64_t left = next_refresh - pl_mono_ms();
    if (p->len > 0 || p->stopping || left <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

static void *rp_main(void *arg)
{
    rpres *p = arg;
    pr_change ch[PR_BATCH];
    int64_t next_refresh = 0; /* at once: registers the heartbeat */
    pthread_mutex_lock(&p->mu);
    while (!p->stopping || p->len > 0) {
        wait_work(p, next_refresh);
        size_t n = take_ring(p, ch);
        uint64_t upto = p->len == 0 ? p->enq_seq : 0; /* all taken? */
        bool stopping = p->stopping;
        p->busy = true;
        pthread_mutex_unlock(&p->mu);
        if (send_changes(p, ch, n) && upto > atomic_load(&p->applied_seq))
            atomic_store(&p->applied_seq, upto);
        if (!stopping)
            periodic(p, &next_refresh);
        pthread_mutex_lock(&p->mu);
        p->busy = false;
        if (p->len == 0)
            pthread_cond_broadcast(&p->idle_cv);
    }
    bool clean = p->users.len == 0;
    pthread_mutex_unlock(&p->mu);
    if (clean) /* else others reap what is left once the TTL runs out */
        pr_leave(p);
    return NULL;
}

/* --- get, flush ------------------------------------------------------------------- */

/* Local knowledge wins for "online": a user connected here is online even
 * before Redis has heard of it, or while Redis is unreachable. A user whose
 * last session here closed but whose "gone" Redis has not taken yet also
 * reads online (for at most the grace): the offline transition has not
 * happened, so the presence role's grace has not started either. */
static void merge_local(rpres *p, const pl_uuid *users, size_t n, bool *online,
                        int64_t *seen)
{
    int64_t now = pl_now_ms();
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        ruser *e = pl_hmap_get(&p->users, &users[i]);
        if (e && (e->conns > 0 || now - e->seen_ms < p->grace_ms))
            online[i] = true;
        if (e && e->seen_ms > seen[i])
            seen[i] = e->seen_ms;
    }
    pthread_mutex_unlock(&p->mu);
}

static pl_status rp_get_many(pl_presence *p_, const pl_uuid *users, size_t n,
                             bool *online, int64_t *seen)
{
    rpres *p = (rpres *)p_;
    pl_status st = PL_OK;
    memset(online, 0, n * sizeof(*online));
    memset(seen, 0, n * sizeof(*seen));
    pthread_mutex_lock(&p->get_mu);
    for (size_t off = 0; off < n; off += PR_BATCH) {
        size_t k = n - off < PR_BATCH ? n - off : PR_BATCH;
        pl_status s = pr_fetch(p, p->gc, users + off, k, online + off,
                               seen + off);
        if (s != PL_OK)
            st = s;
    }
    pthread_mutex_unlock(&p->get_mu);
    merge_local(p, users, n, online, seen);
    return st;
}

static pl_status rp_get(pl_presence *p, const pl_uuid *user, bool *online,
                        int64_t *seen)
{
    return rp_get_many(p, user, 1, online, seen);
}

static uint64_t rp_mark(pl_presence *p_)
{
    rpres *p = (rpres *)p_;
    pthread_mutex_lock(&p->mu);
    uint64_t m = p->enq_seq;
    pthread_mutex_unlock(&p->mu);
    return m;
}

static bool rp_reached(pl_presence *p_, uint64_t mark)
{
    return atomic_load(&((rpres *)p_)->applied_seq) >= mark;
}

static void rp_flush(pl_presence *p_, int64_t timeout_ms)
{
    rpres *p = (rpres *)p_;
    int64_t deadline = pl_mono_ms() + timeout_ms;
    pthread_mutex_lock(&p->mu);
    pthread_cond_signal(&p->cv);
    while ((p->len > 0 || p->busy) && pl_mono_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->idle_cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
}

/* --- open, close ---------------------------------------------------------------------- */

static pl_status open_clients(rpres *p, const pl_config *cfg)
{
    pl_redis_opts o;
    pl_redis_opts_from_config(cfg, &o);
    pl_status st = pl_redis_open(&o, &p->rc);
    if (st == PL_OK)
        st = pl_redis_open(&o, &p->gc);
    if (st != PL_OK)
        pl_log(PL_LOG_ERROR, "redis_addrs_invalid", "redis_addrs", PL_LS,
               cfg->redis_addrs, NULL);
    return st;
}

static void rp_free(rpres *p)
{
    for (size_t i = 0; i < p->users.cap; i++)
        free(p->users.slots[i].val);
    pl_hmap_free(&p->users);
    pl_redis_close(p->rc);
    pl_redis_close(p->gc);
    free(p->ring);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->get_mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->idle_cv);
    pl_presence_base_fini(&p->base);
    free(p);
}

static void rp_close(pl_presence *p_)
{
    rpres *p = (rpres *)p_;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stopping = true;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    rp_free(p);
}

static pl_status check_timing(const pl_config *cfg)
{
    if (cfg->presence_refresh_ms < cfg->presence_ttl_ms)
        return PL_OK;
    pl_log(PL_LOG_ERROR, "presence_refresh_too_slow", "presence_refresh_ms",
           PL_LI, cfg->presence_refresh_ms, "presence_ttl_ms", PL_LI,
           cfg->presence_ttl_ms, NULL);
    return PL_ERR_INVALID;
}

static pl_status rp_open(const pl_config *cfg, pl_presence **out)
{
    if (check_timing(cfg) != PL_OK)
        return PL_ERR_INVALID;
    rpres *p = calloc(1, sizeof(*p));
    if (!p)
        return PL_ERR_NOMEM;
    pl_presence_base_init(&p->base, &pl_presence_redis_ops);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->get_mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_cond_init(&p->idle_cv, NULL);
    pl_hmap_init(&p->users);
    pr_scripts_init();
    p->ttl_ms = cfg->presence_ttl_ms;
    p->refresh_ms = cfg->presence_refresh_ms;
    p->grace_ms = cfg->presence_grace_ms;
    p->cap = (size_t)cfg->presence_queue;
    snprintf(p->gw, sizeof(p->gw), "%s", cfg->gateway_id);
    pl_gateway_id_resolve(p->gw, sizeof(p->gw)); /* if still "auto" */
    p->ring = malloc(p->cap * sizeof(*p->ring));
    p->started_ms = pl_mono_ms();
    pl_status st = p->ring ? open_clients(p, cfg) : PL_ERR_NOMEM;
    if (st == PL_OK && pthread_create(&p->thread, NULL, rp_main, p) != 0)
        st = PL_ERR;
    if (st != PL_OK) {
        rp_free(p);
        return st;
    }
    p->started = true;
    if (pl_redis_connect(p->gc) != PL_OK) /* not fatal: it comes back */
        pl_log(PL_LOG_WARN, "redis_unavailable", "redis_addrs", PL_LS,
               cfg->redis_addrs, NULL);
    pl_log(PL_LOG_INFO, "presence_redis", "gateway_id", PL_LS, p->gw,
           "redis_addrs", PL_LS, cfg->redis_addrs, "cluster", PL_LS,
           pl_redis_is_cluster(p->gc) ? "yes" : "no", NULL);
    *out = &p->base;
    return PL_OK;
}

const pl_presence_ops pl_presence_redis_ops = {
    .name = "redis",
    .open = rp_open,
    .close = rp_close,
    .connect = rp_connect,
    .disconnect = rp_disconnect,
    .get = rp_get,
    .get_many = rp_get_many,
    .flush = rp_flush,
    .mark = rp_mark,
    .reached = rp_reached,
};
