/* group_setup.c - the `group` scenario's setup over REST (one group of G
 * members) and its report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/group_int.h"
#include "bench/max.h"
#include "bench/report.h"

/* A JSON array of the ids of users [a, b). */
static json_t *id_array(const bench_users *u, size_t a, size_t b)
{
    json_t *arr = json_array();
    for (size_t i = a; i < b; i++)
        json_array_append_new(arr, json_string(u->u[i].id));
    return arr;
}

/* Adds users [a, b) to the group as its creator; 0 or -1. */
static int add_members(group_run *g, rest_conn *r, size_t a, size_t b,
                       char *err, size_t cap)
{
    char path[96];
    json_t *resp = NULL,
           *body = json_pack("{s:o}", "user_ids", id_array(&g->users, a, b));
    snprintf(path, sizeof(path), "/v1/conversations/%s/members", g->conv);
    int st =
        rest_call(r, "POST", path, g->users.u[0].token, body, &resp, err, cap);
    json_decref(body);
    json_decref(resp);
    if (st != 200 && st >= 0)
        snprintf(err, cap, "POST %s: HTTP %d", path, st);
    return st == 200 ? 0 : -1;
}

static int create_group(group_run *g, char *err, size_t cap)
{
    size_t G = (size_t)g->o->members;
    size_t first = G < GROUP_ADD_BATCH + 1 ? G : GROUP_ADD_BATCH + 1;
    char name[64];
    snprintf(name, sizeof(name), "bench-%s", g->run_id);
    rest_conn r;
    rest_init(&r, &g->o->target);
    json_t *body = json_pack("{s:s, s:s, s:o}", "type", "group", "name", name,
                             "member_ids", id_array(&g->users, 1, first));
    int rc = scn_create_conv(&r, g->users.u[0].token, body, g->conv, err, cap);
    json_decref(body);
    for (size_t a = first; a < G && rc == 0; a += GROUP_ADD_BATCH) {
        size_t b = a + GROUP_ADD_BATCH < G ? a + GROUP_ADD_BATCH : G;
        rc = add_members(g, &r, a, b, err, cap);
        if (!g->o->quiet)
            fprintf(stderr, "setup: %zu/%zu members\n", b, G);
    }
    rest_close(&r);
    return rc;
}

/* The per-run part of a worker: its share of o->rate, zeroed counters
 * and histograms (`max` runs several times over the same connections). */
static void prepare_worker(gworker *gw)
{
    const bench_opts *o = gw->g->o;
    double rate = o->rate * (double)gw->nsenders / (double)o->senders;
    gw->interval_ns = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
    gw->sent = gw->win_dlv = gw->last_dlv_ns = gw->stray = 0;
    gw->dup_acks = gw->out_of_order = gw->excess = 0;
    gw->send_fail = gw->msg_bytes = 0;
    memset(&gw->codes, 0, sizeof(gw->codes));
    bh_init(&gw->ack);
    bh_init(&gw->dlv);
    bh_init(&gw->all);
    bh_init(&gw->lag);
}

static int init_worker(group_run *g, int i)
{
    const bench_opts *o = g->o;
    gworker *gw = &g->gw[i];
    size_t K = (size_t)o->connected, S = (size_t)o->senders,
           T = (size_t)o->threads;
    if (bc_worker_init(&gw->w, i, &g->sh, o, &group_ops, gw) < 0)
        return -1;
    g->wp[i] = &gw->w;
    gw->g = g;
    gw->w.conns = calloc(K / T + 1, sizeof(*gw->w.conns));
    gw->senders = calloc(S / T + 1, sizeof(*gw->senders));
    if (!gw->w.conns || !gw->senders)
        return -1;
    for (size_t j = (size_t)i; j < K; j += T) {
        gw->w.conns[gw->w.nconns++] = &g->conns[j];
        if (j < S)
            gw->senders[gw->nsenders++] = &g->conns[j];
    }
    gw->w.loop.conns = gw->w.conns;
    gw->w.loop.nconns = gw->w.nconns;
    prepare_worker(gw);
    return 0;
}

static int alloc_run(group_run *g, char *err, size_t cap)
{
    const bench_opts *o = g->o;
    size_t K = (size_t)o->connected;
    g->burst = (int)o->burst;
    g->cap = g->burst ? (size_t)g->burst
                      : (size_t)(o->rate * (o->warmup + o->duration)) + 64;
    g->conns = calloc(K, sizeof(*g->conns));
    g->last_seq = calloc(K, sizeof(*g->last_seq));
    g->msgs = calloc(g->cap, sizeof(*g->msgs));
    g->content = scn_content((size_t)o->content_bytes);
    g->gw = calloc((size_t)o->threads, sizeof(*g->gw));
    if (!g->conns || !g->last_seq || !g->msgs || !g->content || !g->gw) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    for (size_t j = 0; j < K; j++) {
        g->conns[j].fd = -1;
        g->conns[j].idx = (uint32_t)j;
        g->conns[j].token = g->users.u[j].token;
    }
    return 0;
}

