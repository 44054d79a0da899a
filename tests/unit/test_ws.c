/* test_ws.c - frame header parsing, encoding, unmasking, accept key. */
#include "proto/ws.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>

static pl_ws_frame fr;

/* Parses from an exact-size heap copy so ASan sees any read past len. The
 * parser reads at most 14 bytes, so longer inputs need no copy. */
static long parse_n(const uint8_t *b, size_t n, uint64_t max)
{
    uint8_t *copy;
    long r;

    if (n > 14)
        return pl_ws_parse_header(b, n, max, &fr);
    copy = malloc(n ? n : 1);
    memcpy(copy, b, n);
    r = pl_ws_parse_header(copy, n, max, &fr);
    free(copy);
    return r;
}

/* Every strict prefix must be INCOMPLETE, the whole frame its size. */
static int check_every_split(const uint8_t *b, size_t n, uint64_t max)
{
    int bad = 0;

    for (size_t i = 0; i < n; i++) {
        if (parse_n(b, i, max) != PL_WS_INCOMPLETE)
            bad++;
    }
    if (parse_n(b, n, max) != (long)n)
        bad++;
    return bad;
}

static void test_length_boundaries(void)
{
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536,
                                    70000};
    static const size_t want_hlen[] = {2, 2, 2, 4, 4, 4, 10, 10};
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    uint8_t *buf = calloc(1, 70000 + 14);

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t h = pl_ws_write_header(buf, 1, PL_WS_BINARY, lens[i]);
        CHECK_EQ_INT(h, want_hlen[i]);
        CHECK_EQ_INT(parse_n(buf, h + lens[i], 1 << 20), h + lens[i]);
        CHECK_EQ_INT(fr.payload_len, lens[i]);
        CHECK_EQ_INT(fr.header_len, h);
        CHECK_EQ_INT(fr.masked, 0);
        CHECK_EQ_INT(fr.fin, 1);
        CHECK_EQ_INT(fr.opcode, PL_WS_BINARY);
        CHECK_EQ_INT(check_every_split(buf, h + lens[i], 1 << 20), 0);

        h = pl_ws_write_header_masked(buf, 0, PL_WS_TEXT, lens[i], mask);
        CHECK_EQ_INT(h, want_hlen[i] + 4);
        CHECK_EQ_INT(parse_n(buf, h + lens[i], 1 << 20), h + lens[i]);
        CHECK_EQ_INT(fr.masked, 1);
        CHECK_EQ_INT(fr.fin, 0);
        CHECK_EQ_INT(fr.opcode, PL_WS_TEXT);
        CHECK(memcmp(fr.mask, mask, 4) == 0);
        CHECK_EQ_INT(check_every_split(buf, h + lens[i], 1 << 20), 0);
    }
    free(buf);
}

