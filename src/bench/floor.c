/* floor.c - the `floor` scenario: the raw-socket floor on this machine. A
 * forked child (floor_writer.c) fans fixed-size frames out to N plain TCP
 * connections read by this process's reader threads: the same shape as
 * `group` (one message to N connections), with no Parley, no WebSocket and
 * no JSON in between. Other results are quoted as a ratio to it.
 *
 * Ownership: floor_run (main thread) owns the listening socket until the
 * fork, the pipes, the child pid and the reader threads; a reader owns its
 * connections and histograms; the per-message counters are shared
 * atomics. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/floor_int.h"
#include "bench/report.h"
#include "bench/scn.h"

#define FR_BUF (256u << 10)
#define NS 1000000000ull

typedef struct fr_conn {
    int fd;
    uint32_t have; /* bytes of a partial frame in part */
    uint8_t *part;
} fr_conn;

typedef struct floor_run floor_run;

typedef struct freader {
    int id;
    pthread_t th;
    int ep;
    floor_run *f;
    fr_conn *c; /* this reader's connections */
    size_t n;
    atomic_uint_fast64_t delivered;
    uint64_t last_ns, win_dlv, bad, closed;
    bh_hist dlv, all;
    uint8_t *buf;
} freader;

struct floor_run {
    const bench_opts *o;
    pid_t pid;
    int ctl, rep; /* pipe ends: to the writer, from the writer */
    floor_go go;
    floor_wres wres;
    atomic_uint *counts; /* deliveries per message */
    size_t cap, nconns;
    uint64_t warm_ns, meas_ns;
    atomic_int stop;
    freader *r;
    int T;
};

static int in_window(const floor_run *f, uint64_t t)
{
    return !f->go.interval_ns || (t >= f->go.t0_ns + f->warm_ns &&
                                  t < f->go.t0_ns + f->warm_ns + f->meas_ns);
}

static void on_frame(freader *r, const uint8_t *p, uint64_t now)
{
    floor_run *f = r->f;
    uint64_t idx, sched;
    memcpy(&idx, p, 8);
    memcpy(&sched, p + 8, 8);
    if (idx >= f->cap || sched > now) {
        r->bad++;
        return;
    }
    unsigned cnt = atomic_fetch_add(&f->counts[idx], 1) + 1;
    atomic_fetch_add(&r->delivered, 1);
    r->last_ns = now;
    r->win_dlv += in_window(f, now);
    if (!in_window(f, sched))
        return;
    bh_record(&r->dlv, now - sched);
    if (cnt == f->nconns)
        bh_record(&r->all, now - sched);
}

/* Splits buf[0..n) into frames, carrying a partial one in the conn. */
static void on_bytes(freader *r, fr_conn *c, const uint8_t *p, size_t n,
                     uint64_t now)
{
    size_t fb = r->f->go.frame_bytes;
    if (c->have) {
        size_t take = fb - c->have < n ? fb - c->have : n;
        memcpy(c->part + c->have, p, take);
        c->have += (uint32_t)take;
        p += take;
        n -= take;
        if (c->have < fb)
            return;
        on_frame(r, c->part, now);
        c->have = 0;
    }
    for (; n >= fb; p += fb, n -= fb)
        on_frame(r, p, now);
    if (n) {
        memcpy(c->part, p, n);
        c->have = (uint32_t)n;
    }
}

static void read_conn(freader *r, fr_conn *c, uint64_t now)
{
    for (int round = 0; round < 16; round++) {
        ssize_t n = recv(c->fd, r->buf, FR_BUF, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
            r->closed++;
            return;
        }
        on_bytes(r, c, r->buf, (size_t)n, now);
        if ((size_t)n < FR_BUF)
            return;
    }
}

static void *reader_main(void *arg)
{
    freader *r = arg;
    struct epoll_event ev[512];
    while (!atomic_load(&r->f->stop)) {
        struct timespec ts = {0, 20000000};
        int n = epoll_pwait2(r->ep, ev, 512, &ts, NULL);
        uint64_t now = bw_now_ns();
        for (int i = 0; i < n; i++)
            read_conn(r, ev[i].data.ptr, now);
    }
    return NULL;
}

