/* jscan.h - pick top-level fields out of a JSON object without building a
 * tree. The load generator reads tens of thousands of server frames per
 * second; it needs two or three fields of each, so a full parse (jansson) is
 * wasted work there. jansson is still used for setup and results.
 *
 * Strings are returned raw (between the quotes, escapes not decoded); the
 * fields the bench reads (type, ids, client_msg_id) never contain escapes.
 * The scanner never reads past p + n and stops at malformed input. */
#ifndef BENCH_JSCAN_H
#define BENCH_JSCAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct js_val {
    const char *p; /* string: the bytes between the quotes; else the token */
    size_t len;
    int is_str;
} js_val;

/* Finds the top-level member `key` of the object p[0..n). Returns 1 and
 * fills *out when found, 0 when absent, -1 when the input is malformed
 * before the key was found. */
int js_get(const char *p, size_t n, const char *key, js_val *out);
/* 1 if v is a string equal to s. */
int js_eq(const js_val *v, const char *s);
/* Parses an unsigned decimal integer token; -1 if it is not one. */
int64_t js_int(const js_val *v);

#endif
