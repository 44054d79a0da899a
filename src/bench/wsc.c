/* wsc.c - non-blocking WebSocket client engine (see wsc.h). */
#include "bench/wsc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/jscan.h"
#include "proto/ws.h"

#define BW_RBUF (256u << 10)        /* shared read buffer per loop */
#define BW_MAX_PAYLOAD (128u << 10) /* far above the server's max-frame */
#define BW_OUT_MAX (16u << 20)      /* client-side backlog per connection */
#define BW_MAX_HEAD 16384
#define BW_EVENTS 512
#define BW_WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* The events array lives behind the loop; one allocation per loop. */
static struct epoll_event *loop_events(bw_loop *l)
{
    return (struct epoll_event *)(void *)(l->rbuf + BW_RBUF);
}

uint64_t bw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

pl_status bw_loop_init(bw_loop *l, const bench_target *t, const bw_ops *ops,
                       void *ctx)
{
    memset(l, 0, sizeof(*l));
    l->target = t;
    l->ops = *ops;
    l->ctx = ctx;
    l->rcap = BW_RBUF;
    l->rbuf = malloc(BW_RBUF + BW_EVENTS * sizeof(struct epoll_event));
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->rng = (uint32_t)bw_now_ns() | 1u;
    l->now_ns = bw_now_ns();
    if (!l->rbuf || l->ep < 0) {
        bw_loop_free(l);
        return PL_ERR_NOMEM;
    }
    return PL_OK;
}

void bw_loop_free(bw_loop *l)
{
    if (l->ep > 0)
        close(l->ep);
    free(l->rbuf);
    free(l->dirty);
    l->rbuf = NULL;
    l->dirty = NULL;
    l->ep = -1;
}

static void set_events(bw_loop *l, bw_conn *c, int want_out)
{
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0),
                             .data.ptr = c};
    c->want_out = (uint8_t)want_out;
    epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

void bw_conn_close(bw_loop *l, bw_conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set: the fd is not shared */
    c->fd = -1;
    c->state = BW_CLOSED;
    pl_dbuf_free(&c->out);
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}

static void conn_fail(bw_loop *l, bw_conn *c, const char *why)
{
    bw_conn_close(l, c);
    if (l->ops.on_close)
        l->ops.on_close(l, c, why);
}

static void mark_dirty(bw_loop *l, bw_conn *c)
{
    if (c->dirty)
        return;
    if (l->ndirty == l->dcap) {
        size_t cap = l->dcap ? l->dcap * 2 : 1024;
        bw_conn **d = realloc(l->dirty, cap * sizeof(*d));
        if (!d)
            return; /* flushed later by EPOLLOUT or the next send */
        l->dirty = d;
        l->dcap = cap;
    }
    c->dirty = 1;
    l->dirty[l->ndirty++] = c;
}

/* Opens the socket: non-blocking, Nagle off, source 127.0.0.X. */
static int open_socket(bw_loop *l)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* The port is chosen at connect() time, per destination: with many
     * source addresses this lifts the ~28k ephemeral port limit. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr =
        htonl(0x7f000000u | (uint32_t)(1 + l->src_next++ % 250));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

pl_status bw_conn_start(bw_loop *l, bw_conn *c, const char *token)
{
    pl_dbuf_init(&c->out, BW_OUT_MAX);
    c->token = token;
    c->t_start_ns = bw_now_ns();
    c->fd = open_socket(l);
    if (c->fd < 0)
        return PL_ERR_IO;
    if (connect(c->fd, (const struct sockaddr *)&l->target->addr,
                sizeof(l->target->addr)) < 0 &&
        errno != EINPROGRESS)
        goto fail;
    if (pl_dbuf_printf(&c->out,
                       "GET /v1/ws HTTP/1.1\r\nHost: %s\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: " BW_WS_KEY "\r\n"
                       "Sec-WebSocket-Version: 13\r\n"
                       "Authorization: Bearer %s\r\n\r\n",
                       l->target->hostport, token) != PL_OK)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        goto fail;
    c->want_out = 1;
    c->state = BW_CONNECTING;
    return PL_OK;
fail:;
    int e = errno;
    bw_conn_close(l, c);
    errno = e;
    return PL_ERR_IO;
}

/* One send of everything pending. EPOLLOUT only while a write is short. */
static void write_out(bw_loop *l, bw_conn *c)
{
    if (c->out.len == 0) {
        if (c->want_out)
            set_events(l, c, 0);
        return;
    }
    ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
    l->writes++;
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        char why[96];
        snprintf(why, sizeof(why), "send: %s", strerror(errno));
        conn_fail(l, c, why);
        return;
    }
    if (n > 0) {
        l->bytes_out += (uint64_t)n;
        pl_dbuf_consume(&c->out, (size_t)n);
    }
    if ((c->out.len > 0) != (c->want_out != 0))
        set_events(l, c, c->out.len > 0);
}

