/* direct.c - the `direct` scenario: P pairs of users, each pair in its own
 * direct conversation with both users connected; open-loop sends at a
 * fixed total rate (scheduled, never waiting for acks); measures send->ack
 * and send->receive (at the peer's connection) latency from the scheduled
 * send time, so a slow server cannot hide its delay by slowing the client
 * (no coordinated omission).
 *
 * Ownership: direct_run (main thread) owns users, conversations, the
 * connection array and the workers. A pair's two connections belong to one
 * worker (pair p -> worker p % T), so every ack and delivery of a message
 * arrives at the worker that sent it: the per-message table (dmsg) is
 * worker-local and needs no locking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"
#include "bench/jscan.h"
#include "bench/max.h"
#include "bench/report.h"
#include "bench/rest.h"
#include "bench/scn.h"
#include "bench/srvmon.h"

#define DM_ACKED 1u
#define DM_DELIVERED 2u
#define DM_ECHOED 4u
#define DM_ERROR 8u

typedef struct dmsg {
    uint64_t sched_ns; /* latencies count from here (open loop) */
    uint64_t sent_ns;  /* when the frame was queued: shows client lag */
    uint32_t pair;
    uint8_t side; /* 0: user 2p sends, 1: user 2p+1 sends */
    uint8_t flags;
} dmsg;

typedef struct direct_run direct_run;

typedef struct dworker {
    bc_worker w; /* first: the loop's ctx is the dworker */
    direct_run *d;
    uint32_t *pairs; /* this worker's pairs */
    size_t npairs;
    dmsg *msgs; /* indexed by the number in client_msg_id "<run>d<w>.<k>" */
    size_t nmsgs, cap;
    uint64_t interval_ns;
    uint64_t n_acked, n_dlv, n_echo, n_err; /* unique messages */
    uint64_t win_sent, win_dlv, dup, stray, send_fail;
    bh_hist ack, dlv, lag, dlv_sent;
    scn_codes codes;
} dworker;

struct direct_run {
    const bench_opts *o;
    bench_users users;
    char (*conv)[37]; /* conversation id per pair */
    bw_conn *conns;   /* 2 per pair */
    char *content;
    char run_id[24]; /* client_msg_id prefix: ids must not repeat across
                        runs, or the server answers them as resends */
    bc_shared sh;
    srvmon mon; /* the server's CPU and RSS, when it is local */
    dworker *dw;
    bc_worker *wp[BC_MAX_WORKERS];
};

static int in_window(const bc_worker *w, uint64_t t)
{
    uint64_t t0 = atomic_load(&w->sh->t0);
    return t >= t0 + w->sh->warm_ns && t < t0 + w->sh->warm_ns + w->sh->meas_ns;
}

/* The message named by a client_msg_id "<run_id>d<worker>.<k>", or NULL. */
static dmsg *find_msg(dworker *dw, const js_val *v)
{
    unsigned wid;
    size_t k;
    char buf[48];
    if (!v->is_str || v->len >= sizeof(buf))
        return NULL;
    memcpy(buf, v->p, v->len);
    buf[v->len] = '\0';
    size_t rl = strlen(dw->d->run_id);
    if (v->len <= rl || memcmp(buf, dw->d->run_id, rl) != 0 ||
        sscanf(buf + rl, "d%u.%zu", &wid, &k) != 2 || (int)wid != dw->w.id ||
        k >= dw->nmsgs)
        return NULL;
    return &dw->msgs[k];
}

static void on_ack(dworker *dw, const char *p, size_t n, uint64_t now)
{
    js_val v;
    dmsg *m = js_get(p, n, "client_msg_id", &v) == 1 ? find_msg(dw, &v) : NULL;
    if (!m || (m->flags & DM_ACKED)) {
        m ? dw->dup++ : dw->stray++;
        return;
    }
    m->flags |= DM_ACKED;
    dw->n_acked++;
    atomic_fetch_add(&dw->w.ctr.acked, 1);
    uint64_t lat = now - m->sched_ns;
    bc_sec *s = bc_sec_at(&dw->w, now);
    if (s) {
        s->acked++;
        bh_record(&s->a, lat);
    }
    if (in_window(&dw->w, m->sched_ns))
        bh_record(&dw->ack, lat);
}

