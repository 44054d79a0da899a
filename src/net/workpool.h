/* workpool.h - threads that run blocking work off the event loops.
 *
 * The libuv uv_queue_work pattern: a loop submits (work, done, arg);
 * work(w, arg) runs on a pool thread, where blocking is allowed (it gets
 * the thread's own store connection); then done(l, arg) runs back on the
 * submitting loop. The job queue is bounded: submit fails with
 * PL_ERR_BUSY when it is full, and the caller answers "overloaded".
 *
 * Ownership: arg belongs to the job until done() runs; done() must free
 * it (or hand it on). If the loop is gone when work finishes (shutdown),
 * done() is still called on the worker thread with l == NULL. */
#ifndef PL_WORKPOOL_H
#define PL_WORKPOOL_H

#include <stddef.h>

#include "../backends/store.h"
#include "loop.h"

typedef struct pl_workpool pl_workpool;

typedef struct pl_worker {
    int idx;
    pl_store_conn *store; /* this thread's connection */
    pl_workpool *pool;
} pl_worker;

typedef void (*pl_work_fn)(pl_worker *w, void *arg);

/* Starts nthreads threads, each with its own connection to store.
 * name appears in logs. */
pl_status pl_workpool_start(const char *name, int nthreads, size_t queue_cap,
                            pl_store *store, pl_workpool **out);
/* Runs work on a pool thread, then done on loop l. PL_ERR_BUSY if the
 * queue is full (nothing queued; arg still the caller's). */
pl_status pl_workpool_submit(pl_workpool *p, pl_loop *l, pl_work_fn work,
                             pl_task_fn done, void *arg);
/* Finishes queued jobs, joins the threads, frees the pool. */
void pl_workpool_stop(pl_workpool *p);
size_t pl_workpool_pending(pl_workpool *p);

#endif
