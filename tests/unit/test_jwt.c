/* test_jwt.c - HS256 tokens: sign/verify, every rejection path, the
 * keyring file. Forged tokens are built here with OpenSSL directly so the
 * verifier is tested against bytes it did not produce. */
#include "core/jwt.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "unit.h"

#define NOW 1795500231LL
#define SUB "0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6"

static pl_jwt_keyring kr;

static void setup_ring(void)
{
    memset(&kr, 0, sizeof kr);
    kr.nkeys = 2;
    memcpy(kr.keys[0].kid, "knew", 5);
    memset(kr.keys[0].secret, 0x11, PL_JWT_KEY_LEN);
    memcpy(kr.keys[1].kid, "kold", 5);
    memset(kr.keys[1].secret, 0x22, PL_JWT_KEY_LEN);
    memcpy(kr.issuer, "parley", 7);
    memcpy(kr.audience, "parley-clients", 15);
    kr.ttl_s = 3600;
    kr.leeway_s = 30;
}

/* Builds b64(hdr).b64(claims).b64(HS256(secret)) into out. */
static void forge(const char *hdr, const char *claims, const uint8_t *secret,
                  char *out, size_t cap)
{
    uint8_t mac[32];
    unsigned mac_len = 0;
    long n = pl_b64url_encode((const uint8_t *)hdr, strlen(hdr), out, cap);
    size_t o;

    CHECK(n > 0);
    o = (size_t)n;
    out[o++] = '.';
    n = pl_b64url_encode((const uint8_t *)claims, strlen(claims), out + o,
                         cap - o);
    CHECK(n >= 0);
    o += (size_t)n;
    HMAC(EVP_sha256(), secret, 32, (const uint8_t *)out, o, mac, &mac_len);
    out[o++] = '.';
    CHECK(pl_b64url_encode(mac, sizeof mac, out + o, cap - o) == 43);
}

static pl_status verify(const char *tok, pl_jwt_claims *c)
{
    return pl_jwt_verify(&kr, tok, strlen(tok), NOW, c);
}

#define HDR_OK "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"knew\"}"
#define CLAIMS_OK                                                          \
    "{\"iss\":\"parley\",\"aud\":\"parley-clients\",\"sub\":\"" SUB       \
    "\",\"iat\":1795500000,\"nbf\":1795500000,\"exp\":1795503600}"

/* Expects the forged token (signed with key 0) to verify as want. */
static void expect_forged(const char *hdr, const char *claims, pl_status want,
                          int line)
{
    char tok[4096];
    pl_jwt_claims c;

    forge(hdr, claims, kr.keys[0].secret, tok, sizeof tok);
    pl_status st = verify(tok, &c);
    if (st != want)
        fprintf(stderr, "line %d: got %d for %s / %s\n", line, st, hdr,
                claims);
    CHECK_EQ_INT(st, want);
}

#define EXPECT(h, c, w) expect_forged(h, c, w, __LINE__)

static void test_b64url(void)
{
    static const struct { const char *raw, *enc; } v[] = {
        {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
        {"\xfb\xff", "-_8"},
    };
    char enc[64];
    uint8_t dec[64];

    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = strlen(v[i].raw);
        CHECK_EQ_INT(pl_b64url_encode((const uint8_t *)v[i].raw, n, enc,
                                      sizeof enc), (long)strlen(v[i].enc));
        CHECK_STR(enc, v[i].enc);
        CHECK_EQ_INT(pl_b64url_decode(v[i].enc, strlen(v[i].enc), dec,
                                      sizeof dec), (long)n);
        CHECK(memcmp(dec, v[i].raw, n) == 0);
    }
    CHECK_EQ_INT(pl_b64url_encode((const uint8_t *)"foo", 3, enc, 4), -1);
    CHECK_EQ_INT(pl_b64url_encode((const uint8_t *)"foo", 3, enc, 5), 4);
    CHECK_EQ_INT(pl_b64url_decode("Zm9v", 4, dec, 2), -1);
    CHECK_EQ_INT(pl_b64url_decode("Zm9v", 4, dec, 3), 3);
    CHECK_EQ_INT(pl_b64url_decode("Zm9v=", 5, dec, sizeof dec), -1);
    CHECK_EQ_INT(pl_b64url_decode("Zm+v", 4, dec, sizeof dec), -1);
    CHECK_EQ_INT(pl_b64url_decode("Zm/v", 4, dec, sizeof dec), -1);
    CHECK_EQ_INT(pl_b64url_decode("Z", 1, dec, sizeof dec), -1);
    CHECK_EQ_INT(pl_b64url_decode("Zh", 2, dec, sizeof dec), -1); /* bits */
    CHECK_EQ_INT(pl_b64url_decode("Zm9", 3, dec, sizeof dec), -1);
}

