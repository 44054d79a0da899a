/* gateway.c - loops, listeners, the local online index and deliveries
 * (see gateway.h and gw_int.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/timeutil.h"
#include "gw_int.h"

#define INBOX_CAP 65536
#define ACCEPT_BATCH 64

struct pl_gateway {
    pl_node *node;
    int listen_fd; /* shared by every loop */
    int spare_fd;  /* held in reserve to shed connections at EMFILE */
    pthread_mutex_t spare_mu;
    int nloops;
    gw_loop *loops;
    pthread_t *threads;
    bool halted;
    pl_limtab *limtab;     /* per-address and per-username limits */
    pl_cidr_list trusted;  /* trusted-proxies */
    gw_relay *relay;       /* cluster mode (bus = kafka); else NULL */
};

static __thread gw_loop *tl_loop; /* the loop this thread runs, if any */

pl_gateway *gw_gateway(gw_loop *gw) { return gw->g; }
int gw_loop_count(pl_gateway *g) { return g->nloops; }
pl_loop *gw_loop_at(pl_gateway *g, int i) { return g->loops[i].loop; }
gw_loop *gw_loop_get(pl_gateway *g, int i) { return &g->loops[i]; }

/* --- listeners ---------------------------------------------------------- */

static pl_status parse_listen(const char *s, struct sockaddr_in *sa)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return PL_ERR_INVALID;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return PL_ERR_INVALID;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "") == 0 || strcmp(host, "0.0.0.0") == 0)
        sa->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return PL_ERR_INVALID;
    return PL_OK;
}

static int listen_socket(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        return -1;
    /* No SO_REUSEPORT: a second server on the same port must fail to
     * start, not silently share the traffic. The loops share this one
     * socket instead (EPOLLEXCLUSIVE wakes one of them per connection). */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
        listen(fd, 4096) < 0) {
        close(fd);
        return -1;
    }
    socklen_t len = sizeof(*sa); /* learn the port when it was 0 */
    getsockname(fd, (struct sockaddr *)sa, &len);
    return fd;
}

/* Out of file descriptors: give up the spare, accept the waiting
 * connection and close it at once (the client sees a reset instead of
 * hanging), then take the spare back. The nginx/libuv trick. */
static void shed_one(pl_gateway *g, int listen_fd)
{
    pthread_mutex_lock(&g->spare_mu);
    if (g->spare_fd >= 0) {
        close(g->spare_fd);
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            close(fd);
        g->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    pthread_mutex_unlock(&g->spare_mu);
    pl_log(PL_LOG_WARN, "out_of_file_descriptors", NULL);
}

static void on_accept(pl_loop *l, pl_io *io, uint32_t events)
{
    gw_loop *gw = pl_loop_data(l);
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_in sa = {0};
        socklen_t len = sizeof(sa);
        int fd = accept4(io->fd, (struct sockaddr *)&sa, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            shed_one(gw->g, io->fd); /* else the level-triggered listener
                                        would spin the loop at 100% */
            continue;
        }
        if (fd < 0)
            return; /* EAGAIN */
        if (atomic_load(&pl_metrics_g.connections) >=
            gw->node->cfg.max_connections) {
            close(fd);
            continue;
        }
        gw_admission adm;
        pl_ipaddr_from_v4(&adm.peer, sa.sin_addr.s_addr);
        if (!gw_limits_admit(gw, fd, &adm))
            continue; /* refused and closed */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char peer[64], ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
        snprintf(peer, sizeof(peer), "%s:%u", ip, ntohs(sa.sin_port));
        gw_conn_accept(gw, fd, peer, &adm);
    }
}

/* --- the local online index --------------------------------------------- */

gw_conn *gw_conn_find(gw_loop *gw, uint64_t id)
{
    pl_uuid k = pl_hmap_key_u64(id);
    return pl_hmap_get(&gw->conns, &k);
}

