/* jwt_keys_int.h - what jwt_keys.c (loading) shares with jwt_keyfile.c
 * (editing) about DATA_DIR/jwt-keys. Not for use outside src/core. */
#ifndef PL_JWT_KEYS_INT_H
#define PL_JWT_KEYS_INT_H

#include <stddef.h>

#include "jwt.h"

#define KEYS_NAME "jwt-keys"
#define KEYS_FILE_MAX 65536 /* a keyring file is a few hundred bytes */
#define PATH_CAP 4096

/* Reads the whole file into buf (cap bytes). PL_ERR_NOTFOUND if absent,
 * PL_ERR_INVALID if larger than cap. */
pl_status pl_jwt_keys_read_file(const char *path, char *buf, size_t cap,
                                size_t *len);
/* Parses the "kid hex-secret" lines into kr->keys (nkeys reset first).
 * PL_ERR_INVALID on any malformed line, a duplicate kid, too many keys or
 * none at all. */
pl_status pl_jwt_keys_parse(const char *buf, size_t len, pl_jwt_keyring *kr);
void pl_jwt_keys_fsync_dir(const char *dir);

#endif
