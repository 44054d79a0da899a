/* floor_writer.c - the raw-socket floor's writer, run in a forked child:
 * what an ideal fan-out server would do with no protocol work at all. Per
 * message, each connection's pending frames go out in one write();
 * connections whose socket buffer is full keep their bytes and are written
 * again on EPOLLOUT (then carrying several frames at once).
 *
 * Ownership: everything here belongs to the child process. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/floor_int.h"
#include "bench/wsc.h"

#define FW_PENDING_MAX (4u << 20) /* per connection before the writer waits */
#define FW_ACCEPT_TIMEOUT_MS 60000

typedef struct fw_conn {
    int fd;
    int want_out;
    char *p; /* pending bytes */
    size_t len, cap;
} fw_conn;

typedef struct fw {
    int ep;
    fw_conn *c;
    size_t n;
    floor_go go;
    floor_wres res;
    char *frame; /* scratch: coalesce frames */
    size_t pending_conns;
} fw;

static int accept_all(fw *w, int lfd, size_t want)
{
    int one = 1;
    while (w->n < want) {
        struct pollfd pf = {lfd, POLLIN, 0};
        if (poll(&pf, 1, FW_ACCEPT_TIMEOUT_MS) <= 0)
            return -1;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        w->c[w->n++] = (fw_conn){.fd = fd};
        struct epoll_event ev = {.events = 0, .data.ptr = &w->c[w->n - 1]};
        epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
    }
    return 0;
}

static void set_out(fw *w, fw_conn *c, int on)
{
    struct epoll_event ev = {.events = on ? EPOLLOUT : 0, .data.ptr = c};
    if (c->want_out == on)
        return;
    c->want_out = on;
    w->pending_conns += on ? 1 : (size_t)-1;
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void flush_one(fw *w, fw_conn *c)
{
    if (!c->len)
        return;
    ssize_t n = send(c->fd, c->p, c->len, MSG_NOSIGNAL);
    w->res.writes++;
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            w->res.error = errno;
        w->res.eagain += errno == EAGAIN;
        n = 0;
    }
    if (!w->res.t_first_ns)
        w->res.t_first_ns = bw_now_ns();
    w->res.t_last_ns = bw_now_ns();
    w->res.bytes += (uint64_t)n;
    memmove(c->p, c->p + n, c->len - (size_t)n);
    c->len -= (size_t)n;
    set_out(w, c, c->len > 0);
}

static int append(fw_conn *c, const char *p, size_t n)
{
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        while (cap < c->len + n)
            cap *= 2;
        char *q = realloc(c->p, cap);
        if (!q)
            return -1;
        c->p = q;
        c->cap = cap;
    }
    memcpy(c->p + c->len, p, n);
    c->len += n;
    return 0;
}

/* Waits up to timeout_ns for EPOLLOUT and writes what became writable. */
static void drain_events(fw *w, uint64_t timeout_ns)
{
    struct epoll_event ev[256];
    struct timespec ts = {(time_t)(timeout_ns / 1000000000ull),
                          (long)(timeout_ns % 1000000000ull)};
    int n = epoll_pwait2(w->ep, ev, 256, &ts, NULL);
    for (int i = 0; i < n; i++)
        flush_one(w, ev[i].data.ptr);
}

/* Frames k..k+cnt-1 with time stamp sched, to every connection. */
static void send_messages(fw *w, uint64_t k, uint32_t cnt, uint64_t sched)
{
    size_t fb = w->go.frame_bytes;
    for (uint32_t i = 0; i < cnt; i++) {
        uint64_t idx = k + i;
        memcpy(w->frame + i * fb, &idx, 8);
        memcpy(w->frame + i * fb + 8, &sched, 8);
    }
    for (size_t j = 0; j < w->n; j++) {
        fw_conn *c = &w->c[j];
        while (c->len > FW_PENDING_MAX && !w->res.error)
            drain_events(w, 10000000ull);
        if (append(c, w->frame, fb * cnt) < 0)
            w->res.error = ENOMEM;
        flush_one(w, c);
    }
    w->res.messages += cnt;
}

static void run_burst(fw *w)
{
    uint64_t M = w->go.messages, k = 0;
    while (bw_now_ns() < w->go.t0_ns)
        ;
    while (k < M && !w->res.error) {
        uint32_t cnt =
            (uint32_t)(M - k < w->go.coalesce ? M - k : w->go.coalesce);
        send_messages(w, k, cnt, w->go.t0_ns);
        k += cnt;
        if (w->pending_conns)
            drain_events(w, 0);
    }
}

static void run_rate(fw *w)
{
    uint64_t next = w->go.t0_ns, k = 0;
    while (next < w->go.end_ns && k < w->go.messages && !w->res.error) {
        uint64_t now = bw_now_ns();
        if (now >= next) {
            send_messages(w, k++, 1, next);
            next += w->go.interval_ns;
            continue;
        }
        drain_events(w, next - now);
    }
}

static void finish_writes(fw *w)
{
    uint64_t stop = bw_now_ns() + 30000000000ull;
    while (w->pending_conns && !w->res.error && bw_now_ns() < stop)
        drain_events(w, 10000000ull);
}

void floor_writer_main(int lfd, size_t nconns, int ctl, int rep)
{
    fw w = {.n = 0};
    w.ep = epoll_create1(EPOLL_CLOEXEC);
    w.c = calloc(nconns ? nconns : 1, sizeof(*w.c));
    if (!w.c || w.ep < 0 || accept_all(&w, lfd, nconns) < 0)
        _exit(3);
    w.res.accepted = (int32_t)w.n;
    close(lfd);
    if (read(ctl, &w.go, sizeof(w.go)) != (ssize_t)sizeof(w.go))
        _exit(4);
    w.frame = calloc(w.go.coalesce, w.go.frame_bytes);
    if (!w.frame)
        _exit(5);
    memset(w.frame, 'x', (size_t)w.go.coalesce * w.go.frame_bytes);
    if (w.go.interval_ns)
        run_rate(&w);
    else
        run_burst(&w);
    finish_writes(&w);
    if (write(rep, &w.res, sizeof(w.res)) != (ssize_t)sizeof(w.res))
        _exit(6);
    char b;
    while (read(ctl, &b, 1) > 0) /* hold the sockets until the parent is done */
        ;
    _exit(0);
}
