/* utf8.h - strict UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), incremental so fragmented messages can be checked
 * as they arrive. */
#ifndef PL_UTF8_H
#define PL_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define PL_UTF8_ACCEPT 0
#define PL_UTF8_REJECT 1 /* sticky */

/* Feeds len bytes into the validator state *state (start with
 * PL_UTF8_ACCEPT). Returns the new state: PL_UTF8_ACCEPT at a character
 * boundary, PL_UTF8_REJECT on an invalid sequence (sticky), or another value
 * in the middle of a multi-byte character. */
uint32_t pl_utf8_feed(uint32_t state, const uint8_t *s, size_t len);

/* 1 if s[0..len) is complete, valid UTF-8. */
int pl_utf8_valid(const uint8_t *s, size_t len);

#endif
