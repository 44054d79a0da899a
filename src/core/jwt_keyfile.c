/* jwt_keyfile.c - rotating and retiring keys in DATA_DIR/jwt-keys (see
 * jwt.h). The admin CLI runs these while parleyd may be running; parleyd
 * notices the new file (it polls it, and reloads on SIGHUP) and never
 * writes it, so the only writers are admin commands, serialised by an
 * flock on a separate lock file (the keys file itself is replaced by
 * rename, so a lock on it would be on the old inode). */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "jwt_keys_int.h"
#include "util.h"

#define TEXT_CAP 4096 /* 8 keys of at most 32 + 1 + 64 + 1 bytes, comments */

typedef struct keyfile {
    char dir[PATH_CAP];
    char path[PATH_CAP];
    int lock_fd;
    pl_jwt_keyring kr;
} keyfile;

/* Locks the key file and reads it (it must exist: parleyd or any admin
 * command creates it on first use). */
static pl_status kf_open(keyfile *kf, const char *data_dir)
{
    char lock[PATH_CAP];
    char *buf = NULL;
    size_t len = 0;
    pl_status st = PL_ERR_INVALID;

    memset(kf, 0, sizeof *kf);
    kf->lock_fd = -1;
    if (snprintf(kf->dir, sizeof kf->dir, "%s", data_dir) >= PATH_CAP ||
        snprintf(kf->path, sizeof kf->path, "%s/%s", data_dir, KEYS_NAME) >=
            PATH_CAP ||
        snprintf(lock, sizeof lock, "%s/.%s.lock", data_dir, KEYS_NAME) >=
            PATH_CAP)
        return PL_ERR_INVALID;
    kf->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (kf->lock_fd < 0 || flock(kf->lock_fd, LOCK_EX) != 0)
        return PL_ERR_IO;
    if (!(buf = malloc(KEYS_FILE_MAX)))
        return PL_ERR_NOMEM;
    st = pl_jwt_keys_read_file(kf->path, buf, KEYS_FILE_MAX, &len);
    if (st == PL_OK)
        st = pl_jwt_keys_parse(buf, len, &kf->kr);
    sodium_memzero(buf, KEYS_FILE_MAX);
    free(buf);
    return st;
}

static void kf_close(keyfile *kf)
{
    if (kf->lock_fd >= 0)
        close(kf->lock_fd); /* releases the flock */
    sodium_memzero(&kf->kr, sizeof kf->kr);
}

static int format_keys(const pl_jwt_keyring *kr, char *out, size_t cap)
{
    char hex[2 * PL_JWT_KEY_LEN + 1];
    int n = snprintf(out, cap,
                     "# Parley JWT HS256 keys: \"kid hex-secret\" per line.\n"
                     "# The first key signs; every key verifies. Rotate with\n"
                     "# `parley admin rotate-key`, retire an old key with\n"
                     "# `parley admin retire-key KID` once the tokens it\n"
                     "# signed have expired (token-ttl).\n");
    for (int i = 0; i < kr->nkeys && n > 0 && (size_t)n < cap; i++) {
        sodium_bin2hex(hex, sizeof hex, kr->keys[i].secret, PL_JWT_KEY_LEN);
        n +=
            snprintf(out + n, cap - (size_t)n, "%s %s\n", kr->keys[i].kid, hex);
    }
    sodium_memzero(hex, sizeof hex);
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* Replaces the file with kf->kr: temp file, fsync, rename, fsync dir. */
static pl_status kf_write(keyfile *kf)
{
    char tmp[PATH_CAP], text[TEXT_CAP];
    pl_status st = PL_ERR_IO;
    int n = format_keys(&kf->kr, text, sizeof text), fd;

    if (n < 0 || snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", kf->dir,
                          KEYS_NAME) >= PATH_CAP)
        goto out;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        goto out;
    bool ok = fchmod(fd, 0600) == 0 && pl_write_all(fd, text, (size_t)n) == 0 &&
              fsync(fd) == 0;
    if (close(fd) != 0 || !ok || rename(tmp, kf->path) != 0) {
        unlink(tmp);
        goto out;
    }
    pl_jwt_keys_fsync_dir(kf->dir);
    st = PL_OK;
out:
    sodium_memzero(text, sizeof text);
    return st;
}

static void new_key(const pl_jwt_keyring *kr, pl_jwt_key *k)
{
    uint8_t rnd[4];
    bool taken;

    do { /* a kid that is not in use */
        randombytes_buf(rnd, sizeof rnd);
        snprintf(k->kid, sizeof k->kid, "k%02x%02x%02x%02x", rnd[0], rnd[1],
                 rnd[2], rnd[3]);
        taken = false;
        for (int i = 0; i < kr->nkeys; i++)
            taken = taken || strcmp(kr->keys[i].kid, k->kid) == 0;
    } while (taken);
    randombytes_buf(k->secret, sizeof k->secret);
}

pl_status pl_jwt_keys_rotate(const char *data_dir, char *new_kid)
{
    keyfile kf;
    pl_status st = kf_open(&kf, data_dir);

    if (st == PL_OK && kf.kr.nkeys >= PL_JWT_MAX_KEYS)
        st = PL_ERR_TOOLARGE;
    if (st == PL_OK) {
        pl_jwt_key k;
        new_key(&kf.kr, &k);
        memmove(&kf.kr.keys[1], &kf.kr.keys[0],
                (size_t)kf.kr.nkeys * sizeof kf.kr.keys[0]);
        kf.kr.keys[0] = k;
        kf.kr.nkeys++;
        sodium_memzero(&k, sizeof k);
        st = kf_write(&kf);
    }
    if (st == PL_OK)
        memcpy(new_kid, kf.kr.keys[0].kid, sizeof kf.kr.keys[0].kid);
    kf_close(&kf);
    return st;
}

pl_status pl_jwt_keys_retire(const char *data_dir, const char *kid)
{
    keyfile kf;
    pl_status st = kf_open(&kf, data_dir);
    int i = 0;

    while (st == PL_OK && i < kf.kr.nkeys && strcmp(kf.kr.keys[i].kid, kid))
        i++;
    if (st == PL_OK && i == kf.kr.nkeys)
        st = PL_ERR_NOTFOUND;
    else if (st == PL_OK && i == 0)
        st = PL_ERR_FORBIDDEN;
    if (st == PL_OK) {
        memmove(&kf.kr.keys[i], &kf.kr.keys[i + 1],
                (size_t)(kf.kr.nkeys - i - 1) * sizeof kf.kr.keys[0]);
        kf.kr.nkeys--;
        st = kf_write(&kf);
    }
    kf_close(&kf);
    return st;
}
