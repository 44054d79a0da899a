/* idle.c - the `idle` scenario's connection slices; the run, the RSS
 * readings and the report are in idle_run.c. The scenario opens N
 * authenticated WebSockets as fast as the server accepts them (at most
 * --concurrency handshakes in flight), holds them for --hold seconds
 * answering heartbeats, and reports the connect+auth rate and the
 * server's RSS per connection (VmRSS before and after, from /proc).
 *
 * When N sockets do not fit under one process's file-descriptor limit,
 * the connections are split over forked child processes ("slices"); each
 * child reports its figures through a pipe once connected and holds its
 * connections until the parent closes the child's stop pipe.
 *
 * Ownership: a slice (one per process) owns its connections and workers;
 * the parent owns the users and the child pids and pipes. */
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"
#include "bench/idle_int.h"
#include "bench/scn.h"

static void i_on_open(bw_loop *l, bw_conn *c, uint64_t now)
{
    iworker *iw = l->ctx;
    bc_count_open(&iw->w);
    bh_record(&iw->setup, now - c->t_start_ns);
    iw->last_open_ns = now;
}

static void i_on_close(bw_loop *l, bw_conn *c, const char *why)
{
    bc_count_close(&((iworker *)l->ctx)->w, c, why);
}

static const bw_ops idle_ops = {i_on_open, NULL, i_on_close};

void *idle_main(void *arg)
{
    iworker *iw = arg;
    bc_worker *w = &iw->w;
    bc_connect_all(w);
    bc_wait_t0(w); /* no t0 here: holds (heartbeats) until stop */
    for (size_t i = 0; i < w->nconns; i++)
        if (w->conns[i]->state != BW_CLOSED && w->conns[i]->state != BW_NEW)
            bw_conn_close(&w->loop, w->conns[i]);
    atomic_fetch_add(&w->sh->done, 1);
    return NULL;
}

int idle_slice_init(idle_slice *s)
{
    const bench_opts *o = s->o;
    size_t n = s->b - s->a, T = (size_t)o->threads;
    s->conns = calloc(n ? n : 1, sizeof(*s->conns));
    s->iw = calloc(T, sizeof(*s->iw));
    if (!s->conns || !s->iw)
        return -1;
    scn_shared_init(&s->sh, o, "idle", n);
    s->sh.drain_ns = s->sh.meas_ns = s->sh.warm_ns = 0;
    s->sh.conns_only = 1;
    for (size_t i = 0; i < n; i++) {
        s->conns[i].fd = -1;
        s->conns[i].idx = (uint32_t)i;
        s->conns[i].token = s->users->u[s->a + i].token;
    }
    for (size_t t = 0; t < T; t++) {
        iworker *iw = &s->iw[t];
        if (bc_worker_init(&iw->w, (int)t, &s->sh, o, &idle_ops, iw) < 0)
            return -1;
        s->wp[t] = &iw->w;
        bh_init(&iw->setup);
        iw->w.conns = calloc(n / T + 1, sizeof(*iw->w.conns));
        if (!iw->w.conns)
            return -1;
        for (size_t i = t; i < n; i += T)
            iw->w.conns[iw->w.nconns++] = &s->conns[i];
        iw->w.loop.conns = iw->w.conns;
        iw->w.loop.nconns = iw->w.nconns;
    }
    return 0;
}

void idle_slice_free(idle_slice *s)
{
    for (int t = 0; s->iw && t < s->o->threads; t++) {
        if (s->wp[t])
            bc_worker_free(&s->iw[t].w);
        free(s->iw[t].w.conns);
    }
    free(s->iw);
    free(s->conns);
}

/* The slice's figures so far (call after all workers are ready). */
void idle_slice_result(idle_slice *s, idle_res *r)
{
    memset(r, 0, sizeof(*r));
    bh_init(&r->setup);
    r->t_first_ns = UINT64_MAX;
    for (int t = 0; t < s->o->threads; t++) {
        iworker *iw = &s->iw[t];
        r->opened += atomic_load(&iw->w.ctr.opened);
        r->failed += atomic_load(&iw->w.ctr.failed);
        r->closed += atomic_load(&iw->w.ctr.closed);
        for (int k = 0; k < BC_CLOSE_KINDS; k++)
            r->close_kinds[k] += iw->w.close_codes[k];
        bh_merge(&r->setup, &iw->setup);
        if (iw->last_open_ns > r->t_last_ns)
            r->t_last_ns = iw->last_open_ns;
        for (size_t i = 0; i < iw->w.nconns; i++)
            if (iw->w.conns[i]->t_start_ns &&
                iw->w.conns[i]->t_start_ns < r->t_first_ns)
                r->t_first_ns = iw->w.conns[i]->t_start_ns;
        if (!r->first_err[0])
            memcpy(r->first_err, iw->w.first_err, sizeof(r->first_err));
    }
}

void idle_res_merge(idle_res *dst, const idle_res *src)
{
    dst->opened += src->opened;
    dst->failed += src->failed;
    dst->closed += src->closed;
    for (int k = 0; k < BC_CLOSE_KINDS; k++)
        dst->close_kinds[k] += src->close_kinds[k];
    bh_merge(&dst->setup, &src->setup);
    if (src->t_first_ns < dst->t_first_ns)
        dst->t_first_ns = src->t_first_ns;
    if (src->t_last_ns > dst->t_last_ns)
        dst->t_last_ns = src->t_last_ns;
    if (!dst->first_err[0])
        memcpy(dst->first_err, src->first_err, sizeof(dst->first_err));
}
