/* auth.c - see auth.h. */
#include "auth.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "../core/timeutil.h"

const char *pl_auth_check_username(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > PL_USERNAME_MAX)
        return "username must be 3 to 32 characters";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!ok)
            return "username may contain only letters, digits, '_', '.' and '-'";
    }
    return NULL;
}

const char *pl_auth_check_password(const char *s, size_t len)
{
    if (len < 8)
        return "password must be at least 8 bytes";
    if (len > 1024)
        return "password must be at most 1024 bytes";
    if (memchr(s, '\0', len))
        return "password must not contain NUL";
    return NULL;
}

pl_status pl_auth_hash_password(const pl_config *cfg, const char *pw,
                                size_t len, char *out)
{
    char buf[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(buf, pw, len,
                              (unsigned long long)cfg->argon_opslimit,
                              (size_t)cfg->argon_memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return PL_ERR_NOMEM; /* libsodium fails only when out of memory */
    size_t n = strlen(buf);
    if (n > PL_PWHASH_MAX)
        return PL_ERR_TOOLARGE;
    memcpy(out, buf, n + 1);
    return PL_OK;
}

pl_status pl_auth_verify_password(const pl_config *cfg, const char *hash,
                                  const char *pw, size_t len)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static char dummy[crypto_pwhash_STRBYTES]; /* same cost as a real one */
    if (strncmp(hash, "$argon2id$", 10) != 0) {
        char copy[crypto_pwhash_STRBYTES];
        pthread_mutex_lock(&mu);
        if (!dummy[0])
            pl_auth_hash_password(cfg, "not-a-password", 14, dummy);
        memcpy(copy, dummy, sizeof(copy));
        pthread_mutex_unlock(&mu);
        if (crypto_pwhash_str_verify(copy, pw, len) == 0)
            return PL_ERR_UNAUTH; /* the dummy never unlocks anything */
        return PL_ERR_UNAUTH;
    }
    return crypto_pwhash_str_verify(hash, pw, len) == 0 ? PL_OK
                                                        : PL_ERR_UNAUTH;
}

pl_status pl_auth_mint(pl_node *node, const pl_user *u, char *out,
                       int64_t *exp_s)
{
    int64_t now = pl_now_ms() / 1000;
    pthread_mutex_lock(&node->keys_mu); /* a reload may replace the keys */
    *exp_s = now + node->keys.ttl_s;
    pl_status st = pl_jwt_sign(&node->keys, &u->id, u->username, now, out,
                               PL_JWT_MAX_TOKEN);
    pthread_mutex_unlock(&node->keys_mu);
    return st;
}
