/* relay.c - the `relay` scenario: the raw-socket floor of `direct`.
 *
 * A forked child is a plain epoll relay (no WebSocket, no JSON, no store):
 * P pairs of TCP connections; every frame a client sends is answered the
 * way Parley answers a `send` - an ack frame back to the sender, the frame
 * to the peer, and an echo to the sender - each connection's output
 * coalesced into one write per loop iteration, on one thread per core.
 * The clients (this process) send open-loop at a total rate, like
 * `direct`, and measure send->receive at the peer. What the relay cannot
 * beat, Parley cannot either: `direct` results are quoted as a ratio to it.
 *
 * Frames are frame_bytes long: type (1 byte: 'S' send, 'A' ack, 'M'
 * message, 'E' echo), 7 bytes pad, the message's scheduled time (8 bytes,
 * CLOCK_MONOTONIC ns, shared by the processes of one machine), filler.
 *
 * Ownership: the main thread owns the child, the client threads and the
 * connections; each client thread owns its pairs' sockets. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/common.h"
#include "bench/report.h"
#include "bench/scn.h"

#define RL_NS 1000000000ull
#define RL_MAX_THREADS 8
#define RL_OUT_CAP (256u << 10)

typedef struct rl_conn {
    int fd;
    uint32_t have; /* bytes of a partial frame in part */
    uint8_t *part;
    uint8_t *out;  /* relay side: pending output */
    uint32_t olen;
    int dirty;
} rl_conn;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * RL_NS + (uint64_t)ts.tv_nsec;
}

/* Reads whole frames of fsz bytes from c, calling fn for each; -1 on EOF
 * or error. Sockets stay blocking (writes block, as a relay that never
 * drops would); reads never do. */
static int read_frames(rl_conn *c, size_t fsz, uint8_t *buf, size_t cap,
                       void (*fn)(void *, rl_conn *, const uint8_t *),
                       void *ctx)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return -1;
        if (n < 0)
            return 0;
        for (size_t i = 0; i < (size_t)n;) {
            size_t take = fsz - c->have < (size_t)n - i ? fsz - c->have
                                                        : (size_t)n - i;
            memcpy(c->part + c->have, buf + i, take);
            c->have += (uint32_t)take;
            i += take;
            if (c->have == fsz) {
                fn(ctx, c, c->part);
                c->have = 0;
            }
        }
    }
}

/* --- the relay (child process) ----------------------------------------- */

typedef struct relay_thr {
    rl_conn *conns; /* all connections; this thread serves pairs p % T == id */
    size_t fsz;
    int ep, id;
    rl_conn **dirty;
    size_t ndirty;
} relay_thr;

static void queue(relay_thr *t, rl_conn *c, const uint8_t *f, uint8_t type)
{
    if (c->olen + t->fsz > RL_OUT_CAP)
        return; /* a stuck reader: the floor does not buffer without bound */
    memcpy(c->out + c->olen, f, t->fsz);
    c->out[c->olen] = type;
    c->olen += (uint32_t)t->fsz;
    if (!c->dirty) {
        c->dirty = 1;
        t->dirty[t->ndirty++] = c;
    }
}

static void on_send(void *ctx, rl_conn *c, const uint8_t *f)
{
    relay_thr *t = ctx;
    size_t i = (size_t)(c - t->conns);
    queue(t, c, f, 'A');
    queue(t, &t->conns[i ^ 1], f, 'M');
    queue(t, c, f, 'E');
}

static void flush_dirty(relay_thr *t)
{
    for (size_t k = 0; k < t->ndirty; k++) {
        rl_conn *c = t->dirty[k];
        uint32_t off = 0;
        while (off < c->olen) {
            ssize_t n = write(c->fd, c->out + off, c->olen - off);
            if (n <= 0)
                break; /* full socket: the rest is dropped (floor only) */
            off += (uint32_t)n;
        }
        c->olen = 0;
        c->dirty = 0;
    }
    t->ndirty = 0;
}

static void *relay_main(void *arg)
{
    relay_thr *t = arg;
    struct epoll_event ev[256];
    uint8_t *buf = malloc(1u << 16);
    int live = 1;
    while (buf && live) {
        int n = epoll_wait(t->ep, ev, 256, 1000);
        for (int i = 0; i < n; i++) {
            rl_conn *c = ev[i].data.ptr;
            if (read_frames(c, t->fsz, buf, 1u << 16, on_send, t) < 0)
                live = 0; /* the clients are gone: the run is over */
        }
        flush_dirty(t);
    }
    free(buf);
    return NULL;
}

static void relay_child(int lfd, size_t nconns, size_t fsz, int nthr)
    __attribute__((noreturn));