static void test_round_trip(void)
{
    char tok[PL_JWT_MAX_TOKEN];
    pl_jwt_claims c;
    pl_uuid sub;

    pl_uuid_parse(SUB, 36, &sub);
    CHECK_EQ_INT(pl_jwt_sign(&kr, &sub, "alice", NOW, tok, sizeof tok), PL_OK);
    CHECK_EQ_INT(strlen(tok) > 50, 1);
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(verify(tok, &c), PL_OK);
    CHECK(pl_uuid_eq(&c.sub, &sub));
    CHECK_STR(c.username, "alice");
    CHECK_EQ_INT(c.iat, NOW);
    CHECK_EQ_INT(c.nbf, NOW);
    CHECK_EQ_INT(c.exp, NOW + 3600);
    /* the header names the signing key */
    uint8_t hdr[256];
    long n = pl_b64url_decode(tok, (size_t)(strchr(tok, '.') - tok), hdr,
                              sizeof hdr - 1);
    CHECK(n > 0);
    hdr[n > 0 ? n : 0] = '\0';
    CHECK(strstr((char *)hdr, "\"kid\":\"knew\"") != NULL);
    CHECK(strstr((char *)hdr, "\"alg\":\"HS256\"") != NULL);
    /* no username: no usr claim, empty on verify */
    CHECK_EQ_INT(pl_jwt_sign(&kr, &sub, "", NOW, tok, sizeof tok), PL_OK);
    CHECK_EQ_INT(verify(tok, &c), PL_OK);
    CHECK_STR(c.username, "");
    CHECK_EQ_INT(pl_jwt_sign(&kr, &sub, NULL, NOW, tok, sizeof tok), PL_OK);
    CHECK_EQ_INT(verify(tok, &c), PL_OK);
    /* cap too small */
    CHECK_EQ_INT(pl_jwt_sign(&kr, &sub, "alice", NOW, tok, 40),
                 PL_ERR_TOOLARGE);
    CHECK_EQ_INT(pl_jwt_sign(&kr, &sub, "alice", NOW, tok, 0),
                 PL_ERR_TOOLARGE);
    /* forged with the test's own HMAC: same verdict */
    EXPECT(HDR_OK, CLAIMS_OK, PL_OK);
}

