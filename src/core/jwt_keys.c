/* jwt_keys.c - the on-disk JWT keyring, DATA_DIR/jwt-keys.
 *
 * parleyd and the admin CLI may both start against a fresh data directory
 * at the same moment; whichever creates the file first wins and the other
 * reads that file, so both always sign with the same key. The new file is
 * fully written and fsynced under a temporary name and then hard-linked
 * into place (link fails with EEXIST instead of replacing a winner's file);
 * rename is the fallback on filesystems without hard links. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkostemp; the build defines it too */
#endif
#include "jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "jwt_keys_int.h"
#include "util.h"

static pl_status copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= cap)
        return PL_ERR_INVALID;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return PL_OK;
}


static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Next whitespace-separated field of [*p, end); NULL when none is left. */
static const char *next_field(const char **p, const char *end, size_t *n)
{
    const char *s = *p, *e;

    while (s < end && is_space(*s))
        s++;
    if (s == end)
        return NULL;
    for (e = s; e < end && !is_space(*e); e++)
        ;
    *n = (size_t)(e - s);
    *p = e;
    return s;
}

static pl_status parse_key(const char *kid, size_t kid_len, const char *hex,
                           size_t hex_len, pl_jwt_key *key)
{
    if (kid_len == 0 || kid_len > PL_JWT_KID_MAX ||
        hex_len != 2 * PL_JWT_KEY_LEN)
        return PL_ERR_INVALID;
    for (size_t i = 0; i < kid_len; i++)
        if (kid[i] < 0x21 || kid[i] > 0x7e)
            return PL_ERR_INVALID;
    for (size_t i = 0; i < PL_JWT_KEY_LEN; i++) {
        int hi = pl_hexval(hex[2 * i]), lo = pl_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return PL_ERR_INVALID;
        key->secret[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(key->kid, kid, kid_len);
    key->kid[kid_len] = '\0';
    return PL_OK;
}

/* One line: blank, "# comment", or "kid hex-secret". Adds keys to kr. */
static pl_status parse_line(const char *p, const char *end,
                            pl_jwt_keyring *kr)
{
    const char *kid, *hex;
    size_t kid_len = 0, hex_len = 0, extra_len;
    pl_jwt_key key;

    kid = next_field(&p, end, &kid_len);
    if (kid == NULL || kid[0] == '#')
        return PL_OK;
    hex = next_field(&p, end, &hex_len);
    if (hex == NULL || next_field(&p, end, &extra_len) != NULL ||
        kr->nkeys >= PL_JWT_MAX_KEYS ||
        parse_key(kid, kid_len, hex, hex_len, &key) != PL_OK)
        return PL_ERR_INVALID;
    for (int i = 0; i < kr->nkeys; i++)
        if (strcmp(kr->keys[i].kid, key.kid) == 0)
            return PL_ERR_INVALID;
    kr->keys[kr->nkeys++] = key;
    sodium_memzero(&key, sizeof key);
    return PL_OK;
}

pl_status pl_jwt_keys_parse(const char *buf, size_t len, pl_jwt_keyring *kr)
{
    const char *p = buf, *end = buf + len;

    kr->nkeys = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (memchr(p, '\0', (size_t)(eol - p)) != NULL ||
            parse_line(p, eol, kr) != PL_OK)
            return PL_ERR_INVALID;
        p = nl ? nl + 1 : end;
    }
    return kr->nkeys > 0 ? PL_OK : PL_ERR_INVALID;
}

pl_status pl_jwt_keys_read_file(const char *path, char *buf, size_t cap,
                                size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    pl_status st = PL_OK;
    size_t n = 0;

    if (fd < 0)
        return errno == ENOENT ? PL_ERR_NOTFOUND : PL_ERR_IO;
    for (;;) {
        if (n == cap) {
            st = PL_ERR_INVALID; /* too large to be a keyring */
            break;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = PL_ERR_IO;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *len = n;
    return st;
}


/* Formats a new keyring file with one random key into buf. */
static int format_new_keys(char *buf, size_t cap)
{
    uint8_t rnd[4], secret[PL_JWT_KEY_LEN];
    char kid_hex[2 * sizeof rnd + 1], sec_hex[2 * PL_JWT_KEY_LEN + 1];
    int n;

    randombytes_buf(rnd, sizeof rnd);
    randombytes_buf(secret, sizeof secret);
    sodium_bin2hex(kid_hex, sizeof kid_hex, rnd, sizeof rnd);
    sodium_bin2hex(sec_hex, sizeof sec_hex, secret, sizeof secret);
    n = snprintf(buf, cap,
                 "# Parley JWT HS256 keys: \"kid hex-secret\" per line.\n"
                 "# The first key signs; every key verifies. To rotate, add\n"
                 "# a new key at the top and drop the old one once the\n"
                 "# tokens it signed have expired (token-ttl).\n"
                 "k%s %s\n",
                 kid_hex, sec_hex);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(sec_hex, sizeof sec_hex);
    return n > 0 && (size_t)n < cap ? n : -1;
}

void pl_jwt_keys_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        (void)fsync(fd); /* best effort: the file itself is already synced */
        close(fd);
    }
}

/* Publishes tmp as path without replacing a file someone else created. */
static pl_status publish(const char *tmp, const char *path)
{
    if (link(tmp, path) == 0 || errno == EEXIST) {
        unlink(tmp);
        return PL_OK;
    }
    if (rename(tmp, path) == 0)
        return PL_OK;
    unlink(tmp);
    return PL_ERR_IO;
}

static pl_status create_keys(const char *dir, const char *path)
{
    char tmp[PATH_CAP], text[512];
    pl_status st = PL_ERR_IO;
    int fd, n;

    n = snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, KEYS_NAME);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return PL_ERR_INVALID;
    if ((n = format_new_keys(text, sizeof text)) < 0)
        return PL_ERR;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        goto out;
    if (fchmod(fd, 0600) != 0 || pl_write_all(fd, text, (size_t)n) != 0 ||
        fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) != 0) {
        unlink(tmp);
        goto out;
    }
    if ((st = publish(tmp, path)) == PL_OK)
        pl_jwt_keys_fsync_dir(dir);
