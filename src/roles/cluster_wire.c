/* cluster_wire.c - the records of cluster_wire.h.
 *
 * Decoders read through a cursor whose getters turn any overrun into a
 * sticky error flag, so a record is read straight through and judged once
 * at the end; every field lands in a local, and the caller's struct is
 * written (and content allocated) only after the whole record passed.
 * Encoders check the same rules before writing a byte, so whatever they
 * produce decodes, and a failed append is rolled back: out is never left
 * holding half a record. The encoding is canonical: one value, one byte
 * string (the fuzzer re-encodes every record it decodes and compares). */
#include "cluster_wire.h"

#include "../backends/bus.h"
#include "../proto/utf8.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CW_PAYLOAD_MAX ((size_t)PL_CW_CONTENT_MAX + 4096)
/* The lowest pl_status (status.h): an ack's st must lie in
 * [CW_STATUS_LOWEST, PL_OK]. */
#define CW_STATUS_LOWEST PL_ERR_PROTO

/* ---- reading ---------------------------------------------------------- */

typedef struct cw_rd {
    const uint8_t *p;
    size_t n, off;
    bool bad;
} cw_rd;

/* The next k bytes, or NULL (and the record is bad) if fewer remain. */
static const uint8_t *rd_take(cw_rd *r, size_t k)
{
    const uint8_t *q;

    if (r->bad || k > r->n - r->off) {
        r->bad = true;
        return NULL;
    }
    q = r->p + r->off;
    r->off += k;
    return q;
}

/* A little-endian unsigned integer of width bytes (0 once bad). */
static uint64_t rd_uint(cw_rd *r, size_t width)
{
    const uint8_t *q = rd_take(r, width);
    uint64_t v = 0;

    if (!q)
        return 0;
    for (size_t i = width; i-- > 0;)
        v = v << 8 | q[i];
    return v;
}

static uint8_t rd_u8(cw_rd *r)
{
    return (uint8_t)rd_uint(r, 1);
}

static uint32_t rd_u32(cw_rd *r)
{
    return (uint32_t)rd_uint(r, 4);
}

static uint64_t rd_u64(cw_rd *r)
{
    return rd_uint(r, 8);
}

/* Two's complement on the wire; gcc and clang convert modulo 2^64. */
static int64_t rd_i64(cw_rd *r)
{
    return (int64_t)rd_uint(r, 8);
}

static int32_t rd_i32(cw_rd *r)
{
    return (int32_t)(uint32_t)rd_uint(r, 4);
}

static bool rd_bool(cw_rd *r)
{
    uint8_t v = rd_u8(r);

    if (v > 1)
        r->bad = true;
    return v == 1;
}

static void rd_uuid(cw_rd *r, pl_uuid *u)
{
    const uint8_t *q = rd_take(r, sizeof(u->b));

    if (q)
        memcpy(u->b, q, sizeof(u->b));
}

/* A u32 length and that many bytes, at most max: returns a pointer into
 * the record (NULL once bad) and the length in *len. */
static const uint8_t *rd_bytes(cw_rd *r, size_t max, size_t *len)
{
    uint32_t k = rd_u32(r);
    const uint8_t *q;

    *len = 0;
    if (k > max)
        r->bad = true;
    q = rd_take(r, k);
    if (q)
        *len = k;
    return q;
}

/* Visible ASCII (0x21..0x7e): ids that name channels and go in logs. */
static bool visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* A string of min..max visible ASCII bytes, copied NUL-terminated into
 * dst (max + 1 bytes); dst is untouched if the field is bad. */
static void rd_text(cw_rd *r, size_t min, size_t max, char *dst)
{
    size_t len;
    const char *q = (const char *)rd_bytes(r, max, &len);

    if (!q)
        return;
    if (len < min || !visible(q, len)) {
        r->bad = true;
        return;
    }
    memcpy(dst, q, len);
    dst[len] = '\0';
}

/* The version and kind bytes: any version up to ours is accepted. */
static void rd_start(cw_rd *r, const void *p, size_t n, int kind)
{
    uint8_t version;

    r->p = p;
    r->n = n;
    r->off = 0;
    r->bad = false;
    version = rd_u8(r);
    if (version < 1 || version > PL_CW_VERSION || rd_u8(r) != kind)
        r->bad = true;
}

/* Whether the record decoded whole, with no trailing byte. */
static bool rd_done(const cw_rd *r)
{
    return !r->bad && r->off == r->n;
}

/* ---- writing ---------------------------------------------------------- */

typedef struct cw_wr {
    pl_dbuf *d;
    size_t start; /* out->len before the record, for the rollback */
    pl_status st; /* sticky: the first failed append */
} cw_wr;

