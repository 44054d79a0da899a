/* idle_run.c - the `idle` scenario's run: one slice in this process, or
 * one per forked child when N exceeds the per-process fd limit; server
 * RSS readings; report. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/idle_int.h"
#include "bench/report.h"
#include "bench/scn.h"

#define IDLE_MAX_PROCS 16
#define NS 1000000000ull

/* A child process holding one slice. The parent owns the pipe ends. */
typedef struct idle_child {
    pid_t pid;
    int rep_fd;  /* read end: the child's idle_res once connected */
    int stop_fd; /* write end: closing it tells the child to finish */
    size_t a, b;
    size_t got; /* bytes of res received */
    idle_res res;
} idle_child;

typedef struct idle_run {
    const bench_opts *o;
    bench_users users;
    int pid;               /* the server's, or -1 */
    long rss0, rss1, rss2; /* KiB: before, connected, after the hold */
    double connect_s;
    int nprocs;
    idle_child ch[IDLE_MAX_PROCS];
    idle_slice local;
    idle_res res;
} idle_run;

static double secs_since(uint64_t t)
{
    return (double)(bw_now_ns() - t) / 1e9;
}

/* Waits until every worker of the slice finished connecting. */
static void wait_ready(idle_slice *s, uint64_t start)
{
    uint64_t next = start + NS;
    while (atomic_load(&s->sh.ready) < s->sh.nworkers) {
        if (bw_now_ns() >= next) {
            if (!s->sh.quiet)
                bc_progress(&s->sh, s->wp, secs_since(start));
            next += NS;
        }
        usleep(2000);
    }
}

static int slice_connect(idle_slice *s, uint64_t start, idle_res *res)
{
    if (idle_slice_init(s) < 0 || bc_start(&s->sh, s->wp, idle_main) < 0)
        return -1;
    wait_ready(s, start);
    idle_slice_result(s, res);
    return 0;
}

static void slice_stop(idle_slice *s)
{
    atomic_store(&s->sh.stop, 1);
    bc_wait(&s->sh, s->wp, 0);
}

/* In the child: hold [a, b), report once connected, stop on EOF. */
static void child_main(idle_run *r, idle_child *c, int rep, int stop)
{
    bench_opts o = *r->o;
    o.quiet = 1;
    o.concurrency = o.concurrency / r->nprocs + 1; /* the total in flight */
    idle_slice s = {.o = &o, .users = &r->users, .a = c->a, .b = c->b};
    idle_res res;
    int rc = slice_connect(&s, bw_now_ns(), &res);
    if (rc == 0 && write(rep, &res, sizeof(res)) != (ssize_t)sizeof(res))
        rc = -1;
    char b;
    while (rc == 0 && (read(stop, &b, 1) > 0 || errno == EINTR))
        ;
    if (rc == 0)
        slice_stop(&s);
    _exit(rc == 0 ? 0 : 1);
}

static int fork_child(idle_run *r, int i)
{
    idle_child *c = &r->ch[i];
    int rep[2], stop[2];
    if (pipe(rep) < 0 || pipe(stop) < 0)
        return -1;
    fflush(NULL);
    c->pid = fork();
    if (c->pid < 0)
        return -1;
    if (c->pid == 0) {
        for (int j = 0; j < i; j++) { /* or earlier children never stop */
            close(r->ch[j].rep_fd);
            close(r->ch[j].stop_fd);
        }
        close(rep[0]);
        close(stop[1]);
        child_main(r, c, rep[1], stop[0]);
    }
    close(rep[1]);
    close(stop[0]);
    c->rep_fd = rep[0];
    c->stop_fd = stop[1];
    return 0;
}

/* Reads the children's reports (progress once per second). 0 if all
 * reported, -1 if one died first. */
