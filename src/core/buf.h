/* buf.h - byte buffers.
 *
 * pl_rbuf: an immutable, reference-counted byte buffer. A frame fanned out
 * to 10,000 sockets is ONE pl_rbuf whose count is raised once per socket
 * queue; the last unref frees it. Thread-safe refcount.
 *
 * pl_dbuf: a growable buffer with a hard cap (bounded by construction). */
#ifndef PL_BUF_H
#define PL_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct pl_rbuf {
    atomic_uint refs;
    uint32_t len;
    uint64_t coalesce; /* 0, or a key: a queued frame with the same key is
                          superseded by this one (latest wins) */
    uint8_t data[];
} pl_rbuf;

/* New buffer of len bytes (uninitialised), refcount 1. NULL on OOM. */
pl_rbuf *pl_rbuf_new(size_t len);
/* New buffer holding a copy of p[0..len). */
pl_rbuf *pl_rbuf_copy(const void *p, size_t len);
static inline pl_rbuf *pl_rbuf_ref(pl_rbuf *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}
/* Adds n references at once (fan-out to n queues). */
static inline void pl_rbuf_ref_n(pl_rbuf *b, unsigned n)
{
    atomic_fetch_add_explicit(&b->refs, n, memory_order_relaxed);
}
void pl_rbuf_unref(pl_rbuf *b); /* NULL-safe */

/* Builds a server WebSocket text frame (header + payload) in one rbuf. */
pl_rbuf *pl_rbuf_ws_text(const char *payload, size_t len);

typedef struct pl_dbuf {
    char *p;
    size_t len, cap, max; /* max: hard limit on len */
} pl_dbuf;

void pl_dbuf_init(pl_dbuf *d, size_t max);
void pl_dbuf_free(pl_dbuf *d);
/* PL_ERR_TOOLARGE if len would exceed max, PL_ERR_NOMEM on OOM. */
pl_status pl_dbuf_append(pl_dbuf *d, const void *p, size_t n);
pl_status pl_dbuf_printf(pl_dbuf *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Makes room for n more bytes; returns the write pointer or NULL. */
char *pl_dbuf_reserve(pl_dbuf *d, size_t n);
/* Drops the first n bytes. */
void pl_dbuf_consume(pl_dbuf *d, size_t n);

#endif
