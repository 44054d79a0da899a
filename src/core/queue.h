/* queue.h - a bounded multi-producer queue of two-word items.
 *
 * Used for every hand-off between threads: loop inboxes, the messaging
 * pipeline's input, work-pool jobs. It is bounded by construction: a push
 * to a full queue either fails with PL_AGAIN (callers on an event loop,
 * which must never block) or waits (worker threads, which may block and
 * so propagate back-pressure upstream). */
#ifndef PL_QUEUE_H
#define PL_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "status.h"

typedef struct pl_qitem {
    void *a;
    void *b;
} pl_qitem;

typedef struct pl_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    pl_qitem *items;
    size_t cap, head, len;
    size_t high_water; /* max len seen, for metrics */
    bool closed;
} pl_queue;

pl_status pl_queue_init(pl_queue *q, size_t cap);
void pl_queue_destroy(pl_queue *q); /* items left are the caller's */
/* PL_OK; PL_AGAIN if full and !wait; PL_DONE if the queue is closed. */
pl_status pl_queue_push(pl_queue *q, pl_qitem it, bool wait);
/* Pops up to max items into out. With wait, blocks until at least one item
 * is there or the queue is closed. Returns the count (0: empty/closed). */
size_t pl_queue_pop_many(pl_queue *q, pl_qitem *out, size_t max, bool wait);
/* Wakes every waiter; later pushes get PL_DONE, pops drain what is left. */
void pl_queue_close(pl_queue *q);
size_t pl_queue_len(pl_queue *q);

#endif