static void test_tampering(void)
{
    char tok[PL_JWT_MAX_TOKEN], t2[PL_JWT_MAX_TOKEN];
    pl_jwt_claims c;
    pl_uuid sub;

    pl_uuid_parse(SUB, 36, &sub);
    CHECK_EQ_INT(pl_jwt_sign(&kr, &sub, "alice", NOW, tok, sizeof tok), PL_OK);
    size_t len = strlen(tok);
    char *p1 = strchr(tok, '.'), *p2 = strrchr(tok, '.');
    /* flip one char in each segment */
    size_t pos[] = {1, (size_t)(p1 - tok) + 5, (size_t)(p2 - tok) + 5,
                    len - 2};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++) {
        memcpy(t2, tok, len + 1);
        t2[pos[i]] = t2[pos[i]] == 'A' ? 'B' : 'A';
        CHECK_EQ_INT(verify(t2, &c), PL_ERR_UNAUTH);
    }
    /* last signature char with different unused low bits */
    memcpy(t2, tok, len + 1);
    t2[len - 1] ^= 1;
    CHECK_EQ_INT(verify(t2, &c), PL_ERR_UNAUTH);
    /* truncated, extended, extra segment, stripped signature */
    CHECK_EQ_INT(pl_jwt_verify(&kr, tok, len - 1, NOW, &c), PL_ERR_UNAUTH);
    memcpy(t2, tok, len);
    memcpy(t2 + len, "AA", 3);
    CHECK_EQ_INT(verify(t2, &c), PL_ERR_UNAUTH);
    memcpy(t2, tok, len);
    memcpy(t2 + len, ".AA", 4);
    CHECK_EQ_INT(verify(t2, &c), PL_ERR_UNAUTH);
    memcpy(t2, tok, (size_t)(p2 - tok) + 1);
    t2[p2 - tok + 1] = '\0';
    CHECK_EQ_INT(verify(t2, &c), PL_ERR_UNAUTH);
    /* payload of another user, signature kept */
    pl_uuid other;
    pl_uuid_v4(&other);
    CHECK_EQ_INT(pl_jwt_sign(&kr, &other, "mallory", NOW, t2, sizeof t2),
                 PL_OK);
    char *q1 = strchr(t2, '.'), *q2 = strrchr(t2, '.');
    char mix[PL_JWT_MAX_TOKEN];
    int n = snprintf(mix, sizeof mix, "%.*s%.*s%s", (int)(p1 - tok), tok,
                     (int)(q2 - q1), q1, p2);
    CHECK(n > 0);
    CHECK_EQ_INT(verify(mix, &c), PL_ERR_UNAUTH);
    /* signed by a key not in the ring, same kid */
    uint8_t evil[32];
    memset(evil, 0x33, sizeof evil);
    forge(HDR_OK, CLAIMS_OK, evil, t2, sizeof t2);
    CHECK_EQ_INT(verify(t2, &c), PL_ERR_UNAUTH);
}

static void test_header_rules(void)
{
    char tok[4096];
    pl_jwt_claims c;

    EXPECT("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"knew\"}", CLAIMS_OK,
           PL_ERR_UNAUTH);
    EXPECT("{\"alg\":\"HS512\",\"typ\":\"JWT\",\"kid\":\"knew\"}", CLAIMS_OK,
           PL_ERR_UNAUTH);
    EXPECT("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"knew\"}", CLAIMS_OK,
           PL_ERR_UNAUTH);
    EXPECT("{\"alg\":\"hs256\",\"kid\":\"knew\"}", CLAIMS_OK, PL_ERR_UNAUTH);
    EXPECT("{\"typ\":\"JWT\",\"kid\":\"knew\"}", CLAIMS_OK, PL_ERR_UNAUTH);
    EXPECT("{\"alg\":[\"HS256\"],\"kid\":\"knew\"}", CLAIMS_OK, PL_ERR_UNAUTH);
    EXPECT("{\"alg\":\"HS256\",\"typ\":\"JWS\",\"kid\":\"knew\"}", CLAIMS_OK,
           PL_ERR_UNAUTH);
    EXPECT("{\"alg\":\"HS256\",\"typ\":1,\"kid\":\"knew\"}", CLAIMS_OK,
           PL_ERR_UNAUTH);
    EXPECT("{\"alg\":\"HS256\",\"kid\":\"knew\"}", CLAIMS_OK, PL_OK);
    EXPECT("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"nope\"}", CLAIMS_OK,
           PL_ERR_UNAUTH);
    EXPECT("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", CLAIMS_OK, PL_ERR_UNAUTH);
    EXPECT("{\"alg\":\"HS256\",\"kid\":\"knew\\u0000\"}", CLAIMS_OK,
           PL_ERR_UNAUTH);
    EXPECT("{\"alg\":\"HS256\",\"kid\":\"knew\",\"crit\":[\"x\"]}", CLAIMS_OK,
           PL_ERR_UNAUTH);
    /* duplicate keys: the second alg must not win */
    EXPECT("{\"alg\":\"none\",\"alg\":\"HS256\",\"kid\":\"knew\"}", CLAIMS_OK,
           PL_ERR_UNAUTH);
    EXPECT("{\"alg\":\"HS256\",\"kid\":\"kold\",\"kid\":\"knew\"}", CLAIMS_OK,
           PL_ERR_UNAUTH);
    EXPECT("[\"HS256\"]", CLAIMS_OK, PL_ERR_UNAUTH);
    EXPECT("not json", CLAIMS_OK, PL_ERR_UNAUTH);
    /* an alg-none token with an empty signature */
    long n = pl_b64url_encode((const uint8_t *)"{\"alg\":\"none\"}", 14, tok,
                              sizeof tok);
    size_t o = (size_t)n;
    tok[o++] = '.';
    n = pl_b64url_encode((const uint8_t *)CLAIMS_OK, strlen(CLAIMS_OK),
                         tok + o, sizeof tok - o);
    o += (size_t)n;
    memcpy(tok + o, ".", 2);
    CHECK_EQ_INT(verify(tok, &c), PL_ERR_UNAUTH);
}