/* A message frame at connection c: the peer's delivery or the echo to
 * the sender's own connection. */
static void on_message(dworker *dw, bw_conn *c, const char *p, size_t n,
                       uint64_t now)
{
    js_val v;
    dmsg *m = js_get(p, n, "client_msg_id", &v) == 1 ? find_msg(dw, &v) : NULL;
    uint32_t sender = m ? 2 * m->pair + m->side : 0;
    if (!m || (c->idx != sender && c->idx != (sender ^ 1u))) {
        dw->stray++;
        return;
    }
    uint8_t bit = c->idx == sender ? DM_ECHOED : DM_DELIVERED;
    if (m->flags & bit) {
        dw->dup++;
        return;
    }
    m->flags |= bit;
    if (bit == DM_ECHOED) {
        dw->n_echo++;
        return;
    }
    dw->n_dlv++;
    atomic_fetch_add(&dw->w.ctr.delivered, 1);
    uint64_t lat = now - m->sched_ns;
    bc_sec *s = bc_sec_at(&dw->w, now);
    if (s) {
        s->delivered++;
        bh_record(&s->b, lat);
    }
    if (in_window(&dw->w, m->sched_ns)) {
        bh_record(&dw->dlv, lat);
        bh_record(&dw->dlv_sent, now - m->sent_ns);
    }
    dw->win_dlv += in_window(&dw->w, now);
}

static void on_error_frame(dworker *dw, const char *p, size_t n, uint64_t now)
{
    js_val v;
    atomic_fetch_add(&dw->w.ctr.errors, 1);
    scn_codes_add(&dw->codes, p, n);
    bc_note_error(&dw->w, p, n);
    bc_sec *s = bc_sec_at(&dw->w, now);
    if (s)
        s->errors++;
    dmsg *m = js_get(p, n, "client_msg_id", &v) == 1 ? find_msg(dw, &v) : NULL;
    if (m && !(m->flags & DM_ERROR)) {
        m->flags |= DM_ERROR;
        dw->n_err++;
    }
}

static void d_on_text(bw_loop *l, bw_conn *c, const char *p, size_t n,
                      uint64_t now)
{
    dworker *dw = l->ctx;
    js_val t;
    if (js_get(p, n, "type", &t) != 1)
        dw->stray++;
    else if (js_eq(&t, "ack"))
        on_ack(dw, p, n, now);
    else if (js_eq(&t, "message"))
        on_message(dw, c, p, n, now);
    else if (js_eq(&t, "error"))
        on_error_frame(dw, p, n, now);
    /* pong, read, typing, presence: not this scenario's business */
}

static void d_on_open(bw_loop *l, bw_conn *c, uint64_t now)
{
    bc_count_open(&((dworker *)l->ctx)->w);
}

static void d_on_close(bw_loop *l, bw_conn *c, const char *why)
{
    dworker *dw = l->ctx;
    bc_count_close(&dw->w, c, why);
    bc_sec *s = bc_sec_at(&dw->w, dw->w.loop.now_ns);
    if (s && c->t_open_ns)
        s->errors++;
}

static const bw_ops direct_ops = {d_on_open, d_on_text, d_on_close};

static void send_one(dworker *dw, uint64_t sched)
{
    direct_run *d = dw->d;
    size_t k = dw->nmsgs;
    if (k >= dw->cap)
        return;
    uint32_t p = dw->pairs[k % dw->npairs];
    uint8_t side = (uint8_t)((k / dw->npairs) & 1);
    bw_conn *c = &d->conns[2 * p + side];
    dw->msgs[k] = (dmsg){sched, bw_now_ns(), p, side, 0};
    dw->nmsgs++;
    char buf[4096 + 256];
    int len = snprintf(buf, sizeof(buf),
                       "{\"type\":\"send\",\"conversation_id\":\"%s\","
                       "\"client_msg_id\":\"%sd%d.%zu\",\"content\":\"%s\"}",
                       d->conv[p], d->run_id, dw->w.id, k, d->content);
    if (c->state != BW_OPEN || len < 0 || (size_t)len >= sizeof(buf) ||
        bw_send_text(&dw->w.loop, c, buf, (size_t)len) != PL_OK) {
        dw->msgs[k].flags = DM_ERROR;
        dw->n_err++;
        dw->send_fail++;
        atomic_fetch_add(&dw->w.ctr.errors, 1);
    }
    uint64_t now = bw_now_ns();
    atomic_fetch_add(&dw->w.ctr.sent, 1);
    bc_sec *s = bc_sec_at(&dw->w, now);
    if (s)
        s->sent++;
    if (in_window(&dw->w, sched)) {
        dw->win_sent++;
        bh_record(&dw->lag, now - sched);
    }
}