static int setup(group_run *g, char *err, size_t cap)
{
    const bench_opts *o = g->o;
    scn_run_id(g->run_id, sizeof(g->run_id));
    if (scn_users(o, (size_t)o->members, &g->users, err, cap) < 0 ||
        alloc_run(g, err, cap) < 0 || create_group(g, err, cap) < 0)
        return -1;
    scn_shared_init(&g->sh, o, "group", (size_t)o->connected);
    srvmon_init(&g->mon, scn_server_pid(o));
    g->sh.mon = &g->mon;
    if (g->burst)
        g->sh.warm_ns = g->sh.meas_ns = 0;
    g->sh.before_t0 = group_before_t0;
    g->sh.ctx = g;
    for (int i = 0; i < o->threads; i++)
        if (init_worker(g, i) < 0) {
            snprintf(err, cap, "worker setup failed (out of memory?)");
            return -1;
        }
    return 0;
}

typedef struct gtotals {
    uint64_t sent, acked, ndlv, win_dlv, errors, stray, dup_acks, ooo, excess;
    uint64_t send_fail, opened, failed, closed, missing, incomplete;
    uint64_t last_dlv_ns, msg_bytes;
    bh_hist ack, dlv, all, lag;
    scn_codes codes;
} gtotals;

static void add_worker(gtotals *t, gworker *gw)
{
    t->sent += gw->sent;
    t->acked += atomic_load(&gw->w.ctr.acked);
    t->ndlv += atomic_load(&gw->w.ctr.delivered);
    t->win_dlv += gw->win_dlv;
    t->errors += atomic_load(&gw->w.ctr.errors) - gw->send_fail;
    t->send_fail += gw->send_fail;
    t->stray += gw->stray;
    t->dup_acks += gw->dup_acks;
    t->ooo += gw->out_of_order;
    t->excess += gw->excess;
    t->msg_bytes += gw->msg_bytes;
    t->opened += atomic_load(&gw->w.ctr.opened);
    t->failed += atomic_load(&gw->w.ctr.failed);
    t->closed += atomic_load(&gw->w.ctr.closed);
    if (gw->last_dlv_ns > t->last_dlv_ns)
        t->last_dlv_ns = gw->last_dlv_ns;
    bh_merge(&t->ack, &gw->ack);
    bh_merge(&t->dlv, &gw->dlv);
    bh_merge(&t->all, &gw->all);
    bh_merge(&t->lag, &gw->lag);
    scn_codes_merge(&t->codes, &gw->codes);
}

static void totals(group_run *g, gtotals *t)
{
    bh_init(&t->ack);
    bh_init(&t->dlv);
    bh_init(&t->all);
    bh_init(&t->lag);
    for (int i = 0; i < g->o->threads; i++)
        add_worker(t, &g->gw[i]);
    unsigned expect = atomic_load(&g->expect);
    size_t n = atomic_load(&g->next);
    for (size_t k = 0; k < n; k++) {
        unsigned d = atomic_load(&g->msgs[k].ndeliv);
        t->missing += d < expect ? expect - d : 0;
        t->incomplete += d < expect;
    }
}

/* Deliveries per second: the window's for a rate run; for a burst, all
 * deliveries over the time from t0 to the last one. */
static double dlv_rate(const group_run *g, const gtotals *t)
{
    if (!g->burst)
        return (double)t->win_dlv / g->o->duration;
    uint64_t t0 = atomic_load(&g->sh.t0);
    if (t->last_dlv_ns <= t0)
        return 0;
    return (double)t->ndlv / ((double)(t->last_dlv_ns - t0) / 1e9);
}

/* Average WebSocket frame size of a delivery (payload + 4-byte header),
 * for running `floor` with the same frame size. */
static double frame_bytes(const gtotals *t)
{
    return t->ndlv ? (double)t->msg_bytes / (double)t->ndlv + 4.0 : 0.0;
}