static pl_status send_frame(bw_loop *l, bw_conn *c, int op, const char *p,
                            size_t n)
{
    if (c->state == BW_CLOSED || c->state == BW_NEW)
        return PL_ERR_INVALID;
    uint8_t mask[4];
    l->rng ^= l->rng << 13; /* xorshift32: masks need not be secret here */
    l->rng ^= l->rng >> 17;
    l->rng ^= l->rng << 5;
    memcpy(mask, &l->rng, 4);
    uint8_t hdr[14];
    size_t hl = pl_ws_write_header_masked(hdr, 1, op, n, mask);
    char *w = pl_dbuf_reserve(&c->out, hl + n);
    if (!w)
        return PL_ERR_TOOLARGE;
    memcpy(w, hdr, hl);
    for (size_t i = 0; i < n; i++)
        w[hl + i] = (char)(p[i] ^ mask[i & 3]);
    c->out.len += hl + n;
    c->last_tx_ns = l->now_ns;
    mark_dirty(l, c);
    return PL_OK;
}

pl_status bw_send_text(bw_loop *l, bw_conn *c, const char *p, size_t n)
{
    return send_frame(l, c, PL_WS_TEXT, p, n);
}

/* Checks the 101 response head in p[0..n). Returns the head length, 0 if
 * incomplete, -1 if the connection failed. */
static long handshake(bw_loop *l, bw_conn *c, const char *p, size_t n)
{
    static const char want[] =
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) {
        if (n > BW_MAX_HEAD)
            conn_fail(l, c, "http: head too large");
        return n > BW_MAX_HEAD ? -1 : 0;
    }
    size_t hlen = (size_t)(end - p) + 4;
    int status = 0;
    if (n < 12 || sscanf(p, "HTTP/1.%*d %d", &status) != 1 || status != 101) {
        char why[32];
        snprintf(why, sizeof(why), "http %d", status);
        conn_fail(l, c, why);
        return -1;
    }
    if (!memmem(p, hlen, want, sizeof(want) - 1)) {
        conn_fail(l, c, "http: bad Sec-WebSocket-Accept");
        return -1;
    }
    c->state = BW_WAIT_HELLO;
    return (long)hlen;
}

static int on_hello(bw_loop *l, bw_conn *c, const char *p, size_t n)
{
    js_val v;
    if (js_get(p, n, "type", &v) != 1 || !js_eq(&v, "hello")) {
        conn_fail(l, c, "first frame is not hello");
        return -1;
    }
    if (js_get(p, n, "user_id", &v) == 1 && v.is_str && v.len == 36) {
        memcpy(c->user_id, v.p, 36);
        c->user_id[36] = '\0';
    }
    if (js_get(p, n, "heartbeat_interval_ms", &v) == 1 && js_int(&v) > 0)
        c->hb_ms = (int)js_int(&v);
    c->state = BW_OPEN;
    c->t_open_ns = l->now_ns;
    c->last_tx_ns = l->now_ns;
    if (l->ops.on_open)
        l->ops.on_open(l, c, l->now_ns);
    return c->state == BW_CLOSED ? -1 : 0;
}

static int on_close_frame(bw_loop *l, bw_conn *c, const uint8_t *p, size_t n)
{
    char why[32];
    int code = n >= 2 ? (p[0] << 8 | p[1]) : 1005;
    snprintf(why, sizeof(why), "close %d", code);
    conn_fail(l, c, why);
    return -1;
}

/* Handles one complete frame; -1 if the connection is gone. */
static int handle_frame(bw_loop *l, bw_conn *c, const pl_ws_frame *f,
                        const uint8_t *payload)
{
    size_t n = (size_t)f->payload_len;
    l->frames_in++;
    switch (f->opcode) {
    case PL_WS_TEXT:
        if (!f->fin || f->masked)
            break;
        if (c->state == BW_WAIT_HELLO)
            return on_hello(l, c, (const char *)payload, n);
        if (l->ops.on_text)
            l->ops.on_text(l, c, (const char *)payload, n, l->now_ns);
        return c->state == BW_CLOSED ? -1 : 0;
    case PL_WS_PING:
        send_frame(l, c, PL_WS_PONG, (const char *)payload, n);
        return 0;
    case PL_WS_PONG: return 0;
    case PL_WS_CLOSE: return on_close_frame(l, c, payload, n);
    default: break;
    }
    conn_fail(l, c, "unexpected frame (fragmented, masked or binary)");
    return -1;
}

