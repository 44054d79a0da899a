/* loop.h - one epoll event loop per thread.
 *
 * A loop owns file descriptors (registered pl_io handles) and runs tasks
 * posted to its inbox by other threads (a bounded pl_queue + an eventfd).
 * Everything a loop owns is touched only by its thread, so there are no
 * locks on the hot path. Nothing running on a loop may block: blocking
 * work goes to a work pool (workpool.h) whose completion is posted back.
 *
 * One iteration: epoll_wait -> I/O callbacks -> inbox tasks -> due ticks
 * -> before-sleep hooks (where connections flush their output: one
 * writev per connection per iteration, however many frames were queued). */
#ifndef PL_LOOP_H
#define PL_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "../core/status.h"

typedef struct pl_loop pl_loop;
typedef struct pl_io pl_io;

typedef void (*pl_io_fn)(pl_loop *l, pl_io *io, uint32_t events);
typedef void (*pl_task_fn)(pl_loop *l, void *arg);
typedef void (*pl_hook_fn)(pl_loop *l, void *ctx);

/* Embedded in whatever owns the fd; the loop keeps a pointer to it while
 * registered. */
struct pl_io {
    int fd;
    uint32_t events; /* currently registered EPOLL* mask */
    pl_io_fn fn;
};

pl_loop *pl_loop_new(int idx, size_t inbox_cap);
/* Frees the loop; tasks still in the inbox are run with l == NULL, so
 * their owners can release what they carry. Call after pl_loop_run
 * returned. Every pl_task_fn must therefore accept l == NULL. */
void pl_loop_free(pl_loop *l);
int pl_loop_idx(const pl_loop *l);

pl_status pl_loop_io_add(pl_loop *l, pl_io *io, uint32_t events);
pl_status pl_loop_io_mod(pl_loop *l, pl_io *io, uint32_t events);
void pl_loop_io_del(pl_loop *l, pl_io *io);

/* Thread-safe. Runs fn(l, arg) on the loop's thread. PL_AGAIN when the
 * inbox is full and !wait (only non-loop threads may wait); PL_DONE when
 * the loop has been stopped for good (the task was NOT queued: the caller
 * still owns arg). */
pl_status pl_loop_post(pl_loop *l, pl_task_fn fn, void *arg, bool wait);

/* Registers fn to run every interval_ms (not thread-safe: call before run
 * or from the loop). At most 8 ticks and 8 hooks per loop. */
pl_status pl_loop_add_tick(pl_loop *l, pl_hook_fn fn, void *ctx,
                           int64_t interval_ms);
pl_status pl_loop_add_before_sleep(pl_loop *l, pl_hook_fn fn, void *ctx);

void pl_loop_run(pl_loop *l);  /* returns after pl_loop_stop */
void pl_loop_stop(pl_loop *l); /* thread-safe */
/* Closes the inbox (later posts get PL_DONE). Thread-safe. */
void pl_loop_close_inbox(pl_loop *l);

/* The role state hung on this loop (the gateway's per-thread state). */
void pl_loop_set_data(pl_loop *l, void *data);
void *pl_loop_data(const pl_loop *l);
int64_t pl_loop_now_ms(const pl_loop *l); /* monotonic, cached per iteration */

#endif
