/* jwt.c - HS256 JSON Web Tokens with the algorithm pinned by the verifier.
 *
 * Verification order matters: the header is parsed only far enough to find
 * the key (alg, typ, kid), the MAC is checked next, and only a token whose
 * MAC is good gets its claims parsed. Every failure is PL_ERR_UNAUTH so the
 * caller cannot leak which check failed. */
#include "jwt.h"

#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAC_LEN 32 /* SHA-256 */
/* Decoded segments are 3/4 of their encoded size; the whole token is
 * bounded by PL_JWT_MAX_TOKEN, so this holds any segment. */
#define SEG_MAX (PL_JWT_MAX_TOKEN / 4 * 3 + 3)

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

long pl_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    size_t need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
    size_t o = 0, i = 0;

    if (need >= cap)
        return -1;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
                     in[i + 2];
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return (long)o;
}

static int b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Strict: no padding, no whitespace, and the unused low bits of the last
 * character must be zero, so every byte string has exactly one encoding
 * (otherwise a signature could be altered without changing its value). */
long pl_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    if (len % 4 == 1 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > cap)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return -1;
    return (long)o;
}

static int hmac_sha256(const uint8_t *key, const char *data, size_t len,
                       uint8_t mac[MAC_LEN])
{
    unsigned int mac_len = 0;

    if (HMAC(EVP_sha256(), key, PL_JWT_KEY_LEN, (const unsigned char *)data,
             len, mac, &mac_len) == NULL || mac_len != MAC_LEN)
        return -1;
    return 0;
}

/* Saturating a + b for exp and the time window checks. */
static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Appends the base64url of a JSON value's compact serialisation. */
static pl_status append_json_b64(json_t *j, char *out, size_t cap, size_t *o)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    pl_status st = PL_ERR_NOMEM;

    if (s == NULL)
        return st;
    long n = pl_b64url_encode((const uint8_t *)s, strlen(s), out + *o,
                              cap - *o);
    free(s);
    if (n < 0)
        return PL_ERR_TOOLARGE;
    *o += (size_t)n;
    return PL_OK;
}

static json_t *build_claims(const pl_jwt_keyring *kr, const pl_uuid *sub,
                            const char *username, int64_t now_s)
{
    char sub_s[PL_UUID_STRLEN + 1];
    json_t *c;

    pl_uuid_fmt(sub, sub_s);
    c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "iss", kr->issuer,
                  "aud", kr->audience, "sub", sub_s, "iat", (json_int_t)now_s,
                  "nbf", (json_int_t)now_s, "exp",
                  (json_int_t)sat_add(now_s, kr->ttl_s));
    if (c != NULL && username != NULL && username[0] != '\0' &&
        json_object_set_new(c, "usr", json_string(username)) != 0) {
        json_decref(c);
        return NULL;
    }
    return c;
}

pl_status pl_jwt_sign(const pl_jwt_keyring *kr, const pl_uuid *sub,
                      const char *username, int64_t now_s, char *out,
                      size_t cap)
{
    json_t *hdr = NULL, *claims = NULL;
    uint8_t mac[MAC_LEN];
    pl_status st = PL_ERR_NOMEM;
    size_t o = 0;

    if (kr->nkeys < 1)
        return PL_ERR_INVALID;
    hdr = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "typ", "JWT", "kid",
                    kr->keys[0].kid);
    claims = build_claims(kr, sub, username, now_s);
    if (hdr == NULL || claims == NULL)
        goto out;
    if ((st = append_json_b64(hdr, out, cap, &o)) != PL_OK)
        goto out;
    st = PL_ERR_TOOLARGE;
    if (o + 1 >= cap)
        goto out;
    out[o++] = '.';
    if ((st = append_json_b64(claims, out, cap, &o)) != PL_OK)
        goto out;
    st = PL_ERR;
    if (hmac_sha256(kr->keys[0].secret, out, o, mac) != 0)
        goto out;
    st = PL_ERR_TOOLARGE;
    if (o + 1 >= cap)
        goto out;
    out[o++] = '.';
    if (pl_b64url_encode(mac, MAC_LEN, out + o, cap - o) < 0)
        goto out;
    st = PL_OK;
out:
    if (st != PL_OK && cap > 0)
        out[0] = '\0';
    json_decref(hdr);
    json_decref(claims);
    return st;
}

/* Decodes one base64url segment and parses it as a JSON object, rejecting
 * duplicate keys (two "alg"s or two "sub"s must not be ambiguous). */
static json_t *decode_json_segment(const char *seg, size_t len)
{
    uint8_t buf[SEG_MAX];
    json_error_t jerr;
    json_t *j;

    long n = pl_b64url_decode(seg, len, buf, sizeof buf);
    if (n <= 0)
        return NULL;
    j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES,
                   &jerr);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* 1 if j is a JSON string of exactly the bytes of s (embedded NULs in j
 * make it differ). */
static int json_str_eq(const json_t *j, const char *s)
{
    size_t n = strlen(s);

    return json_is_string(j) && json_string_length(j) == n &&
           memcmp(json_string_value(j), s, n) == 0;
}

static const pl_jwt_key *find_key(const pl_jwt_keyring *kr, const json_t *kid)
{
    for (int i = 0; i < kr->nkeys && i < PL_JWT_MAX_KEYS; i++)
        if (json_str_eq(kid, kr->keys[i].kid))
            return &kr->keys[i];
    return NULL;
}

