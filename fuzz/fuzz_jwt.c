/* fuzz_jwt.c - pl_jwt_verify must never crash or read out of bounds.
 *
 * Input byte 0 picks the mode:
 *   even: the rest is a token, verified as is (shape, base64url, header
 *         parsing, MAC check);
 *   odd:  the rest is "HEADER-JSON\nCLAIMS-JSON"; the fuzzer signs it with
 *         the ring's key so the claim checks behind the MAC get explored.
 * Every accepted token must have a verified sub and a sane time window. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/jwt.h"

#define NOW 1795500231LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pl_jwt_keyring ring;

static void init_ring(void)
{
    if (ring.nkeys)
        return;
    ring.nkeys = 2;
    memcpy(ring.keys[0].kid, "k1", 3);
    memset(ring.keys[0].secret, 0x11, PL_JWT_KEY_LEN);
    memcpy(ring.keys[1].kid, "k0", 3);
    memset(ring.keys[1].secret, 0x22, PL_JWT_KEY_LEN);
    memcpy(ring.issuer, "parley", 7);
    memcpy(ring.audience, "parley-clients", 15);
    ring.ttl_s = 3600;
    ring.leeway_s = 30;
}

static void check(const char *tok, size_t len)
{
    pl_jwt_claims c;

    if (pl_jwt_verify(&ring, tok, len, NOW, &c) != PL_OK)
        return;
    if (c.exp + ring.leeway_s <= NOW || c.nbf > NOW + ring.leeway_s ||
        strlen(c.username) >= sizeof c.username)
        abort();
}

/* Signs header/claims JSON with key 0, like a holder of the key would. */
static void signed_mode(const uint8_t *p, size_t n)
{
    const uint8_t *nl = memchr(p, '\n', n);
    char tok[3 * PL_JWT_MAX_TOKEN];
    uint8_t mac[32];
    unsigned mac_len = 0;
    long r;
    size_t o;

    if (nl == NULL || n > PL_JWT_MAX_TOKEN)
        return;
    r = pl_b64url_encode(p, (size_t)(nl - p), tok, sizeof tok);
    if (r < 0)
        return;
    o = (size_t)r;
    tok[o++] = '.';
    r = pl_b64url_encode(nl + 1, n - (size_t)(nl + 1 - p), tok + o,
                         sizeof tok - o);
    if (r < 0)
        return;
    o += (size_t)r;
    HMAC(EVP_sha256(), ring.keys[0].secret, PL_JWT_KEY_LEN,
         (const uint8_t *)tok, o, mac, &mac_len);
    tok[o++] = '.';
    r = pl_b64url_encode(mac, sizeof mac, tok + o, sizeof tok - o);
    if (r < 0)
        return;
    check(tok, o + (size_t)r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_ring();
    if (size == 0)
        return 0;
    if (data[0] & 1) {
        signed_mode(data + 1, size - 1);
        return 0;
    }
    /* an exact-size heap copy so ASan catches any read past len */
    char *tok = malloc(size - 1 ? size - 1 : 1);
    if (tok == NULL)
        return 0;
    memcpy(tok, data + 1, size - 1);
    check(tok, size - 1);
    free(tok);
    return 0;
}
