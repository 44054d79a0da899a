/* ws.c - RFC 6455 frame header codec, unmasking and the handshake key. */
#include "proto/ws.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int opcode_reserved(int op)
{
    return (op >= 0x3 && op <= 0x7) || op >= 0xB;
}

static uint64_t load_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Decodes the extended payload length that follows the two fixed bytes.
 * Returns the extension size (0, 2 or 8), PL_WS_INCOMPLETE or
 * PL_WS_ERR_PROTOCOL for a non-minimal or top-bit-set length. */
static long parse_length(const uint8_t *buf, size_t len, pl_ws_frame *f)
{
    unsigned len7 = buf[1] & 0x7F;

    if (len7 < 126) {
        f->payload_len = len7;
        return 0;
    }
    if (len7 == 126) {
        if (len < 4)
            return PL_WS_INCOMPLETE;
        f->payload_len = load_be(buf + 2, 2);
        return f->payload_len < 126 ? PL_WS_ERR_PROTOCOL : 2;
    }
    if (len < 10)
        return PL_WS_INCOMPLETE;
    f->payload_len = load_be(buf + 2, 8);
    if (f->payload_len >> 63 || f->payload_len < 65536)
        return PL_WS_ERR_PROTOCOL;
    return 8;
}

long pl_ws_parse_header(const uint8_t *buf, size_t len, uint64_t max_payload,
                        pl_ws_frame *f)
{
    long ext;
    size_t hlen;

    if (len < 1)
        return PL_WS_INCOMPLETE;
    f->fin = buf[0] >> 7;
    f->rsv = (buf[0] >> 4) & 7;
    f->opcode = buf[0] & 0x0F;
    if (opcode_reserved(f->opcode))
        return PL_WS_ERR_PROTOCOL;
    if (f->opcode >= 0x8 && !f->fin)
        return PL_WS_ERR_PROTOCOL;
    if (len < 2)
        return PL_WS_INCOMPLETE;
    f->masked = buf[1] >> 7;
    /* A control frame may not use the extended encodings at all: with them
     * the length is either > 125 or non-minimal. */
    if (f->opcode >= 0x8 && (buf[1] & 0x7F) > 125)
        return PL_WS_ERR_PROTOCOL;
    ext = parse_length(buf, len, f);
    if (ext < 0)
        return ext;
    /* The return value is a long: cap what it must represent as well. */
    if (f->payload_len > max_payload ||
        f->payload_len > (uint64_t)LONG_MAX - 14)
        return PL_WS_ERR_TOO_BIG;
    hlen = 2 + (size_t)ext + (f->masked ? 4 : 0);
    if (len < hlen)
        return PL_WS_INCOMPLETE;
    if (f->masked)
        memcpy(f->mask, buf + 2 + ext, 4);
    else
        memset(f->mask, 0, 4);
    f->header_len = hlen;
    /* Compare against what is left rather than adding: no overflow. */
    if (f->payload_len > len - hlen)
        return PL_WS_INCOMPLETE;
    return (long)(hlen + f->payload_len);
}

void pl_ws_unmask(uint8_t *payload, size_t len, const uint8_t mask[4],
                  size_t offset)
{
    uint8_t m[8];
    uint64_t m64;
    size_t i = 0;

    /* Rotate the key so m[0] applies to payload[0]; 8 is a multiple of 4,
     * so the same rotation holds for every 8-byte word. */
    for (int j = 0; j < 8; j++)
        m[j] = mask[(offset + (size_t)j) & 3];
    memcpy(&m64, m, 8);
    for (; len - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, payload + i, 8);
        w ^= m64;
        memcpy(payload + i, &w, 8);
    }
    for (; i < len; i++)
        payload[i] ^= m[i & 7];
}

static size_t write_header(uint8_t *out, int fin, int opcode, uint64_t len,
                           uint8_t mask_bit)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)(mask_bit | len);
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = mask_bit | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = mask_bit | 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

size_t pl_ws_write_header(uint8_t *out, int fin, int opcode, uint64_t len)
{
    return write_header(out, fin, opcode, len, 0);
}

size_t pl_ws_write_header_masked(uint8_t *out, int fin, int opcode,
                                 uint64_t len, const uint8_t mask[4])
{
    size_t n = write_header(out, fin, opcode, len, 0x80);

    memcpy(out + n, mask, 4);
    return n + 4;
}

static int is_b64(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* 16 bytes encode as 22 alphabet characters and "==". The unused low bits
 * of the last character are not checked (RFC 4648 lets decoders ignore
 * them), so any key a lenient client derives from 16 bytes is accepted. */
static int key_valid(const char *key, size_t len)
{
    if (len != 24 || key[22] != '=' || key[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++) {
        if (!is_b64((unsigned char)key[i]))
            return 0;
    }
    return 1;
}

int pl_ws_accept_key(const char *key, size_t len, char out[29])
{
    char buf[24 + sizeof(WS_GUID) - 1];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!key_valid(key, len))
        return -1;
    memcpy(buf, key, 24);
    memcpy(buf + 24, WS_GUID, sizeof(WS_GUID) - 1);
    if (EVP_Digest(buf, sizeof(buf), md, &mdlen, EVP_sha1(), NULL) != 1 ||
        mdlen != 20)
        return -1;
    /* 20 bytes -> 28 characters plus the NUL EVP_EncodeBlock writes. */
    if (EVP_EncodeBlock((unsigned char *)out, md, 20) != 28)
        return -1;
    return 0;
}