#define CL(extra_and_times)                                                \
    "{\"iss\":\"parley\",\"aud\":\"parley-clients\",\"sub\":\"" SUB "\"" \
    extra_and_times "}"

static void test_claim_rules(void)
{
    /* times: leeway is 30 s */
    EXPECT(HDR_OK, CL(",\"exp\":1795500231"), PL_OK);        /* in leeway */
    EXPECT(HDR_OK, CL(",\"exp\":1795500201"), PL_ERR_UNAUTH); /* expired */
    EXPECT(HDR_OK, CL(",\"exp\":1795500202"), PL_OK);
    EXPECT(HDR_OK, CL(",\"exp\":1000"), PL_ERR_UNAUTH);
    EXPECT(HDR_OK, CL(",\"exp\":1795503600,\"nbf\":1795500261"), PL_OK);
    EXPECT(HDR_OK, CL(",\"exp\":1795503600,\"nbf\":1795500262"),
           PL_ERR_UNAUTH); /* not yet valid */
    EXPECT(HDR_OK, CL(",\"exp\":9223372036854775807"), PL_OK);
    EXPECT(HDR_OK, CL(",\"exp\":1795503600,\"nbf\":-9223372036854775807"),
           PL_OK);
    /* exp required and integer; nbf/iat integer if present */
    EXPECT(HDR_OK, CL(""), PL_ERR_UNAUTH);
    EXPECT(HDR_OK, CL(",\"exp\":1795503600.0"), PL_ERR_UNAUTH);
    EXPECT(HDR_OK, CL(",\"exp\":\"1795503600\""), PL_ERR_UNAUTH);
    EXPECT(HDR_OK, CL(",\"exp\":null"), PL_ERR_UNAUTH);
    EXPECT(HDR_OK, CL(",\"exp\":99999999999999999999"), PL_ERR_UNAUTH);
    EXPECT(HDR_OK, CL(",\"exp\":1795503600,\"nbf\":1.5"), PL_ERR_UNAUTH);
    EXPECT(HDR_OK, CL(",\"exp\":1795503600,\"iat\":\"x\""), PL_ERR_UNAUTH);
    /* iss / aud */
    EXPECT(HDR_OK,
           "{\"iss\":\"other\",\"aud\":\"parley-clients\",\"sub\":\"" SUB
           "\",\"exp\":1795503600}", PL_ERR_UNAUTH);
    EXPECT(HDR_OK,
           "{\"aud\":\"parley-clients\",\"sub\":\"" SUB
           "\",\"exp\":1795503600}", PL_ERR_UNAUTH);
    EXPECT(HDR_OK,
           "{\"iss\":\"parley\",\"aud\":\"someone-else\",\"sub\":\"" SUB
           "\",\"exp\":1795503600}", PL_ERR_UNAUTH);
    EXPECT(HDR_OK,
           "{\"iss\":\"parley\",\"sub\":\"" SUB "\",\"exp\":1795503600}",
           PL_ERR_UNAUTH);
    EXPECT(HDR_OK,
           "{\"iss\":\"parley\",\"aud\":[\"x\",\"parley-clients\"],\"sub\":\""
           SUB "\",\"exp\":1795503600}", PL_OK);
    EXPECT(HDR_OK,
           "{\"iss\":\"parley\",\"aud\":[\"x\",\"y\"],\"sub\":\"" SUB
           "\",\"exp\":1795503600}", PL_ERR_UNAUTH);
    EXPECT(HDR_OK,
           "{\"iss\":\"parley\",\"aud\":[],\"sub\":\"" SUB
           "\",\"exp\":1795503600}", PL_ERR_UNAUTH);
    EXPECT(HDR_OK,
           "{\"iss\":\"parley\",\"aud\":\"parley-clients\\u0000\",\"sub\":\""
           SUB "\",\"exp\":1795503600}", PL_ERR_UNAUTH);
    /* sub */
    EXPECT(HDR_OK,
           "{\"iss\":\"parley\",\"aud\":\"parley-clients\",\"exp\":1795503600}",
           PL_ERR_UNAUTH);
    EXPECT(HDR_OK,
           "{\"iss\":\"parley\",\"aud\":\"parley-clients\",\"sub\":\"alice\","
           "\"exp\":1795503600}", PL_ERR_UNAUTH);
    EXPECT(HDR_OK,
           "{\"iss\":\"parley\",\"aud\":\"parley-clients\",\"sub\":42,"
           "\"exp\":1795503600}", PL_ERR_UNAUTH);
    /* usr */
    EXPECT(HDR_OK, CL(",\"exp\":1795503600,\"usr\":\"bob\""), PL_OK);
    EXPECT(HDR_OK, CL(",\"exp\":1795503600,\"usr\":7"), PL_ERR_UNAUTH);
    EXPECT(HDR_OK, CL(",\"exp\":1795503600,\"usr\":\"b\\u0000b\""),
           PL_ERR_UNAUTH);
    EXPECT(HDR_OK,
           CL(",\"exp\":1795503600,\"usr\":\"" /* 65 chars: too long */
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "aaaaaaaaaaaaaaaaaaaaaaaaa"
              "\""), PL_ERR_UNAUTH);
    /* duplicate claims */
    EXPECT(HDR_OK,
           CL(",\"exp\":1795503600,\"sub\":\"0192f3a4-5b6c-7d8e-9fa0-"
              "b1c2d3e4f5a7\""), PL_ERR_UNAUTH);
    EXPECT(HDR_OK, CL(",\"exp\":1000,\"exp\":1795503600"), PL_ERR_UNAUTH);
    /* not an object / not JSON */
    EXPECT(HDR_OK, "[1,2]", PL_ERR_UNAUTH);
    EXPECT(HDR_OK, "{\"iss\":", PL_ERR_UNAUTH);
    EXPECT(HDR_OK, "", PL_ERR_UNAUTH);
}