/* Open loop: every send has a scheduled time; a late loop catches up by
 * sending everything that is due, and latency counts from the schedule. */
static void run_sends(dworker *dw, uint64_t t0)
{
    bc_worker *w = &dw->w;
    uint64_t end = t0 + w->sh->warm_ns + w->sh->meas_ns;
    uint64_t next =
        t0 + dw->interval_ns * (uint64_t)w->id / (uint64_t)w->sh->nworkers;
    for (;;) {
        uint64_t now = bw_now_ns();
        while (next <= now && next < end) {
            send_one(dw, next);
            next += dw->interval_ns;
        }
        if (now >= end)
            break;
        bw_loop_poll(&w->loop, next < end ? next : end);
    }
}

static int outstanding(const dworker *dw)
{
    return dw->n_acked + dw->n_err < dw->nmsgs ||
           dw->n_dlv + dw->n_err < dw->nmsgs ||
           dw->n_echo + dw->n_err < dw->nmsgs;
}

static void *direct_main(void *arg)
{
    dworker *dw = arg;
    bc_worker *w = &dw->w;
    bc_connect_all(w);
    uint64_t t0 = bc_wait_t0(w);
    if (t0 && dw->npairs && dw->interval_ns) {
        run_sends(dw, t0);
        uint64_t stop = bw_now_ns() + w->sh->drain_ns;
        while (outstanding(dw) && bw_now_ns() < stop)
            bw_loop_poll(&w->loop, bw_now_ns() + 20000000ull);
    }
    atomic_fetch_add(&w->sh->done, 1);
    return NULL;
}

/* Creates each pair's direct conversation over REST. */
static int create_convs(direct_run *d, char *err, size_t cap)
{
    size_t P = (size_t)d->o->pairs;
    rest_conn r;
    rest_init(&r, &d->o->target);
    int rc = 0;
    for (size_t p = 0; p < P && rc == 0; p++) {
        json_t *body = json_pack("{s:s, s:[s]}", "type", "direct", "member_ids",
                                 d->users.u[2 * p + 1].id);
        rc = scn_create_conv(&r, d->users.u[2 * p].token, body, d->conv[p], err,
                             cap);
        json_decref(body);
        if (!d->o->quiet && (p + 1) % 1000 == 0)
            fprintf(stderr, "setup: %zu/%zu conversations\n", p + 1, P);
    }
    rest_close(&r);
    return rc;
}

/* The per-run part of a worker: its share of o->rate, a fresh message
 * table, zeroed counters and histograms. Called once per run (`max` runs
 * several over the same connections); 0 or -1 (out of memory). */
static int prepare_run(dworker *dw)
{
    const bench_opts *o = dw->d->o;
    double rate = o->rate * (double)dw->npairs / (double)o->pairs;
    free(dw->msgs);
    dw->cap = (size_t)(rate * (o->warmup + o->duration)) + 64;
    dw->msgs = calloc(dw->cap, sizeof(*dw->msgs));
    dw->interval_ns = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
    dw->nmsgs = 0;
    dw->n_acked = dw->n_dlv = dw->n_echo = dw->n_err = 0;
    dw->win_sent = dw->win_dlv = dw->dup = dw->stray = dw->send_fail = 0;
    memset(&dw->codes, 0, sizeof(dw->codes));
    bh_init(&dw->ack);
    bh_init(&dw->dlv);
    bh_init(&dw->lag);
    bh_init(&dw->dlv_sent);
    return dw->msgs ? 0 : -1;
}