static void print_head(const group_run *g)
{
    const bench_opts *o = g->o;
    printf("\nparley-bench group: %ld members, %ld connected, %ld sender%s, ",
           o->members, o->connected, o->senders, o->senders > 1 ? "s" : "");
    if (g->burst)
        printf("a burst of %d messages", g->burst);
    else
        printf("%.0f msgs/s for %.0f s after %.0f s warm-up", o->rate,
               o->duration, o->warmup);
    printf(", %d client thread%s\ntarget %s\n\n", o->threads,
           o->threads > 1 ? "s" : "", o->target.url);
}

static void print_report(const group_run *g, const gtotals *t)
{
    print_head(g);
    printf("  connections   %llu opened, %llu failed, %llu closed during the "
           "run; %u deliveries expected per message\n",
           (unsigned long long)t->opened, (unsigned long long)t->failed,
           (unsigned long long)t->closed, atomic_load(&g->expect));
    printf("  messages      sent %llu, acked %llu, deliveries %llu (%.0f-byte "
           "frames)\n",
           (unsigned long long)t->sent, (unsigned long long)t->acked,
           (unsigned long long)t->ndlv, frame_bytes(t));
    printf("  throughput    %.1f deliveries/s%s\n", dlv_rate(g, t),
           g->burst ? " (burst: all deliveries / time to the last)"
                    : " in the window");
    printf("  errors        %llu error frames, %llu failed sends; missing "
           "at the end: %llu deliveries (%llu messages incomplete); %llu "
           "out of order, %llu excess, %llu stray\n",
           (unsigned long long)t->errors, (unsigned long long)t->send_fail,
           (unsigned long long)t->missing, (unsigned long long)t->incomplete,
           (unsigned long long)t->ooo, (unsigned long long)t->excess,
           (unsigned long long)t->stray);
    scn_codes_print(&t->codes, stdout);
    report_print_closes(stdout, (bc_worker **)g->wp, g->o->threads);
    printf("\n");
    report_lat_header(stdout);
    report_lat_row(stdout, "ack (send->ack)", &t->ack);
    report_lat_row(stdout, "each delivery", &t->dlv);
    report_lat_row(stdout, "all-reached", &t->all);
    report_lat_row(stdout, "client send lag", &t->lag);
    printf("\n");
    srvmon_print(&g->mon, stdout);
    printf("\n  each-delivery histogram:\n");
    bh_print_ascii(&t->dlv, stdout, "  ");
}

static json_t *results_json(const group_run *g, const gtotals *t)
{
    json_t *errs = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "error_frames",
        (json_int_t)t->errors, "send_failures", (json_int_t)t->send_fail,
        "missing_deliveries", (json_int_t)t->missing, "incomplete_messages",
        (json_int_t)t->incomplete, "out_of_order", (json_int_t)t->ooo,
        "excess_deliveries", (json_int_t)t->excess, "stray_frames",
        (json_int_t)t->stray, "codes", scn_codes_json(&t->codes), "closes",
        report_closes((bc_worker **)g->wp, g->o->threads));
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:o, s:o, s:o,"
        " s:o}",
        "connected", (json_int_t)g->o->connected, "opened",
        (json_int_t)t->opened, "failed", (json_int_t)t->failed,
        "closed_during_run", (json_int_t)t->closed, "expected_per_message",
        (json_int_t)atomic_load(&g->expect), "sent", (json_int_t)t->sent,
        "deliveries", (json_int_t)t->ndlv, "deliveries_per_s", dlv_rate(g, t),
        "frame_bytes", frame_bytes(t), "errors", errs, "ack_latency",
        report_hist(&t->ack), "delivery_latency", report_hist(&t->dlv),
        "all_reached_latency", report_hist(&t->all), "client_send_lag",
        report_hist(&t->lag));
}

static int finish(group_run *g)
{
    const bench_opts *o = g->o;
    gtotals *t = calloc(1, sizeof(*t));
    if (!t)
        return 1;
    totals(g, t);
    print_report(g, t);
    json_t *root = report_new(o);
    json_object_set_new(
        root, "config",
        json_pack("{s:I, s:I, s:I, s:f, s:I, s:f, s:f, s:I}", "members",
                  (json_int_t)o->members, "connected", (json_int_t)o->connected,
                  "senders", (json_int_t)o->senders, "rate",
                  g->burst ? 0.0 : o->rate, "burst", (json_int_t)g->burst,
                  "duration_s", o->duration, "warmup_s", o->warmup,
                  "content_bytes", (json_int_t)o->content_bytes));
    json_object_set_new(root, "results", results_json(g, t));
    json_object_set_new(root, "server", srvmon_json(&g->mon));
    json_object_set_new(root, "timeline",
                        scn_timeline(g->wp, o->threads, "dlv", "all"));
    int rc = report_write(o, root) < 0 || t->missing > 0;
    json_decref(root);
    free(t);
    return rc;
}

