/* jsonw.c - see jsonw.h. */
#include "jsonw.h"

#include <stdio.h>
#include <string.h>

void pl_jsonw_init(pl_jsonw *w, char *buf, size_t cap)
{
    w->p = buf;
    w->len = 0;
    w->cap = cap;
    w->ok = buf != NULL && cap > 0;
}

void pl_jsonw_raw(pl_jsonw *w, const char *s, size_t n)
{
    if (!w->ok || n > w->cap - w->len) {
        w->ok = false;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

/* The escape for byte c, or NULL if it is written as is. jansson escapes
 * '"', '\\' and the C0 controls, nothing else (no '/', no DEL). */
static const char *escape(unsigned char c, char tmp[8])
{
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default:
        if (c >= 0x20)
            return NULL;
        snprintf(tmp, 8, "\\u%04X", c);
        return tmp;
    }
}

void pl_jsonw_str(pl_jsonw *w, const char *s, size_t n)
{
    char tmp[8];
    size_t run = 0; /* bytes before i that need no escape */

    pl_jsonw_raw(w, "\"", 1);
    for (size_t i = 0; i < n && w->ok; i++) {
        const char *e = escape((unsigned char)s[i], tmp);
        if (!e)
            continue;
        pl_jsonw_raw(w, s + run, i - run);
        pl_jsonw_raw(w, e, strlen(e));
        run = i + 1;
    }
    pl_jsonw_raw(w, s + run, n - run);
    pl_jsonw_raw(w, "\"", 1);
}

void pl_jsonw_int(pl_jsonw *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    pl_jsonw_raw(w, tmp, (size_t)n);
}
