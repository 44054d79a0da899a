/* gw_conn.c - connection I/O: reading, the bounded output queue, one
 * writev per connection per loop iteration, closing and reaping. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/timeutil.h"
#include "gw_int.h"
#include "presence_role.h"

#define READ_CHUNK 16384
#define MAX_IOV 64
#define CLOSING_TIMEOUT_MS 2000 /* our close is out: wait for the peer's */
#define DRAIN_TIMEOUT_MS 30000  /* a closing peer that does not read */

static void on_io(pl_loop *l, pl_io *io, uint32_t events);

void gw_conn_accept(gw_loop *gw, int fd, const char *peer,
                    const gw_admission *a)
{
    gw_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        if (a->lim_state == GW_LIM_COUNTED)
            pl_limtab_conn_close(gw->limtab, &a->key);
        close(fd);
        return;
    }
    c->peer_addr = a->peer;
    c->lim_state = (uint8_t)a->lim_state;
    c->via_proxy = a->lim_state == GW_LIM_PENDING;
    c->conn_key = a->key;
    c->refused = (int8_t)a->refused;
    c->refuse_retry_ms = (int32_t)a->retry_ms;
    if (c->refused)
        gw->refused_conns++;
    c->io.fd = fd;
    c->io.fn = on_io;
    c->gw = gw;
    c->id = gw->next_id++;
    c->state = GW_HTTP;
    c->keep_alive = true;
    c->created_ms = c->last_rx_ms = pl_loop_now_ms(gw->loop);
    c->in_max = (size_t)(gw->node->cfg.max_header + gw->node->cfg.max_body);
    if (c->refused) /* answered at its head: its body is never wanted */
        c->in_max = (size_t)gw->node->cfg.max_header;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    pl_dbuf_init(&c->frag, (size_t)gw->node->cfg.max_frame);
    pl_uuid k = pl_hmap_key_u64(c->id);
    if (pl_hmap_put(&gw->conns, &k, c) != PL_OK ||
        pl_loop_io_add(gw->loop, &c->io, EPOLLIN | EPOLLRDHUP) != PL_OK) {
        pl_hmap_del(&gw->conns, &k);
        gw_limits_release(c);
        close(fd);
        free(c);
        return;
    }
    PL_METRIC_ADD(connections, 1);
    PL_METRIC_ADD(accepted_total, 1);
}

/* --- output --------------------------------------------------------------- */

static void flush_list_add(gw_conn *c)
{
    if (c->in_flush_list)
        return;
    c->in_flush_list = true;
    c->next_flush = c->gw->flush_head;
    c->gw->flush_head = c;
}

static pl_status outq_push(gw_outq *q, pl_rbuf *b)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        pl_rbuf **nb = malloc(cap * sizeof(*nb));
        if (!nb)
            return PL_ERR_NOMEM;
        for (size_t i = 0; i < q->len; i++)
            nb[i] = q->bufs[(q->head + i) % q->cap];
        free(q->bufs);
        q->bufs = nb;
        q->cap = cap;
        q->head = 0;
    }
    q->bufs[(q->head + q->len) % q->cap] = b;
    q->len++;
    q->bytes += b->len;
    return PL_OK;
}

/* Drops every queued frame except a partly written head (whose remaining
 * bytes must still go out to keep the stream framed). */
static void outq_drop_unstarted(gw_outq *q)
{
    size_t keep = q->off > 0 ? 1 : 0;
    while (q->len > keep) {
        size_t last = (q->head + q->len - 1) % q->cap;
        q->bytes -= q->bufs[last]->len;
        pl_rbuf_unref(q->bufs[last]);
        q->len--;
    }
}

static void outq_free(gw_outq *q)
{
    for (size_t i = 0; i < q->len; i++)
        pl_rbuf_unref(q->bufs[(q->head + i) % q->cap]);
    free(q->bufs);
    memset(q, 0, sizeof(*q));
}

static void slow_consumer(gw_conn *c)
{
    PL_METRIC_ADD(slow_consumer_closes_total, 1);
    pl_log(PL_LOG_WARN, "slow_consumer_closed", "peer", PL_LS, c->peer,
           "queued_bytes", PL_LI, (int64_t)c->out.bytes, NULL);
    outq_drop_unstarted(&c->out);
    gw_ws_close(c, PL_WS_CLOSE_POLICY, "slow consumer: outbound queue full");
}