static int collect(idle_run *r, uint64_t start)
{
    int pending = r->nprocs;
    while (pending > 0) {
        struct pollfd pf[IDLE_MAX_PROCS];
        for (int i = 0; i < r->nprocs; i++)
            pf[i] = (struct pollfd){
                r->ch[i].got < sizeof(idle_res) ? r->ch[i].rep_fd : -1, POLLIN,
                0};
        if (poll(pf, (nfds_t)r->nprocs, 1000) == 0 && !r->o->quiet)
            fprintf(stderr, "[%6.1fs] idle: %d/%d processes connected\n",
                    secs_since(start), r->nprocs - pending, r->nprocs);
        for (int i = 0; i < r->nprocs; i++) {
            idle_child *c = &r->ch[i];
            if (!(pf[i].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t n = read(c->rep_fd, (char *)&c->res + c->got,
                             sizeof(idle_res) - c->got);
            if (n <= 0)
                return -1;
            c->got += (size_t)n;
            pending -= c->got == sizeof(idle_res);
        }
    }
    return 0;
}

static int connect_all(idle_run *r, uint64_t start)
{
    size_t N = (size_t)r->o->conns,
           per = (N + (size_t)r->nprocs - 1) / (size_t)r->nprocs;
    if (r->nprocs == 1) {
        r->local = (idle_slice){.o = r->o, .users = &r->users, .a = 0, .b = N};
        return slice_connect(&r->local, start, &r->res);
    }
    for (int i = 0; i < r->nprocs; i++) {
        r->ch[i].a = (size_t)i * per;
        r->ch[i].b = r->ch[i].a + per < N ? r->ch[i].a + per : N;
        if (fork_child(r, i) < 0)
            return -1;
    }
    if (collect(r, start) < 0)
        return -1;
    memset(&r->res, 0, sizeof(r->res));
    bh_init(&r->res.setup);
    r->res.t_first_ns = UINT64_MAX;
    for (int i = 0; i < r->nprocs; i++)
        idle_res_merge(&r->res, &r->ch[i].res);
    return 0;
}

static void stop_all(idle_run *r)
{
    if (r->nprocs == 1) {
        slice_stop(&r->local);
        return;
    }
    for (int i = 0; i < r->nprocs; i++)
        if (r->ch[i].pid > 0) {
            close(r->ch[i].stop_fd);
            close(r->ch[i].rep_fd);
        }
    for (int i = 0; i < r->nprocs; i++)
        if (r->ch[i].pid > 0)
            waitpid(r->ch[i].pid, NULL, 0);
}

/* Sleeps s seconds with a progress line per second. */
static void hold(idle_run *r, double s, const char *what)
{
    uint64_t start = bw_now_ns(), end = start + (uint64_t)(s * 1e9);
    while (bw_now_ns() < end) {
        uint64_t left = end - bw_now_ns();
        usleep((useconds_t)((left < NS ? left : NS) / 1000));
        if (r->o->quiet)
            continue;
        if (r->nprocs == 1 && bw_now_ns() < end)
            bc_progress(&r->local.sh, r->local.wp, secs_since(start));
        else if (bw_now_ns() < end)
            fprintf(stderr, "[%6.1fs] idle: %s\n", secs_since(start), what);
    }
}

static double per_conn_bytes(const idle_run *r)
{
    if (r->rss0 < 0 || r->rss1 < 0 || !r->res.opened)
        return -1;
    return (double)(r->rss1 - r->rss0) * 1024.0 / (double)r->res.opened;
}

static void print_report(const idle_run *r)
{
    const bench_opts *o = r->o;
    const idle_res *x = &r->res;
    printf("\nparley-bench idle: %ld connections, %d process%s x %d client "
           "thread%s, concurrency %ld\ntarget %s\n\n",
           o->conns, r->nprocs, r->nprocs > 1 ? "es" : "", o->threads,
           o->threads > 1 ? "s" : "", o->concurrency, o->target.url);
    printf("  connections   %llu opened, %llu failed in %.2f s: %.0f "
           "connects+auth/s\n",
           (unsigned long long)x->opened, (unsigned long long)x->failed,
           r->connect_s,
           r->connect_s > 0 ? (double)x->opened / r->connect_s : 0.0);
    printf("  during hold   %llu closed%s%s\n", (unsigned long long)x->closed,
           x->first_err[0] ? "; first error: " : "", x->first_err);
    if (r->pid > 0)
        printf("  server RSS    pid %d: %.1f MiB before, %.1f MiB connected, "
               "%.1f MiB after %.0f s: %.0f bytes per connection\n",
               r->pid, (double)r->rss0 / 1024, (double)r->rss1 / 1024,
               (double)r->rss2 / 1024, o->hold, per_conn_bytes(r));
    else
        printf(
            "  server RSS    unknown: server pid not found (--server-pid)\n");
    printf("\n");
    report_lat_header(stdout);
    report_lat_row(stdout, "connect+auth (->hello)", &x->setup);
    printf("\n  connect+auth histogram:\n");
    bh_print_ascii(&x->setup, stdout, "  ");
}

static json_t *closes_json(const idle_res *x)
{
    json_t *o = json_object();
    for (int k = 0; k < BC_CLOSE_KINDS; k++)
        if (x->close_kinds[k])
            json_object_set_new(o, bc_close_kind_name(k),
                                json_integer((json_int_t)x->close_kinds[k]));
    json_object_set_new(o, "first_error", json_string(x->first_err));
    return o;
}

static json_t *results_json(const idle_run *r)
{
    const idle_res *x = &r->res;
    double pc = per_conn_bytes(r);
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:i, s:I, s:I, s:I, s:o, s:o, "
        "s:i}",
        "conns", (json_int_t)r->o->conns, "opened", (json_int_t)x->opened,
        "failed", (json_int_t)x->failed, "closed_during_hold",
        (json_int_t)x->closed, "connect_s", r->connect_s, "connects_per_s",
        r->connect_s > 0 ? (double)x->opened / r->connect_s : 0.0,
        "connect_latency", report_hist(&x->setup), "server_pid", r->pid,
        "rss_kib_before", (json_int_t)r->rss0, "rss_kib_connected",
        (json_int_t)r->rss1, "rss_kib_after_hold", (json_int_t)r->rss2,
        "rss_bytes_per_conn", pc >= 0 ? json_real(pc) : json_null(), "closes",
        closes_json(x), "processes", r->nprocs);
}

static int finish(idle_run *r)
{
    const bench_opts *o = r->o;
    print_report(r);
    json_t *root = report_new(o);
    json_object_set_new(root, "config",
                        json_pack("{s:I, s:I, s:f}", "conns",
                                  (json_int_t)o->conns, "concurrency",
                                  (json_int_t)o->concurrency, "hold_s",
                                  o->hold));
    json_object_set_new(root, "results", results_json(r));
    int rc = report_write(o, root) < 0 || r->res.opened < (uint64_t)o->conns;
    json_decref(root);
    return rc;
}

static int plan(idle_run *r)
{
    long lim = bench_raise_nofile() - BENCH_FD_RESERVE;
    long per = lim > 100 ? lim : 100;
    r->nprocs = (int)((r->o->conns + per - 1) / per);
    if (r->nprocs > IDLE_MAX_PROCS) {
        fprintf(stderr,
                "parley-bench idle: %ld connections would need %d "
                "processes (max %d)\n",
                r->o->conns, r->nprocs, IDLE_MAX_PROCS);
        return -1;
    }
    if (r->nprocs < 1)
        r->nprocs = 1;
    r->pid = r->o->server_pid
                 ? r->o->server_pid
                 : bench_find_listener_pid(ntohs(r->o->target.addr.sin_port));
    return 0;
}

int bench_idle(const bench_opts *o)
{
    char err[BENCH_ERRLEN] = "";
    idle_run *r = calloc(1, sizeof(*r));
    int rc = 1;
    if (!r)
        return 1;
    r->o = o;
    if (o->conns < 1 || plan(r) < 0 ||
        scn_users(o, (size_t)o->conns, &r->users, err, sizeof(err)) < 0) {
        fprintf(stderr, "parley-bench idle: %s\n",
                err[0] ? err : "bad --conns");
        goto out;
    }
    r->rss0 = r->pid > 0 ? bench_rss_kib(r->pid) : -1;
    uint64_t start = bw_now_ns();
    if (connect_all(r, start) < 0) {
        fprintf(stderr, "parley-bench idle: connecting failed\n");
        goto stop;
    }
    r->connect_s = r->res.t_last_ns > r->res.t_first_ns
                       ? (double)(r->res.t_last_ns - r->res.t_first_ns) / 1e9
                       : 0;
    hold(r, 1.0, "settling");
    r->rss1 = r->pid > 0 ? bench_rss_kib(r->pid) : -1;
    hold(r, o->hold, "holding");
    r->rss2 = r->pid > 0 ? bench_rss_kib(r->pid) : -1;
    if (r->nprocs == 1)
        idle_slice_result(&r->local, &r->res);
    rc = finish(r);
stop:
    stop_all(r);
out:
    if (r->nprocs == 1)
        idle_slice_free(&r->local);
    bench_users_free(&r->users);
    free(r);
    return rc;
}