static void test_fields_and_bytes(void)
{
    /* RFC 6455 5.7: masked "Hello" text frame from a client. */
    uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                       0x7f, 0x9f, 0x4d, 0x51, 0x58};
    uint8_t out[16];

    CHECK_EQ_INT(parse_n(hello, sizeof(hello), 125), 11);
    CHECK_EQ_INT(fr.header_len, 6);
    CHECK_EQ_INT(fr.payload_len, 5);
    pl_ws_unmask(hello + 6, 5, fr.mask, 0);
    CHECK(memcmp(hello + 6, "Hello", 5) == 0);

    /* RSV bits are reported, not judged. */
    CHECK_EQ_INT(parse_n((const uint8_t *)"\xf1\x00", 2, 0), 2);
    CHECK_EQ_INT(fr.rsv, 7);
    CHECK_EQ_INT(parse_n((const uint8_t *)"\xc1\x00", 2, 0), 2);
    CHECK_EQ_INT(fr.rsv, 4);

    /* Header bytes for 256-byte and 65536-byte payloads. */
    CHECK_EQ_INT(pl_ws_write_header(out, 1, PL_WS_TEXT, 256), 4);
    CHECK(memcmp(out, "\x81\x7e\x01\x00", 4) == 0);
    CHECK_EQ_INT(pl_ws_write_header(out, 1, PL_WS_CLOSE, 2), 2);
    CHECK(memcmp(out, "\x88\x02", 2) == 0);
    CHECK_EQ_INT(pl_ws_write_header(out, 0, PL_WS_CONT, 65536), 10);
    CHECK(memcmp(out, "\x00\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10) == 0);
}

static void test_protocol_errors(void)
{
    static const char *bad[] = {
        "\x83\x00", "\x84\x00", "\x87\x00", "\x8b\x00", "\x8f\x00", /* ops */
        "\x03",                                  /* detected from 1 byte */
        "\x08\x00", "\x09\x00", "\x0a\x00",      /* fragmented control */
        "\x88\x7e", "\x89\x7f", "\x8a\xfe",      /* control > 125 */
        "\x81\x7e\x00\x7d",                      /* 16-bit, 125 */
        "\x81\x7e\x00\x00",                      /* 16-bit, 0 */
        "\x81\x7f\x00\x00\x00\x00\x00\x00\xff\xff", /* 64-bit, 65535 */
        "\x81\x7f\x00\x00\x00\x00\x00\x00\x00\x7e", /* 64-bit, 126 */
        "\x81\x7f\x80\x00\x00\x00\x00\x01\x00\x00", /* top bit */
        "\x81\x7f\xff\xff\xff\xff\xff\xff\xff\xff",
    };
    static const size_t blen[] = {2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2,
                                  4, 4, 10, 10, 10, 10};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long r = parse_n((const uint8_t *)bad[i], blen[i], UINT64_MAX);
        if (r != PL_WS_ERR_PROTOCOL)
            fprintf(stderr, "protocol case %zu gave %ld\n", i, r);
        CHECK_EQ_INT(r, PL_WS_ERR_PROTOCOL);
    }
    /* Control frames up to 125 bytes with FIN are fine. */
    {
        uint8_t ping[2 + 125] = {0x89, 125};
        CHECK_EQ_INT(parse_n(ping, sizeof(ping), 1000), 127);
        CHECK_EQ_INT(parse_n((const uint8_t *)"\x8a\x00", 2, 0), 2);
    }
}

static void test_too_big(void)
{
    uint8_t b[14];
    size_t h;

    /* Reported as soon as the length is known, payload still missing. */
    h = pl_ws_write_header(b, 1, PL_WS_TEXT, 65537);
    CHECK_EQ_INT(parse_n(b, h, 65536), PL_WS_ERR_TOO_BIG);
    CHECK_EQ_INT(parse_n(b, h, 65537), PL_WS_INCOMPLETE);
    CHECK_EQ_INT(parse_n(b, h - 1, 65536), PL_WS_INCOMPLETE);
    h = pl_ws_write_header(b, 1, PL_WS_TEXT, 126);
    CHECK_EQ_INT(parse_n(b, h, 125), PL_WS_ERR_TOO_BIG);
    CHECK_EQ_INT(parse_n(b, h, 126), PL_WS_INCOMPLETE);
    CHECK_EQ_INT(parse_n((const uint8_t *)"\x81\x01", 2, 0),
                 PL_WS_ERR_TOO_BIG);
    CHECK_EQ_INT(parse_n((const uint8_t *)"\x81\x80", 2, 0), PL_WS_INCOMPLETE);
    /* Even before the mask key arrives. */
    h = pl_ws_write_header_masked(b, 1, PL_WS_TEXT, 100000,
                                  (const uint8_t *)"abcd");
    CHECK_EQ_INT(parse_n(b, h - 4, 65536), PL_WS_ERR_TOO_BIG);
    /* Largest legal 64-bit length with no configured cap: never fits, and
     * the size arithmetic must not wrap. */
    CHECK_EQ_INT(parse_n((const uint8_t *)
                         "\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff", 10,
                         UINT64_MAX),
                 PL_WS_ERR_TOO_BIG);
    CHECK_EQ_INT(parse_n((const uint8_t *)
                         "\x82\x7f\x00\x00\x01\x00\x00\x00\x00\x00", 10,
                         UINT64_MAX),
                 PL_WS_INCOMPLETE);
    CHECK_EQ_INT(fr.payload_len, 1ULL << 40);
}