pl_status gw_conn_send(gw_conn *c, pl_rbuf *b)
{
    if (c->state == GW_DEAD || c->close_after_flush) {
        pl_rbuf_unref(b);
        return PL_ERR_IO;
    }
    /* HTTP is bounded by pausing input instead (gw_http.c); the close
     * frame of a closing connection must always get through */
    if (c->out.bytes + b->len > (size_t)c->gw->node->cfg.outbound_limit &&
        c->state != GW_HTTP && c->state != GW_CLOSING) {
        pl_rbuf_unref(b);
        slow_consumer(c);
        return PL_ERR_TOOLARGE;
    }
    if (outq_push(&c->out, b) != PL_OK) {
        pl_rbuf_unref(b);
        gw_conn_close(c);
        return PL_ERR_NOMEM;
    }
    if (c->state != GW_HTTP)
        PL_METRIC_ADD(ws_frames_out_total, 1);
    flush_list_add(c);
    return PL_OK;
}

/* Latest wins: finds an unstarted queued frame with this coalesce key
 * (looking at the last 256 entries only). */
static pl_rbuf **find_superseded(gw_outq *q, uint64_t key)
{
    size_t first = q->off > 0 ? 1 : 0, scanned = 0;
    for (size_t i = q->len; i > first && scanned < 256; i--, scanned++) {
        pl_rbuf **slot = &q->bufs[(q->head + i - 1) % q->cap];
        if ((*slot)->coalesce == key)
            return slot;
    }
    return NULL;
}

/* Puts nb (NULL: an empty frame) where the superseded frame was. */
static void replace_slot(gw_outq *q, pl_rbuf **slot, pl_rbuf *nb)
{
    static pl_rbuf empty = {.len = 0};
    q->bytes -= (*slot)->len;
    pl_rbuf_unref(*slot);
    if (!nb) {
        atomic_store(&empty.refs, 1u << 30); /* static: never freed */
        nb = &empty;
    }
    q->bytes += nb->len;
    *slot = nb;
}

void gw_conn_send_droppable(gw_conn *c, pl_rbuf *b)
{
    pl_rbuf **old = b->coalesce ? find_superseded(&c->out, b->coalesce) : NULL;
    bool backed_up =
        c->out.bytes > (size_t)c->gw->node->cfg.outbound_limit / 2;
    if (old && backed_up) { /* no growth: the newer takes the older's place */
        replace_slot(&c->out, old, b);
        return;
    }
    if (backed_up) {
        PL_METRIC_ADD(events_dropped_total, 1);
        pl_rbuf_unref(b);
        return;
    }
    if (old) /* the newer goes to the tail, after what preceded it */
        replace_slot(&c->out, old, NULL);
    gw_conn_send(c, b);
}

/* Writes as much of the queue as the socket takes. PL_OK when empty,
 * PL_AGAIN when the socket is full, PL_ERR_IO when it failed. */
static pl_status flush_conn(gw_conn *c)
{
    gw_outq *q = &c->out;
    while (q->len > 0) {
        struct iovec iov[MAX_IOV];
        int n = 0;
        for (size_t i = 0; i < q->len && n < MAX_IOV; i++, n++) {
            pl_rbuf *b = q->bufs[(q->head + i) % q->cap];
            size_t off = i == 0 ? q->off : 0;
            iov[n].iov_base = b->data + off;
            iov[n].iov_len = b->len - off;
        }
        ssize_t w = writev(c->io.fd, iov, n);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? PL_AGAIN : PL_ERR_IO;
        size_t left = (size_t)w;
        while (q->len > 0) { /* also pops superseded (empty) frames */
            pl_rbuf *b = q->bufs[q->head];
            size_t rest = b->len - q->off;
            if (left < rest) {
                q->off += left;
                break;
            }
            left -= rest;
            q->bytes -= b->len;
            pl_rbuf_unref(b);
            q->head = (q->head + 1) % q->cap;
            q->len--;
            q->off = 0;
        }
    }
    return PL_OK;
}

static void finish_close(gw_conn *c)
{
    if (c->state == GW_HTTP) {
        gw_conn_close(c);
        return;
    }
    /* WebSocket: half-close and wait (bounded) for the peer's close, so
     * our close frame is not lost to a reset. */
    shutdown(c->io.fd, SHUT_WR);
    c->shut_wr = true;
    c->state = GW_CLOSING;
    if (!c->closing_ms)
        c->closing_ms = pl_loop_now_ms(c->gw->loop);
}