static int init_worker(direct_run *d, int i, char *err, size_t cap)
{
    const bench_opts *o = d->o;
    dworker *dw = &d->dw[i];
    int T = o->threads;
    if (bc_worker_init(&dw->w, i, &d->sh, o, &direct_ops, dw) < 0)
        return -1;
    d->wp[i] = &dw->w;
    dw->d = d;
    size_t P = (size_t)o->pairs,
           mine = P / (size_t)T + ((size_t)i < P % (size_t)T);
    dw->pairs = calloc(mine + 1, sizeof(*dw->pairs));
    dw->w.conns = calloc(2 * mine + 1, sizeof(*dw->w.conns));
    if (!dw->pairs || !dw->w.conns)
        return -1;
    for (size_t p = (size_t)i; p < P; p += (size_t)T) {
        dw->pairs[dw->npairs++] = (uint32_t)p;
        dw->w.conns[dw->w.nconns++] = &d->conns[2 * p];
        dw->w.conns[dw->w.nconns++] = &d->conns[2 * p + 1];
    }
    dw->w.loop.conns = dw->w.conns;
    dw->w.loop.nconns = dw->w.nconns;
    (void)err;
    (void)cap;
    return prepare_run(dw);
}

static int setup(direct_run *d, char *err, size_t cap)
{
    const bench_opts *o = d->o;
    size_t P = (size_t)o->pairs;
    if (scn_users(o, 2 * P, &d->users, err, cap) < 0)
        return -1;
    d->conv = calloc(P, sizeof(*d->conv));
    d->conns = calloc(2 * P, sizeof(*d->conns));
    d->content = scn_content((size_t)o->content_bytes);
    scn_run_id(d->run_id, sizeof(d->run_id));
    d->dw = calloc((size_t)o->threads, sizeof(*d->dw));
    if (!d->conv || !d->conns || !d->content || !d->dw) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < 2 * P; i++) {
        d->conns[i].fd = -1;
        d->conns[i].idx = (uint32_t)i;
        d->conns[i].token = d->users.u[i].token;
    }
    if (create_convs(d, err, cap) < 0)
        return -1;
    scn_shared_init(&d->sh, o, "direct", 2 * P);
    srvmon_init(&d->mon, scn_server_pid(o));
    d->sh.mon = &d->mon;
    for (int i = 0; i < o->threads; i++)
        if (init_worker(d, i, err, cap) < 0) {
            snprintf(err, cap, "worker setup failed (out of memory?)");
            return -1;
        }
    return 0;
}

/* Sums of the workers' plain counters (after join). */
typedef struct dtotals {
    uint64_t sent, win_sent, acked, ndlv, echo, err_msgs, win_dlv, dup, stray;
    uint64_t send_fail, err_frames, miss_ack, miss_dlv, miss_echo;
    uint64_t opened, failed, closed;
    bh_hist ack, dlv, lag, dlv_sent;
    scn_codes codes;
} dtotals;

static void add_worker(dtotals *t, dworker *dw)
{
    t->sent += dw->nmsgs;
    t->win_sent += dw->win_sent;
    t->acked += dw->n_acked;
    t->ndlv += dw->n_dlv;
    t->echo += dw->n_echo;
    t->err_msgs += dw->n_err;
    t->win_dlv += dw->win_dlv;
    t->dup += dw->dup;
    t->stray += dw->stray;
    t->send_fail += dw->send_fail;
    t->err_frames += atomic_load(&dw->w.ctr.errors) - dw->send_fail;
    for (size_t k = 0; k < dw->nmsgs; k++) {
        uint8_t f = dw->msgs[k].flags;
        t->miss_ack += !(f & (DM_ACKED | DM_ERROR));
        t->miss_dlv += !(f & (DM_DELIVERED | DM_ERROR));
        t->miss_echo += !(f & (DM_ECHOED | DM_ERROR));
    }
    t->opened += atomic_load(&dw->w.ctr.opened);
    t->failed += atomic_load(&dw->w.ctr.failed);
    t->closed += atomic_load(&dw->w.ctr.closed);
    bh_merge(&t->ack, &dw->ack);
    bh_merge(&t->dlv, &dw->dlv);
    bh_merge(&t->lag, &dw->lag);
    bh_merge(&t->dlv_sent, &dw->dlv_sent);
    scn_codes_merge(&t->codes, &dw->codes);
}