static pl_status index_link(gw_loop *gw, gw_user *u, const pl_uuid *conv)
{
    gw_conv *cv = pl_hmap_get(&gw->convs, conv);
    if (!cv) {
        cv = calloc(1, sizeof(*cv));
        if (!cv)
            return PL_ERR_NOMEM;
        cv->id = *conv;
        pl_hmap_init(&cv->users);
        if (pl_hmap_put(&gw->convs, conv, cv) != PL_OK) {
            free(cv);
            return PL_ERR_NOMEM;
        }
        gw_relay_conv_ref(gw, conv, 1); /* first local member: subscribe */
    }
    return pl_hmap_put(&cv->users, &u->id, u);
}

static void index_unlink(gw_loop *gw, gw_user *u, const pl_uuid *conv)
{
    gw_conv *cv = pl_hmap_get(&gw->convs, conv);
    if (!cv)
        return;
    pl_hmap_del(&cv->users, &u->id);
    if (cv->users.len == 0) {
        gw_relay_conv_ref(gw, conv, -1); /* last one left */
        pl_hmap_del(&gw->convs, conv);
        pl_hmap_free(&cv->users);
        free(cv);
    }
}

static pl_status user_add_conv(gw_loop *gw, gw_user *u, const pl_uuid *conv)
{
    for (size_t i = 0; i < u->nconvs; i++)
        if (pl_uuid_eq(&u->convs[i], conv))
            return PL_OK;
    if (u->nconvs == u->convs_cap) {
        size_t cap = u->convs_cap ? u->convs_cap * 2 : 8;
        pl_uuid *p = realloc(u->convs, cap * sizeof(*p));
        if (!p)
            return PL_ERR_NOMEM;
        u->convs = p;
        u->convs_cap = cap;
    }
    u->convs[u->nconvs++] = *conv;
    return index_link(gw, u, conv);
}

static void user_remove_conv(gw_loop *gw, gw_user *u, const pl_uuid *conv)
{
    for (size_t i = 0; i < u->nconvs; i++)
        if (pl_uuid_eq(&u->convs[i], conv)) {
            u->convs[i] = u->convs[--u->nconvs];
            index_unlink(gw, u, conv);
            return;
        }
}

static void user_free(gw_loop *gw, gw_user *u)
{
    for (size_t i = 0; i < u->nconvs; i++)
        index_unlink(gw, u, &u->convs[i]);
    pl_hmap_del(&gw->users, &u->id);
    free(u->convs);
    free(u->conns);
    free(u);
}

static gw_user *user_get_or_new(gw_loop *gw, const pl_uuid *id, bool *fresh)
{
    gw_user *u = pl_hmap_get(&gw->users, id);
    *fresh = false;
    if (u)
        return u;
    u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->id = *id;
    if (pl_hmap_put(&gw->users, id, u) != PL_OK) {
        free(u);
        return NULL;
    }
    *fresh = true;
    return u;
}

pl_status gw_index_add_conn(gw_loop *gw, gw_conn *c, const pl_uuid *convs,
                            size_t n)
{
    bool fresh;
    gw_user *u = user_get_or_new(gw, &c->user_id, &fresh);
    if (!u)
        return PL_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) /* also refreshes a known user */
        if (user_add_conv(gw, u, &convs[i]) != PL_OK)
            goto fail;
    if (u->nconns == u->conns_cap) {
        size_t cap = u->conns_cap ? u->conns_cap * 2 : 2;
        gw_conn **p = realloc(u->conns, cap * sizeof(*p));
        if (!p)
            goto fail;
        u->conns = p;
        u->conns_cap = cap;
    }
    u->conns[u->nconns++] = c;
    c->user = u;
    return PL_OK;
fail:
    if (fresh)
        user_free(gw, u);
    return PL_ERR_NOMEM;
}

void gw_index_remove_conn(gw_loop *gw, gw_conn *c)
{
    gw_user *u = c->user;
    if (!u)
        return;
    c->user = NULL;
    for (size_t i = 0; i < u->nconns; i++)
        if (u->conns[i] == c) {
            u->conns[i] = u->conns[--u->nconns];
            break;
        }
    if (u->nconns == 0)
        user_free(gw, u);
}

bool gw_index_is_member(gw_loop *gw, const pl_uuid *user, const pl_uuid *conv)
{
    gw_conv *cv = pl_hmap_get(&gw->convs, conv);
    return cv && pl_hmap_get(&cv->users, user) != NULL;
}