static void flush_one(gw_conn *c)
{
    if (c->state == GW_DEAD)
        return;
    pl_status st = flush_conn(c);
    if (st == PL_ERR_IO) {
        gw_conn_close(c);
        return;
    }
    uint32_t ev = c->reading_paused ? 0 : EPOLLIN | EPOLLRDHUP;
    if (st == PL_AGAIN)
        ev |= EPOLLOUT;
    pl_loop_io_mod(c->gw->loop, &c->io, ev);
    if (st == PL_OK && c->close_after_flush && !c->shut_wr)
        finish_close(c);
    else if (c->out_paused &&
             c->out.bytes < (size_t)c->gw->node->cfg.outbound_limit / 2) {
        c->out_paused = false; /* the client reads again: so do we */
        gw_conn_resume(c);
    }
}

void gw_flush_all(pl_loop *l, void *gw_)
{
    gw_loop *gw = gw_;
    while (gw->flush_head) {
        gw_conn *c = gw->flush_head;
        gw->flush_head = c->next_flush;
        c->in_flush_list = false;
        flush_one(c);
    }
}

/* --- input ---------------------------------------------------------------- */

static void process_input(gw_conn *c)
{
    if (c->state == GW_HTTP)
        gw_http_process(c);
    else if (c->state == GW_WS_OPEN)
        gw_ws_process(c);
    else if (c->state == GW_CLOSING)
        c->in_len = 0; /* discard until the peer closes */
}

static void read_some(gw_conn *c)
{
    if (c->in_len == c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
        if (cap > c->in_max + READ_CHUNK)
            cap = c->in_max + READ_CHUNK;
        if (cap <= c->in_cap) { /* full and nothing parseable: too big */
            if (c->state == GW_HTTP)
                gw_http_respond_error(c, 431, "invalid_request",
                                      "request too large");
            else
                gw_ws_close(c, PL_WS_CLOSE_TOO_BIG, "message too big");
            c->in_len = 0;
            return;
        }
        uint8_t *p = realloc(c->in, cap);
        if (!p) {
            gw_conn_close(c);
            return;
        }
        c->in = p;
        c->in_cap = cap;
    }
    ssize_t r = read(c->io.fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        c->peer_closed = true;
        gw_conn_close(c);
        return;
    }
    if (r < 0)
        return;
    if (c->in_len == 0 && c->state == GW_HTTP)
        c->request_ms = pl_loop_now_ms(c->gw->loop); /* a request starts */
    c->in_len += (size_t)r;
    c->last_rx_ms = pl_loop_now_ms(c->gw->loop);
    process_input(c);
}

static void on_io(pl_loop *l, pl_io *io, uint32_t events)
{
    gw_conn *c = (gw_conn *)io;
    if (events & EPOLLOUT)
        flush_one(c);
    if (c->state != GW_DEAD && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
                                          EPOLLERR)) && !c->reading_paused)
        read_some(c);
    else if (c->state != GW_DEAD && (events & (EPOLLHUP | EPOLLERR)))
        gw_conn_close(c);
}

void gw_conn_pause(gw_conn *c)
{
    c->reading_paused = true;
    if (c->state != GW_DEAD)
        pl_loop_io_mod(c->gw->loop, &c->io,
                       c->io.events & ~(uint32_t)(EPOLLIN | EPOLLRDHUP));
}

/* Bytes that arrived while reading was paused are processed from the
 * before-sleep hook, never from inside resume: resume is called from
 * request handlers, which run inside gw_http_process for this very
 * connection, and a nested pass would parse the same buffer twice. */
void gw_conn_resume(gw_conn *c)
{
    c->reading_paused = false;
    if (c->state == GW_DEAD)
        return;
    pl_loop_io_mod(c->gw->loop, &c->io, c->io.events | EPOLLIN | EPOLLRDHUP);
    if (c->in_len > 0 && !c->in_ready_list) {
        c->in_ready_list = true;
        c->next_ready = c->gw->ready_head;
        c->gw->ready_head = c;
    }
}

void gw_process_ready(gw_loop *gw)
{
    while (gw->ready_head) {
        gw_conn *c = gw->ready_head;
        gw->ready_head = c->next_ready;
        c->in_ready_list = false;
        if (c->state != GW_DEAD && !c->reading_paused && c->in_len > 0)
            process_input(c);
    }
}

