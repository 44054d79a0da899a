/* gw_presence.c - presence by subscription.
 *
 * A client names the users it wants presence for (`presence_subscribe`,
 * at most GW_PRESENCE_MAX_SUBS, replacing its previous set) and gets their
 * current state once, then one `presence` frame per online/offline
 * transition. Nobody gets presence they did not ask for, so the cost is
 * O(subscriptions), never O(users x contacts) - the quadratic blow-up of
 * "tell every contact" designs. Each loop keeps watched user -> watching
 * connections; transitions arrive on the presence topic keyed by user. */
#include <stdlib.h>
#include <string.h>

#include "../core/metrics.h"
#include "gw_rest.h"
#include "presence_role.h"

typedef struct gw_watch {
    gw_conn **conns;
    size_t n, cap;
    uint64_t last_event; /* gw->presence_events when one was last delivered */
} gw_watch;

static pl_status watch_add(gw_loop *gw, const pl_uuid *user, gw_conn *c)
{
    gw_watch *w = pl_hmap_get(&gw->watchers, user);
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w || pl_hmap_put(&gw->watchers, user, w) != PL_OK) {
            free(w);
            return PL_ERR_NOMEM;
        }
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4;
        gw_conn **p = realloc(w->conns, cap * sizeof(*p));
        if (!p)
            return PL_ERR_NOMEM;
        w->conns = p;
        w->cap = cap;
    }
    w->conns[w->n++] = c;
    return PL_OK;
}

static void watch_remove(gw_loop *gw, const pl_uuid *user, gw_conn *c)
{
    gw_watch *w = pl_hmap_get(&gw->watchers, user);
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        if (w->conns[i] == c) {
            w->conns[i] = w->conns[--w->n];
            break;
        }
    if (w->n == 0) {
        pl_hmap_del(&gw->watchers, user);
        free(w->conns);
        free(w);
    }
}

void gw_presence_unsubscribe_all(gw_conn *c)
{
    for (size_t i = 0; i < c->nwatching; i++)
        watch_remove(c->gw, &c->watching[i], c);
    free(c->watching);
    c->watching = NULL;
    c->nwatching = 0;
}

void gw_presence_deliver(gw_loop *gw, const pl_uuid *user, pl_rbuf *frame)
{
    gw_watch *w = pl_hmap_get(&gw->watchers, user);
    if (w)
        w->last_event = ++gw->presence_events;
    for (size_t i = 0; w && i < w->n; i++)
        if (w->conns[i]->state == GW_WS_OPEN)
            gw_conn_send_droppable(w->conns[i], pl_rbuf_ref(frame));
}

/* --- the snapshot sent right after subscribing ---------------------------- */

typedef struct snap_job {
    gw_loop *gw;
    uint64_t conn_id;
    pl_node *node;
    pl_uuid *users;
    size_t n;
    bool *online;
    int64_t *seen;
    uint64_t started; /* gw->presence_events when the snapshot was taken */
} snap_job;

static void snap_work(pl_worker *w, void *arg)
{
    snap_job *j = arg;
    pl_presence_role_get_many(j->node, j->users, j->n, j->online, j->seen);
}

static void snap_done(pl_loop *l, void *arg)
{
    snap_job *j = arg;
    gw_conn *c = l ? gw_conn_find(j->gw, j->conn_id) : NULL;
    for (size_t i = 0; c && c->state == GW_WS_OPEN && i < j->n; i++) {
        /* a live transition delivered meanwhile is newer than this read */
        gw_watch *w = pl_hmap_get(&j->gw->watchers, &j->users[i]);
        if (w && w->last_event > j->started)
            continue;
        gw_ws_send_json(c, pl_presence_json(&j->users[i], j->online[i],
                                            j->seen[i]));
    }
    free(j->users);
    free(j->online);
    free(j->seen);
    free(j);
}

static void send_snapshot(gw_conn *c)
{
    snap_job *j = calloc(1, sizeof(*j));
    size_t n = c->nwatching;
    if (!j)
        return;
    *j = (snap_job){c->gw, c->id, c->gw->node, malloc((n + 1) * sizeof(pl_uuid)),
                    n, calloc(n + 1, sizeof(bool)),
                    calloc(n + 1, sizeof(int64_t)), 0};
    j->started = c->gw->presence_events;
    if (j->users && j->online && j->seen) {
        memcpy(j->users, c->watching, n * sizeof(pl_uuid));
        if (pl_workpool_submit(c->gw->node->store_pool, c->gw->loop, snap_work,
                               snap_done, j) == PL_OK)
            return;
    }
    snap_done(NULL, j);
    gw_ws_send_error(c, "overloaded", "presence snapshot unavailable", NULL);
}

void gw_presence_subscribe(gw_conn *c, json_t *frame)
{
    size_t n = 0;
    const char *err;
    pl_uuid *ids = rest_uuid_array(json_object_get(frame, "user_ids"),
                                   GW_PRESENCE_MAX_SUBS, &n, &err);
    if (!ids) {
        gw_ws_send_error(c, "invalid_request",
                         strcmp(err, "too_many") == 0
                             ? "at most 1000 user_ids per presence_subscribe"
                             : "user_ids must be an array of user ids",
                         NULL);
        return;
    }
    gw_presence_unsubscribe_all(c);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) { /* drop duplicates */
        bool dup = false;
        for (size_t k = 0; k < kept && !dup; k++)
            dup = pl_uuid_eq(&ids[k], &ids[i]);
        if (!dup && watch_add(c->gw, &ids[i], c) == PL_OK)
            ids[kept++] = ids[i];
    }
    c->watching = ids;
    c->nwatching = kept;
    if (kept > 0)
        send_snapshot(c);
}