/* Consumes complete frames (and the upgrade response) from p[0..n).
 * Returns the bytes used, or -1 if the connection is gone. */
static long consume(bw_loop *l, bw_conn *c, uint8_t *p, size_t n)
{
    size_t off = 0;
    if (c->state == BW_UPGRADING) {
        long h = handshake(l, c, (const char *)p, n);
        if (h <= 0)
            return h;
        off = (size_t)h;
    }
    while (off < n) {
        pl_ws_frame f;
        long r = pl_ws_parse_header(p + off, n - off, BW_MAX_PAYLOAD, &f);
        if (r == PL_WS_INCOMPLETE)
            break;
        if (r < 0) {
            conn_fail(l, c, "bad frame from server");
            return -1;
        }
        if (handle_frame(l, c, &f, p + off + f.header_len) < 0)
            return -1;
        off += (size_t)r;
    }
    return (long)off;
}

/* Keeps p[0..n) (an incomplete frame) in the connection. */
static int stash(bw_loop *l, bw_conn *c, const uint8_t *p, size_t n)
{
    if (n > c->in_cap) {
        char *q = realloc(c->in, n);
        if (!q) {
            conn_fail(l, c, "out of memory");
            return -1;
        }
        c->in = q;
        c->in_cap = (uint32_t)n;
    }
    if (n)
        memmove(c->in, p, n);
    c->in_len = (uint32_t)n;
    return 0;
}

static void read_in(bw_loop *l, bw_conn *c)
{
    for (int round = 0; round < 16; round++) {
        size_t carry = c->in_len, room = l->rcap - carry;
        if (carry)
            memcpy(l->rbuf, c->in, carry);
        ssize_t n = recv(c->fd, l->rbuf + carry, room, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            char why[96];
            snprintf(why, sizeof(why), "%s%s", n ? "recv: " : "eof",
                     n ? strerror(errno) : "");
            conn_fail(l, c, why);
            return;
        }
        l->bytes_in += (uint64_t)n;
        size_t total = carry + (size_t)n;
        long used = consume(l, c, (uint8_t *)l->rbuf, total);
        if (used < 0 ||
            stash(l, c, (uint8_t *)l->rbuf + used, total - (size_t)used) < 0)
            return;
        if ((size_t)n < room)
            return;
    }
}

static void connected(bw_loop *l, bw_conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        char why[96];
        snprintf(why, sizeof(why), "connect: %s", strerror(err));
        conn_fail(l, c, why);
        return;
    }
    c->state = BW_UPGRADING;
    write_out(l, c);
}

static void on_event(bw_loop *l, bw_conn *c, uint32_t ev)
{
    if (c->state == BW_CONNECTING) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        connected(l, c);
    } else if (ev & EPOLLOUT) {
        write_out(l, c);
    }
    if (c->state != BW_CLOSED && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        read_in(l, c);
}

static void flush(bw_loop *l)
{
    for (size_t i = 0; i < l->ndirty; i++) {
        bw_conn *c = l->dirty[i];
        c->dirty = 0;
        if (c->state > BW_CONNECTING && c->state < BW_CLOSED)
            write_out(l, c);
    }
    l->ndirty = 0;
}

static void heartbeats(bw_loop *l)
{
    static const char ping[] = "{\"type\":\"ping\"}";
    if (l->now_ns < l->next_hb_ns)
        return;
    l->next_hb_ns = l->now_ns + 1000000000ull;
    for (size_t i = 0; i < l->nconns; i++) {
        bw_conn *c = l->conns[i];
        uint64_t half = (uint64_t)c->hb_ms * 500000ull;
        if (c->state == BW_OPEN && c->hb_ms > 0 &&
            l->now_ns - c->last_tx_ns >= half)
            send_frame(l, c, PL_WS_TEXT, ping, sizeof(ping) - 1);
    }
}

int bw_loop_poll(bw_loop *l, uint64_t deadline_ns)
{
    struct epoll_event *evs = loop_events(l);
    flush(l);
    uint64_t now = bw_now_ns(),
             wait = deadline_ns > now ? deadline_ns - now : 0;
    struct timespec ts = {(time_t)(wait / 1000000000ull),
                          (long)(wait % 1000000000ull)};
    int n = epoll_pwait2(l->ep, evs, BW_EVENTS, &ts, NULL);
    l->now_ns = bw_now_ns();
    for (int i = 0; i < n; i++)
        on_event(l, evs[i].data.ptr, evs[i].events);
    heartbeats(l);
    return n < 0 ? 0 : n;
}
