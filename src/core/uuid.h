/* uuid.h - 128-bit identifiers (RFC 9562). Users and conversations get
 * UUIDv4, messages UUIDv7 (time-ordered, so ids sort by creation time).
 * Random bits come from libsodium's randombytes_buf (thread-safe). */
#ifndef PL_UUID_H
#define PL_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct pl_uuid {
    uint8_t b[16];
} pl_uuid;

#define PL_UUID_STRLEN 36 /* without the terminating NUL */

void pl_uuid_v4(pl_uuid *out);
/* UUIDv7 with the given Unix time in milliseconds in its top 48 bits. */
void pl_uuid_v7(pl_uuid *out, int64_t unix_ms);
/* Writes the canonical lower-case 8-4-4-4-12 form plus NUL into buf
 * (at least PL_UUID_STRLEN + 1 bytes). Returns buf. */
char *pl_uuid_fmt(const pl_uuid *u, char *buf);
/* Parses exactly the 36-char hyphenated form (either case) of len bytes.
 * PL_ERR_INVALID on anything else. */
pl_status pl_uuid_parse(const char *s, size_t len, pl_uuid *out);
bool pl_uuid_eq(const pl_uuid *a, const pl_uuid *b);
bool pl_uuid_is_nil(const pl_uuid *u);
int pl_uuid_cmp(const pl_uuid *a, const pl_uuid *b);
/* 64-bit hash for hash tables (the bytes are already random: a fold). */
uint64_t pl_uuid_hash(const pl_uuid *u);

#endif
