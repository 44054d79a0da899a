/* gw_conv_presence.c - GET /v1/conversations/{id}/presence: how many
 * members of a conversation are online (and who, up to
 * presence-list-max-members members).
 *
 * The answer is gathered from the loops' online indexes (scatter-gather):
 * a task on every loop reads its local online members of the conversation,
 * and the last loop to answer posts the reply to the asking connection.
 * Cost O(online members), never O(members): a 100,000-member group with
 * 50 people online costs 50 lookups. Members only.
 *
 * In a cluster the loops of this gateway know only their own sessions:
 * the members are read from the store and asked about in the presence
 * backend (Redis, one pipelined round trip per page of 1,000) — O(members)
 * there, so only up to CLUSTER_EXACT_MAX members; above it the answer is
 * this gateway's online members (docs/PROTOCOL.md says so). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gw_rest.h"
#include "presence_role.h"

#define CLUSTER_EXACT_MAX 10000
#define CLUSTER_PAGE 1000

typedef struct gather {
    gw_loop *origin;
    uint64_t conn_id;
    pl_uuid conv;
    int64_t members;
    bool list;        /* include the ids */
    atomic_int pending; /* loops that have not answered */
    pthread_mutex_t mu;
    pl_hmap online;   /* user -> (void *)1: users online on any loop */
} gather;

static void gather_free(gather *g)
{
    pl_hmap_free(&g->online);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static void reply_task(pl_loop *l, void *arg)
{
    gather *g = arg;
    gw_conn *c = l ? gw_conn_find(g->origin, g->conn_id) : NULL;
    if (c && c->state == GW_HTTP) {
        char id[PL_UUID_STRLEN + 1];
        json_t *o = json_pack("{s:s,s:I,s:I}", "conversation_id",
                              pl_uuid_fmt(&g->conv, id), "member_count",
                              (json_int_t)g->members, "online_count",
                              (json_int_t)g->online.len);
        if (g->list) {
            json_t *ids = json_array();
            for (size_t i = 0; i < g->online.cap; i++)
                if (g->online.slots[i].val)
                    json_array_append_new(
                        ids, json_string(pl_uuid_fmt(&g->online.slots[i].key, id)));
            json_object_set_new(o, "online_user_ids", ids);
        }
        gw_http_respond_json(c, 200, o);
        gw_http_request_done(c);
    }
    gather_free(g);
}

static void one_loop_done(gather *g)
{
    if (atomic_fetch_sub(&g->pending, 1) != 1)
        return;
    if (pl_loop_post(g->origin->loop, reply_task, g, true) != PL_OK)
        gather_free(g);
}

static void gather_task(pl_loop *l, void *arg)
{
    gather *g = arg;
    gw_conv *cv = l ? pl_hmap_get(&((gw_loop *)pl_loop_data(l))->convs,
                                  &g->conv)
                    : NULL;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; cv && i < cv->users.cap; i++) {
        gw_user *u = cv->users.slots[i].val;
        if (u && u->nconns > 0)
            pl_hmap_put(&g->online, &u->id, (void *)1);
    }
    pthread_mutex_unlock(&g->mu);
    one_loop_done(g);
}

static void scatter(gw_conn *c, const pl_uuid *conv, int64_t members)
{
    pl_gateway *gwy = gw_gateway(c->gw);
    int n = gw_loop_count(gwy);
    gather *g = calloc(1, sizeof(*g));
    if (!g) {
        gw_http_respond_error(c, 503, "overloaded", "out of memory");
        gw_http_request_done(c);
        return;
    }
    *g = (gather){.origin = c->gw, .conn_id = c->id, .conv = *conv,
                  .members = members,
                  .list = members <= c->gw->node->cfg.presence_list_max_members};
    atomic_init(&g->pending, n);
    pthread_mutex_init(&g->mu, NULL);
    pl_hmap_init(&g->online);
    /* A loop that cannot take it answers empty. g is freed by the last of
     * the n answers, so never inside this loop: the analyzer does not
     * model the atomic count. */
    for (int i = 0; i < n; i++) {
        pl_loop *l = gw_loop_at(gwy, i);
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
        if (pl_loop_post(l, gather_task, g, false) != PL_OK)
            one_loop_done(g);
    }
}