out:
    sodium_memzero(text, sizeof text);
    return st;
}

static pl_status load_or_create(const char *dir, const char *path,
                                pl_jwt_keyring *kr)
{
    char *buf = malloc(KEYS_FILE_MAX);
    size_t len = 0;
    pl_status st;

    if (buf == NULL)
        return PL_ERR_NOMEM;
    st = pl_jwt_keys_read_file(path, buf, KEYS_FILE_MAX, &len);
    if (st == PL_ERR_NOTFOUND) {
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            st = PL_ERR_IO;
        else if ((st = create_keys(dir, path)) == PL_OK)
            st = pl_jwt_keys_read_file(path, buf, KEYS_FILE_MAX, &len);
    }
    if (st == PL_OK)
        st = pl_jwt_keys_parse(buf, len, kr);
    sodium_memzero(buf, KEYS_FILE_MAX);
    free(buf);
    return st;
}

pl_status pl_jwt_keyring_load(const char *data_dir, const char *issuer,
                              const char *audience, int64_t ttl_s,
                              pl_jwt_keyring *kr)
{
    char path[PATH_CAP];
    int n;

    memset(kr, 0, sizeof *kr);
    if (data_dir == NULL || data_dir[0] == '\0')
        return PL_ERR_INVALID;
    n = snprintf(path, sizeof path, "%s/%s", data_dir, KEYS_NAME);
    if (n < 0 || (size_t)n >= sizeof path)
        return PL_ERR_INVALID;
    return pl_jwt_keyring_load_file(path, issuer, audience, ttl_s, kr);
}

/* The directory part of path ("." when there is none). */
static pl_status dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash == path)
        n = 1; /* "/jwt-keys" */
    if (n + 2 > cap)
        return PL_ERR_INVALID;
    if (n == 0)
        memcpy(dir, ".", 2);
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return PL_OK;
}

pl_status pl_jwt_keyring_load_file(const char *path, const char *issuer,
                                   const char *audience, int64_t ttl_s,
                                   pl_jwt_keyring *kr)
{
    char dir[PATH_CAP];
    pl_status st;

    memset(kr, 0, sizeof *kr);
    if (path == NULL || path[0] == '\0' || strlen(path) >= PATH_CAP ||
        dir_of(path, dir, sizeof dir) != PL_OK)
        return PL_ERR_INVALID;
    if (copy_str(kr->issuer, sizeof kr->issuer, issuer) != PL_OK ||
        copy_str(kr->audience, sizeof kr->audience, audience) != PL_OK)
        return PL_ERR_INVALID;
    kr->ttl_s = ttl_s;
    kr->leeway_s = 5; /* clock skew between nodes; NTP keeps it far below */
    st = load_or_create(dir, path, kr);
    if (st != PL_OK) {
        sodium_memzero(kr->keys, sizeof kr->keys);
        kr->nkeys = 0;
    }
    return st;
}

pl_status pl_jwt_keyring_reload(const char *data_dir, pl_jwt_keyring *kr)
{
    char path[PATH_CAP];
    int n = snprintf(path, sizeof path, "%s/%s", data_dir, KEYS_NAME);

    if (n < 0 || (size_t)n >= sizeof path)
        return PL_ERR_INVALID;
    return pl_jwt_keyring_reload_file(path, kr);
}

pl_status pl_jwt_keyring_reload_file(const char *path, pl_jwt_keyring *kr)
{
    char *buf = malloc(KEYS_FILE_MAX);
    pl_jwt_keyring fresh;
    size_t len = 0;
    pl_status st;

    if (buf == NULL)
        return PL_ERR_NOMEM;
    memset(&fresh, 0, sizeof fresh);
    st = pl_jwt_keys_read_file(path, buf, KEYS_FILE_MAX, &len);
    if (st == PL_OK)
        st = pl_jwt_keys_parse(buf, len, &fresh);
    if (st == PL_OK) {
        memcpy(kr->keys, fresh.keys, sizeof kr->keys);
        kr->nkeys = fresh.nkeys;
    }
    sodium_memzero(&fresh, sizeof fresh);
    sodium_memzero(buf, KEYS_FILE_MAX);
    free(buf);
    return st;
}
