/* group.c - the `group` scenario: one group of G members, K of them
 * connected, S senders at a total rate R (open loop), or one burst of M
 * messages sent at once (--burst M). Measures deliveries/s, per-delivery
 * latency and, per message, the time until it reached every connected
 * member (all-reached), all from the scheduled send time. Setup and the
 * report are in group_setup.c; ownership is described in group_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"
#include "bench/group_int.h"
#include "bench/jscan.h"
#include "bench/report.h"
#include "bench/rest.h"
#include "bench/scn.h"

static int g_in_window(const gworker *gw, uint64_t t)
{
    const bc_shared *sh = gw->w.sh;
    uint64_t t0 = atomic_load(&sh->t0);
    return gw->g->burst ||
           (t >= t0 + sh->warm_ns && t < t0 + sh->warm_ns + sh->meas_ns);
}

/* The message named by client_msg_id "<run_id>g<k>", or NULL. */
static gmsg *g_find(gworker *gw, const char *p, size_t n)
{
    js_val v;
    char buf[48];
    size_t k, rl = strlen(gw->g->run_id);
    if (js_get(p, n, "client_msg_id", &v) != 1 || !v.is_str ||
        v.len >= sizeof(buf) || v.len <= rl ||
        memcmp(v.p, gw->g->run_id, rl) != 0)
        return NULL;
    memcpy(buf, v.p + rl, v.len - rl);
    buf[v.len - rl] = '\0';
    if (sscanf(buf, "g%zu", &k) != 1 || k >= atomic_load(&gw->g->next))
        return NULL;
    return &gw->g->msgs[k];
}

static void g_on_ack(gworker *gw, const char *p, size_t n, uint64_t now)
{
    gmsg *m = g_find(gw, p, n);
    if (!m) {
        gw->stray++;
        return;
    }
    if (atomic_fetch_add(&m->acked, 1) != 0) {
        gw->dup_acks++;
        return;
    }
    atomic_fetch_add(&gw->w.ctr.acked, 1);
    uint64_t sched = atomic_load(&m->sched_ns);
    if (g_in_window(gw, sched))
        bh_record(&gw->ack, now - sched);
    bc_sec *s = bc_sec_at(&gw->w, now);
    if (s)
        s->acked++;
}

/* Per connection, a conversation's messages must arrive in seq order. */
static void check_order(gworker *gw, bw_conn *c, const char *p, size_t n)
{
    js_val v;
    int64_t seq = js_get(p, n, "seq", &v) == 1 ? js_int(&v) : -1;
    if (seq <= gw->g->last_seq[c->idx])
        gw->out_of_order++;
    else
        gw->g->last_seq[c->idx] = seq;
}

static void g_on_message(gworker *gw, bw_conn *c, const char *p, size_t n,
                         uint64_t now)
{
    gmsg *m = g_find(gw, p, n);
    if (!m) {
        gw->stray++;
        return;
    }
    check_order(gw, c, p, n);
    gw->msg_bytes += n;
    uint64_t sched = atomic_load(&m->sched_ns), lat = now - sched;
    unsigned cnt = atomic_fetch_add(&m->ndeliv, 1) + 1;
    unsigned expect = atomic_load(&gw->g->expect);
    atomic_fetch_add(&gw->w.ctr.delivered, 1);
    gw->last_dlv_ns = now;
    bc_sec *s = bc_sec_at(&gw->w, now);
    if (s) {
        s->delivered++;
        bh_record(&s->a, lat);
    }
    gw->excess += cnt > expect;
    gw->win_dlv += gw->g->burst || g_in_window(gw, now);
    if (!g_in_window(gw, sched))
        return;
    bh_record(&gw->dlv, lat);
    if (cnt == expect) { /* this delivery completed the message */
        bh_record(&gw->all, lat);
        if (s)
            bh_record(&s->b, lat);
    }
}

static void g_on_error(gworker *gw, const char *p, size_t n, uint64_t now)
{
    atomic_fetch_add(&gw->w.ctr.errors, 1);
    scn_codes_add(&gw->codes, p, n);
    bc_note_error(&gw->w, p, n);
    bc_sec *s = bc_sec_at(&gw->w, now);
    if (s)
        s->errors++;
}

static void g_on_text(bw_loop *l, bw_conn *c, const char *p, size_t n,
                      uint64_t now)
{
    gworker *gw = l->ctx;
    js_val t;
    if (js_get(p, n, "type", &t) != 1)
        gw->stray++;
    else if (js_eq(&t, "message"))
        g_on_message(gw, c, p, n, now);
    else if (js_eq(&t, "ack"))
        g_on_ack(gw, p, n, now);
    else if (js_eq(&t, "error"))
        g_on_error(gw, p, n, now);
}