static void print_report(const direct_run *d, const dtotals *t)
{
    const bench_opts *o = d->o;
    printf("\nparley-bench direct: %ld pairs (%ld connections), %.0f msgs/s "
           "offered for %.0f s after %.0f s warm-up, %d client thread%s\n"
           "target %s\n\n",
           o->pairs, 2 * o->pairs, o->rate, o->duration, o->warmup, o->threads,
           o->threads > 1 ? "s" : "", o->target.url);
    printf("  connections   %llu opened, %llu failed, %llu closed during the "
           "run\n",
           (unsigned long long)t->opened, (unsigned long long)t->failed,
           (unsigned long long)t->closed);
    printf("  messages      sent %llu (%llu in the window), acked %llu, "
           "delivered %llu, echoed %llu\n",
           (unsigned long long)t->sent, (unsigned long long)t->win_sent,
           (unsigned long long)t->acked, (unsigned long long)t->ndlv,
           (unsigned long long)t->echo);
    printf("  throughput    %.1f msgs/s delivered in the window (offered "
           "%.1f, sent %.1f)\n",
           (double)t->win_dlv / o->duration, o->rate,
           (double)t->win_sent / o->duration);
    printf("  errors        %llu error frames, %llu failed sends; missing at "
           "the end: %llu acks, %llu deliveries, %llu echoes; %llu "
           "duplicates, %llu stray frames\n",
           (unsigned long long)t->err_frames, (unsigned long long)t->send_fail,
           (unsigned long long)t->miss_ack, (unsigned long long)t->miss_dlv,
           (unsigned long long)t->miss_echo, (unsigned long long)t->dup,
           (unsigned long long)t->stray);
    scn_codes_print(&t->codes, stdout);
    report_print_closes(stdout, (bc_worker **)d->wp, o->threads);
    printf("\n");
    report_lat_header(stdout);
    report_lat_row(stdout, "ack (send->ack)", &t->ack);
    report_lat_row(stdout, "send->receive", &t->dlv);
    report_lat_row(stdout, "client send lag", &t->lag);
    report_lat_row(stdout, "s->r from actual send", &t->dlv_sent);
    printf("\n");
    srvmon_print(&d->mon, stdout);
    printf("\n  send->receive histogram:\n");
    bh_print_ascii(&t->dlv, stdout, "  ");
}

static json_t *results_json(const direct_run *d, const dtotals *t)
{
    const bench_opts *o = d->o;
    json_t *errs = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "error_frames",
        (json_int_t)t->err_frames, "send_failures", (json_int_t)t->send_fail,
        "missing_acks", (json_int_t)t->miss_ack, "missing_deliveries",
        (json_int_t)t->miss_dlv, "missing_echoes", (json_int_t)t->miss_echo,
        "duplicates", (json_int_t)t->dup, "stray_frames", (json_int_t)t->stray,
        "codes", scn_codes_json(&t->codes), "closes",
        report_closes((bc_worker **)d->wp, o->threads));
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:o,"
        " s:o, s:o, s:o}",
        "connections", 2 * (json_int_t)o->pairs, "opened",
        (json_int_t)t->opened, "failed", (json_int_t)t->failed,
        "closed_during_run", (json_int_t)t->closed, "sent", (json_int_t)t->sent,
        "sent_in_window", (json_int_t)t->win_sent, "acked",
        (json_int_t)t->acked, "delivered", (json_int_t)t->ndlv, "echoed",
        (json_int_t)t->echo, "delivered_per_s",
        (double)t->win_dlv / o->duration, "sent_per_s",
        (double)t->win_sent / o->duration, "errors", errs, "ack_latency",
        report_hist(&t->ack), "send_to_receive_latency", report_hist(&t->dlv),
        "client_send_lag", report_hist(&t->lag),
        "send_to_receive_from_actual_send", report_hist(&t->dlv_sent));
}

/* The workers' sums (after join); caller frees. NULL if out of memory. */
static dtotals *totals(direct_run *d)
{
    dtotals *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    bh_init(&t->ack);
    bh_init(&t->dlv);
    bh_init(&t->lag);
    bh_init(&t->dlv_sent);
    for (int i = 0; i < d->o->threads; i++)
        add_worker(t, &d->dw[i]);
    return t;
}

