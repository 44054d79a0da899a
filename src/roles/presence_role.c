/* presence_role.c - see presence_role.h. */
#include "presence_role.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/hmap.h"
#include "../core/log.h"
#include "../core/timeutil.h"

#define TICK_MS 100
#define STOP_FLUSH_MS 3000

typedef struct pending {
    int64_t due_ms;    /* announce offline at this time */
    int64_t seen_ms;   /* last_seen_at to announce */
} pending;

struct pl_presence_role {
    pl_node *node;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pl_hmap pending; /* user -> pending offline announcement */
    atomic_bool stopping;
    pthread_t thread;
};

json_t *pl_presence_json(const pl_uuid *user, bool online,
                         int64_t last_seen_ms)
{
    char id[PL_UUID_STRLEN + 1], ts[PL_TIME_STRLEN + 1];
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("presence"));
    json_object_set_new(o, "user_id", json_string(pl_uuid_fmt(user, id)));
    json_object_set_new(o, "status", json_string(online ? "online" : "offline"));
    json_object_set_new(o, "last_seen_at",
                        last_seen_ms > 0
                            ? json_string(pl_time_fmt(last_seen_ms, ts))
                            : json_null());
    return o;
}

static void publish(pl_node *node, const pl_uuid *user, bool online,
                    int64_t last_seen_ms)
{
    json_t *o = pl_presence_json(user, online, last_seen_ms);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return;
    pl_rbuf *payload = pl_rbuf_copy(s, strlen(s));
    free(s);
    if (!payload)
        return;
    /* keyed by the user: gateways deliver it to that user's subscribers */
    pl_bus_msg m = {.topic = PL_TOPIC_PRESENCE, .key = *user, .payload = payload};
    pl_bus_publish(node->bus, &m);
    pl_rbuf_unref(payload);
}

/* A transition reported by the backend (on a loop for the memory backend,
 * on the backend's thread for Redis). */
static void on_online(struct pl_presence_role *pr, const pl_uuid *user)
{
    pthread_mutex_lock(&pr->mu);
    pending *p = pl_hmap_del(&pr->pending, user);
    pthread_mutex_unlock(&pr->mu);
    if (!p) /* else subscribers never saw it go offline */
        publish(pr->node, user, true, 0);
    free(p);
}

static void on_offline(struct pl_presence_role *pr, const pl_uuid *user,
                       int64_t seen_ms)
{
    int64_t now = pl_now_ms();
    pending *p = !atomic_load(&pr->stopping) ? malloc(sizeof(*p)) : NULL;
    if (!p) { /* no grace (stopping, or out of memory): announce now */
        publish(pr->node, user, false, seen_ms);
        return;
    }
    *p = (pending){now + pr->node->cfg.presence_grace_ms, seen_ms};
    pthread_mutex_lock(&pr->mu);
    free(pl_hmap_del(&pr->pending, user));
    if (pl_hmap_put(&pr->pending, user, p) != PL_OK)
        free(p);
    pthread_mutex_unlock(&pr->mu);
}

static void on_transition(void *ctx, const pl_uuid *user, bool online,
                          int64_t last_seen_ms)
{
    if (online)
        on_online(ctx, user);
    else
        on_offline(ctx, user, last_seen_ms);
}

void pl_presence_role_online(pl_node *node, const pl_uuid *user)
{
    pl_presence_connect(node->presence, user); /* transitions: on_online */
}

void pl_presence_role_offline(pl_node *node, const pl_uuid *user)
{
    pl_presence_disconnect(node->presence, user, pl_now_ms());
}

void pl_presence_role_get(pl_node *node, const pl_uuid *user, bool *online,
                          int64_t *last_seen_ms)
{
    pl_presence_role_get_many(node, user, 1, online, last_seen_ms);
}