/* --- a cluster: members from the store, presence from the backend ------- */

static void cluster_add_page(pl_node *node, const pl_member *m, size_t n,
                             json_t *ids, int64_t *online)
{
    pl_uuid *users = malloc(n * sizeof(*users));
    bool *on = malloc(n * sizeof(*on));
    int64_t *seen = malloc(n * sizeof(*seen));
    char id[PL_UUID_STRLEN + 1];
    if (users && on && seen) {
        for (size_t i = 0; i < n; i++)
            users[i] = m[i].user_id;
        pl_presence_role_get_many(node, users, n, on, seen);
        for (size_t i = 0; i < n; i++) {
            if (!on[i])
                continue;
            (*online)++;
            if (ids)
                json_array_append_new(ids,
                                      json_string(pl_uuid_fmt(&users[i], id)));
        }
    }
    free(users);
    free(on);
    free(seen);
}

static void cluster_count(pl_worker *w, rest_job *j)
{
    bool list = j->count <= j->node->cfg.presence_list_max_members;
    json_t *ids = list ? json_array() : NULL;
    int64_t online = 0;
    pl_uuid after;
    bool first = true;
    pl_status st = PL_OK;
    for (;;) {
        pl_member *m = NULL;
        size_t n = 0;
        st = pl_store_members_page(w->store, &j->conv, first ? NULL : &after,
                                   CLUSTER_PAGE, &m, &n);
        if (st == PL_OK && n > 0) {
            cluster_add_page(j->node, m, n, ids, &online);
            after = m[n - 1].user_id;
        }
        free(m);
        first = false;
        if (st != PL_OK || n < CLUSTER_PAGE)
            break;
    }
    if (st != PL_OK) {
        json_decref(ids);
        rest_store_error(j, st);
        return;
    }
    char id[PL_UUID_STRLEN + 1];
    j->out = json_pack("{s:s,s:I,s:I}", "conversation_id",
                       pl_uuid_fmt(&j->conv, id), "member_count",
                       (json_int_t)j->count, "online_count",
                       (json_int_t)online);
    if (ids)
        json_object_set_new(j->out, "online_user_ids", ids);
    j->status = 200;
}

/* --- the membership check runs on the store pool first ------------------ */

static void check_work(pl_worker *w, rest_job *j)
{
    int role;
    if (!rest_require_member(w, j, &role))
        return;
    pl_status st = pl_store_member_count(w->store, &j->conv, &j->count);
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    if (pl_bus_is_remote(j->node->bus) && j->count <= CLUSTER_EXACT_MAX) {
        cluster_count(w, j);
        return;
    }
    j->status = 0; /* go on: gather on the loops */
}

static void check_done(pl_loop *l, void *arg)
{
    rest_job *j = arg;
    gw_conn *c = l ? gw_conn_find(j->gw, j->conn_id) : NULL;
    if (c && c->state == GW_HTTP) {
        if (j->status == 0) {
            scatter(c, &j->conv, j->count);
        } else {
            gw_http_respond_json(c, j->status, j->out);
            j->out = NULL;
            gw_http_request_done(c);
        }
    }
    json_decref(j->in);
    json_decref(j->out);
    free(j);
}

void rest_conv_presence(gw_conn *c, const gw_request *r, const pl_uuid *conv)
{
    rest_job *j = rest_job_new(c, check_work);
    if (!j) {
        gw_http_respond_error(c, 500, "internal", "out of memory");
        return;
    }
    j->conv = *conv;
    gw_conn_pause(c);
    if (pl_workpool_submit(c->gw->node->store_pool, c->gw->loop,
                           rest_job_run, check_done, j) != PL_OK) {
        free(j);
        gw_http_respond_error(c, 503, "overloaded", "server busy, retry later");
        gw_conn_resume(c);
    }
}