typedef struct count_job {
    gw_loop *gw;
    pl_uuid conv;
    int64_t members;
    pl_status st;
} count_job;

static void count_work(pl_worker *w, void *arg)
{
    count_job *j = arg;
    j->st = pl_store_member_count(w->store, &j->conv, &j->members);
}

static void count_done(pl_loop *l, void *arg)
{
    count_job *j = arg;
    gw_conv *cv = l ? pl_hmap_get(&j->gw->convs, &j->conv) : NULL;
    if (cv) {
        cv->members_pending = false;
        if (j->st == PL_OK) {
            cv->members = j->members;
            cv->members_ms = pl_loop_now_ms(l);
        }
    }
    free(j);
}

int64_t gw_conv_members(gw_loop *gw, const pl_uuid *conv)
{
    gw_conv *cv = pl_hmap_get(&gw->convs, conv);
    if (!cv)
        return -1;
    int64_t now = pl_loop_now_ms(gw->loop);
    if (!cv->members_pending &&
        (cv->members_ms == 0 || now - cv->members_ms > 30000)) {
        count_job *j = calloc(1, sizeof(*j));
        if (j) {
            j->gw = gw;
            j->conv = *conv;
            if (pl_workpool_submit(gw->node->store_pool, gw->loop, count_work,
                                   count_done, j) == PL_OK)
                cv->members_pending = true;
            else
                free(j);
        }
    }
    return cv->members_ms ? cv->members : -1;
}

/* --- deliveries --------------------------------------------------------- */

typedef struct delivery {
    int kind;
    pl_uuid conv;
    pl_uuid exclude; /* nil: nobody excluded */
    pl_uuid only;    /* nil: every member */
    pl_rbuf *frame;
} delivery;

static void deliver_frame(gw_loop *gw, delivery *d)
{
    gw_conv *cv = pl_hmap_get(&gw->convs, &d->conv);
    if (!cv)
        return;
    if (!pl_uuid_is_nil(&d->only)) { /* one member's devices */
        gw_user *u = pl_hmap_get(&cv->users, &d->only);
        for (size_t j = 0; u && j < u->nconns; j++)
            if (u->conns[j]->state == GW_WS_OPEN)
                gw_conn_send_droppable(u->conns[j], pl_rbuf_ref(d->frame));
        return;
    }
    int64_t n = 0;
    /* collect first: a send may close a connection, and closing must not
     * reshape the maps we iterate */
    for (size_t i = 0; i < cv->users.cap; i++) {
        gw_user *u = cv->users.slots[i].val;
        if (!u || pl_uuid_eq(&u->id, &d->exclude))
            continue;
        for (size_t j = 0; j < u->nconns; j++) {
            gw_conn *c = u->conns[j];
            if (c->state != GW_WS_OPEN)
                continue;
            if (d->kind == PL_DELIVER_DURABLE)
                gw_conn_send(c, pl_rbuf_ref(d->frame));
            else
                gw_conn_send_droppable(c, pl_rbuf_ref(d->frame));
            n++;
        }
    }
    if (d->kind == PL_DELIVER_DURABLE)
        PL_METRIC_ADD(deliveries_total, n);
}

uint64_t gw_loading_begin(gw_loop *gw, const pl_uuid *user)
{
    gw_loading *ld = pl_hmap_get(&gw->loading, user);
    if (!ld) {
        ld = calloc(1, sizeof(*ld));
        if (!ld || pl_hmap_put(&gw->loading, user, ld) != PL_OK) {
            free(ld);
            return 0; /* OOM: this load cannot notice races */
        }
    }
    ld->sessions++;
    return ld->gen;
}

bool gw_loading_end(gw_loop *gw, const pl_uuid *user, uint64_t gen)
{
    gw_loading *ld = pl_hmap_get(&gw->loading, user);
    if (!ld)
        return false;
    bool changed = ld->gen != gen;
    if (--ld->sessions == 0) {
        pl_hmap_del(&gw->loading, user);
        free(ld);
    }
    return changed;
}