static int finish(direct_run *d)
{
    const bench_opts *o = d->o;
    dtotals *t = totals(d);
    if (!t)
        return 1;
    print_report(d, t);
    json_t *root = report_new(o);
    json_object_set_new(
        root, "config",
        json_pack("{s:I, s:f, s:f, s:f, s:f, s:I}", "pairs",
                  (json_int_t)o->pairs, "rate", o->rate, "duration_s",
                  o->duration, "warmup_s", o->warmup, "drain_s", o->drain,
                  "content_bytes", (json_int_t)o->content_bytes));
    json_object_set_new(root, "results", results_json(d, t));
    json_object_set_new(root, "server", srvmon_json(&d->mon));
    json_object_set_new(root, "timeline",
                        scn_timeline(d->wp, o->threads, "ack", "dlv"));
    int rc = report_write(o, root) < 0 || t->miss_ack || t->miss_dlv;
    json_decref(root);
    free(t);
    return rc;
}

static void teardown(direct_run *d)
{
    for (int i = 0; d->dw && i < d->o->threads; i++) {
        if (d->wp[i])
            bc_worker_free(&d->dw[i].w);
        free(d->dw[i].pairs);
        free(d->dw[i].w.conns);
        free(d->dw[i].msgs);
    }
    free(d->dw);
    srvmon_free(&d->mon);
    free(d->conv);
    free(d->conns);
    free(d->content);
    bench_users_free(&d->users);
}

int bench_direct(const bench_opts *o)
{
    char err[BENCH_ERRLEN] = "";
    direct_run d = {.o = o};
    int rc = 1;
    if (o->pairs < 1 || o->rate <= 0) {
        fprintf(stderr, "parley-bench direct: need --pairs >= 1, --rate > 0\n");
        return 2;
    }
    if (scn_check_fds(o, 2 * (size_t)o->pairs, err, sizeof(err)) < 0 ||
        setup(&d, err, sizeof(err)) < 0) {
        fprintf(stderr, "parley-bench direct: %s\n", err);
        goto out;
    }
    if (bc_start(&d.sh, d.wp, direct_main) < 0)
        goto out;
    bc_wait(&d.sh, d.wp, 1);
    rc = finish(&d);
out:
    teardown(&d);
    return rc;
}

/* `max` support: setup once, then one run per step over the same pairs,
 * conversations and open connections (see max.h). */
static int d_max_step(void *state, mx_result *r)
{
    direct_run *d = state;
    scn_run_id(d->run_id, sizeof(d->run_id)); /* late frames of the last
                                                 step become strays */
    bc_step_reset(&d->sh, d->wp);
    srvmon_free(&d->mon);
    srvmon_init(&d->mon, d->mon.pid); /* this step's window */
    for (int i = 0; i < d->o->threads; i++)
        if (prepare_run(&d->dw[i]) < 0)
            return -1;
    if (bc_start(&d->sh, d->wp, direct_main) < 0)
        return -1;
    bc_wait(&d->sh, d->wp, 1);
    dtotals *t = totals(d);
    if (!t)
        return -1;
    *r = (mx_result){
        .sent_per_s = (double)t->win_sent / d->o->duration,
        .dlv_per_s = (double)t->win_dlv / d->o->duration,
        .p50_ms = report_ms(bh_quantile(&t->dlv, 0.5)),
        .p99_ms = report_ms(bh_quantile(&t->dlv, 0.99)),
        .p999_ms = report_ms(bh_quantile(&t->dlv, 0.999)),
        .lag_p99_ms = report_ms(bh_quantile(&t->lag, 0.99)),
        .errors = t->err_frames + t->send_fail,
        .missing = t->miss_ack + t->miss_dlv,
        .closed = t->closed};
    snprintf(r->first_err, sizeof(r->first_err), "%s",
             bc_first_error(d->wp, d->o->threads));
    free(t);
    return 0;
}

static void d_max_close(void *state)
{
    teardown(state);
    free(state);
}

/* On failure frees what it set up (s->state is NULL). */
int direct_max_open(const bench_opts *o, mx_scenario *s, char *err,
                    size_t cap)
{
    direct_run *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    d->o = o;
    *s = (mx_scenario){"send->receive", "msgs/s", d, d_max_step, d_max_close};
    if (o->pairs < 1)
        snprintf(err, cap, "need --pairs >= 1");
    else if (scn_check_fds(o, 2 * (size_t)o->pairs, err, cap) == 0 &&
             setup(d, err, cap) == 0)
        return 0;
    d_max_close(d);
    s->state = NULL;
    return -1;
}
