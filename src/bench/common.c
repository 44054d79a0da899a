/* common.c - worker threads, connect phase, progress and timeline shared by
 * the WebSocket scenarios (see common.h). */
#include "bench/common.h"
#include "bench/srvmon.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000ull

int bc_worker_init(bc_worker *w, int id, bc_shared *sh, const bench_opts *o,
                   const bw_ops *ops, void *ctx)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->sh = sh;
    w->tl_len = (size_t)((sh->warm_ns + sh->meas_ns + sh->drain_ns) / NS) + 3;
    w->tl = calloc(w->tl_len, sizeof(*w->tl));
    if (!w->tl || bw_loop_init(&w->loop, &o->target, ops, ctx) != PL_OK) {
        free(w->tl);
        w->tl = NULL;
        return -1;
    }
    for (size_t i = 0; i < w->tl_len; i++) {
        bh_init(&w->tl[i].a);
        bh_init(&w->tl[i].b);
    }
    return 0;
}

void bc_worker_free(bc_worker *w)
{
    for (size_t i = 0; i < w->nconns; i++) {
        bw_conn *c = w->conns[i];
        if (w->fds_private)
            c->fd = -1; /* closed when the worker's fd table went away */
        if (c->state != BW_NEW && c->state != BW_CLOSED)
            bw_conn_close(&w->loop, c);
    }
    bw_loop_free(&w->loop);
    free(w->tl);
    w->tl = NULL;
}

bc_sec *bc_sec_at(bc_worker *w, uint64_t now)
{
    uint64_t t0 = atomic_load(&w->sh->t0);
    if (!t0 || now < t0)
        return NULL;
    size_t s = (size_t)((now - t0) / NS);
    if (s >= w->tl_len)
        return NULL;
    if (s > w->tl_pub) { /* a second just ended: publish its p99 */
        w->tl_pub = s;
        atomic_store(&w->ctr.p99_ns, bh_quantile(&w->tl[s - 1].b, 0.99));
    }
    return &w->tl[s];
}

void bc_count_open(bc_worker *w)
{
    atomic_fetch_add(&w->ctr.opened, 1);
}

static int close_kind(const char *why)
{
    if (strncmp(why, "connect", 7) == 0)
        return 0;
    if (strncmp(why, "http", 4) == 0)
        return 1;
    if (strcmp(why, "close 1008") == 0)
        return 2;
    if (strcmp(why, "close 1001") == 0)
        return 3;
    if (strncmp(why, "close", 5) == 0)
        return 4;
    if (strcmp(why, "eof") == 0)
        return 5;
    if (strncmp(why, "send", 4) == 0 || strncmp(why, "recv", 4) == 0)
        return 6;
    return 7;
}

const char *bc_close_kind_name(int k)
{
    static const char *names[BC_CLOSE_KINDS] = {
        "connect_failed", "http_refused", "close_1008", "close_1001",
        "close_other",    "eof",          "io_error",   "protocol"};
    return k >= 0 && k < BC_CLOSE_KINDS ? names[k] : "?";
}

void bc_note_error(bc_worker *w, const char *what, size_t n)
{
    if (w->first_err[0])
        return;
    if (n >= sizeof(w->first_err))
        n = sizeof(w->first_err) - 1;
    memcpy(w->first_err, what, n);
    w->first_err[n] = '\0';
}

/* A connection that never opened counts as failed, one that did as closed
 * (an error during the run: the server closed it or it broke). */
void bc_count_close(bc_worker *w, bw_conn *c, const char *why)
{
    w->close_codes[close_kind(why)]++;
    if (c->t_open_ns)
        atomic_fetch_add(&w->ctr.closed, 1);
    else
        atomic_fetch_add(&w->ctr.failed, 1);
    bc_note_error(w, why, strlen(why));
}

/* A private fd table for this worker thread (bc_shared.private_fds). */
static void own_fd_table(bc_worker *w)
{
    if (!w->sh->private_fds || w->fds_private)
        return;
    if (unshare(CLONE_FILES) == 0)
        w->fds_private = 1;
    else
        bc_note_error(w, "unshare(CLONE_FILES) failed", 27);
}

void bc_connect_all(bc_worker *w)
{
    own_fd_table(w);
    size_t next = 0, inflight = w->sh->inflight ? w->sh->inflight : 1;
    uint64_t deadline = bw_now_ns() + BC_CONNECT_TIMEOUT_NS;
    for (;;) {
        size_t settled = atomic_load(&w->ctr.opened) +
                         atomic_load(&w->ctr.failed) +
                         atomic_load(&w->ctr.closed);
        while (next < w->nconns && next - settled < inflight) {
            bw_conn *c = w->conns[next++];
            if (bw_conn_start(&w->loop, c, c->token) != PL_OK) {
                char why[96];
                snprintf(why, sizeof(why), "connect: %s", strerror(errno));
                bc_count_close(w, c, why);
                settled++;
            }
        }
        if (settled >= w->nconns || bw_now_ns() > deadline)
            break;
        bw_loop_poll(&w->loop, bw_now_ns() + 50000000ull);
    }
}

uint64_t bc_wait_t0(bc_worker *w)
{
    atomic_fetch_add(&w->sh->ready, 1);
    uint64_t t0;
    while (!(t0 = atomic_load(&w->sh->t0)) && !atomic_load(&w->sh->stop))
        bw_loop_poll(&w->loop, bw_now_ns() + 10000000ull);
    return t0;
}

static void worker_reset(bc_worker *w)
{
    for (size_t i = 0; i < w->tl_len; i++) {
        memset(&w->tl[i], 0, sizeof(w->tl[i]));
        bh_init(&w->tl[i].a);
        bh_init(&w->tl[i].b);
    }
    w->tl_pub = 0;
    w->first_err[0] = '\0';
    atomic_store(&w->ctr.sent, 0);
    atomic_store(&w->ctr.acked, 0);
    atomic_store(&w->ctr.delivered, 0);
    atomic_store(&w->ctr.errors, 0);
    atomic_store(&w->ctr.p99_ns, 0);
}