static void apply_membership(gw_loop *gw, delivery *d)
{
    json_t *o = json_loadb((const char *)d->frame->data, d->frame->len, 0,
                           NULL);
    json_t *ids = json_object_get(o, "user_ids");
    const char *op = json_string_value(json_object_get(o, "op"));
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        pl_uuid uid;
        const char *s = json_string_value(v);
        if (!s || pl_uuid_parse(s, strlen(s), &uid) != PL_OK)
            continue;
        gw_loading *ld = pl_hmap_get(&gw->loading, &uid);
        if (ld)
            ld->gen++; /* a load in flight may predate this change */
        gw_user *u = pl_hmap_get(&gw->users, &uid);
        if (!u)
            continue;
        if (op && strcmp(op, "remove") == 0)
            user_remove_conv(gw, u, &d->conv);
        else
            user_add_conv(gw, u, &d->conv);
    }
    json_decref(o);
}

static void on_delivery(pl_loop *l, void *arg)
{
    delivery *d = arg;
    if (l) {
        gw_loop *gw = pl_loop_data(l);
        if (d->kind == PL_DELIVER_MEMBERSHIP)
            apply_membership(gw, d);
        else if (d->kind == PL_DELIVER_PRESENCE)
            gw_presence_deliver(gw, &d->conv, d->frame);
        else
            deliver_frame(gw, d);
    }
    pl_rbuf_unref(d->frame);
    free(d);
}

void pl_gateway_deliver(pl_gateway *g, int kind, const pl_uuid *conv,
                        const pl_uuid *exclude_user, const pl_uuid *only_user,
                        pl_rbuf *frame)
{
    bool droppable = kind == PL_DELIVER_DROPPABLE || kind == PL_DELIVER_PRESENCE;
    bool may_wait = !droppable && tl_loop == NULL;
    for (int i = 0; i < g->nloops; i++) {
        delivery *d = malloc(sizeof(*d));
        if (!d)
            continue;
        *d = (delivery){.kind = kind, .conv = *conv,
                        .frame = pl_rbuf_ref(frame)};
        if (exclude_user)
            d->exclude = *exclude_user;
        if (only_user)
            d->only = *only_user;
        if (pl_loop_post(g->loops[i].loop, on_delivery, d, may_wait) != PL_OK) {
            if (droppable)
                PL_METRIC_ADD(events_dropped_total, 1);
            else
                pl_log(PL_LOG_WARN, "delivery_lost_inbox_full", "loop",
                       PL_LI, (int64_t)i, NULL);
            pl_rbuf_unref(d->frame);
            free(d);
        }
    }
}

/* --- key rotation -------------------------------------------------------- */

static void on_keys(pl_loop *l, void *arg)
{
    pl_jwt_keyring *kr = arg;
    if (l) {
        gw_loop *gw = pl_loop_data(l);
        gw->keys = *kr;
        gw_limits_keys_changed(gw);
    }
    sodium_memzero(kr, sizeof(*kr));
    free(kr);
}

void pl_gateway_set_keys(pl_gateway *g, const pl_jwt_keyring *kr)
{
    for (int i = 0; i < g->nloops; i++) {
        pl_jwt_keyring *copy = malloc(sizeof(*copy));
        if (!copy) {
            pl_log(PL_LOG_ERROR, "jwt_keys_not_applied", "loop", PL_LI,
                   (int64_t)i, NULL);
            continue;
        }
        *copy = *kr;
        if (pl_loop_post(g->loops[i].loop, on_keys, copy, true) != PL_OK) {
            sodium_memzero(copy, sizeof(*copy));
            free(copy);
        }
    }
}

/* --- lifecycle ---------------------------------------------------------- */

static void on_before_sleep(pl_loop *l, void *ctx)
{
    gw_loop *gw = ctx;
    gw_process_ready(gw);
    gw_flush_all(l, gw);
    gw_reap(gw);
}

static void on_tick(pl_loop *l, void *ctx)
{
    gw_conn_tick(ctx);
    gw_limits_tick(ctx);
    gw_relay_hello_check(ctx);
}

