/* jsonw.h - a small JSON writer for the hot path: appends to a buffer the
 * caller owns, with the same bytes jansson's json_dumps(JSON_COMPACT)
 * writes (the unit test holds it to that), but without building a tree
 * of allocated nodes first.
 *
 * Used where one shape is written many times a second (the `message`
 * frame of every stored message); everything else keeps using jansson.
 *
 * Input strings must be valid UTF-8 (validated where they entered).
 * Overflow is sticky: once a write does not fit, w->ok is false and the
 * buffer's content is unspecified; size the buffer with jsonw_str_max. */
#ifndef PL_JSONW_H
#define PL_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pl_jsonw {
    char *p;
    size_t len, cap;
    bool ok;
} pl_jsonw;

void pl_jsonw_init(pl_jsonw *w, char *buf, size_t cap);
/* Raw bytes (punctuation, keys the caller knows need no escaping). */
void pl_jsonw_raw(pl_jsonw *w, const char *s, size_t n);
/* A string literal, its length taken by the compiler. */
#define PL_JSONW_LIT(w, lit) pl_jsonw_raw((w), (lit), sizeof(lit) - 1)
/* A quoted, escaped JSON string. */
void pl_jsonw_str(pl_jsonw *w, const char *s, size_t n);
void pl_jsonw_int(pl_jsonw *w, int64_t v);
/* The most bytes pl_jsonw_str can write for n input bytes. */
static inline size_t pl_jsonw_str_max(size_t n) { return 2 + 6 * n; }

#endif