/* Listening socket on 127.0.0.1:0; returns fd, port in *port. */
static int listen_any(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    a.sin_addr.s_addr = htonl(0x7f000001u);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(fd, 65535) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* A blocking connect from 127.0.0.X (X cycling) to the writer, then
 * non-blocking. Setup only: not measured. */
static int connect_one(uint16_t port, size_t i)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = src;
    src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)(1 + i % 250));
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    dst.sin_port = htons(port);
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int init_readers(floor_run *f, uint16_t port)
{
    f->r = calloc((size_t)f->T, sizeof(*f->r));
    if (!f->r)
        return -1;
    for (int t = 0; t < f->T; t++) {
        freader *r = &f->r[t];
        r->id = t;
        r->f = f;
        r->ep = epoll_create1(EPOLL_CLOEXEC);
        r->buf = malloc(FR_BUF);
        r->c = calloc(f->nconns / (size_t)f->T + 1, sizeof(*r->c));
        bh_init(&r->dlv);
        bh_init(&r->all);
        if (r->ep < 0 || !r->buf || !r->c)
            return -1;
    }
    for (size_t i = 0; i < f->nconns; i++) {
        freader *r = &f->r[i % (size_t)f->T];
        fr_conn *c = &r->c[r->n];
        c->fd = connect_one(port, i);
        c->part = malloc(f->go.frame_bytes);
        if (c->fd < 0 || !c->part) {
            fprintf(stderr, "parley-bench floor: connect %zu: %s\n", i,
                    strerror(errno));
            return -1;
        }
        r->n++;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    return 0;
}

static void free_readers(floor_run *f)
{
    for (int t = 0; f->r && t < f->T; t++) {
        freader *r = &f->r[t];
        for (size_t i = 0; i < r->n; i++) {
            close(r->c[i].fd);
            free(r->c[i].part);
        }
        if (r->ep > 0)
            close(r->ep);
        free(r->c);
        free(r->buf);
    }
    free(f->r);
    f->r = NULL;
}

static int start_writer(floor_run *f, int *lfd_out, uint16_t *port)
{
    int ctl[2], rep[2], lfd = listen_any(port);
    if (lfd < 0 || pipe2(ctl, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    f->pid = fork();
    if (f->pid < 0)
        return -1;
    if (f->pid == 0) {
        close(ctl[1]);
        close(rep[0]);
        floor_writer_main(lfd, f->nconns, ctl[0], rep[1]);
    }
    close(ctl[0]);
    close(rep[1]);
    f->ctl = ctl[1];
    f->rep = rep[0];
    *lfd_out = lfd;
    return 0;
}

static uint64_t total_delivered(floor_run *f)
{
    uint64_t n = 0;
    for (int t = 0; t < f->T; t++)
        n += atomic_load(&f->r[t].delivered);
    return n;
}

/* Progress once per second until the writer reports, then until every
 * frame arrived or the drain time passed. */
static void wait_done(floor_run *f)
{
    uint64_t start = bw_now_ns(), next = start + NS, last = 0, drain = 0;
    int reported = 0;
    for (;;) {
        struct pollfd pf = {f->rep, POLLIN, 0};
        if (!reported && poll(&pf, 1, 5) > 0) {
            reported = read(f->rep, &f->wres, sizeof(f->wres)) ==
                               (ssize_t)sizeof(f->wres)
                           ? 1
                           : -1;
            drain = bw_now_ns() + (uint64_t)(f->o->drain * 1e9);
        }
        if (reported)
            usleep(2000);
        uint64_t got = total_delivered(f), now = bw_now_ns();
        if (reported && (got >= f->wres.messages * f->nconns || now > drain))
            break;
        if (reported < 0)
            break;
        if (now >= next && !f->o->quiet) {
            fprintf(stderr, "[%6.1fs] floor: deliveries %llu (+%llu)\n",
                    (double)(now - start) / 1e9, (unsigned long long)got,
                    (unsigned long long)(got - last));
            last = got;
            next += NS;
        }
    }
}

static void plan_go(floor_run *f)
{
    const bench_opts *o = f->o;
    f->go.t0_ns = bw_now_ns() + 50000000ull;
    f->go.frame_bytes = (uint32_t)o->frame_bytes;
    f->go.coalesce = (uint32_t)o->coalesce;
    if (o->rate > 0) {
        f->warm_ns = (uint64_t)(o->warmup * 1e9);
        f->meas_ns = (uint64_t)(o->duration * 1e9);
        f->go.interval_ns = (uint64_t)(1e9 / o->rate);
        f->go.end_ns = f->go.t0_ns + f->warm_ns + f->meas_ns;
        f->go.messages = (uint64_t)(o->rate * (o->warmup + o->duration)) + 2;
    } else {
        f->go.messages = (uint64_t)o->messages;
    }
    f->cap = (size_t)f->go.messages;
}

typedef struct ftotals {
    uint64_t dlv, win_dlv, bad, closed, last_ns, incomplete;
    bh_hist lat, all;
} ftotals;

static void totals(floor_run *f, ftotals *t)
{
    bh_init(&t->lat);
    bh_init(&t->all);
    for (int i = 0; i < f->T; i++) {
        freader *r = &f->r[i];
        t->dlv += atomic_load(&r->delivered);
        t->win_dlv += r->win_dlv;
        t->bad += r->bad;
        t->closed += r->closed;
        if (r->last_ns > t->last_ns)
            t->last_ns = r->last_ns;
        bh_merge(&t->lat, &r->dlv);
        bh_merge(&t->all, &r->all);
    }
    for (size_t k = 0; k < f->wres.messages && k < f->cap; k++)
        t->incomplete += atomic_load(&f->counts[k]) < f->nconns;
}

static double dlv_rate(const floor_run *f, const ftotals *t)
{
    if (f->go.interval_ns)
        return (double)t->win_dlv / f->o->duration;
    if (t->last_ns <= f->go.t0_ns)
        return 0;
    return (double)t->dlv / ((double)(t->last_ns - f->go.t0_ns) / 1e9);
}

static void print_report(const floor_run *f, const ftotals *t)
{
    const bench_opts *o = f->o;
    printf("\nparley-bench floor: %zu connections, %ld-byte frames, ",
           f->nconns, o->frame_bytes);
    if (f->go.interval_ns)
        printf("%.0f msgs/s for %.0f s after %.0f s warm-up", o->rate,
               o->duration, o->warmup);
    else
        printf("a burst of %llu messages, %ld frame%s per write",
               (unsigned long long)f->go.messages, o->coalesce,
               o->coalesce > 1 ? "s" : "");
    printf(", %d reader thread%s, 1 writer process\n\n", f->T,
           f->T > 1 ? "s" : "");
    printf("  writer        %llu messages, %llu writes (%llu would block), "
           "%.1f MB in %.3f s%s%s\n",
           (unsigned long long)f->wres.messages,
           (unsigned long long)f->wres.writes,
           (unsigned long long)f->wres.eagain, (double)f->wres.bytes / 1e6,
           (double)(f->wres.t_last_ns - f->wres.t_first_ns) / 1e9,
           f->wres.error ? "; error: " : "",
           f->wres.error ? strerror(f->wres.error) : "");
    printf("  throughput    %.1f deliveries/s%s\n", dlv_rate(f, t),
           f->go.interval_ns ? " in the window"
                             : " (all deliveries / time to the last)");
    printf("  deliveries    %llu; %llu messages incomplete, %llu bad frames, "
           "%llu connections closed\n\n",
           (unsigned long long)t->dlv, (unsigned long long)t->incomplete,
           (unsigned long long)t->bad, (unsigned long long)t->closed);
    report_lat_header(stdout);
    report_lat_row(stdout, "each delivery", &t->lat);
    report_lat_row(stdout, "all-reached", &t->all);
    printf("\n  each-delivery histogram:\n");
    bh_print_ascii(&t->lat, stdout, "  ");
}

static json_t *results_json(const floor_run *f, const ftotals *t)
{
    json_t *w = json_pack(
        "{s:I, s:I, s:I, s:I, s:f, s:i}", "messages",
        (json_int_t)f->wres.messages, "writes", (json_int_t)f->wres.writes,
        "would_block", (json_int_t)f->wres.eagain, "bytes",
        (json_int_t)f->wres.bytes, "write_s",
        (double)(f->wres.t_last_ns - f->wres.t_first_ns) / 1e9, "error",
        f->wres.error);
    return json_pack("{s:I, s:I, s:f, s:I, s:I, s:I, s:o, s:o, s:o}", "conns",
                     (json_int_t)f->nconns, "deliveries", (json_int_t)t->dlv,
                     "deliveries_per_s", dlv_rate(f, t), "incomplete_messages",
                     (json_int_t)t->incomplete, "bad_frames",
                     (json_int_t)t->bad, "closed", (json_int_t)t->closed,
                     "writer", w, "delivery_latency", report_hist(&t->lat),
                     "all_reached_latency", report_hist(&t->all));
}

static int finish(floor_run *f)
{
    const bench_opts *o = f->o;
    ftotals *t = calloc(1, sizeof(*t));
    if (!t)
        return 1;
    totals(f, t);
    print_report(f, t);
    json_t *root = report_new(o);
    json_object_set_new(
        root, "config",
        json_pack("{s:I, s:I, s:f, s:I, s:f, s:f, s:I}", "conns",
                  (json_int_t)o->conns, "frame_bytes",
                  (json_int_t)o->frame_bytes, "rate", o->rate, "messages",
                  (json_int_t)f->go.messages, "duration_s",
                  f->go.interval_ns ? o->duration : 0.0, "warmup_s",
                  f->go.interval_ns ? o->warmup : 0.0, "coalesce",
                  (json_int_t)o->coalesce));
    json_object_set_new(root, "results", results_json(f, t));
    int rc = report_write(o, root) < 0 || t->incomplete > 0;
    json_decref(root);
    free(t);
    return rc;
}

static int run(floor_run *f)
{
    int lfd = -1;
    uint16_t port;
    if (start_writer(f, &lfd, &port) < 0) {
        fprintf(stderr, "parley-bench floor: cannot start the writer: %s\n",
                strerror(errno));
        return -1;
    }
    int rc = init_readers(f, port);
    close(lfd); /* the child has accepted everything by now, or failed */
    if (rc < 0)
        return -1;
    plan_go(f);
    f->counts = calloc(f->cap ? f->cap : 1, sizeof(*f->counts));
    if (!f->counts)
        return -1;
    for (int t = 0; t < f->T; t++)
        if (pthread_create(&f->r[t].th, NULL, reader_main, &f->r[t]) != 0)
            return -1; /* (threads already started are joined by caller) */
    if (write(f->ctl, &f->go, sizeof(f->go)) != (ssize_t)sizeof(f->go))
        return -1;
    wait_done(f);
    return 0;
}

int bench_floor(const bench_opts *o)
{
    char err[BENCH_ERRLEN];
    floor_run f = {.o = o,
                   .T = o->threads,
                   .nconns = (size_t)o->conns,
                   .ctl = -1,
                   .rep = -1};
    if (o->conns < 1 || (o->rate <= 0 && o->messages < 1) ||
        o->coalesce > o->messages) {
        fprintf(stderr, "parley-bench floor: need --conns >= 1 and --rate "
                        "> 0 or --messages >= 1 (>= --coalesce)\n");
        return 2;
    }
    if (scn_check_fds(o, (size_t)o->conns, err, sizeof(err)) < 0) {
        fprintf(stderr, "parley-bench floor: %s\n", err);
        return 2;
    }
    int ok = run(&f) == 0;
    atomic_store(&f.stop, 1);
    for (int t = 0; f.r && t < f.T; t++)
        if (f.r[t].th)
            pthread_join(f.r[t].th, NULL);
    int rc = ok ? finish(&f) : 1;
    if (f.ctl >= 0)
        close(f.ctl);
    if (f.rep >= 0)
        close(f.rep);
    if (f.pid > 0)
        waitpid(f.pid, NULL, 0);
    free_readers(&f);
    free(f.counts);
    return rc;
}