static void teardown(group_run *g)
{
    for (int i = 0; g->gw && i < g->o->threads; i++) {
        if (g->wp[i])
            bc_worker_free(&g->gw[i].w);
        free(g->gw[i].w.conns);
        free(g->gw[i].senders);
    }
    free(g->gw);
    srvmon_free(&g->mon);
    free(g->conns);
    free(g->last_seq);
    free(g->msgs);
    free(g->content);
    bench_users_free(&g->users);
}

static int check(const bench_opts *o)
{
    const char *why = NULL;
    if (o->members < 2 || o->connected < 1 || o->connected > o->members)
        why = "need --members >= 2 and 1 <= --connected <= --members";
    else if (o->senders < 1 || o->senders > o->connected)
        why = "need 1 <= --senders <= --connected";
    else if (!o->burst && o->rate <= 0)
        why = "need --rate > 0 (or --burst M)";
    else if (o->burst > 10000000)
        why = "--burst is at most 10,000,000";
    if (why)
        fprintf(stderr, "parley-bench group: %s\n", why);
    return why ? -1 : 0;
}

int bench_group(const bench_opts *o)
{
    char err[BENCH_ERRLEN] = "";
    group_run *g = calloc(1, sizeof(*g));
    int rc = 1;
    if (!g || check(o) < 0) {
        free(g);
        return 2;
    }
    g->o = o;
    if (scn_check_fds(o, (size_t)o->connected, err, sizeof(err)) < 0 ||
        setup(g, err, sizeof(err)) < 0) {
        fprintf(stderr, "parley-bench group: %s\n", err);
        goto out;
    }
    if (bc_start(&g->sh, g->wp, group_main) < 0)
        goto out;
    bc_wait(&g->sh, g->wp, 1);
    rc = finish(g);
out:
    teardown(g);
    free(g);
    return rc;
}

static int g_max_result(group_run *g, mx_result *r)
{
    gtotals *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    totals(g, t);
    *r = (mx_result){
        .sent_per_s = (double)t->sent / (g->o->warmup + g->o->duration),
        .dlv_per_s = dlv_rate(g, t),
        .p50_ms = report_ms(bh_quantile(&t->all, 0.5)),
        .p99_ms = report_ms(bh_quantile(&t->all, 0.99)),
        .p999_ms = report_ms(bh_quantile(&t->all, 0.999)),
        .lag_p99_ms = report_ms(bh_quantile(&t->lag, 0.99)),
        .errors = t->errors + t->send_fail + t->ooo + t->excess,
        .missing = t->missing,
        .closed = t->closed};
    snprintf(r->first_err, sizeof(r->first_err), "%s",
             bc_first_error(g->wp, g->o->threads));
    free(t);
    return 0;
}

/* `max` support: setup once (users, group, connections), then one run per
 * step at o->rate (see max.h). Per connection seq order is checked across
 * steps: the group's seq only grows. */
static int g_max_step(void *state, mx_result *r)
{
    group_run *g = state;
    scn_run_id(g->run_id, sizeof(g->run_id)); /* late frames: strays */
    free(g->msgs);
    g->cap = (size_t)(g->o->rate * (g->o->warmup + g->o->duration)) + 64;
    g->msgs = calloc(g->cap, sizeof(*g->msgs));
    if (!g->msgs)
        return -1;
    atomic_store(&g->next, 0);
    bc_step_reset(&g->sh, g->wp);
    srvmon_free(&g->mon);
    srvmon_init(&g->mon, g->mon.pid); /* this step's window */
    for (int i = 0; i < g->o->threads; i++)
        prepare_worker(&g->gw[i]);
    if (bc_start(&g->sh, g->wp, group_main) < 0)
        return -1;
    bc_wait(&g->sh, g->wp, 1);
    return g_max_result(g, r);
}

static void g_max_close(void *state)
{
    teardown(state);
    free(state);
}

/* On failure frees what it set up (s->state is NULL). */
int group_max_open(const bench_opts *o, mx_scenario *s, char *err,
                   size_t cap)
{
    group_run *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    g->o = o;
    *s = (mx_scenario){"all-reached", "deliveries/s", g, g_max_step,
                       g_max_close};
    if (o->burst)
        snprintf(err, cap, "--burst does not apply to max");
    else if (check(o) == 0 &&
             scn_check_fds(o, (size_t)o->connected, err, cap) == 0 &&
             setup(g, err, cap) == 0)
        return 0;
    if (!err[0])
        snprintf(err, cap, "bad group options");
    g_max_close(g);
    s->state = NULL;
    return -1;
}