static void relay_child(int lfd, size_t nconns, size_t fsz, int nthr)
{
    rl_conn *conns = calloc(nconns, sizeof(*conns));
    relay_thr thr[RL_MAX_THREADS];
    pthread_t th[RL_MAX_THREADS];
    for (size_t k = 0; conns && k < nconns; k++) {
        int fd = accept(lfd, NULL, NULL);
        uint32_t idx;
        if (fd < 0 || read(fd, &idx, 4) != 4 || idx >= nconns)
            _exit(1);
        conns[idx] = (rl_conn){.fd = fd, .part = malloc(fsz),
                               .out = malloc(RL_OUT_CAP)};
        if (!conns[idx].part || !conns[idx].out)
            _exit(1);
    }
    close(lfd);
    for (int i = 0; i < nthr; i++) {
        thr[i] = (relay_thr){.conns = conns, .fsz = fsz, .id = i,
                             .ep = epoll_create1(0),
                             .dirty = calloc(nconns, sizeof(rl_conn *))};
        for (size_t k = 0; k < nconns; k++) {
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = &conns[k]};
            if ((k / 2) % (size_t)nthr == (size_t)i)
                epoll_ctl(thr[i].ep, EPOLL_CTL_ADD, conns[k].fd, &e);
        }
        pthread_create(&th[i], NULL, relay_main, &thr[i]);
    }
    for (int i = 0; i < nthr; i++)
        pthread_join(th[i], NULL);
    _exit(0);
}

/* --- the clients (this process) ---------------------------------------- */

typedef struct rl_client {
    pthread_t th;
    int id, ep;
    const bench_opts *o;
    rl_conn *conns; /* all; this thread owns pairs p % T == id */
    size_t npairs;
    uint64_t t0, interval_ns, win_lo, win_hi;
    uint64_t sent, acks, msgs, echoes, win_msgs, win_arrivals;
    bh_hist dlv;
    uint8_t *frame;
} rl_client;

static void on_frame(void *ctx, rl_conn *c, const uint8_t *f)
{
    rl_client *cl = ctx;
    uint64_t sched, now = now_ns();
    memcpy(&sched, f + 8, 8);
    if (f[0] == 'A')
        cl->acks++;
    else if (f[0] == 'E')
        cl->echoes++;
    else if (f[0] == 'M') {
        cl->msgs++;
        cl->win_arrivals += now >= cl->win_lo && now < cl->win_hi;
        if (sched >= cl->win_lo && sched < cl->win_hi) {
            bh_record(&cl->dlv, now - sched);
            cl->win_msgs++;
        }
    }
}

static void client_send(rl_client *cl, uint64_t sched, uint64_t k)
{
    size_t T = (size_t)cl->o->threads, mine = k % cl->npairs;
    size_t pair = (size_t)cl->id + mine * T;
    rl_conn *c = &cl->conns[2 * pair + ((k / cl->npairs) & 1)];
    cl->frame[0] = 'S';
    memcpy(cl->frame + 8, &sched, 8);
    if (write(c->fd, cl->frame, (size_t)cl->o->frame_bytes) > 0)
        cl->sent++;
}

static void *client_main(void *arg)
{
    rl_client *cl = arg;
    struct epoll_event ev[256];
    uint8_t *buf = malloc(1u << 16);
    uint64_t end = cl->win_hi, next = cl->t0, k = 0;
    uint64_t stop = end + (uint64_t)(cl->o->drain * 1e9);
    while (buf && now_ns() < stop) {
        uint64_t now = now_ns();
        while (cl->interval_ns && next <= now && next < end) {
            client_send(cl, next, k++);
            next += cl->interval_ns;
        }
        if (now >= end && cl->acks >= cl->sent && cl->msgs >= cl->sent)
            break;
        uint64_t wake = next < end ? next : now + 10000000ull;
        int ms = wake > now ? (int)((wake - now) / 1000000ull) : 0;
        int n = epoll_wait(cl->ep, ev, 256, ms);
        for (int i = 0; i < n; i++)
            read_frames(ev[i].data.ptr, (size_t)cl->o->frame_bytes, buf,
                        1u << 16, on_frame, cl);
    }
    free(buf);
    return NULL;
}

static int connect_all(rl_conn *conns, size_t n, uint16_t port, size_t fsz)
{
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(0x7f000001u);
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        uint32_t idx = (uint32_t)i;
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            write(fd, &idx, 4) != 4)
            return -1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conns[i] = (rl_conn){.fd = fd, .part = malloc(fsz)};
        if (!conns[i].part)
            return -1;
    }
    return 0;
}