static void *loop_main(void *arg)
{
    gw_loop *gw = arg;
    char name[16];
    snprintf(name, sizeof(name), "pl-loop-%d", gw->idx);
    pthread_setname_np(pthread_self(), name); /* top -H, perf, gdb */
    tl_loop = gw;
    pl_loop_run(gw->loop);
    return NULL;
}

static pl_status loop_init(pl_gateway *g, int idx, int listen_fd)
{
    gw_loop *gw = &g->loops[idx];
    gw->g = g;
    gw->node = g->node;
    gw->idx = idx;
    gw->next_id = ((uint64_t)idx << 56) | 1;
    gw->keys = g->node->keys; /* before the threads: no lock needed */
    gw->limtab = g->limtab;
    gw->trusted = &g->trusted;
    gw->relay = g->relay;
    pl_hmap_init(&gw->conns);
    pl_hmap_init(&gw->users);
    pl_hmap_init(&gw->convs);
    pl_hmap_init(&gw->watchers);
    pl_hmap_init(&gw->loading);
    gw->loop = pl_loop_new(idx, INBOX_CAP);
    if (!gw->loop)
        return PL_ERR_NOMEM;
    pl_loop_set_data(gw->loop, gw);
    gw->listen_io.fd = listen_fd;
    gw->listen_io.fn = on_accept;
    pl_loop_add_before_sleep(gw->loop, on_before_sleep, gw);
    pl_loop_add_tick(gw->loop, on_tick, gw, 250);
    return pl_loop_io_add(gw->loop, &gw->listen_io, EPOLLIN | EPOLLEXCLUSIVE);
}

pl_status pl_gateway_start(pl_node *node, pl_gateway **out)
{
    struct sockaddr_in sa;
    if (parse_listen(node->cfg.listen, &sa) != PL_OK) {
        pl_log(PL_LOG_ERROR, "bad_listen_address", "listen", PL_LS,
               node->cfg.listen, NULL);
        return PL_ERR_INVALID;
    }
    pl_gateway *g = calloc(1, sizeof(*g));
    int n = node->cfg.threads;
    if (!g)
        return PL_ERR_NOMEM;
    if (n <= 0)
        n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    g->node = node;
    g->limtab = pl_limtab_new((size_t)node->cfg.limit_table_size);
    if (!g->limtab ||
        pl_cidr_list_parse(node->cfg.trusted_proxies, &g->trusted, NULL, 0) !=
            PL_OK) { /* the config checked the list */
        pl_limtab_free(g->limtab);
        free(g);
        return PL_ERR_NOMEM;
    }
    pthread_mutex_init(&g->spare_mu, NULL);
    g->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    g->listen_fd = listen_socket(&sa);
    if (g->listen_fd < 0) {
        pl_log(PL_LOG_ERROR, "listen_failed", "listen", PL_LS,
               node->cfg.listen, "errno", PL_LI, (int64_t)errno, NULL);
        pl_limtab_free(g->limtab);
        free(g);
        return PL_ERR_IO;
    }
    g->nloops = n < 1 ? 1 : n;
    g->loops = calloc((size_t)g->nloops, sizeof(*g->loops));
    g->threads = calloc((size_t)g->nloops, sizeof(*g->threads));
    node->gateway = g;
    /* cluster mode (by configuration: tests/redis's gateway-probe runs
     * the relay over an in-process bus), and this process holds client
     * sessions */
    if (strcmp(node->cfg.bus, "kafka") == 0 &&
        pl_config_has_role(&node->cfg, "gateway") &&
        gw_relay_new(g, node, &g->relay) != PL_OK) {
        g->nloops = 0;
        pl_gateway_stop(g);
        node->gateway = NULL;
        return PL_ERR_INVALID;
    }
    for (int i = 0; i < g->nloops; i++) {
        pl_status st = loop_init(g, i, g->listen_fd);
        if (st != PL_OK) {
            pl_log(PL_LOG_ERROR, "loop_init_failed", "errno", PL_LI,
                   (int64_t)errno, NULL);
            g->nloops = i + 1;
            pl_gateway_stop(g);
            node->gateway = NULL;
            return st;
        }
    }
    char addr[80], ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
    snprintf(addr, sizeof(addr), "%s:%u", ip, ntohs(sa.sin_port));
    *out = g; /* before the loops start: they hand work to other threads */
    for (int i = 0; i < g->nloops; i++)
        pthread_create(&g->threads[i], NULL, loop_main, &g->loops[i]);
    if (g->relay && gw_relay_start(g->relay) != PL_OK)
        pl_log(PL_LOG_ERROR, "relay_start_failed", NULL); /* no deliveries */
    pl_log(PL_LOG_INFO, "listening", "addr", PL_LS, addr, "loops", PL_LI,
           (int64_t)g->nloops, NULL);
    return PL_OK;
}