void pl_presence_role_get_many(pl_node *node, const pl_uuid *users, size_t n,
                               bool *online, int64_t *last_seen_ms)
{
    memset(online, 0, n * sizeof(*online));
    memset(last_seen_ms, 0, n * sizeof(*last_seen_ms));
    pl_presence_get_many(node->presence, users, n, online, last_seen_ms);
    struct pl_presence_role *pr = node->presence_role;
    if (!pr)
        return;
    pthread_mutex_lock(&pr->mu);
    for (size_t i = 0; i < n; i++)
        online[i] = online[i] || pl_hmap_get(&pr->pending, &users[i]) != NULL;
    pthread_mutex_unlock(&pr->mu);
}

/* Takes the announcements that are due out of the map (under the lock),
 * then publishes them (outside it). */
static size_t announce_due(struct pl_presence_role *pr, bool all)
{
    size_t n = 0, cap = 64;
    pl_uuid *users = malloc(cap * sizeof(*users));
    int64_t *seen = malloc(cap * sizeof(*seen));
    int64_t now = pl_now_ms();
    pthread_mutex_lock(&pr->mu);
    for (size_t i = 0; users && seen && i < pr->pending.cap && n < cap; i++) {
        pending *p = pr->pending.slots[i].val;
        if (!p || (!all && p->due_ms > now))
            continue;
        users[n] = pr->pending.slots[i].key;
        seen[n++] = p->seen_ms;
    }
    for (size_t i = 0; i < n; i++)
        free(pl_hmap_del(&pr->pending, &users[i]));
    pthread_mutex_unlock(&pr->mu);
    for (size_t i = 0; i < n; i++)
        publish(pr->node, &users[i], false, seen[i]);
    free(users);
    free(seen);
    return n;
}

static void *presence_main(void *arg)
{
    struct pl_presence_role *pr = arg;
    pthread_setname_np(pthread_self(), "pl-presence");
    pthread_mutex_lock(&pr->mu);
    while (!pr->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pr->cv, &pr->mu, &ts);
        pthread_mutex_unlock(&pr->mu);
        announce_due(pr, false);
        pthread_mutex_lock(&pr->mu);
    }
    pthread_mutex_unlock(&pr->mu);
    return NULL;
}

pl_status pl_presence_role_start(pl_node *node)
{
    struct pl_presence_role *pr = calloc(1, sizeof(*pr));
    if (!pr)
        return PL_ERR_NOMEM;
    pr->node = node;
    pthread_mutex_init(&pr->mu, NULL);
    pthread_cond_init(&pr->cv, NULL);
    pl_hmap_init(&pr->pending);
    if (pthread_create(&pr->thread, NULL, presence_main, pr) != 0) {
        free(pr);
        return PL_ERR;
    }
    node->presence_role = pr;
    pl_presence_listen(node->presence, on_transition, pr);
    return PL_OK;
}

void pl_presence_role_stop(pl_node *node)
{
    struct pl_presence_role *pr = node->presence_role;
    if (!pr)
        return;
    pthread_mutex_lock(&pr->mu);
    atomic_store(&pr->stopping, true); /* from now on offline goes out at once */
    pthread_cond_signal(&pr->cv);
    pthread_mutex_unlock(&pr->mu);
    pthread_join(pr->thread, NULL);
    /* the last sessions' disconnects (the gateway drained them) reach the
     * backend and their transitions come back before the listener goes */
    pl_presence_flush(node->presence, STOP_FLUSH_MS);
    pl_presence_listen(node->presence, NULL, NULL);
    while (pr->pending.len > 0 && announce_due(pr, true) > 0)
        ; /* what is pending goes out now (stops if memory ran out) */
    node->presence_role = NULL;
    for (size_t i = 0; i < pr->pending.cap; i++)
        free(pr->pending.slots[i].val); /* only left if memory ran out */
    pl_hmap_free(&pr->pending);
    pthread_mutex_destroy(&pr->mu);
    pthread_cond_destroy(&pr->cv);
    free(pr);
}
