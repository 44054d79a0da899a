/* jwt.h - JSON Web Tokens, HS256 only, algorithm pinned.
 *
 * Deliberately not libjwt: Debian's libjwt 1.10 takes the algorithm from the
 * token's own header, which is how "alg":"none" and key-confusion attacks
 * work. Here the verifier knows the only algorithm it accepts (HS256), looks
 * the key up by the header's "kid" in a keyring it was given, compares the
 * MAC in constant time, and checks iss, aud, exp and nbf itself.
 *
 * Tokens carry: iss, aud, sub (user UUID), iat, exp, nbf, kid (header),
 * and optionally "usr" (username). */
#ifndef PL_JWT_H
#define PL_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "uuid.h"

#define PL_JWT_KEY_LEN 32
#define PL_JWT_KID_MAX 32
#define PL_JWT_MAX_KEYS 8
#define PL_JWT_MAX_TOKEN 2048 /* longer tokens are rejected unparsed */

typedef struct pl_jwt_key {
    char kid[PL_JWT_KID_MAX + 1];
    uint8_t secret[PL_JWT_KEY_LEN];
} pl_jwt_key;

/* keys[0] signs; every key verifies (rotation: keep the old one until
 * the tokens it signed have expired). */
typedef struct pl_jwt_keyring {
    pl_jwt_key keys[PL_JWT_MAX_KEYS];
    int nkeys;
    char issuer[64];
    char audience[64];
    int64_t ttl_s;  /* lifetime of minted tokens */
    int64_t leeway_s; /* clock skew tolerated on exp/nbf */
} pl_jwt_keyring;

typedef struct pl_jwt_claims {
    pl_uuid sub;
    char username[65]; /* may be empty */
    int64_t iat, exp, nbf; /* Unix seconds */
    char kid[PL_JWT_KID_MAX + 1]; /* the key that signed it */
} pl_jwt_claims;

/* Mints a token for sub at time now_s. Writes a NUL-terminated token into
 * out (cap bytes). PL_ERR_TOOLARGE if it does not fit. */
pl_status pl_jwt_sign(const pl_jwt_keyring *kr, const pl_uuid *sub,
                      const char *username, int64_t now_s, char *out,
                      size_t cap);

/* Verifies token (len bytes, not necessarily NUL-terminated) at time now_s.
 * PL_OK and *claims filled, or PL_ERR_UNAUTH for anything wrong: bad shape,
 * bad base64url, header alg other than "HS256", typ other than "JWT" (if
 * present), unknown kid, bad MAC, wrong iss/aud, expired, not yet valid,
 * missing sub/exp. Never reads past token + len. */
pl_status pl_jwt_verify(const pl_jwt_keyring *kr, const char *token,
                        size_t len, int64_t now_s, pl_jwt_claims *claims);

/* base64url without padding. enc: writes NUL-terminated; returns length or
 * -1 if cap too small. dec: returns decoded length or -1 on bad input/cap. */
long pl_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);
long pl_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* Added with jwt_keys.c. Loads DATA_DIR/jwt-keys, creating it (mode 0600,
 * atomically: temp file + fsync + link/rename, never clobbering a file another
 * process created meanwhile) with one fresh random key if absent. The data
 * directory itself is created (0700) if missing. File format: one key per
 * line "kid hex-secret" (kid 1..PL_JWT_KID_MAX visible ASCII chars, secret
 * 64 hex chars); the first key signs, all verify; '#' comments and blank
 * lines are ignored. Sets issuer, audience, ttl_s and leeway_s = 5 (seconds).
 * PL_ERR_IO on file errors, PL_ERR_INVALID on a malformed file or an
 * issuer/audience too long for the keyring. */
pl_status pl_jwt_keyring_load(const char *data_dir, const char *issuer,
                              const char *audience, int64_t ttl_s,
                              pl_jwt_keyring *kr);

/* Added with key rotation. Reads DATA_DIR/jwt-keys again into kr's keys
 * (never creating it); issuer, audience, ttl_s and leeway_s are kept. On
 * any error kr is unchanged: PL_ERR_NOTFOUND (no file), PL_ERR_IO,
 * PL_ERR_INVALID (malformed). */
pl_status pl_jwt_keyring_reload(const char *data_dir, pl_jwt_keyring *kr);

/* The same for a key file anywhere (parleyd --jwt-keys-file: every
 * instance of a cluster names one shared file); its directory takes the
 * temp file when it is created. */
pl_status pl_jwt_keyring_load_file(const char *path, const char *issuer,
                                   const char *audience, int64_t ttl_s,
                                   pl_jwt_keyring *kr);
pl_status pl_jwt_keyring_reload_file(const char *path, pl_jwt_keyring *kr);

/* jwt_keyfile.c: editing DATA_DIR/jwt-keys (the admin CLI). Each takes an
 * exclusive lock on DATA_DIR/.jwt-keys.lock, reads the file, and replaces
 * it atomically (temp file + fsync + rename); comments are not kept.
 * rotate: a new random key becomes the signing key (first line), the
 * others stay (verify only); writes its kid into new_kid
 * (PL_JWT_KID_MAX + 1 bytes). PL_ERR_TOOLARGE when PL_JWT_MAX_KEYS are
 * there already. retire: removes kid; PL_ERR_NOTFOUND if absent,
 * PL_ERR_FORBIDDEN for the signing key (rotate first). */
pl_status pl_jwt_keys_rotate(const char *data_dir, char *new_kid);
pl_status pl_jwt_keys_retire(const char *data_dir, const char *kid);

/* A 64-bit hash of a kid, to remember which key signed a session's token
 * without keeping the string. */
uint64_t pl_jwt_kid_hash(const char *kid);

#endif