const char *bc_first_error(bc_worker **ws, int n)
{
    for (int i = 0; i < n; i++)
        if (ws[i]->first_err[0])
            return ws[i]->first_err;
    return "";
}

void bc_step_reset(bc_shared *sh, bc_worker **ws)
{
    atomic_store(&sh->t0, 0);
    atomic_store(&sh->ready, 0);
    atomic_store(&sh->done, 0);
    atomic_store(&sh->stop, 0);
    for (int i = 0; i < sh->nworkers; i++)
        worker_reset(ws[i]);
}

int bc_start(bc_shared *sh, bc_worker **ws, void *(*fn)(void *))
{
    for (int i = 0; i < sh->nworkers; i++)
        if (pthread_create(&ws[i]->th, NULL, fn, ws[i]) != 0) {
            fprintf(stderr, "parley-bench: pthread_create failed\n");
            atomic_store(&sh->stop, 1);
            for (int j = 0; j < i; j++)
                pthread_join(ws[j]->th, NULL);
            return -1;
        }
    return 0;
}

static uint64_t sum(bc_worker **ws, int n, size_t off)
{
    uint64_t s = 0;
    for (int i = 0; i < n; i++)
        s += atomic_load((atomic_uint_fast64_t *)((char *)&ws[i]->ctr + off));
    return s;
}
#define SUM(f) sum(ws, sh->nworkers, offsetof(bc_counters, f))

void bc_progress(bc_shared *sh, bc_worker **ws, double t)
{
    static uint64_t last_sent, last_dlv;
    uint64_t sent = SUM(sent), dlv = SUM(delivered), p99 = 0;
    if (sent < last_sent || dlv < last_dlv) /* a new `max` step */
        last_sent = last_dlv = 0;
    for (int i = 0; i < sh->nworkers; i++)
        if (atomic_load(&ws[i]->ctr.p99_ns) > p99)
            p99 = atomic_load(&ws[i]->ctr.p99_ns);
    if (sh->conns_only) {
        fprintf(stderr,
                "[%6.1fs] %s conns %llu/%zu (failed %llu closed "
                "%llu)\n",
                t, sh->label, (unsigned long long)SUM(opened), sh->expect_conns,
                (unsigned long long)SUM(failed),
                (unsigned long long)SUM(closed));
        return;
    }
    fprintf(stderr,
            "[%6.1fs] %s conns %llu/%zu (failed %llu closed %llu) | sent "
            "%llu (+%llu) acked %llu delivered %llu (+%llu) | errors %llu | "
            "p99 %.2f ms\n",
            t, sh->label, (unsigned long long)SUM(opened), sh->expect_conns,
            (unsigned long long)SUM(failed), (unsigned long long)SUM(closed),
            (unsigned long long)sent, (unsigned long long)(sent - last_sent),
            (unsigned long long)SUM(acked), (unsigned long long)dlv,
            (unsigned long long)(dlv - last_dlv),
            (unsigned long long)SUM(errors), (double)p99 / 1e6);
    last_sent = sent;
    last_dlv = dlv;
}

/* Samples the server once per second and at the window's edges. */
static void monitor(bc_shared *sh, bc_worker **ws, uint64_t now, int tick)
{
    srvmon *m = sh->mon;
    uint64_t t0 = atomic_load(&sh->t0);
    if (!m || !t0)
        return;
    double t = ((double)now - (double)t0) / 1e9;
    uint64_t dlv = SUM(delivered);
    if (!m->have[0] && now >= t0 + sh->warm_ns)
        srvmon_window(m, 0, t, dlv);
    if (!m->have[1] && now >= t0 + sh->warm_ns + sh->meas_ns)
        srvmon_window(m, 1, t, dlv);
    if (tick)
        srvmon_sample(m, t, dlv);
}

void bc_wait(bc_shared *sh, bc_worker **ws, int set_t0)
{
    uint64_t start = bw_now_ns(), next = start + NS;
    while (atomic_load(&sh->done) < sh->nworkers) {
        uint64_t now = bw_now_ns();
        monitor(sh, ws, now, now >= next);
        if (set_t0 && !atomic_load(&sh->t0) &&
            atomic_load(&sh->ready) == sh->nworkers) {
            if (sh->before_t0)
                sh->before_t0(sh->ctx);
            atomic_store(&sh->t0, bw_now_ns() + 20000000ull);
        }
        if (now >= next) {
            if (!sh->quiet)
                bc_progress(sh, ws, (double)(now - start) / 1e9);
            next += NS;
        }
        usleep(5000);
    }
    monitor(sh, ws, bw_now_ns(), 1); /* a window that ended with the run */
    for (int i = 0; i < sh->nworkers; i++)
        pthread_join(ws[i]->th, NULL);
}

bc_sec *bc_merge_timeline(bc_worker **ws, int n, size_t *len)
{
    *len = ws[0]->tl_len;
    bc_sec *m = calloc(*len, sizeof(*m));
    if (!m)
        return NULL;
    for (size_t s = 0; s < *len; s++) {
        bh_init(&m[s].a);
        bh_init(&m[s].b);
        for (int i = 0; i < n; i++) {
            const bc_sec *x = &ws[i]->tl[s];
            m[s].sent += x->sent;
            m[s].acked += x->acked;
            m[s].delivered += x->delivered;
            m[s].errors += x->errors;
            bh_merge(&m[s].a, &x->a);
            bh_merge(&m[s].b, &x->b);
        }
    }
    return m;
}