static void test_garbage(void)
{
    static const char *bad[] = {
        "", ".", "..", "...", "a.b.c", "a..c", ".b.c", "a.b.",
        "eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJIUzI1NiJ9.e30",
        "eyJhbGciOiJIUzI1NiJ9.e30.", "\xff\xfe.\x01.\x02",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
    };
    pl_jwt_claims c;
    char big[PL_JWT_MAX_TOKEN + 200];
    char tok[PL_JWT_MAX_TOKEN];
    pl_uuid sub;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(verify(bad[i], &c), PL_ERR_UNAUTH);
    CHECK_EQ_INT(pl_jwt_verify(&kr, NULL, 0, NOW, &c), PL_ERR_UNAUTH);
    /* a token with NUL inside, len covering it */
    pl_uuid_v4(&sub);
    CHECK_EQ_INT(pl_jwt_sign(&kr, &sub, "a", NOW, tok, sizeof tok), PL_OK);
    size_t len = strlen(tok);
    memcpy(big, tok, len);
    big[len] = '\0';
    big[len + 1] = 'A';
    CHECK_EQ_INT(pl_jwt_verify(&kr, big, len + 2, NOW, &c), PL_ERR_UNAUTH);
    /* over the size limit: rejected before parsing, even if otherwise
     * valid in shape */
    memset(big, 'A', sizeof big);
    big[10] = '.';
    big[20] = '.';
    CHECK_EQ_INT(pl_jwt_verify(&kr, big, PL_JWT_MAX_TOKEN + 1, NOW, &c),
                 PL_ERR_UNAUTH);
    CHECK_EQ_INT(pl_jwt_verify(&kr, big, sizeof big, NOW, &c), PL_ERR_UNAUTH);
    /* a long-but-legal usr makes a token near the limit still verify */
    char name[65];
    memset(name, 'u', 64);
    name[64] = '\0';
    CHECK_EQ_INT(pl_jwt_sign(&kr, &sub, name, NOW, tok, sizeof tok), PL_OK);
    CHECK_EQ_INT(verify(tok, &c), PL_OK);
    CHECK_STR(c.username, name);
}

