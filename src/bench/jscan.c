/* jscan.c - top-level JSON member lookup (see jscan.h). */
#include "bench/jscan.h"

#include <string.h>

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p points at the opening quote; returns the byte after the closing quote
 * or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Skips one value (scalar, string, or nested object/array, counting
 * brackets outside strings). Returns the byte after it or NULL. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            p = skip_string(p, end);
            if (!p)
                return NULL;
            if (depth == 0)
                return p;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return p; /* end of the enclosing object: empty value */
            if (--depth == 0)
                return p + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\n' ||
                                  c == '\r' || c == '\t')) {
            return p;
        }
        p++;
    }
    return depth == 0 ? p : NULL;
}

static void fill(js_val *out, const char *vs, const char *ve)
{
    out->is_str = *vs == '"';
    out->p = out->is_str ? vs + 1 : vs;
    out->len = (size_t)(ve - vs) - (out->is_str ? 2u : 0u);
}

int js_get(const char *p, size_t n, const char *key, js_val *out)
{
    const char *end = p + n;
    size_t klen = strlen(key);
    p = skip_ws(p, end);
    if (p >= end || *p++ != '{')
        return -1;
    for (;;) {
        p = skip_ws(p, end);
        if (p < end && *p == '}')
            return 0;
        if (p >= end || *p != '"')
            return -1;
        const char *ks = p + 1, *ke = skip_string(p, end);
        if (!ke)
            return -1;
        p = skip_ws(ke, end);
        if (p >= end || *p++ != ':')
            return -1;
        const char *vs = skip_ws(p, end);
        const char *ve = skip_value(vs, end);
        if (!ve || ve == vs)
            return -1;
        if ((size_t)(ke - 1 - ks) == klen && memcmp(ks, key, klen) == 0) {
            if (*vs == '"' && ve - vs < 2)
                return -1;
            fill(out, vs, ve);
            return 1;
        }
        p = skip_ws(ve, end);
        if (p < end && *p == ',')
            p++;
        else if (p >= end || *p != '}')
            return -1;
    }
}

int js_eq(const js_val *v, const char *s)
{
    size_t n = strlen(s);
    return v->is_str && v->len == n && memcmp(v->p, s, n) == 0;
}

int64_t js_int(const js_val *v)
{
    if (v->is_str || v->len == 0 || v->len > 18)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->p[i] < '0' || v->p[i] > '9')
            return -1;
        x = x * 10 + (v->p[i] - '0');
    }
    return x;
}