static void wr_raw(cw_wr *w, const void *p, size_t n)
{
    if (w->st == PL_OK && n > 0)
        w->st = pl_dbuf_append(w->d, p, n);
}

static void wr_uint(cw_wr *w, uint64_t v, size_t width)
{
    uint8_t b[8];

    for (size_t i = 0; i < width; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    wr_raw(w, b, width);
}

static void wr_uuid(cw_wr *w, const pl_uuid *u)
{
    wr_raw(w, u->b, sizeof(u->b));
}

/* Callers have checked n against the field's limit (< 2^32). */
static void wr_bytes(cw_wr *w, const void *p, size_t n)
{
    wr_uint(w, n, 4);
    wr_raw(w, p, n);
}

static void wr_start(cw_wr *w, pl_dbuf *d, int kind)
{
    w->d = d;
    w->start = d->len;
    w->st = PL_OK;
    wr_uint(w, PL_CW_VERSION, 1);
    wr_uint(w, (uint64_t)kind, 1);
}

static pl_status wr_done(cw_wr *w)
{
    if (w->st != PL_OK && w->d->len > w->start) {
        w->d->len = w->start;
        w->d->p[w->d->len] = '\0';
    }
    return w->st;
}

/* ---- shared rules ----------------------------------------------------- */

/* *len = the length of the NUL-terminated s if it is min..max visible
 * ASCII bytes. */
static bool text_ok(const char *s, size_t min, size_t max, size_t *len)
{
    *len = s ? strnlen(s, max + 1) : 0;
    return *len >= min && *len <= max && visible(s, *len);
}

static bool req_shape_ok(int kind, size_t cmid_len, size_t content_len,
                         int64_t seq)
{
    if (kind == PL_REQ_SEND)
        return cmid_len >= 1 && content_len >= 1 && seq == 0;
    return kind == PL_REQ_READ && cmid_len == 0 && content_len == 0 &&
           seq >= 0;
}

static bool ctx_kind_ok(int ctx_kind)
{
    return ctx_kind >= 0 && ctx_kind <= UINT8_MAX;
}

/* An ack carries a stored message only for a send that succeeded. */
static bool ack_has_msg(const pl_msg_req *r)
{
    return r->kind == PL_REQ_SEND && r->st == PL_OK;
}

static bool ack_result_ok(const pl_msg_req *r)
{
    return (r->kind == PL_REQ_SEND || r->kind == PL_REQ_READ) &&
           r->st >= CW_STATUS_LOWEST && r->st <= PL_OK && r->read_seq >= 0;
}

static bool msg_empty(const pl_msg *m)
{
    return m->seq == 0 && pl_uuid_is_nil(&m->msg_id) &&
           pl_uuid_is_nil(&m->sender_id) && m->created_ms == 0 &&
           m->content_len == 0;
}

/* A malloc'd NUL-terminated copy of p[0..n). */
static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* ---- PL_CW_REQ -------------------------------------------------------- */

pl_status pl_cw_encode_req(const pl_msg_req *r, const char *reply_to,
                           int64_t sent_ms, pl_dbuf *out)
{
    size_t cmid, rt;
    cw_wr w;

    if (!text_ok(r->client_msg_id, 0, PL_CLIENT_MSG_ID_MAX, &cmid) ||
        !text_ok(reply_to, 1, PL_CW_REPLY_TO_MAX, &rt) ||
        !req_shape_ok(r->kind, cmid, r->content_len, r->seq) ||
        r->content_len > PL_CW_CONTENT_MAX ||
        (r->content_len > 0 && !r->content) || !ctx_kind_ok(r->ctx_kind))
        return PL_ERR_INVALID;
    wr_start(&w, out, PL_CW_REQ);
    wr_uint(&w, (uint64_t)r->kind, 1);
    wr_uuid(&w, &r->conv_id);
    wr_uuid(&w, &r->user_id);
    wr_bytes(&w, r->client_msg_id, cmid);
    wr_bytes(&w, r->content, r->content_len);
    wr_uint(&w, (uint64_t)r->seq, 8);
    wr_bytes(&w, reply_to, rt);
    wr_uint(&w, r->ctx_loop, 4);
    wr_uint(&w, r->ctx_id, 8);
    wr_uint(&w, (uint64_t)r->ctx_kind, 1);
    wr_uint(&w, (uint64_t)sent_ms, 8);
    return wr_done(&w);
}

pl_status pl_cw_decode_req(const void *p, size_t n, pl_msg_req *r,
                           char *reply_to, int64_t *sent_ms)
{
    char rt[PL_CW_REPLY_TO_MAX + 1] = "";
    const uint8_t *content;
    pl_msg_req t;
    int64_t sent;
    cw_rd rd;

    memset(&t, 0, sizeof(t));
    t.dup_of = -1;
    rd_start(&rd, p, n, PL_CW_REQ);
    t.kind = rd_u8(&rd);
    rd_uuid(&rd, &t.conv_id);
    rd_uuid(&rd, &t.user_id);
    rd_text(&rd, 0, PL_CLIENT_MSG_ID_MAX, t.client_msg_id);
    content = rd_bytes(&rd, PL_CW_CONTENT_MAX, &t.content_len);
    t.seq = rd_i64(&rd);
    rd_text(&rd, 1, PL_CW_REPLY_TO_MAX, rt);
    t.ctx_loop = rd_u32(&rd);
    t.ctx_id = rd_u64(&rd);
    t.ctx_kind = rd_u8(&rd);
    sent = rd_i64(&rd);
    if (!rd_done(&rd) || !req_shape_ok(t.kind, strlen(t.client_msg_id),
                                       t.content_len, t.seq))
        return PL_ERR_INVALID;
    /* what a gateway accepts from a client: a forged record must not make
     * the store refuse (and so fail) a whole batch of good ones */
    if (t.content_len > 0 && (memchr(content, 0, t.content_len) ||
                              !pl_utf8_valid(content, t.content_len)))
        return PL_ERR_INVALID;
    if (t.content_len > 0 && !(t.content = dup_bytes(content, t.content_len)))
        return PL_ERR_NOMEM;
    *r = t;
    memcpy(reply_to, rt, strlen(rt) + 1);
    if (sent_ms)
        *sent_ms = sent;
    return PL_OK;
}

/* ---- PL_CW_ACK -------------------------------------------------------- */

static void wr_ack_msg(cw_wr *w, const pl_msg *m)
{
    wr_uint(w, (uint64_t)m->seq, 8);
    wr_uuid(w, &m->msg_id);
    wr_uuid(w, &m->sender_id);
    wr_uint(w, (uint64_t)m->created_ms, 8);
    wr_bytes(w, m->content, m->content_len);
}

pl_status pl_cw_encode_ack(const pl_msg_req *r, pl_dbuf *out)
{
    static const pl_msg none; /* what an ack without a message carries */
    const pl_msg *m = ack_has_msg(r) ? &r->msg : &none;
    size_t cmid;
    cw_wr w;

    if (!text_ok(r->client_msg_id, 0, PL_CLIENT_MSG_ID_MAX, &cmid) ||
        !ack_result_ok(r) || !ctx_kind_ok(r->ctx_kind) || m->seq < 0 ||
        m->content_len > PL_CW_CONTENT_MAX || (m->content_len && !m->content))
        return PL_ERR_INVALID;
    wr_start(&w, out, PL_CW_ACK);
    wr_uint(&w, r->ctx_loop, 4);
    wr_uint(&w, r->ctx_id, 8);
    wr_uint(&w, (uint64_t)r->ctx_kind, 1);
    wr_uint(&w, (uint64_t)r->kind, 1);
    wr_uint(&w, (uint64_t)(int64_t)r->st, 4);
    wr_uint(&w, r->duplicate, 1);
    wr_uint(&w, r->read_private, 1);
    wr_uint(&w, (uint64_t)r->read_seq, 8);
    wr_uuid(&w, &r->conv_id);
    wr_uuid(&w, &r->user_id);
    wr_bytes(&w, r->client_msg_id, cmid);
    wr_ack_msg(&w, m);
    return wr_done(&w);
}

/* The context, request and result fields; st is range-checked here, before
 * it becomes a pl_status. */
static void rd_ack_result(cw_rd *rd, pl_msg_req *t)
{
    int32_t st;

    t->ctx_loop = rd_u32(rd);
    t->ctx_id = rd_u64(rd);
    t->ctx_kind = rd_u8(rd);
    t->kind = rd_u8(rd);
    st = rd_i32(rd);
    if (st < CW_STATUS_LOWEST || st > PL_OK)
        rd->bad = true;
    else
        t->st = (pl_status)st;
    t->duplicate = rd_bool(rd);
    t->read_private = rd_bool(rd);
    t->read_seq = rd_i64(rd);
    rd_uuid(rd, &t->conv_id);
    rd_uuid(rd, &t->user_id);
    rd_text(rd, 0, PL_CLIENT_MSG_ID_MAX, t->client_msg_id);
}

/* The stored message; returns its content, borrowed from the record. */
static const uint8_t *rd_ack_msg(cw_rd *rd, pl_msg *m)
{
    m->seq = rd_i64(rd);
    rd_uuid(rd, &m->msg_id);
    rd_uuid(rd, &m->sender_id);
    m->created_ms = rd_i64(rd);
    return rd_bytes(rd, PL_CW_CONTENT_MAX, &m->content_len);
}

pl_status pl_cw_decode_ack(const void *p, size_t n, pl_msg_req *r)
{
    const uint8_t *content;
    pl_msg_req t;
    cw_rd rd;

    memset(&t, 0, sizeof(t));
    t.dup_of = -1;
    rd_start(&rd, p, n, PL_CW_ACK);
    rd_ack_result(&rd, &t);
    content = rd_ack_msg(&rd, &t.msg);
    if (!rd_done(&rd) || !ack_result_ok(&t) || t.msg.seq < 0 ||
        (!ack_has_msg(&t) && !msg_empty(&t.msg)))
        return PL_ERR_INVALID;
    t.msg.conv_id = t.conv_id;
    memcpy(t.msg.client_msg_id, t.client_msg_id, sizeof(t.client_msg_id));
    if (t.msg.content_len > 0 &&
        !(t.msg.content = dup_bytes(content, t.msg.content_len)))
        return PL_ERR_NOMEM;
    *r = t;
    return PL_OK;
}

/* ---- PL_CW_EVENT ------------------------------------------------------ */

static bool event_ok(const pl_cw_event *e)
{
    return e->kind >= 1 && e->kind <= PL_CW_EVENT_KIND_MAX && e->seq >= 0 &&
           e->payload_len <= CW_PAYLOAD_MAX;
}

pl_status pl_cw_encode_event(const pl_cw_event *e, pl_dbuf *out)
{
    cw_wr w;

    if (!event_ok(e) || (e->payload_len > 0 && !e->payload))
        return PL_ERR_INVALID;
    wr_start(&w, out, PL_CW_EVENT);
    wr_uint(&w, e->kind, 1);
    wr_uuid(&w, &e->key);
    wr_uuid(&w, &e->exclude_user);
    wr_uuid(&w, &e->only_user);
    wr_uint(&w, e->coalesce, 8);
    wr_uint(&w, (uint64_t)e->seq, 8);
    wr_bytes(&w, e->payload, e->payload_len);
    return wr_done(&w);
}

pl_status pl_cw_encode_bus_msg(const pl_bus_msg *m, uint8_t kind,
                               pl_dbuf *out)
{
    pl_cw_event e = {.kind = kind,
                     .key = m->key,
                     .exclude_user = m->exclude_user,
                     .only_user = m->only_user,
                     .coalesce = m->coalesce,
                     .seq = m->seq,
                     .payload = m->payload->data,
                     .payload_len = m->payload->len};
    return pl_cw_encode_event(&e, out);
}

pl_status pl_cw_decode_event(const void *p, size_t n, pl_cw_event *e)
{
    pl_cw_event t;
    cw_rd rd;

    memset(&t, 0, sizeof(t));
    rd_start(&rd, p, n, PL_CW_EVENT);
    t.kind = rd_u8(&rd);
    rd_uuid(&rd, &t.key);
    rd_uuid(&rd, &t.exclude_user);
    rd_uuid(&rd, &t.only_user);
    t.coalesce = rd_u64(&rd);
    t.seq = rd_i64(&rd);
    t.payload = rd_bytes(&rd, CW_PAYLOAD_MAX, &t.payload_len);
    if (!rd_done(&rd) || !event_ok(&t))
        return PL_ERR_INVALID;
    *e = t;
    return PL_OK;
}

/* ---- channel names and peeking ---------------------------------------- */

/* snprintf's result as the helpers' contract: the length, or 0 (and an
 * empty buf) when it did not fit. */
static size_t chan_len(int k, char *buf, size_t cap)
{
    if (k > 0 && (size_t)k < cap)
        return (size_t)k;
    if (cap > 0)
        buf[0] = '\0';
    return 0;
}

size_t pl_cw_channel_conv(const pl_uuid *conv, char *buf, size_t cap)
{
    char id[PL_UUID_STRLEN + 1];

    return chan_len(snprintf(buf, cap, "pl:c:{%s}", pl_uuid_fmt(conv, id)),
                    buf, cap);
}

size_t pl_cw_channel_gateway(const char *gateway_id, char *buf, size_t cap)
{
    size_t len;

    /* the id travels as reply_to, so it obeys the same rule */
    if (!text_ok(gateway_id, 1, PL_CW_REPLY_TO_MAX, &len))
        return chan_len(0, buf, cap);
    return chan_len(snprintf(buf, cap, "pl:g:{%.*s}", (int)len, gateway_id),
                    buf, cap);
}

int pl_cw_peek_kind(const void *p, size_t n)
{
    const uint8_t *b = p;

    if (n < 2 || b[0] < 1 || b[0] > PL_CW_VERSION)
        return 0;
    return b[1];
}