/* --- closing and reaping -------------------------------------------------- */

void gw_conn_close_after_flush(gw_conn *c)
{
    c->close_after_flush = true;
    if (!c->closing_ms)
        c->closing_ms = pl_loop_now_ms(c->gw->loop);
    flush_list_add(c);
}

void gw_conn_close(gw_conn *c)
{
    if (c->state == GW_DEAD)
        return;
    c->state = GW_DEAD;
    pl_loop_io_del(c->gw->loop, &c->io);
    close(c->io.fd);
    c->next_dead = c->gw->dead_head;
    c->gw->dead_head = c;
}

/* Unlinks c from an intrusive list (rare: the lists are normally emptied
 * before the reap runs). */
static void unlink_from(gw_conn **head, gw_conn *c, size_t next_off)
{
    for (gw_conn **pp = head; *pp;
         pp = (gw_conn **)((char *)*pp + next_off))
        if (*pp == c) {
            *pp = *(gw_conn **)((char *)c + next_off);
            return;
        }
}

void gw_reap(gw_loop *gw)
{
    while (gw->dead_head) {
        gw_conn *c = gw->dead_head;
        gw->dead_head = c->next_dead;
        if (c->in_ready_list)
            unlink_from(&gw->ready_head, c, offsetof(gw_conn, next_ready));
        if (c->in_flush_list)
            unlink_from(&gw->flush_head, c, offsetof(gw_conn, next_flush));
        pl_uuid k = pl_hmap_key_u64(c->id);
        pl_hmap_del(&gw->conns, &k);
        if (c->user) {
            pl_uuid uid = c->user_id;
            gw_index_remove_conn(gw, c);
            pl_presence_role_offline(gw->node, &uid);
            PL_METRIC_ADD(ws_connections, -1);
        }
        gw_presence_unsubscribe_all(c);
        gw_limits_release(c);
        outq_free(&c->out);
        pl_dbuf_free(&c->frag);
        free(c->in);
        free(c);
        PL_METRIC_ADD(connections, -1);
    }
}

/* The verifier accepts a token until exp + leeway; so does a session. */
static bool token_expired(const gw_conn *c, int64_t wall_s)
{
    bool ws = c->state == GW_WS_OPEN || c->state == GW_WS_LOADING;
    return ws && c->token_exp <= wall_s - c->gw->keys.leeway_s;
}

static void tick_conn(gw_conn *c, int64_t now, int64_t wall_s)
{
    const pl_config *cfg = &c->gw->node->cfg;
    if (c->close_after_flush && c->closing_ms &&
        now - c->closing_ms > (c->shut_wr ? CLOSING_TIMEOUT_MS
                                          : DRAIN_TIMEOUT_MS))
        gw_conn_close(c); /* the peer never answers, or never reads */
    else if (gw_limits_refused_expired(c, now))
        gw_conn_close(c); /* refused, and no request came to answer */
    else if (c->state == GW_HTTP && !c->reading_paused && c->in_len > 0 &&
             now - c->request_ms > cfg->header_timeout_ms)
        gw_conn_close(c); /* slow-loris: the request is not complete */
    else if (c->state == GW_HTTP && !c->reading_paused && c->in_len == 0 &&
             c->out.len == 0 && now - c->last_rx_ms > cfg->header_timeout_ms)
        gw_conn_close(c); /* idle keep-alive */
    else if (c->state == GW_WS_OPEN &&
             now - c->last_rx_ms > 2 * cfg->heartbeat_ms)
        gw_ws_close(c, PL_WS_CLOSE_POLICY, "heartbeat timeout");
    else if (token_expired(c, wall_s)) { /* no in-band re-auth: reconnect */
        PL_METRIC_ADD(token_closes_total, 1);
        gw_ws_close(c, GW_CLOSE_TOKEN, "token expired");
    }
}

void gw_conn_tick(gw_loop *gw)
{
    int64_t now = pl_loop_now_ms(gw->loop), wall_s = pl_now_ms() / 1000;
    for (size_t i = 0; i < gw->conns.cap; i++) {
        gw_conn *c = gw->conns.slots[i].val;
        if (c) /* closing only marks: the map is unchanged */
            tick_conn(c, now, wall_s);
    }
}
