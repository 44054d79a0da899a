/* queue.c - bounded ring buffer under one mutex (see queue.h). The
 * critical sections are a few instructions; consumers pop in batches so
 * the lock is taken once per batch, not once per item. */
#include "queue.h"

#include <stdlib.h>

pl_status pl_queue_init(pl_queue *q, size_t cap)
{
    q->items = calloc(cap, sizeof(*q->items));
    if (!q->items)
        return PL_ERR_NOMEM;
    q->cap = cap;
    q->head = q->len = q->high_water = 0;
    q->closed = false;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return PL_OK;
}

void pl_queue_destroy(pl_queue *q)
{
    free(q->items);
    q->items = NULL;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
}

pl_status pl_queue_push(pl_queue *q, pl_qitem it, bool wait)
{
    pl_status st = PL_OK;
    pthread_mutex_lock(&q->mu);
    while (!q->closed && q->len == q->cap) {
        if (!wait) {
            st = PL_AGAIN;
            goto out;
        }
        pthread_cond_wait(&q->not_full, &q->mu);
    }
    if (q->closed) {
        st = PL_DONE;
        goto out;
    }
    q->items[(q->head + q->len) % q->cap] = it;
    q->len++;
    if (q->len > q->high_water)
        q->high_water = q->len;
    /* every push wakes a waiter: with several consumers, signalling only
     * on empty->non-empty would leave all but one asleep */
    pthread_cond_signal(&q->not_empty);
out:
    pthread_mutex_unlock(&q->mu);
    return st;
}

size_t pl_queue_pop_many(pl_queue *q, pl_qitem *out, size_t max, bool wait)
{
    size_t n = 0;
    pthread_mutex_lock(&q->mu);
    while (wait && q->len == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->mu);
    bool was_full = q->len == q->cap;
    while (n < max && q->len > 0) {
        out[n++] = q->items[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    if (was_full && n > 0)
        pthread_cond_broadcast(&q->not_full);
    if (q->len > 0)
        pthread_cond_signal(&q->not_empty); /* let another consumer in */
    pthread_mutex_unlock(&q->mu);
    return n;
}

void pl_queue_close(pl_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

size_t pl_queue_len(pl_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}
