/* fuzz_cluster_wire.c - libFuzzer target for the cluster records
 * (roles/cluster_wire.c), which arrive from brokers and Redis servers
 * anyone on the cluster network may write to.
 *
 * The input is one record. Each of the three decoders is tried on it.
 * Properties:
 *  - at most one decoder accepts it, the one pl_cw_peek_kind names;
 *  - the encoding is canonical: a decoded record re-encodes to exactly
 *    the input bytes;
 *  - decoding never reads past the input (an exact-size copy, ASan) and
 *    never leaks (what a decode allocates is freed here);
 *  - a gateway id the channel helper accepts yields "pl:g:{id}". */
#include "roles/cluster_wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)      \
    do {                \
        if (!(c))       \
            abort();    \
    } while (0)

static void same_bytes(const pl_dbuf *d, const uint8_t *p, size_t n)
{
    REQUIRE(d->len == n);
    REQUIRE(n == 0 || memcmp(d->p, p, n) == 0);
}

static int try_req(const uint8_t *p, size_t n)
{
    char rt[PL_CW_REPLY_TO_MAX + 1];
    int64_t sent;
    pl_msg_req r;
    pl_dbuf d;

    if (pl_cw_decode_req(p, n, &r, rt, &sent) != PL_OK)
        return 0;
    REQUIRE(r.kind == PL_REQ_SEND || r.kind == PL_REQ_READ);
    REQUIRE(r.content_len == 0 || r.content[r.content_len] == '\0');
    pl_dbuf_init(&d, n);
    REQUIRE(pl_cw_encode_req(&r, rt, sent, &d) == PL_OK);
    same_bytes(&d, p, n);
    pl_dbuf_free(&d);
    free(r.content);
    return 1;
}

static int try_ack(const uint8_t *p, size_t n)
{
    pl_msg_req r;
    pl_dbuf d;

    if (pl_cw_decode_ack(p, n, &r) != PL_OK)
        return 0;
    REQUIRE(r.st <= PL_OK && !r.content && !r.ctx && !r.done);
    REQUIRE(strcmp(r.msg.client_msg_id, r.client_msg_id) == 0);
    pl_dbuf_init(&d, n);
    REQUIRE(pl_cw_encode_ack(&r, &d) == PL_OK);
    same_bytes(&d, p, n);
    pl_dbuf_free(&d);
    pl_msg_clear(&r.msg);
    return 1;
}

static int try_event(const uint8_t *p, size_t n)
{
    pl_cw_event e;
    pl_dbuf d;

    if (pl_cw_decode_event(p, n, &e) != PL_OK)
        return 0;
    REQUIRE(e.payload >= p && e.payload + e.payload_len == p + n);
    pl_dbuf_init(&d, n);
    REQUIRE(pl_cw_encode_event(&e, &d) == PL_OK);
    same_bytes(&d, p, n);
    pl_dbuf_free(&d);
    return 1;
}

static void try_channel(const uint8_t *p, size_t n)
{
    char *id = malloc(n + 1), buf[PL_CW_REPLY_TO_MAX + 8];
    size_t len;

    memcpy(id, p, n);
    id[n] = '\0';
    len = pl_cw_channel_gateway(id, buf, sizeof(buf));
    if (len) {
        REQUIRE(len == strlen(id) + 7 && strlen(buf) == len);
        REQUIRE(memcmp(buf, "pl:g:{", 6) == 0 && buf[len - 1] == '}');
        REQUIRE(memcmp(buf + 6, id, len - 7) == 0);
    }
    free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy: ASan sees any read past the end */
    uint8_t *p = malloc(size ? size : 1);
    int kind, req, ack, event;

    if (size)
        memcpy(p, data, size);
    kind = pl_cw_peek_kind(p, size);
    req = try_req(p, size);
    ack = try_ack(p, size);
    event = try_event(p, size);
    REQUIRE(!req || kind == PL_CW_REQ);
    REQUIRE(!ack || kind == PL_CW_ACK);
    REQUIRE(!event || kind == PL_CW_EVENT);
    try_channel(p, size);
    free(p);
    return 0;
}
