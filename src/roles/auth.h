/* auth.h - the auth role: identities, password hashing, tokens.
 *
 * Passwords: Argon2id via libsodium's crypto_pwhash_str, with the cost set
 * by config (argon-opslimit / argon-memlimit). Hashing is slow and
 * memory-hard on purpose, so it runs only on the hash pool, whose thread
 * count caps concurrent hashes (and so the memory they take).
 * Tokens: HS256 JWTs from jwt.h, algorithm pinned, keys from DATA_DIR. */
#ifndef PL_AUTH_H
#define PL_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "../backends/store.h"
#include "node.h"

/* Username: 3..32 of [A-Za-z0-9_.-]. Password: 8..1024 bytes. NULL if
 * valid, else a message saying what is wrong. */
const char *pl_auth_check_username(const char *s);
const char *pl_auth_check_password(const char *s, size_t len);

/* Blocking (hash pool only). out: PL_PWHASH_MAX + 1 bytes. */
pl_status pl_auth_hash_password(const pl_config *cfg, const char *pw,
                                size_t len, char *out);
/* Blocking. PL_OK if pw matches hash; PL_ERR_UNAUTH otherwise (also for
 * the "!" hash of accounts without password login). Runs a full-cost
 * verification even then, so timing does not reveal which case it was. */
pl_status pl_auth_verify_password(const pl_config *cfg, const char *hash,
                                  const char *pw, size_t len);
/* Mints a token for u with the current signing key (node->keys, under
 * keys_mu); fills out (PL_JWT_MAX_TOKEN) and *exp_s. */
pl_status pl_auth_mint(pl_node *node, const pl_user *u, char *out,
                       int64_t *exp_s);

#endif
