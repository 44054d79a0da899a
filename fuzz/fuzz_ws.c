/* fuzz_ws.c - libFuzzer target for the WebSocket frame codec.
 *
 * Input: byte 0 picks max_payload, byte 1 seeds the chunking, the rest is a
 * stream of frames. The stream is parsed three ways - whole, every prefix
 * byte by byte, and in chunks through a receive buffer like a connection's
 * - and all three must agree on every frame and on the final status. Each
 * complete frame is unmasked (whole and in pieces) and its header is
 * re-encoded, which must reproduce the input bytes (minimal encoding). */
#include "proto/ws.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)      \
    do {                \
        if (!(c))       \
            abort();    \
    } while (0)

static const uint64_t max_choices[] = {0, 1, 125, 126, 65535, 65536, 1 << 20,
                                       UINT64_MAX};

typedef struct frame_rec {
    size_t off;
    long total;
    pl_ws_frame f;
} frame_rec;

typedef struct stream {
    const uint8_t *in; /* the frames, exact-size heap copy */
    size_t n;
    uint64_t max;
    frame_rec *frames;
    size_t nframes;
    long final;        /* status after the last complete frame */
    uint8_t *plain;    /* the stream with every payload unmasked */
} stream;

/* Parses a prefix; short ones from an exact-size copy so ASan sees any
 * read past len (the parser never looks beyond 14 bytes). */
static long parse_prefix(const uint8_t *p, size_t k, uint64_t max,
                         pl_ws_frame *f)
{
    uint8_t *copy;
    long r;

    if (k > 14)
        return pl_ws_parse_header(p, k, max, f);
    copy = malloc(k ? k : 1);
    memcpy(copy, p, k);
    r = pl_ws_parse_header(copy, k, max, f);
    free(copy);
    return r;
}

static void check_frame(const uint8_t *p, long total, const pl_ws_frame *f,
                        uint64_t max)
{
    uint8_t hdr[14];
    size_t h;

    REQUIRE(f->opcode <= 2 || (f->opcode >= 8 && f->opcode <= 10));
    REQUIRE(f->rsv >= 0 && f->rsv <= 7);
    REQUIRE(f->fin == 0 || f->fin == 1);
    REQUIRE(f->masked == 0 || f->masked == 1);
    REQUIRE(f->payload_len <= max);
    if (f->opcode >= 8)
        REQUIRE(f->fin && f->payload_len <= 125);
    REQUIRE(f->header_len >= 2 && f->header_len <= 14);
    REQUIRE((uint64_t)total == f->header_len + f->payload_len);
    if (f->masked)
        h = pl_ws_write_header_masked(hdr, f->fin, f->opcode, f->payload_len,
                                      f->mask);
    else
        h = pl_ws_write_header(hdr, f->fin, f->opcode, f->payload_len);
    REQUIRE(h == f->header_len);
    REQUIRE(hdr[0] == (p[0] & 0x8F) && ((p[0] >> 4) & 7) == f->rsv);
    REQUIRE(memcmp(hdr + 1, p + 1, h - 1) == 0);
}

/* Unmasks plain's copy of the payload whole, checks that unmasking in two
 * pieces at a derived split gives the same bytes, and that masking again
 * restores the wire bytes in. */
static void unmask_frame(const uint8_t *in, uint8_t *plain,
                         const frame_rec *fr)
{
    size_t len = (size_t)fr->f.payload_len, cut;
    const uint8_t *wire = in + fr->off + fr->f.header_len;
    uint8_t *pay = plain + fr->off + fr->f.header_len;
    uint8_t *alt = malloc(len ? len : 1);

    if (len == 0)
        goto out;
    memcpy(alt, wire, len);
    pl_ws_unmask(pay, len, fr->f.mask, 0);
    cut = (fr->f.mask[0] + fr->off) % (len + 1);
    pl_ws_unmask(alt, cut, fr->f.mask, 0);
    pl_ws_unmask(alt + cut, len - cut, fr->f.mask, cut);
    REQUIRE(memcmp(alt, pay, len) == 0);
    for (size_t i = 0; i < len; i++)
        REQUIRE(pay[i] == (wire[i] ^ fr->f.mask[i & 3]));
    pl_ws_unmask(alt, len, fr->f.mask, 0);
    REQUIRE(memcmp(alt, wire, len) == 0);
out:
    free(alt);
}

/* Pass 1: the whole stream at once. */
static void parse_whole(stream *s)
{
    size_t off = 0;

    for (;;) {
        frame_rec *fr = &s->frames[s->nframes];
        long r = pl_ws_parse_header(s->in + off, s->n - off, s->max, &fr->f);
        REQUIRE(r == PL_WS_INCOMPLETE || r == PL_WS_ERR_PROTOCOL ||
                r == PL_WS_ERR_TOO_BIG || r >= 2);
        if (r < 0) {
            s->final = r;
            return;
        }
        REQUIRE((size_t)r <= s->n - off);
        check_frame(s->in + off, r, &fr->f, s->max);
        fr->off = off;
        fr->total = r;
        unmask_frame(s->in, s->plain, fr);
        s->nframes++;
        off += (size_t)r;
    }
}