/* Checks the header and returns the key it names, or NULL. */
static const pl_jwt_key *check_header(const pl_jwt_keyring *kr,
                                      const json_t *hdr)
{
    const json_t *typ = json_object_get(hdr, "typ");

    if (!json_str_eq(json_object_get(hdr, "alg"), "HS256"))
        return NULL;
    if (typ != NULL && !json_str_eq(typ, "JWT"))
        return NULL;
    /* RFC 7515 4.1.11: extensions we do not understand must be rejected. */
    if (json_object_get(hdr, "crit") != NULL)
        return NULL;
    return find_key(kr, json_object_get(hdr, "kid"));
}

static int check_mac(const pl_jwt_key *key, const char *token,
                     size_t signed_len, const char *sig, size_t sig_len)
{
    uint8_t want[MAC_LEN], got[MAC_LEN + 3];

    if (pl_b64url_decode(sig, sig_len, got, sizeof got) != MAC_LEN)
        return -1;
    if (hmac_sha256(key->secret, token, signed_len, want) != 0)
        return -1;
    return CRYPTO_memcmp(want, got, MAC_LEN) == 0 ? 0 : -1;
}

static int aud_matches(const json_t *aud, const char *want)
{
    size_t i;
    const json_t *v;

    if (json_is_string(aud))
        return json_str_eq(aud, want);
    if (!json_is_array(aud))
        return 0;
    json_array_foreach(aud, i, v) {
        if (json_str_eq(v, want))
            return 1;
    }
    return 0;
}

/* An optional integer claim: absent leaves *out alone; present must be a
 * JSON integer. */
static int get_int_claim(const json_t *claims, const char *name, int required,
                         int64_t *out)
{
    const json_t *v = json_object_get(claims, name);

    if (v == NULL)
        return required ? -1 : 0;
    if (!json_is_integer(v))
        return -1;
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int get_identity(const json_t *claims, pl_jwt_claims *c)
{
    const json_t *sub = json_object_get(claims, "sub");
    const json_t *usr = json_object_get(claims, "usr");

    if (!json_is_string(sub) ||
        pl_uuid_parse(json_string_value(sub), json_string_length(sub),
                      &c->sub) != PL_OK)
        return -1;
    if (usr == NULL)
        return 0;
    size_t n = json_is_string(usr) ? json_string_length(usr) : 0;
    if (!json_is_string(usr) || n >= sizeof c->username ||
        memchr(json_string_value(usr), '\0', n) != NULL)
        return -1;
    memcpy(c->username, json_string_value(usr), n);
    c->username[n] = '\0';
    return 0;
}

static int check_claims(const pl_jwt_keyring *kr, const json_t *claims,
                        int64_t now_s, pl_jwt_claims *c)
{
    int64_t leeway = kr->leeway_s > 0 ? kr->leeway_s : 0;

    if (!json_str_eq(json_object_get(claims, "iss"), kr->issuer) ||
        !aud_matches(json_object_get(claims, "aud"), kr->audience))
        return -1;
    c->nbf = 0;
    c->iat = 0;
    if (get_int_claim(claims, "exp", 1, &c->exp) != 0 ||
        get_int_claim(claims, "nbf", 0, &c->nbf) != 0 ||
        get_int_claim(claims, "iat", 0, &c->iat) != 0)
        return -1;
    if (sat_add(c->exp, leeway) <= now_s)
        return -1; /* expired */
    if (sat_add(now_s, leeway) < c->nbf)
        return -1; /* not yet valid */
    return get_identity(claims, c);
}

/* Splits token into its three segments; returns 0 if it has exactly two
 * dots and no empty segment. */
static int split_token(const char *t, size_t len, size_t *dot1, size_t *dot2)
{
    const char *d1 = memchr(t, '.', len), *d2;

    if (d1 == NULL)
        return -1;
    d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - t));
    if (d2 == NULL ||
        memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - t)) != NULL)
        return -1;
    *dot1 = (size_t)(d1 - t);
    *dot2 = (size_t)(d2 - t);
    if (*dot1 == 0 || *dot2 == *dot1 + 1 || *dot2 + 1 == len)
        return -1;
    return 0;
}

uint64_t pl_jwt_kid_hash(const char *kid)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a: kids are not secret */

    for (; *kid; kid++)
        h = (h ^ (uint8_t)*kid) * 0x100000001b3ULL;
    return h;
}

pl_status pl_jwt_verify(const pl_jwt_keyring *kr, const char *token,
                        size_t len, int64_t now_s, pl_jwt_claims *claims)
{
    json_t *hdr = NULL, *body = NULL;
    const pl_jwt_key *key;
    pl_jwt_claims c;
    size_t dot1, dot2;
    pl_status st = PL_ERR_UNAUTH;

    if (token == NULL || len == 0 || len > PL_JWT_MAX_TOKEN ||
        split_token(token, len, &dot1, &dot2) != 0)
        return st;
    memset(&c, 0, sizeof c);
    hdr = decode_json_segment(token, dot1);
    if (hdr == NULL || (key = check_header(kr, hdr)) == NULL)
        goto out;
    if (check_mac(key, token, dot2, token + dot2 + 1, len - dot2 - 1) != 0)
        goto out;
    memcpy(c.kid, key->kid, sizeof c.kid);
    body = decode_json_segment(token + dot1 + 1, dot2 - dot1 - 1);
    if (body == NULL || check_claims(kr, body, now_s, &c) != 0)
        goto out;
    if (claims != NULL)
        *claims = c;
    st = PL_OK;
out:
    json_decref(hdr);
    json_decref(body);
    return st;
}
