/* buf.c - refcounted and bounded growable buffers (see buf.h). */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/ws.h"

pl_rbuf *pl_rbuf_new(size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    pl_rbuf *b = malloc(sizeof(*b) + len);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = (uint32_t)len;
    b->coalesce = 0;
    return b;
}

pl_rbuf *pl_rbuf_copy(const void *p, size_t len)
{
    pl_rbuf *b = pl_rbuf_new(len);
    if (b && len)
        memcpy(b->data, p, len);
    return b;
}

void pl_rbuf_unref(pl_rbuf *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

pl_rbuf *pl_rbuf_ws_text(const char *payload, size_t len)
{
    uint8_t hdr[14];
    size_t hlen = pl_ws_write_header(hdr, 1, PL_WS_TEXT, len);
    pl_rbuf *b = pl_rbuf_new(hlen + len);
    if (!b)
        return NULL;
    memcpy(b->data, hdr, hlen);
    memcpy(b->data + hlen, payload, len);
    return b;
}

void pl_dbuf_init(pl_dbuf *d, size_t max)
{
    d->p = NULL;
    d->len = d->cap = 0;
    d->max = max;
}

void pl_dbuf_free(pl_dbuf *d)
{
    free(d->p);
    d->p = NULL;
    d->len = d->cap = 0;
}

char *pl_dbuf_reserve(pl_dbuf *d, size_t n)
{
    if (n > d->max - d->len)
        return NULL;
    if (d->len + n + 1 > d->cap) {
        size_t cap = d->cap ? d->cap : 256;
        while (cap < d->len + n + 1)
            cap *= 2;
        if (cap > d->max + 1)
            cap = d->max + 1;
        char *p = realloc(d->p, cap);
        if (!p)
            return NULL;
        d->p = p;
        d->cap = cap;
    }
    return d->p + d->len;
}

pl_status pl_dbuf_append(pl_dbuf *d, const void *p, size_t n)
{
    if (n > d->max - d->len)
        return PL_ERR_TOOLARGE;
    char *w = pl_dbuf_reserve(d, n);
    if (!w)
        return PL_ERR_NOMEM;
    memcpy(w, p, n);
    d->len += n;
    d->p[d->len] = '\0';
    return PL_OK;
}

pl_status pl_dbuf_printf(pl_dbuf *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PL_ERR;
    if ((size_t)n > d->max - d->len)
        return PL_ERR_TOOLARGE;
    char *w = pl_dbuf_reserve(d, (size_t)n);
    if (!w)
        return PL_ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf(w, (size_t)n + 1, fmt, ap);
    va_end(ap);
    d->len += (size_t)n;
    return PL_OK;
}

void pl_dbuf_consume(pl_dbuf *d, size_t n)
{
    if (n >= d->len) {
        d->len = 0;
    } else {
        memmove(d->p, d->p + n, d->len - n);
        d->len -= n;
    }
    if (d->p)
        d->p[d->len] = '\0';
}