/* Pass 2: every prefix of every frame, one byte more each time. */
static void parse_prefixes(const stream *s)
{
    for (size_t i = 0; i <= s->nframes; i++) {
        size_t off = i < s->nframes ? s->frames[i].off
                     : (s->nframes ? s->frames[i - 1].off +
                                         (size_t)s->frames[i - 1].total : 0);
        long want = i < s->nframes ? s->frames[i].total : s->final;
        size_t end = want > 0 ? (size_t)want : s->n - off;
        int seen_err = 0;
        for (size_t k = 0; k <= end; k++) {
            pl_ws_frame f;
            long r = parse_prefix(s->in + off, k, s->max, &f);
            if (want > 0) {
                REQUIRE(r == (k == end ? want : PL_WS_INCOMPLETE));
            } else {
                REQUIRE(r == PL_WS_INCOMPLETE || r == want);
                REQUIRE(!seen_err || r == want); /* errors are final */
                seen_err |= r == want;
            }
        }
        if (want < 0)
            REQUIRE(want == PL_WS_INCOMPLETE || seen_err);
    }
}

static uint32_t next_rand(uint32_t *st)
{
    *st = *st * 1103515245u + 12345u;
    return *st >> 16;
}

/* Consumes every complete frame at the front of rbuf. Returns 0 to go on,
 * 1 once the parser reported an error. */
static int drain(const stream *s, uint8_t *rbuf, size_t *fill, size_t *idx)
{
    for (;;) {
        pl_ws_frame f;
        long r = pl_ws_parse_header(rbuf, *fill, s->max, &f);
        const frame_rec *fr;
        if (r == PL_WS_INCOMPLETE)
            return 0;
        if (r < 0) {
            REQUIRE(*idx == s->nframes && r == s->final);
            return 1;
        }
        REQUIRE(*idx < s->nframes);
        fr = &s->frames[*idx];
        REQUIRE(r == fr->total && f.opcode == fr->f.opcode &&
                f.fin == fr->f.fin && f.payload_len == fr->f.payload_len);
        pl_ws_unmask(rbuf + f.header_len, (size_t)f.payload_len, f.mask, 0);
        REQUIRE(memcmp(rbuf + f.header_len,
                       s->plain + fr->off + f.header_len,
                       (size_t)f.payload_len) == 0);
        memmove(rbuf, rbuf + r, *fill - (size_t)r);
        *fill -= (size_t)r;
        (*idx)++;
    }
}

/* Pass 3: arrival in chunks of derived sizes, like a socket read loop. */
static void parse_chunked(const stream *s, uint32_t seed)
{
    uint8_t *rbuf = malloc(s->n ? s->n : 1);
    size_t fill = 0, pos = 0, idx = 0;
    int failed = 0;

    while (pos < s->n && !failed) {
        uint32_t r = next_rand(&seed);
        size_t step = (r & 7) ? 1 + r % 23 : 1 + r % 1024;
        if (step > s->n - pos)
            step = s->n - pos;
        memcpy(rbuf + fill, s->in + pos, step);
        fill += step;
        pos += step;
        failed = drain(s, rbuf, &fill, &idx);
    }
    if (!failed) {
        REQUIRE(idx == s->nframes && s->final == PL_WS_INCOMPLETE);
    }
    free(rbuf);
}

/* Any header the encoder writes must parse back to the same fields. */
static void check_roundtrip(const uint8_t *data, size_t size)
{
    uint8_t hdr[14], mask[4] = {1, 2, 3, 4};
    uint64_t len = 0;
    int opcode, fin, ctl;
    pl_ws_frame f;
    size_t h;
    long r;

    if (size < 10)
        return;
    opcode = data[0] & 0x0F;
    fin = data[0] >> 7;
    for (int i = 0; i < 8; i++)
        len = len << 8 | data[2 + i];
    len >>= data[1] & 63;
    h = (data[1] & 64) ? pl_ws_write_header_masked(hdr, fin, opcode, len, mask)
                       : pl_ws_write_header(hdr, fin, opcode, len);
    r = pl_ws_parse_header(hdr, h, UINT64_MAX, &f);
    ctl = opcode >= 8;
    if ((opcode >= 3 && opcode <= 7) || opcode >= 11 || (ctl && !fin) ||
        (ctl && len > 125) || len >> 63) {
        REQUIRE(r == PL_WS_ERR_PROTOCOL);
        return;
    }
    if (len > (uint64_t)LONG_MAX - 14) {
        REQUIRE(r == PL_WS_ERR_TOO_BIG);
        return;
    }
    REQUIRE(r == (len ? PL_WS_INCOMPLETE : (long)h));
    REQUIRE(f.header_len == h && f.payload_len == len && f.fin == fin &&
            f.opcode == opcode && f.rsv == 0);
}

static void check_accept(const uint8_t *data, size_t size)
{
    char out[29];

    if (pl_ws_accept_key((const char *)data, size, out) != 0)
        return;
    REQUIRE(size == 24 && strlen(out) == 28 && out[27] == '=');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stream s;
    uint32_t seed;

    check_roundtrip(data, size);
    check_accept(data, size);
    if (size < 2)
        return 0;
    memset(&s, 0, sizeof(s));
    s.max = max_choices[data[0] % (sizeof(max_choices) / sizeof(uint64_t))];
    seed = data[1] | (uint32_t)size << 8;
    s.n = size - 2;
    s.in = malloc(s.n ? s.n : 1);
    s.plain = malloc(s.n ? s.n : 1);
    s.frames = malloc((s.n / 2 + 1) * sizeof(frame_rec));
    memcpy((uint8_t *)s.in, data + 2, s.n);
    memcpy(s.plain, data + 2, s.n);
    parse_whole(&s);
    parse_prefixes(&s);
    parse_chunked(&s, seed);
    free((void *)s.in);
    free(s.plain);
    free(s.frames);
    return 0;
}