static void test_stream_of_frames(void)
{
    uint8_t buf[64];
    size_t n = 0;
    long r;

    n += pl_ws_write_header(buf + n, 1, PL_WS_PING, 3);
    memcpy(buf + n, "abc", 3);
    n += 3;
    n += pl_ws_write_header(buf + n, 1, PL_WS_TEXT, 0);
    r = parse_n(buf, n, 100);
    CHECK_EQ_INT(r, 5);
    CHECK_EQ_INT(fr.opcode, PL_WS_PING);
    CHECK_EQ_INT(parse_n(buf + r, n - (size_t)r, 100), 2);
    CHECK_EQ_INT(fr.opcode, PL_WS_TEXT);
}

static void test_unmask(void)
{
    static const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
    uint8_t orig[203], work[203], ref[203];

    for (size_t i = 0; i < sizeof(orig); i++)
        orig[i] = (uint8_t)(i * 7 + 3);
    /* Reference: the byte-wise definition. */
    for (size_t i = 0; i < sizeof(orig); i++)
        ref[i] = orig[i] ^ mask[i & 3];
    memcpy(work, orig, sizeof(work));
    pl_ws_unmask(work, sizeof(work), mask, 0);
    CHECK(memcmp(work, ref, sizeof(ref)) == 0);
    pl_ws_unmask(work, sizeof(work), mask, 0);
    CHECK(memcmp(work, orig, sizeof(orig)) == 0);

    /* In pieces at every split and offset, including unaligned ones. */
    for (size_t a = 0; a <= 20; a++) {
        for (size_t b = a; b <= sizeof(orig); b += 13) {
            memcpy(work, orig, sizeof(work));
            pl_ws_unmask(work, a, mask, 0);
            pl_ws_unmask(work + a, b - a, mask, a);
            pl_ws_unmask(work + b, sizeof(work) - b, mask, b);
            if (memcmp(work, ref, sizeof(ref)) != 0) {
                CHECK(!"split unmask differs");
                return;
            }
        }
    }
    /* A large offset only matters modulo 4. */
    memcpy(work, orig, sizeof(work));
    pl_ws_unmask(work + 1, 50, mask, ((size_t)1 << 40) + 1);
    CHECK(memcmp(work + 1, ref + 1, 50) == 0);
    pl_ws_unmask(work, 0, mask, 3);
    CHECK(memcmp(work, orig, 1) == 0);
}

static void test_accept_key(void)
{
    char out[29];
    const char *k = "dGhlIHNhbXBsZSBub25jZQ==";

    memset(out, 'x', sizeof(out));
    CHECK_EQ_INT(pl_ws_accept_key(k, strlen(k), out), 0);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK_EQ_INT(pl_ws_accept_key("AAAAAAAAAAAAAAAAAAAAAA==", 24, out), 0);
    CHECK_EQ_INT(strlen(out), 28);

    CHECK_EQ_INT(pl_ws_accept_key(k, 23, out), -1);
    CHECK_EQ_INT(pl_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ===", 25, out), -1);
    CHECK_EQ_INT(pl_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=A", 24, out), -1);
    CHECK_EQ_INT(pl_ws_accept_key("dGhlIHNhbXBsZSBub25jZ===", 24, out), -1);
    CHECK_EQ_INT(pl_ws_accept_key("dGhlIHNhbXBsZSBub25j*Q==", 24, out), -1);
    CHECK_EQ_INT(pl_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ\0=", 24, out), -1);
    CHECK_EQ_INT(pl_ws_accept_key("dGhlIHNhbXBsZSBub25jZQZQ", 24, out), -1);
    CHECK_EQ_INT(pl_ws_accept_key("", 0, out), -1);
}

int main(void)
{
    test_length_boundaries();
    test_fields_and_bytes();
    test_protocol_errors();
    test_too_big();
    test_stream_of_frames();
    test_unmask();
    test_accept_key();
    UNIT_DONE();
}