static int listen_any(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    a.sin_addr.s_addr = htonl(0x7f000001u);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(fd, 4096) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static void report(const bench_opts *o, rl_client *cl, int T)
{
    bh_hist dlv;
    uint64_t sent = 0, acks = 0, msgs = 0, echoes = 0, win = 0, arr = 0;
    bh_init(&dlv);
    for (int i = 0; i < T; i++) {
        bh_merge(&dlv, &cl[i].dlv);
        sent += cl[i].sent;
        acks += cl[i].acks;
        msgs += cl[i].msgs;
        echoes += cl[i].echoes;
        win += cl[i].win_msgs;
        arr += cl[i].win_arrivals;
    }
    printf("\nparley-bench relay: %ld pairs, %.0f frames/s offered for %.0f s "
           "after %.0f s warm-up, %d-byte frames, %d client thread%s\n\n",
           o->pairs, o->rate, o->duration, o->warmup, (int)o->frame_bytes, T,
           T > 1 ? "s" : "");
    printf("  frames        sent %llu, acked %llu, relayed %llu, echoed %llu\n",
           (unsigned long long)sent, (unsigned long long)acks,
           (unsigned long long)msgs, (unsigned long long)echoes);
    printf("  throughput    %.1f msgs/s relayed in the window (by send "
           "time); %.1f msgs/s arrived in it (the capacity when "
           "overloaded)\n\n",
           (double)win / o->duration, (double)arr / o->duration);
    report_lat_header(stdout);
    report_lat_row(stdout, "send->receive", &dlv);
    json_t *root = report_new(o);
    json_object_set_new(
        root, "config",
        json_pack("{s:I, s:f, s:f, s:f, s:I}", "pairs", (json_int_t)o->pairs,
                  "rate", o->rate, "duration_s", o->duration, "warmup_s",
                  o->warmup, "frame_bytes", (json_int_t)o->frame_bytes));
    json_object_set_new(
        root, "results",
        json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:o}", "sent",
                  (json_int_t)sent, "acked", (json_int_t)acks, "relayed",
                  (json_int_t)msgs, "echoed", (json_int_t)echoes,
                  "delivered_per_s", (double)win / o->duration,
                  "arrived_per_s", (double)arr / o->duration,
                  "send_to_receive_latency", report_hist(&dlv)));
    report_write(o, root);
    json_decref(root);
}

static int run_clients(const bench_opts *o, rl_conn *conns, rl_client *cl,
                       int T)
{
    uint64_t t0 = now_ns() + 50000000ull;
    for (int i = 0; i < T; i++) {
        rl_client *c = &cl[i];
        *c = (rl_client){.id = i, .o = o, .conns = conns, .t0 = t0,
                         .ep = epoll_create1(0),
                         .frame = calloc(1, (size_t)o->frame_bytes)};
        c->npairs = (size_t)o->pairs / (size_t)T +
                    ((size_t)i < (size_t)o->pairs % (size_t)T);
        double rate = o->rate * (double)c->npairs / (double)o->pairs;
        c->interval_ns = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
        c->win_lo = t0 + (uint64_t)(o->warmup * 1e9);
        c->win_hi = c->win_lo + (uint64_t)(o->duration * 1e9);
        bh_init(&c->dlv);
        for (size_t p = (size_t)i; p < (size_t)o->pairs; p += (size_t)T)
            for (size_t s = 0; s < 2; s++) {
                struct epoll_event e = {.events = EPOLLIN,
                                        .data.ptr = &conns[2 * p + s]};
                epoll_ctl(c->ep, EPOLL_CTL_ADD, conns[2 * p + s].fd, &e);
            }
        if (!c->frame || pthread_create(&c->th, NULL, client_main, c) != 0)
            return -1;
    }
    for (int i = 0; i < T; i++)
        pthread_join(cl[i].th, NULL);
    return 0;
}

int bench_relay(const bench_opts *o)
{
    size_t n = 2 * (size_t)o->pairs, fsz = (size_t)o->frame_bytes;
    int T = o->threads < RL_MAX_THREADS ? o->threads : RL_MAX_THREADS, rc = 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char err[BENCH_ERRLEN];
    uint16_t port;
    rl_conn *conns = calloc(n, sizeof(*conns));
    rl_client cl[RL_MAX_THREADS];
    int lfd = listen_any(&port);
    memset(cl, 0, sizeof(cl));
    if (!conns || lfd < 0 || o->pairs < 1 || o->rate <= 0 ||
        scn_check_fds(o, n, err, sizeof(err)) < 0) {
        fprintf(stderr, "parley-bench relay: need --pairs >= 1, --rate > 0 "
                        "and 2 fds per connection\n");
        free(conns);
        return 2;
    }
    pid_t pid = fork();
    if (pid == 0)
        relay_child(lfd, n, fsz, cores > RL_MAX_THREADS ? RL_MAX_THREADS
                                                       : (int)cores);
    close(lfd);
    if (pid > 0 && connect_all(conns, n, port, fsz) == 0 &&
        run_clients(o, conns, cl, T) == 0) {
        report(o, cl, T);
        rc = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (conns[i].fd > 0)
            close(conns[i].fd);
        free(conns[i].part);
    }
    for (int i = 0; i < T; i++) {
        if (cl[i].ep > 0)
            close(cl[i].ep);
        free(cl[i].frame);
    }
    free(conns);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return rc;
}