static void drain_task(pl_loop *l, void *arg)
{
    if (!l)
        return;
    gw_loop *gw = pl_loop_data(l);
    gw->draining = true;
    if (gw->listen_io.fd >= 0) {
        pl_loop_io_del(l, &gw->listen_io); /* closed once, in stop */
        gw->listen_io.fd = -1;
    }
    for (size_t i = 0; i < gw->conns.cap; i++) {
        gw_conn *c = gw->conns.slots[i].val;
        if (!c)
            continue;
        if (c->state == GW_WS_OPEN || c->state == GW_WS_LOADING)
            gw_ws_close(c, PL_WS_CLOSE_GOING_AWAY, "server shutting down");
        else if (c->state == GW_HTTP && !c->reading_paused)
            gw_conn_close(c);
    }
}

void pl_gateway_drain(pl_gateway *g)
{
    for (int i = 0; i < g->nloops; i++)
        pl_loop_post(g->loops[i].loop, drain_task, NULL, true);
    int64_t deadline = pl_mono_ms() + g->node->cfg.shutdown_grace_ms;
    while (atomic_load(&pl_metrics_g.connections) > 0 &&
           pl_mono_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void loop_close_conns(gw_loop *gw)
{
    for (size_t i = 0; i < gw->conns.cap; i++) {
        gw_conn *c = gw->conns.slots[i].val;
        if (c)
            gw_conn_close(c);
    }
    gw_reap(gw);
}

static void loop_free(gw_loop *gw)
{
    pl_hmap_free(&gw->conns);
    pl_hmap_free(&gw->watchers);
    for (size_t i = 0; i < gw->loading.cap; i++)
        free(gw->loading.slots[i].val);
    pl_hmap_free(&gw->loading);
    pl_hmap_free(&gw->users);
    pl_hmap_free(&gw->convs);
    free(gw->hello_wait);
    pl_loop_free(gw->loop); /* runs leftover tasks so they free their args */
}

void pl_gateway_halt(pl_gateway *g)
{
    if (!g || g->halted)
        return;
    g->halted = true;
    gw_relay_stop(g->relay); /* first: it may wait for a loop's inbox */
    for (int i = 0; i < g->nloops; i++)
        if (g->loops[i].loop)
            pl_loop_stop(g->loops[i].loop);
    for (int i = 0; i < g->nloops; i++)
        if (g->threads[i])
            pthread_join(g->threads[i], NULL);
    /* from now on posts fail (PL_DONE) and their senders free the task */
    for (int i = 0; i < g->nloops; i++)
        if (g->loops[i].loop)
            pl_loop_close_inbox(g->loops[i].loop);
}

void pl_gateway_stop(pl_gateway *g)
{
    if (!g)
        return;
    pl_gateway_halt(g);
    /* close every connection of every loop before freeing any loop: a
     * reaped session publishes presence, which posts to all loops */
    for (int i = 0; i < g->nloops; i++)
        if (g->loops[i].loop)
            loop_close_conns(&g->loops[i]);
    for (int i = 0; i < g->nloops; i++)
        if (g->loops[i].loop)
            loop_free(&g->loops[i]);
    if (g->listen_fd >= 0)
        close(g->listen_fd);
    if (g->spare_fd >= 0)
        close(g->spare_fd);
    pthread_mutex_destroy(&g->spare_mu);
    gw_relay_free(g->relay); /* after the loops: they report to it */
    pl_limtab_free(g->limtab); /* after the loops: they release counts */
    free(g->loops);
    free(g->threads);
    free(g);
}