static void test_rotation(void)
{
    char tok[PL_JWT_MAX_TOKEN];
    pl_jwt_keyring old = kr;
    pl_jwt_claims c;
    pl_uuid sub;

    /* a token minted when "kold" was the signing key ... */
    old.keys[0] = kr.keys[1];
    old.nkeys = 1;
    pl_uuid_v4(&sub);
    CHECK_EQ_INT(pl_jwt_sign(&old, &sub, "carol", NOW, tok, sizeof tok),
                 PL_OK);
    /* ... still verifies once "kold" is second in the ring */
    CHECK_EQ_INT(verify(tok, &c), PL_OK);
    CHECK(pl_uuid_eq(&c.sub, &sub));
    /* and stops verifying once it is dropped */
    pl_jwt_keyring dropped = kr;
    dropped.nkeys = 1;
    CHECK_EQ_INT(pl_jwt_verify(&dropped, tok, strlen(tok), NOW, &c),
                 PL_ERR_UNAUTH);
    /* a kid that names the wrong key does not verify */
    pl_jwt_keyring swapped = kr;
    memcpy(swapped.keys[0].kid, "kold", 5);
    memcpy(swapped.keys[1].kid, "knew", 5);
    CHECK_EQ_INT(pl_jwt_verify(&swapped, tok, strlen(tok), NOW, &c),
                 PL_ERR_UNAUTH);
    /* an empty ring cannot sign */
    pl_jwt_keyring empty = kr;
    empty.nkeys = 0;
    CHECK_EQ_INT(pl_jwt_sign(&empty, &sub, "x", NOW, tok, sizeof tok),
                 PL_ERR_INVALID);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void test_keyring_file(void)
{
    char dir[] = "/tmp/pl_test_jwt_XXXXXX", path[400], sub_dir[300];
    pl_jwt_keyring a, b;
    struct stat stt;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/jwt-keys", dir);
    CHECK_EQ_INT(pl_jwt_keyring_load(dir, "iss1", "aud1", 600, &a), PL_OK);
    CHECK_EQ_INT(a.nkeys, 1);
    CHECK_STR(a.issuer, "iss1");
    CHECK_STR(a.audience, "aud1");
    CHECK_EQ_INT(a.ttl_s, 600);
    CHECK_EQ_INT(a.leeway_s, 5);
    CHECK_EQ_INT(strlen(a.keys[0].kid), 9);
    CHECK_EQ_INT(a.keys[0].kid[0], 'k');
    CHECK_EQ_INT(stat(path, &stt), 0);
    CHECK_EQ_INT(stt.st_mode & 0777, 0600);
    /* re-read: same key */
    CHECK_EQ_INT(pl_jwt_keyring_load(dir, "iss1", "aud1", 600, &b), PL_OK);
    CHECK_EQ_INT(b.nkeys, 1);
    CHECK_STR(a.keys[0].kid, b.keys[0].kid);
    CHECK(memcmp(a.keys[0].secret, b.keys[0].secret, PL_JWT_KEY_LEN) == 0);
    /* a token minted from the first load verifies with the second */
    char tok[PL_JWT_MAX_TOKEN];
    pl_jwt_claims c;
    pl_uuid sub;
    pl_uuid_v4(&sub);
    CHECK_EQ_INT(pl_jwt_sign(&a, &sub, "dave", NOW, tok, sizeof tok), PL_OK);
    CHECK_EQ_INT(pl_jwt_verify(&b, tok, strlen(tok), NOW, &c), PL_OK);
    /* another directory gets another key */
    snprintf(sub_dir, sizeof sub_dir, "%s/other", dir);
    CHECK_EQ_INT(pl_jwt_keyring_load(sub_dir, "i", "a", 1, &b), PL_OK);
    CHECK(memcmp(a.keys[0].secret, b.keys[0].secret, PL_JWT_KEY_LEN) != 0);
    CHECK_EQ_INT(pl_jwt_verify(&b, tok, strlen(tok), NOW, &c), PL_ERR_UNAUTH);

    /* hand-written file: comments, blank lines, CRLF, two keys in order */
    write_text(path, "# keys\n\n  knew " HEX64 "\r\n"
                     "#old one\nkold " HEX64 "\n");
    CHECK_EQ_INT(pl_jwt_keyring_load(dir, "i", "a", 1, &b), PL_OK);
    CHECK_EQ_INT(b.nkeys, 2);
    CHECK_STR(b.keys[0].kid, "knew");
    CHECK_STR(b.keys[1].kid, "kold");
    CHECK_EQ_INT(b.keys[0].secret[0], 0x00);
    CHECK_EQ_INT(b.keys[0].secret[1], 0x11);
    CHECK_EQ_INT(b.keys[0].secret[31], 0xff);

    /* malformed files are errors, never a silently empty ring */
    static const char *bad[] = {
        "",
        "# only comments\n",
        "k1\n",
        "k1 0011\n",
        "k1 " HEX64 "00\n",
        "k1 " HEX64 " extra\n",
        "k1 zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        "k1 " HEX64 "\nk1 " HEX64 "\n",
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk " HEX64 "\n", /* kid 33 chars */
        "k1 " HEX64 "\nk2 " HEX64 "\nk3 " HEX64 "\nk4 " HEX64 "\nk5 " HEX64
        "\nk6 " HEX64 "\nk7 " HEX64 "\nk8 " HEX64 "\nk9 " HEX64 "\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(path, bad[i]);
        b.nkeys = 5;
        CHECK_EQ_INT(pl_jwt_keyring_load(dir, "i", "a", 1, &b),
                     PL_ERR_INVALID);
        CHECK_EQ_INT(b.nkeys, 0);
    }
    /* issuer / audience must fit */
    char long_s[100];
    memset(long_s, 'x', sizeof long_s - 1);
    long_s[99] = '\0';
    CHECK_EQ_INT(pl_jwt_keyring_load(dir, long_s, "a", 1, &b), PL_ERR_INVALID);
    CHECK_EQ_INT(pl_jwt_keyring_load(dir, "i", long_s, 1, &b), PL_ERR_INVALID);
    CHECK_EQ_INT(pl_jwt_keyring_load("", "i", "a", 1, &b), PL_ERR_INVALID);
    /* unreadable location */
    CHECK_EQ_INT(pl_jwt_keyring_load("/proc/nonexistent/x", "i", "a", 1, &b),
                 PL_ERR_IO);

    unlink(path);
    snprintf(path, sizeof path, "%s/jwt-keys", sub_dir);
    unlink(path);
    rmdir(sub_dir);
    CHECK_EQ_INT(rmdir(dir), 0); /* no temp files left behind */
}

/* rotate / retire on a real file, and reload picking them up */
static void test_keyfile_edits(void)
{
    char dir[] = "/tmp/pl_test_jwtrot_XXXXXX", path[400], kid[PL_JWT_KID_MAX + 1];
    char tok[PL_JWT_MAX_TOKEN];
    pl_jwt_keyring a, live;
    pl_jwt_claims c;
    pl_uuid sub;
    struct stat stt;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/jwt-keys", dir);
    /* no file yet: nothing to rotate or reload */
    CHECK_EQ_INT(pl_jwt_keys_rotate(dir, kid), PL_ERR_NOTFOUND);
    memset(&live, 0, sizeof live);
    CHECK_EQ_INT(pl_jwt_keyring_reload(dir, &live), PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_jwt_keyring_load(dir, "i", "a", 600, &live), PL_OK);
    char first[PL_JWT_KID_MAX + 1];
    memcpy(first, live.keys[0].kid, sizeof first);
    pl_uuid_v4(&sub);
    CHECK_EQ_INT(pl_jwt_sign(&live, &sub, "x", NOW, tok, sizeof tok), PL_OK);

    CHECK_EQ_INT(pl_jwt_keys_rotate(dir, kid), PL_OK);
    CHECK(strcmp(kid, first) != 0);
    CHECK_EQ_INT(stat(path, &stt), 0);
    CHECK_EQ_INT(stt.st_mode & 0777, 0600);
    /* reload keeps issuer etc. and gets both keys, the new one first */
    live.leeway_s = 9;
    CHECK_EQ_INT(pl_jwt_keyring_reload(dir, &live), PL_OK);
    CHECK_EQ_INT(live.nkeys, 2);
    CHECK_STR(live.keys[0].kid, kid);
    CHECK_STR(live.keys[1].kid, first);
    CHECK_STR(live.issuer, "i");
    CHECK_EQ_INT(live.leeway_s, 9);
    /* the old token still verifies and says which key signed it */
    CHECK_EQ_INT(pl_jwt_verify(&live, tok, strlen(tok), NOW, &c), PL_OK);
    CHECK_STR(c.kid, first);
    CHECK(pl_jwt_kid_hash(first) != pl_jwt_kid_hash(kid));
    /* new tokens carry the new kid */
    char tok2[PL_JWT_MAX_TOKEN];
    CHECK_EQ_INT(pl_jwt_sign(&live, &sub, "x", NOW, tok2, sizeof tok2), PL_OK);
    CHECK_EQ_INT(pl_jwt_verify(&live, tok2, strlen(tok2), NOW, &c), PL_OK);
    CHECK_STR(c.kid, kid);
    /* the signing key cannot be retired; an unknown one is not found */
    CHECK_EQ_INT(pl_jwt_keys_retire(dir, kid), PL_ERR_FORBIDDEN);
    CHECK_EQ_INT(pl_jwt_keys_retire(dir, "nope"), PL_ERR_NOTFOUND);
    CHECK_EQ_INT(pl_jwt_keys_retire(dir, first), PL_OK);
    CHECK_EQ_INT(pl_jwt_keyring_reload(dir, &live), PL_OK);
    CHECK_EQ_INT(live.nkeys, 1);
    CHECK_EQ_INT(pl_jwt_verify(&live, tok, strlen(tok), NOW, &c),
                 PL_ERR_UNAUTH);
    CHECK_EQ_INT(pl_jwt_verify(&live, tok2, strlen(tok2), NOW, &c), PL_OK);
    /* at most PL_JWT_MAX_KEYS */
    for (int i = 1; i < PL_JWT_MAX_KEYS; i++)
        CHECK_EQ_INT(pl_jwt_keys_rotate(dir, kid), PL_OK);
    CHECK_EQ_INT(pl_jwt_keys_rotate(dir, kid), PL_ERR_TOOLARGE);
    CHECK_EQ_INT(pl_jwt_keyring_load(dir, "i", "a", 600, &a), PL_OK);
    CHECK_EQ_INT(a.nkeys, PL_JWT_MAX_KEYS);
    /* a malformed file is not applied: the keys in use stay */
    write_text(path, "garbage\n");
    CHECK_EQ_INT(pl_jwt_keyring_reload(dir, &live), PL_ERR_INVALID);
    CHECK_EQ_INT(live.nkeys, 1);
    CHECK_EQ_INT(pl_jwt_keys_rotate(dir, kid), PL_ERR_INVALID);

    unlink(path);
    snprintf(path, sizeof path, "%s/.jwt-keys.lock", dir);
    unlink(path);
    CHECK_EQ_INT(rmdir(dir), 0); /* no temp files left behind */
}

int main(void)
{
    setup_ring();
    test_b64url();
    test_round_trip();
    test_tampering();
    test_header_rules();
    test_claim_rules();
    test_garbage();
    test_rotation();
    test_keyring_file();
    test_keyfile_edits();
    UNIT_DONE();
}