static void g_on_open(bw_loop *l, bw_conn *c, uint64_t now)
{
    bc_count_open(&((gworker *)l->ctx)->w);
}

static void g_on_close(bw_loop *l, bw_conn *c, const char *why)
{
    gworker *gw = l->ctx;
    bc_count_close(&gw->w, c, why);
    bc_sec *s = bc_sec_at(&gw->w, gw->w.loop.now_ns);
    if (s && c->t_open_ns)
        s->errors++;
}

const bw_ops group_ops = {g_on_open, g_on_text, g_on_close};

static void g_send(gworker *gw, bw_conn *c, uint64_t sched)
{
    group_run *g = gw->g;
    size_t k = atomic_fetch_add(&g->next, 1);
    if (k >= g->cap) {
        atomic_fetch_sub(&g->next, 1);
        return;
    }
    atomic_store(&g->msgs[k].sched_ns, sched);
    char buf[4096 + 256];
    int len = snprintf(buf, sizeof(buf),
                       "{\"type\":\"send\",\"conversation_id\":\"%s\","
                       "\"client_msg_id\":\"%sg%zu\",\"content\":\"%s\"}",
                       g->conv, g->run_id, k, g->content);
    if (c->state != BW_OPEN || len < 0 || (size_t)len >= sizeof(buf) ||
        bw_send_text(&gw->w.loop, c, buf, (size_t)len) != PL_OK) {
        gw->send_fail++;
        atomic_fetch_add(&gw->w.ctr.errors, 1);
    }
    gw->sent++;
    atomic_fetch_add(&gw->w.ctr.sent, 1);
    uint64_t now = bw_now_ns();
    bc_sec *s = bc_sec_at(&gw->w, now);
    if (s)
        s->sent++;
    if (g_in_window(gw, sched))
        bh_record(&gw->lag, now - sched);
}

static void g_run_rate(gworker *gw, uint64_t t0)
{
    bc_worker *w = &gw->w;
    uint64_t end = t0 + w->sh->warm_ns + w->sh->meas_ns, next = t0;
    size_t turn = 0;
    for (;;) {
        uint64_t now = bw_now_ns();
        while (next <= now && next < end) {
            g_send(gw, gw->senders[turn++ % gw->nsenders], next);
            next += gw->interval_ns;
        }
        if (now >= end)
            break;
        bw_loop_poll(&w->loop, next < end ? next : end);
    }
}

/* Burst: this worker's share of M messages, all scheduled at t0 and
 * written in one loop iteration. */
static void g_run_burst(gworker *gw, uint64_t t0)
{
    group_run *g = gw->g;
    size_t S = (size_t)g->o->senders, mine = 0;
    for (size_t i = 0; i < gw->nsenders; i++)
        mine += (size_t)g->burst / S;
    if (gw->w.id == 0)
        mine += (size_t)g->burst % S;
    while (bw_now_ns() < t0)
        bw_loop_poll(&gw->w.loop, t0);
    for (size_t i = 0; i < mine; i++)
        g_send(gw, gw->senders[i % gw->nsenders], t0);
}

static int g_complete(const group_run *g)
{
    size_t n = atomic_load(&g->next);
    unsigned expect = atomic_load(&g->expect);
    for (size_t k = 0; k < n; k++)
        if (atomic_load(&g->msgs[k].ndeliv) < expect)
            return 0;
    return 1;
}

void *group_main(void *arg)
{
    gworker *gw = arg;
    bc_worker *w = &gw->w;
    bc_connect_all(w);
    uint64_t t0 = bc_wait_t0(w);
    if (t0 && gw->nsenders && gw->g->burst)
        g_run_burst(gw, t0);
    else if (t0 && gw->nsenders)
        g_run_rate(gw, t0);
    else if (t0) /* receivers only: wait out the sending phase */
        while (bw_now_ns() < t0 + w->sh->warm_ns + w->sh->meas_ns &&
               !gw->g->burst)
            bw_loop_poll(&w->loop, bw_now_ns() + 50000000ull);
    uint64_t stop = bw_now_ns() + w->sh->drain_ns;
    while (t0 && bw_now_ns() < stop && !g_complete(gw->g))
        bw_loop_poll(&w->loop, bw_now_ns() + 10000000ull);
    atomic_fetch_add(&w->sh->done, 1);
    return NULL;
}

/* Sets the deliveries expected per message: the connections open now. */
void group_before_t0(void *ctx)
{
    group_run *g = ctx;
    unsigned open = 0;
    for (int i = 0; i < g->o->threads; i++)
        open += (unsigned)(atomic_load(&g->gw[i].w.ctr.opened) -
                           atomic_load(&g->gw[i].w.ctr.closed));
    atomic_store(&g->expect, open);
}
