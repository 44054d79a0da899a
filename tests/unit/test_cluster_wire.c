/* test_cluster_wire.c - the cluster records (roles/cluster_wire.h).
 *
 * Records are also written here by an independent field-list builder
 * (fld below), which pins the layout: the encoders must produce exactly
 * its bytes, and each rejection test changes one field of a valid list.
 * Every failed decode must leave the output as it was (a 0xAB-filled
 * sentinel) and allocate nothing (the ASan build runs this test). */
#include "roles/cluster_wire.h"

#include <stdlib.h>

#include "unit.h"

#define PAYLOAD_MAX ((size_t)PL_CW_CONTENT_MAX + 4096)

/* ---- the reference builder -------------------------------------------- */

enum { F_U8 = 1, F_U32, F_U64, F_UUID, F_STR };
typedef struct fld {
    int t;
    uint64_t v;    /* integers (i32/i64 as their two's complement) */
    const void *p; /* F_UUID: 16 bytes; F_STR: n bytes */
    size_t n;
    int64_t len;   /* F_STR: the u32 length written; -1: n */
} fld;

#define U8(x) {F_U8, (uint64_t)(x), NULL, 0, 0}
#define U32(x) {F_U32, (uint64_t)(x), NULL, 0, 0}
#define U64(x) {F_U64, (uint64_t)(x), NULL, 0, 0}
#define UUID(u) {F_UUID, 0, (u).b, 16, 0}
#define STR(s, k) {F_STR, 0, (s), (k), -1}

static void put_le(pl_dbuf *d, uint64_t v, size_t width)
{
    uint8_t b[8];

    for (size_t i = 0; i < width; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    CHECK_EQ_INT(pl_dbuf_append(d, b, width), PL_OK);
}

static void build(const fld *f, size_t nf, pl_dbuf *d)
{
    pl_dbuf_init(d, 8u << 20);
    for (size_t i = 0; i < nf; i++) {
        if (f[i].t == F_U8 || f[i].t == F_U32 || f[i].t == F_U64)
            put_le(d, f[i].v, f[i].t == F_U8 ? 1 : f[i].t == F_U32 ? 4 : 8);
        if (f[i].t == F_STR)
            put_le(d, f[i].len >= 0 ? (uint64_t)f[i].len : f[i].n, 4);
        if ((f[i].t == F_STR || f[i].t == F_UUID) && f[i].n > 0)
            CHECK_EQ_INT(pl_dbuf_append(d, f[i].p, f[i].n), PL_OK);
    }
}

static pl_uuid U_A = {{0x01, 0x92, 0xf3, 0xa4, 0x5b, 0x6c, 0x7d, 0x8e, 0x9f,
                       0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5, 0xa6}};
static pl_uuid U_B = {{0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7,
                       0xf6, 0xf5, 0xf4, 0xf3, 0xf2, 0xf1, 0xf0}};
static pl_uuid U_C = {{0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                       0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f}};
static const pl_uuid U_NIL;

/* ---- helpers ---------------------------------------------------------- */

typedef pl_status (*decode_fn)(const void *p, size_t n, void *out);

static pl_status dec_req(const void *p, size_t n, void *out)
{
    char rt[PL_CW_REPLY_TO_MAX + 1];
    int64_t sent = 0;

    return pl_cw_decode_req(p, n, out, rt, &sent);
}

static pl_status dec_ack(const void *p, size_t n, void *out)
{
    return pl_cw_decode_ack(p, n, out);
}

static pl_status dec_event(const void *p, size_t n, void *out)
{
    return pl_cw_decode_event(p, n, out);
}

/* Decodes an exact-size copy of p[0..n) (ASan sees any over-read) and
 * expects PL_ERR_INVALID with out untouched. */
static int expect_bad(decode_fn dec, const void *p, size_t n, size_t out_size)
{
    union {
        pl_msg_req r;
        pl_cw_event e;
    } out, sentinel;
    uint8_t *copy = malloc(n ? n : 1);
    pl_status st;
    int ok;

    if (n)
        memcpy(copy, p, n);
    memset(&out, 0xab, sizeof(out));
    memset(&sentinel, 0xab, sizeof(sentinel));
    st = dec(copy, n, &out);
    ok = st == PL_ERR_INVALID && memcmp(&out, &sentinel, out_size) == 0;
    free(copy);
    return ok;
}

static void expect_bad_fields(decode_fn dec, const fld *f, size_t nf,
                              size_t out_size)
{
    pl_dbuf d;

    build(f, nf, &d);
    CHECK(expect_bad(dec, d.p, d.len, out_size));
    pl_dbuf_free(&d);
}

/* Every proper prefix of a valid record fails, and so does one more byte. */
static void expect_prefixes_bad(decode_fn dec, const pl_dbuf *d,
                                size_t out_size)
{
    int all = 1;
    uint8_t *longer = malloc(d->len + 1);

    for (size_t k = 0; k < d->len; k++)
        all &= expect_bad(dec, d->p, k, out_size);
    CHECK(all);
    memcpy(longer, d->p, d->len);
    longer[d->len] = 0;
    CHECK(expect_bad(dec, longer, d->len + 1, out_size));
    free(longer);
}

static int same_bytes(const pl_dbuf *a, const pl_dbuf *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* ---- PL_CW_REQ -------------------------------------------------------- */

enum { R_VER, R_KIND, R_RK, R_CONV, R_USER, R_CMID, R_CONTENT, R_SEQ, R_RT,
       R_LOOP, R_ID, R_CTXK, R_SENT, R_N };

static void req_send_fields(fld *f)
{
    fld t[R_N] = {U8(1), U8(PL_CW_REQ), U8(PL_REQ_SEND), UUID(U_A), UUID(U_B),
                  STR("m-1", 3), STR("hello", 5), U64(0), STR("gw-1", 4),
                  U32(3), U64(77), U8(2), U64(1700000000123LL)};

    memcpy(f, t, sizeof(t));
}

static void req_read_fields(fld *f)
{
    fld t[R_N] = {U8(1), U8(PL_CW_REQ), U8(PL_REQ_READ), UUID(U_A), UUID(U_B),
                  STR("", 0), STR("", 0), U64(42), STR("gw-1", 4),
                  U32(0), U64(1), U8(1), U64(5)};

    memcpy(f, t, sizeof(t));
}

static void test_req_golden(void)
{
    pl_msg_req *r = pl_msg_req_new(PL_REQ_SEND);
    fld f[R_N];
    pl_dbuf want, got;

    r->conv_id = U_A;
    r->user_id = U_B;
    memcpy(r->client_msg_id, "m-1", 4);
    r->content = strdup("hello");
    r->content_len = 5;
    r->ctx_loop = 3;
    r->ctx_id = 77;
    r->ctx_kind = 2;
    req_send_fields(f);
    build(f, R_N, &want);
    pl_dbuf_init(&got, 1 << 16);
    CHECK_EQ_INT(pl_cw_encode_req(r, "gw-1", 1700000000123LL, &got), PL_OK);
    CHECK(same_bytes(&got, &want));
    CHECK_EQ_INT(pl_cw_peek_kind(got.p, got.len), PL_CW_REQ);
    pl_dbuf_free(&want);
    pl_dbuf_free(&got);
    pl_msg_req_free(r);
}

static void req_round_trip(const pl_msg_req *in, const char *rt_in,
                           int64_t sent_in)
{
    char rt[PL_CW_REPLY_TO_MAX + 1];
    int64_t sent = 0;
    pl_msg_req out;
    pl_dbuf d;

    pl_dbuf_init(&d, 4u << 20);
    CHECK_EQ_INT(pl_cw_encode_req(in, rt_in, sent_in, &d), PL_OK);
    CHECK_EQ_INT(pl_cw_decode_req(d.p, d.len, &out, rt, &sent), PL_OK);
    CHECK_EQ_INT(out.kind, in->kind);
    CHECK(pl_uuid_eq(&out.conv_id, &in->conv_id));
    CHECK(pl_uuid_eq(&out.user_id, &in->user_id));
    CHECK_STR(out.client_msg_id, in->client_msg_id);
    CHECK_EQ_INT(out.content_len, in->content_len);
    if (in->content_len) {
        CHECK(memcmp(out.content, in->content, in->content_len) == 0);
        CHECK_EQ_INT(out.content[out.content_len], '\0');
    } else {
        CHECK(out.content == NULL);
    }
    CHECK_EQ_INT(out.seq, in->seq);
    CHECK_STR(rt, rt_in);
    CHECK_EQ_INT(sent, sent_in);
    CHECK_EQ_INT(out.ctx_loop, in->ctx_loop);
    CHECK(out.ctx_id == in->ctx_id);
    CHECK_EQ_INT(out.ctx_kind, in->ctx_kind);
    CHECK_EQ_INT(out.dup_of, -1);
    CHECK(out.done == NULL && out.ctx == NULL && out.st == PL_OK);
    /* sent_ms may be NULL */
    free(out.content);
    CHECK_EQ_INT(pl_cw_decode_req(d.p, d.len, &out, rt, NULL), PL_OK);
    free(out.content);
    pl_dbuf_free(&d);
}

static void test_req_round_trips(void)
{
    pl_msg_req *r = pl_msg_req_new(PL_REQ_SEND);
    char rt[PL_CW_REPLY_TO_MAX + 1];

    /* edge values: max lengths, nil uuids, content of every ASCII byte but
     * NUL and of two-byte characters (valid UTF-8, as a gateway sends) */
    for (int i = 0; i < PL_CLIENT_MSG_ID_MAX; i++)
        r->client_msg_id[i] = (char)(0x21 + i % (0x7f - 0x21));
    r->client_msg_id[PL_CLIENT_MSG_ID_MAX] = '\0';
    r->content_len = PL_CW_CONTENT_MAX;
    r->content = malloc(r->content_len);
    for (size_t i = 0; i + 1 < r->content_len; i += 2) {
        bool ascii = (i / 2) % 3 != 2; /* starts with ASCII: see below */
        r->content[i] = ascii ? (char)(1 + (i / 2) % 127) : (char)0xc3;
        r->content[i + 1] = ascii ? 'a' : (char)0xa9;
    }
    r->ctx_loop = UINT32_MAX;
    r->ctx_id = UINT64_MAX;
    r->ctx_kind = 255;
    memset(rt, '~', PL_CW_REPLY_TO_MAX);
    rt[PL_CW_REPLY_TO_MAX] = '\0';
    req_round_trip(r, rt, INT64_MIN);
    /* the smallest send, negative time */
    r->content_len = 1;
    memcpy(r->client_msg_id, "x", 2);
    r->conv_id = U_C;
    req_round_trip(r, "g", -1);
    /* READ: empty strings, seq 0 and max */
    free(r->content);
    r->content = NULL;
    r->content_len = 0;
    r->kind = PL_REQ_READ;
    r->client_msg_id[0] = '\0';
    req_round_trip(r, "gw", 0);
    r->seq = INT64_MAX;
    req_round_trip(r, "gw", INT64_MAX);
    pl_msg_req_free(r);
}

static void expect_bad_req(void (*tmpl)(fld *), int idx, fld v)
{
    fld f[R_N];

    tmpl(f);
    f[idx] = v;
    expect_bad_fields(dec_req, f, R_N, sizeof(pl_msg_req));
}

static void test_req_rejects(void)
{
    static char big[PL_CW_CONTENT_MAX + 1];
    char rt_over[PL_CW_REPLY_TO_MAX + 2], rt_out[4] = "xyz";
    int64_t sent = 99;
    fld f[R_N];
    pl_dbuf d;

    memset(big, 'a', sizeof(big));
    memset(rt_over, 'r', sizeof(rt_over));
    /* truncations and a trailing byte, SEND and READ */
    req_send_fields(f);
    build(f, R_N, &d);
    expect_prefixes_bad(dec_req, &d, sizeof(pl_msg_req));
    /* a failed decode leaves reply_to and sent_ms alone too */
    {
        pl_msg_req r;
        CHECK_EQ_INT(pl_cw_decode_req(d.p, d.len - 1, &r, rt_out, &sent),
                     PL_ERR_INVALID);
        CHECK_STR(rt_out, "xyz");
        CHECK_EQ_INT(sent, 99);
    }
    pl_dbuf_free(&d);
    req_read_fields(f);
    build(f, R_N, &d);
    expect_prefixes_bad(dec_req, &d, sizeof(pl_msg_req));
    pl_dbuf_free(&d);
    /* version, record kind */
    expect_bad_req(req_send_fields, R_VER, (fld)U8(0));
    expect_bad_req(req_send_fields, R_VER, (fld)U8(PL_CW_VERSION + 1));
    expect_bad_req(req_send_fields, R_VER, (fld)U8(255));
    expect_bad_req(req_send_fields, R_KIND, (fld)U8(0));
    expect_bad_req(req_send_fields, R_KIND, (fld)U8(PL_CW_ACK));
    expect_bad_req(req_send_fields, R_KIND, (fld)U8(PL_CW_EVENT));
    expect_bad_req(req_send_fields, R_KIND, (fld)U8(4));
    /* request kind */
    expect_bad_req(req_send_fields, R_RK, (fld)U8(0));
    expect_bad_req(req_send_fields, R_RK, (fld)U8(3));
    expect_bad_req(req_send_fields, R_RK, (fld)U8(255));
    expect_bad_req(req_send_fields, R_RK, (fld)U8(PL_REQ_READ)); /* + cmid */
    expect_bad_req(req_read_fields, R_RK, (fld)U8(PL_REQ_SEND)); /* no cmid */
    /* client_msg_id: over the limit, empty for SEND, set for READ, bytes */
    expect_bad_req(req_send_fields, R_CMID, (fld)STR(big, 65));
    expect_bad_req(req_send_fields, R_CMID, (fld)STR("", 0));
    expect_bad_req(req_read_fields, R_CMID, (fld)STR("m", 1));
    expect_bad_req(req_send_fields, R_CMID, (fld)STR("a b", 3));
    expect_bad_req(req_send_fields, R_CMID, (fld)STR("a\x7f", 2));
    expect_bad_req(req_send_fields, R_CMID, (fld)STR("\x80", 1));
    expect_bad_req(req_send_fields, R_CMID, (fld)STR("\xff", 1));
    expect_bad_req(req_send_fields, R_CMID, (fld)STR("a\0b", 3));
    expect_bad_req(req_send_fields, R_CMID, (fld){F_STR, 0, "m-1", 3, 0xffffffffLL});
    expect_bad_req(req_send_fields, R_CMID, (fld){F_STR, 0, "m-1", 3, 4});
    /* content: over the limit, empty for SEND, set for READ, huge length */
    expect_bad_req(req_send_fields, R_CONTENT, (fld)STR(big, sizeof(big)));
    expect_bad_req(req_send_fields, R_CONTENT, (fld)STR("", 0));
    expect_bad_req(req_read_fields, R_CONTENT, (fld)STR("x", 1));
    expect_bad_req(req_send_fields, R_CONTENT, (fld){F_STR, 0, "hello", 5, 0xffffffffLL});
    /* seq: SEND 0 only, READ >= 0 */
    expect_bad_req(req_send_fields, R_SEQ, (fld)U64(1));
    expect_bad_req(req_read_fields, R_SEQ, (fld)U64(-1));
    expect_bad_req(req_read_fields, R_SEQ, (fld)U64(INT64_MIN));
    /* reply_to: empty, over the limit, not visible ASCII, huge length */
    expect_bad_req(req_send_fields, R_RT, (fld)STR("", 0));
    expect_bad_req(req_send_fields, R_RT, (fld)STR(rt_over, PL_CW_REPLY_TO_MAX + 1));
    expect_bad_req(req_send_fields, R_RT, (fld)STR("gw 1", 4));
    expect_bad_req(req_send_fields, R_RT, (fld)STR("gw\n", 3));
    expect_bad_req(req_send_fields, R_RT, (fld)STR("g\xc3\xa9", 3));
    expect_bad_req(req_send_fields, R_RT, (fld){F_STR, 0, "gw-1", 4, 0xffffffffLL});
}

/* Content a gateway never sends (NUL, invalid UTF-8) encodes, but does
 * not decode: a forged record must not reach the store. */
static void test_req_rejects_bad_content(void)
{
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {{"a\0b", 3}, {"\xff", 1}, {"ok\xc3", 3}, {"\xed\xa0\x80", 3}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pl_msg_req *r = pl_msg_req_new(PL_REQ_SEND);
        pl_msg_req out;
        char rt[PL_CW_REPLY_TO_MAX + 1] = "keep";
        pl_dbuf d;
        pl_dbuf_init(&d, 1 << 16);
        memcpy(r->client_msg_id, "c1", 3);
        r->content = malloc(bad[i].len + 1);
        memcpy(r->content, bad[i].s, bad[i].len + 1);
        r->content_len = bad[i].len;
        CHECK_EQ_INT(pl_cw_encode_req(r, "gw", 0, &d), PL_OK);
        memset(&out, 0x5a, sizeof(out));
        CHECK_EQ_INT(pl_cw_decode_req(d.p, d.len, &out, rt, NULL),
                     PL_ERR_INVALID);
        CHECK(strcmp(rt, "keep") == 0);
        CHECK_EQ_INT(out.kind, 0x5a5a5a5a);
        pl_dbuf_free(&d);
        pl_msg_req_free(r);
    }
}

static void test_req_encode_rejects(void)
{
    pl_msg_req *r = pl_msg_req_new(PL_REQ_SEND);
    char rt[PL_CW_REPLY_TO_MAX + 2];
    pl_dbuf d;

    pl_dbuf_init(&d, 1 << 16);
    CHECK_EQ_INT(pl_dbuf_append(&d, "keep", 4), PL_OK);
    r->content = strdup("hi");
    r->content_len = 2;
    CHECK_EQ_INT(pl_cw_encode_req(r, "gw", 0, &d), PL_ERR_INVALID); /* no cmid */
    memcpy(r->client_msg_id, "c 1", 4);
    CHECK_EQ_INT(pl_cw_encode_req(r, "gw", 0, &d), PL_ERR_INVALID);
    memcpy(r->client_msg_id, "c1", 3);
    CHECK_EQ_INT(pl_cw_encode_req(r, "", 0, &d), PL_ERR_INVALID);
    CHECK_EQ_INT(pl_cw_encode_req(r, NULL, 0, &d), PL_ERR_INVALID);
    memset(rt, 'r', sizeof(rt) - 1);
    rt[sizeof(rt) - 1] = '\0';
    CHECK_EQ_INT(pl_cw_encode_req(r, rt, 0, &d), PL_ERR_INVALID);
    r->ctx_kind = 256;
    CHECK_EQ_INT(pl_cw_encode_req(r, "gw", 0, &d), PL_ERR_INVALID);
    r->ctx_kind = 0;
    r->seq = 5;
    CHECK_EQ_INT(pl_cw_encode_req(r, "gw", 0, &d), PL_ERR_INVALID);
    r->seq = 0;
    r->kind = 3;
    CHECK_EQ_INT(pl_cw_encode_req(r, "gw", 0, &d), PL_ERR_INVALID);
    r->kind = PL_REQ_SEND;
    CHECK_EQ_INT(d.len, 4);
    /* a record over the buffer's cap: rolled back, out keeps its bytes */
    d.max = 40;
    CHECK_EQ_INT(pl_cw_encode_req(r, "gw", 0, &d), PL_ERR_TOOLARGE);
    CHECK_EQ_INT(d.len, 4);
    CHECK(memcmp(d.p, "keep", 5) == 0);
    d.max = 1 << 16;
    CHECK_EQ_INT(pl_cw_encode_req(r, "gw", 0, &d), PL_OK);
    CHECK_EQ_INT(pl_cw_peek_kind(d.p + 4, d.len - 4), PL_CW_REQ);
    pl_dbuf_free(&d);
    pl_msg_req_free(r);
}

/* ---- PL_CW_ACK -------------------------------------------------------- */

enum { A_VER, A_KIND, A_LOOP, A_ID, A_CTXK, A_RK, A_ST, A_DUP, A_PRIV,
       A_RSEQ, A_CONV, A_USER, A_CMID, A_MSEQ, A_MID, A_SENDER, A_CREATED,
       A_CONTENT, A_N };

static void ack_send_fields(fld *f)
{
    fld t[A_N] = {U8(1), U8(PL_CW_ACK), U32(7), U64(1234), U8(1),
                  U8(PL_REQ_SEND), U32(PL_OK), U8(1), U8(0), U64(0),
                  UUID(U_A), UUID(U_B), STR("m-1", 3), U64(9), UUID(U_C),
                  UUID(U_B), U64(1700000000123LL), STR("hello", 5)};

    memcpy(f, t, sizeof(t));
}

static void ack_read_fields(fld *f)
{
    fld t[A_N] = {U8(1), U8(PL_CW_ACK), U32(0), U64(1), U8(0),
                  U8(PL_REQ_READ), U32(PL_OK), U8(0), U8(1), U64(42),
                  UUID(U_A), UUID(U_B), STR("", 0), U64(0), UUID(U_NIL),
                  UUID(U_NIL), U64(0), STR("", 0)};

    memcpy(f, t, sizeof(t));
}

static pl_msg_req *ack_send_req(void)
{
    pl_msg_req *r = pl_msg_req_new(PL_REQ_SEND);

    r->ctx_loop = 7;
    r->ctx_id = 1234;
    r->ctx_kind = 1;
    r->duplicate = true;
    r->conv_id = U_A;
    r->user_id = U_B;
    memcpy(r->client_msg_id, "m-1", 4);
    r->content = strdup("request content: not on the ack");
    r->content_len = strlen(r->content);
    r->msg.seq = 9;
    r->msg.msg_id = U_C;
    r->msg.sender_id = U_B;
    r->msg.created_ms = 1700000000123LL;
    r->msg.content = strdup("hello");
    r->msg.content_len = 5;
    r->ctx = r; /* never on the wire */
    return r;
}

static void test_ack_golden(void)
{
    pl_msg_req *r = ack_send_req();
    fld f[A_N];
    pl_dbuf want, got;

    ack_send_fields(f);
    build(f, A_N, &want);
    pl_dbuf_init(&got, 1 << 16);
    CHECK_EQ_INT(pl_cw_encode_ack(r, &got), PL_OK);
    CHECK(same_bytes(&got, &want));
    CHECK_EQ_INT(pl_cw_peek_kind(got.p, got.len), PL_CW_ACK);
    pl_dbuf_free(&want);
    pl_dbuf_free(&got);
    /* a READ ack, and a failed send: the message goes as zeros, whatever
     * r->msg holds */
    r->kind = PL_REQ_READ;
    r->duplicate = false;
    r->read_private = true;
    r->read_seq = 42;
    r->ctx_loop = 0;
    r->ctx_id = 1;
    r->ctx_kind = 0;
    r->client_msg_id[0] = '\0';
    ack_read_fields(f);
    build(f, A_N, &want);
    pl_dbuf_init(&got, 1 << 16);
    CHECK_EQ_INT(pl_cw_encode_ack(r, &got), PL_OK);
    CHECK(same_bytes(&got, &want));
    pl_dbuf_free(&want);
    pl_dbuf_free(&got);
    pl_msg_req_free(r);
}

static void ack_check_same(const pl_msg_req *out, const pl_msg_req *in)
{
    int has_msg = in->kind == PL_REQ_SEND && in->st == PL_OK;

    CHECK_EQ_INT(out->ctx_loop, in->ctx_loop);
    CHECK(out->ctx_id == in->ctx_id);
    CHECK_EQ_INT(out->ctx_kind, in->ctx_kind);
    CHECK_EQ_INT(out->kind, in->kind);
    CHECK_EQ_INT(out->st, in->st);
    CHECK_EQ_INT(out->duplicate, in->duplicate);
    CHECK_EQ_INT(out->read_private, in->read_private);
    CHECK_EQ_INT(out->read_seq, in->read_seq);
    CHECK(pl_uuid_eq(&out->conv_id, &in->conv_id));
    CHECK(pl_uuid_eq(&out->user_id, &in->user_id));
    CHECK_STR(out->client_msg_id, in->client_msg_id);
    CHECK(out->content == NULL && out->content_len == 0);
    CHECK(out->ctx == NULL && out->done == NULL && out->dup_of == -1);
    CHECK(pl_uuid_eq(&out->msg.conv_id, &in->conv_id));
    CHECK_STR(out->msg.client_msg_id, in->client_msg_id);
    CHECK_EQ_INT(out->msg.seq, has_msg ? in->msg.seq : 0);
    CHECK(pl_uuid_eq(&out->msg.msg_id, has_msg ? &in->msg.msg_id : &U_NIL));
    CHECK(pl_uuid_eq(&out->msg.sender_id,
                     has_msg ? &in->msg.sender_id : &U_NIL));
    CHECK_EQ_INT(out->msg.created_ms, has_msg ? in->msg.created_ms : 0);
    CHECK_EQ_INT(out->msg.content_len, has_msg ? in->msg.content_len : 0);
    if (out->msg.content_len) {
        CHECK(memcmp(out->msg.content, in->msg.content,
                     in->msg.content_len) == 0);
        CHECK_EQ_INT(out->msg.content[out->msg.content_len], '\0');
    } else {
        CHECK(out->msg.content == NULL);
    }
}

static void ack_round_trip(const pl_msg_req *in)
{
    pl_msg_req out;
    pl_dbuf d;

    pl_dbuf_init(&d, 4u << 20);
    CHECK_EQ_INT(pl_cw_encode_ack(in, &d), PL_OK);
    CHECK_EQ_INT(pl_cw_decode_ack(d.p, d.len, &out), PL_OK);
    ack_check_same(&out, in);
    pl_msg_clear(&out.msg);
    free(out.content);
    pl_dbuf_free(&d);
}

static void test_ack_round_trips(void)
{
    pl_msg_req *r = ack_send_req();

    ack_round_trip(r);
    /* max lengths and extremes */
    for (int i = 0; i < PL_CLIENT_MSG_ID_MAX; i++)
        r->client_msg_id[i] = (char)(0x7e - i);
    r->client_msg_id[PL_CLIENT_MSG_ID_MAX] = '\0';
    free(r->msg.content);
    r->msg.content_len = PL_CW_CONTENT_MAX;
    r->msg.content = calloc(1, r->msg.content_len); /* NUL bytes too */
    r->msg.seq = INT64_MAX;
    r->msg.created_ms = INT64_MIN;
    r->ctx_loop = UINT32_MAX;
    r->ctx_id = UINT64_MAX;
    r->ctx_kind = 255;
    r->conv_id = U_NIL;
    r->user_id = U_NIL;
    ack_round_trip(r);
    /* every error status: the message is not carried */
    for (int st = PL_ERR_PROTO; st <= PL_AGAIN; st++) {
        r->st = (pl_status)st;
        ack_round_trip(r);
    }
    r->st = PL_OK;
    r->kind = PL_REQ_READ;
    r->read_seq = INT64_MAX;
    r->read_private = true;
    ack_round_trip(r);
    r->st = PL_ERR_FORBIDDEN;
    ack_round_trip(r);
    pl_msg_req_free(r);
}

static void expect_bad_ack(void (*tmpl)(fld *), int idx, fld v)
{
    fld f[A_N];

    tmpl(f);
    f[idx] = v;
    expect_bad_fields(dec_ack, f, A_N, sizeof(pl_msg_req));
}

static void test_ack_rejects(void)
{
    static char big[PL_CW_CONTENT_MAX + 1];
    fld f[A_N];
    pl_dbuf d;

    memset(big, 'a', sizeof(big));
    ack_send_fields(f);
    build(f, A_N, &d);
    expect_prefixes_bad(dec_ack, &d, sizeof(pl_msg_req));
    pl_dbuf_free(&d);
    ack_read_fields(f);
    build(f, A_N, &d);
    expect_prefixes_bad(dec_ack, &d, sizeof(pl_msg_req));
    pl_dbuf_free(&d);
    expect_bad_ack(ack_send_fields, A_VER, (fld)U8(0));
    expect_bad_ack(ack_send_fields, A_VER, (fld)U8(PL_CW_VERSION + 1));
    expect_bad_ack(ack_send_fields, A_KIND, (fld)U8(PL_CW_REQ));
    expect_bad_ack(ack_send_fields, A_KIND, (fld)U8(0));
    expect_bad_ack(ack_send_fields, A_RK, (fld)U8(0));
    expect_bad_ack(ack_send_fields, A_RK, (fld)U8(3));
    /* st: PL_DONE, below the lowest status, INT32_MIN/MAX */
    expect_bad_ack(ack_send_fields, A_ST, (fld)U32(PL_DONE));
    expect_bad_ack(ack_send_fields, A_ST, (fld)U32((uint32_t)(PL_ERR_PROTO - 1)));
    expect_bad_ack(ack_send_fields, A_ST, (fld)U32(0x80000000u));
    expect_bad_ack(ack_send_fields, A_ST, (fld)U32(0x7fffffffu));
    expect_bad_ack(ack_read_fields, A_ST, (fld)U32(PL_DONE));
    expect_bad_ack(ack_read_fields, A_ST, (fld)U32((uint32_t)(PL_ERR_PROTO - 1)));
    expect_bad_ack(ack_send_fields, A_DUP, (fld)U8(2));
    expect_bad_ack(ack_send_fields, A_DUP, (fld)U8(255));
    expect_bad_ack(ack_send_fields, A_PRIV, (fld)U8(2));
    expect_bad_ack(ack_read_fields, A_RSEQ, (fld)U64(-1));
    expect_bad_ack(ack_send_fields, A_CMID, (fld)STR(big, 65));
    expect_bad_ack(ack_send_fields, A_CMID, (fld)STR("m 1", 3));
    expect_bad_ack(ack_send_fields, A_CMID, (fld)STR("\xe2\x82\xac", 3));
    expect_bad_ack(ack_send_fields, A_CMID, (fld){F_STR, 0, "m-1", 3, 0xffffffffLL});
    expect_bad_ack(ack_send_fields, A_MSEQ, (fld)U64(-5));
    expect_bad_ack(ack_send_fields, A_CONTENT, (fld)STR(big, sizeof(big)));
    expect_bad_ack(ack_send_fields, A_CONTENT, (fld){F_STR, 0, "hello", 5, 0xffffffffLL});
    expect_bad_ack(ack_send_fields, A_CONTENT, (fld){F_STR, 0, "hello", 5, 6});
    /* a message on an ack that carries none */
    expect_bad_ack(ack_read_fields, A_MSEQ, (fld)U64(1));
    expect_bad_ack(ack_read_fields, A_MID, (fld)UUID(U_A));
    expect_bad_ack(ack_read_fields, A_SENDER, (fld)UUID(U_A));
    expect_bad_ack(ack_read_fields, A_CREATED, (fld)U64(1));
    expect_bad_ack(ack_read_fields, A_CONTENT, (fld)STR("x", 1));
    ack_send_fields(f);
    f[A_ST] = (fld)U32((uint32_t)PL_ERR_FORBIDDEN); /* keeps its message */
    expect_bad_fields(dec_ack, f, A_N, sizeof(pl_msg_req));
}

static void test_ack_encode_rejects(void)
{
    pl_msg_req *r = ack_send_req();
    pl_dbuf d;

    pl_dbuf_init(&d, 1 << 16);
    r->st = PL_DONE;
    CHECK_EQ_INT(pl_cw_encode_ack(r, &d), PL_ERR_INVALID);
    r->st = (pl_status)(PL_ERR_PROTO - 1);
    CHECK_EQ_INT(pl_cw_encode_ack(r, &d), PL_ERR_INVALID);
    r->st = PL_OK;
    r->read_seq = -1;
    CHECK_EQ_INT(pl_cw_encode_ack(r, &d), PL_ERR_INVALID);
    r->read_seq = 0;
    r->msg.seq = -1;
    CHECK_EQ_INT(pl_cw_encode_ack(r, &d), PL_ERR_INVALID);
    r->msg.seq = 1;
    r->client_msg_id[1] = '\t';
    CHECK_EQ_INT(pl_cw_encode_ack(r, &d), PL_ERR_INVALID);
    r->client_msg_id[1] = '-';
    r->ctx_kind = -1;
    CHECK_EQ_INT(pl_cw_encode_ack(r, &d), PL_ERR_INVALID);
    r->ctx_kind = 0;
    r->kind = 0;
    CHECK_EQ_INT(pl_cw_encode_ack(r, &d), PL_ERR_INVALID);
    CHECK_EQ_INT(d.len, 0);
    pl_dbuf_free(&d);
    pl_msg_req_free(r);
}

/* ---- PL_CW_EVENT ------------------------------------------------------ */

enum { E_VER, E_KIND, E_EK, E_KEY, E_EXCL, E_ONLY, E_COAL, E_SEQ, E_PAY,
       E_N };

static void event_fields(fld *f)
{
    fld t[E_N] = {U8(1), U8(PL_CW_EVENT), U8(1), UUID(U_A), UUID(U_B),
                  UUID(U_NIL), U64(0x0102030405060708ULL), U64(17),
                  STR("{\"type\":\"message\"}", 18)};

    memcpy(f, t, sizeof(t));
}

static void test_event_golden(void)
{
    pl_cw_event e = {.kind = 1, .key = U_A, .exclude_user = U_B,
                     .coalesce = 0x0102030405060708ULL, .seq = 17,
                     .payload = (const uint8_t *)"{\"type\":\"message\"}",
                     .payload_len = 18};
    static const uint8_t head[] = {1, PL_CW_EVENT, 1};
    fld f[E_N];
    pl_dbuf want, got;

    event_fields(f);
    build(f, E_N, &want);
    pl_dbuf_init(&got, 1 << 16);
    CHECK_EQ_INT(pl_cw_encode_event(&e, &got), PL_OK);
    CHECK(same_bytes(&got, &want));
    /* the layout by hand: little-endian integers */
    CHECK_EQ_INT(got.len, 3 + 48 + 8 + 8 + 4 + 18);
    CHECK(memcmp(got.p, head, 3) == 0);
    CHECK_EQ_INT((uint8_t)got.p[51], 0x08);
    CHECK_EQ_INT((uint8_t)got.p[58], 0x01);
    CHECK_EQ_INT((uint8_t)got.p[59], 17);
    CHECK_EQ_INT((uint8_t)got.p[67], 18);
    CHECK_EQ_INT(pl_cw_peek_kind(got.p, got.len), PL_CW_EVENT);
    pl_dbuf_free(&want);
    pl_dbuf_free(&got);
}

static void event_round_trip(const pl_cw_event *in)
{
    pl_cw_event out;
    pl_dbuf d;

    pl_dbuf_init(&d, 4u << 20);
    CHECK_EQ_INT(pl_cw_encode_event(in, &d), PL_OK);
    CHECK_EQ_INT(pl_cw_decode_event(d.p, d.len, &out), PL_OK);
    CHECK_EQ_INT(out.kind, in->kind);
    CHECK(pl_uuid_eq(&out.key, &in->key));
    CHECK(pl_uuid_eq(&out.exclude_user, &in->exclude_user));
    CHECK(pl_uuid_eq(&out.only_user, &in->only_user));
    CHECK(out.coalesce == in->coalesce);
    CHECK_EQ_INT(out.seq, in->seq);
    CHECK_EQ_INT(out.payload_len, in->payload_len);
    /* borrowed: the payload is the record's tail */
    CHECK(out.payload == (const uint8_t *)d.p + d.len - in->payload_len);
    if (in->payload_len)
        CHECK(memcmp(out.payload, in->payload, in->payload_len) == 0);
    pl_dbuf_free(&d);
}

static void test_event_round_trips(void)
{
    uint8_t *big = malloc(PAYLOAD_MAX);
    pl_cw_event e = {0};

    for (size_t i = 0; i < PAYLOAD_MAX; i++)
        big[i] = (uint8_t)(i * 13);
    for (int k = 1; k <= PL_CW_EVENT_KIND_MAX; k++) {
        e.kind = (uint8_t)k;
        event_round_trip(&e); /* nil uuids, empty payload */
    }
    e.key = U_A;
    e.exclude_user = U_B;
    e.only_user = U_C;
    e.coalesce = UINT64_MAX;
    e.seq = INT64_MAX;
    e.payload = big;
    e.payload_len = PAYLOAD_MAX;
    event_round_trip(&e);
    e.payload_len = 1;
    event_round_trip(&e);
    free(big);
}

static void expect_bad_event(int idx, fld v)
{
    fld f[E_N];

    event_fields(f);
    f[idx] = v;
    expect_bad_fields(dec_event, f, E_N, sizeof(pl_cw_event));
}

static void test_event_rejects(void)
{
    uint8_t *big = calloc(1, PAYLOAD_MAX + 1);
    fld f[E_N];
    pl_dbuf d;

    event_fields(f);
    build(f, E_N, &d);
    expect_prefixes_bad(dec_event, &d, sizeof(pl_cw_event));
    pl_dbuf_free(&d);
    f[E_PAY] = (fld)STR("", 0);
    build(f, E_N, &d);
    expect_prefixes_bad(dec_event, &d, sizeof(pl_cw_event));
    pl_dbuf_free(&d);
    expect_bad_event(E_VER, (fld)U8(0));
    expect_bad_event(E_VER, (fld)U8(2));
    expect_bad_event(E_KIND, (fld)U8(PL_CW_REQ));
    expect_bad_event(E_KIND, (fld)U8(PL_CW_ACK));
    expect_bad_event(E_KIND, (fld)U8(0));
    expect_bad_event(E_EK, (fld)U8(0));
    expect_bad_event(E_EK, (fld)U8(PL_CW_EVENT_KIND_MAX + 1));
    expect_bad_event(E_EK, (fld)U8(255));
    expect_bad_event(E_SEQ, (fld)U64(-1));
    expect_bad_event(E_SEQ, (fld)U64(INT64_MIN));
    expect_bad_event(E_PAY, (fld)STR(big, PAYLOAD_MAX + 1));
    expect_bad_event(E_PAY, (fld){F_STR, 0, "x", 1, 0xffffffffLL});
    expect_bad_event(E_PAY, (fld){F_STR, 0, "x", 1, 2});
    expect_bad_event(E_PAY, (fld){F_STR, 0, "x", 1, 0}); /* trailing byte */
    free(big);
}

static void test_event_encode_rejects(void)
{
    pl_cw_event e = {.kind = 0};
    pl_dbuf d;

    pl_dbuf_init(&d, 1 << 16);
    CHECK_EQ_INT(pl_cw_encode_event(&e, &d), PL_ERR_INVALID);
    e.kind = PL_CW_EVENT_KIND_MAX + 1;
    CHECK_EQ_INT(pl_cw_encode_event(&e, &d), PL_ERR_INVALID);
    e.kind = 1;
    e.seq = -1;
    CHECK_EQ_INT(pl_cw_encode_event(&e, &d), PL_ERR_INVALID);
    e.seq = 0;
    e.payload_len = 3; /* and no payload */
    CHECK_EQ_INT(pl_cw_encode_event(&e, &d), PL_ERR_INVALID);
    e.payload = (const uint8_t *)"abc";
    e.payload_len = PAYLOAD_MAX + 1;
    CHECK_EQ_INT(pl_cw_encode_event(&e, &d), PL_ERR_INVALID);
    CHECK_EQ_INT(d.len, 0);
    e.payload_len = 3;
    d.max = 20; /* header fits, the rest does not: nothing is left */
    CHECK_EQ_INT(pl_cw_encode_event(&e, &d), PL_ERR_TOOLARGE);
    CHECK_EQ_INT(d.len, 0);
    pl_dbuf_free(&d);
}

/* ---- channels, peek --------------------------------------------------- */

static void test_channels(void)
{
    char buf[160], id[PL_CW_REPLY_TO_MAX + 2];

    CHECK_EQ_INT(pl_cw_channel_conv(&U_A, buf, sizeof(buf)), 43);
    CHECK_STR(buf, "pl:c:{0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6}");
    CHECK_EQ_INT(pl_cw_channel_conv(&U_A, buf, 44), 43);
    CHECK_EQ_INT(pl_cw_channel_conv(&U_A, buf, 43), 0);
    CHECK_STR(buf, "");
    CHECK_EQ_INT(pl_cw_channel_conv(&U_A, NULL, 0), 0);
    CHECK_EQ_INT(pl_cw_channel_gateway("gw1", buf, sizeof(buf)), 10);
    CHECK_STR(buf, "pl:g:{gw1}");
    CHECK_EQ_INT(pl_cw_channel_gateway("gw1", buf, 10), 0);
    CHECK_EQ_INT(pl_cw_channel_gateway("", buf, sizeof(buf)), 0);
    CHECK_EQ_INT(pl_cw_channel_gateway(NULL, buf, sizeof(buf)), 0);
    CHECK_EQ_INT(pl_cw_channel_gateway("gw 1", buf, sizeof(buf)), 0);
    memset(id, 'g', sizeof(id) - 1);
    id[PL_CW_REPLY_TO_MAX] = '\0';
    CHECK_EQ_INT(pl_cw_channel_gateway(id, buf, sizeof(buf)),
                 PL_CW_REPLY_TO_MAX + 7);
    id[PL_CW_REPLY_TO_MAX] = 'g';
    id[PL_CW_REPLY_TO_MAX + 1] = '\0';
    CHECK_EQ_INT(pl_cw_channel_gateway(id, buf, sizeof(buf)), 0);
}

static void test_peek(void)
{
    static const uint8_t rec[] = {1, PL_CW_ACK, 0, 0};
    static const uint8_t v0[] = {0, PL_CW_REQ};
    static const uint8_t v2[] = {PL_CW_VERSION + 1, PL_CW_REQ};

    CHECK_EQ_INT(pl_cw_peek_kind(rec, sizeof(rec)), PL_CW_ACK);
    CHECK_EQ_INT(pl_cw_peek_kind(rec, 2), PL_CW_ACK);
    CHECK_EQ_INT(pl_cw_peek_kind(rec, 1), 0);
    CHECK_EQ_INT(pl_cw_peek_kind(rec, 0), 0);
    CHECK_EQ_INT(pl_cw_peek_kind(v0, 2), 0);
    CHECK_EQ_INT(pl_cw_peek_kind(v2, 2), 0);
}

int main(void)
{
    test_req_golden();
    test_req_round_trips();
    test_req_rejects();
    test_req_rejects_bad_content();
    test_req_encode_rejects();
    test_ack_golden();
    test_ack_round_trips();
    test_ack_rejects();
    test_ack_encode_rejects();
    test_event_golden();
    test_event_round_trips();
    test_event_rejects();
    test_event_encode_rejects();
    test_channels();
    test_peek();
    UNIT_DONE();
}
