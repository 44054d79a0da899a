/* loop.c - epoll loop with an eventfd-woken inbox (see loop.h). */
#include "loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/queue.h"
#include "../core/timeutil.h"

#define MAX_HOOKS 8
#define MAX_EVENTS 256
#define INBOX_BATCH 256

typedef struct tick {
    pl_hook_fn fn;
    void *ctx;
    int64_t interval_ms, next_ms;
} tick;

typedef struct hook {
    pl_hook_fn fn;
    void *ctx;
} hook;

struct pl_loop {
    int idx;
    int epfd;
    pl_io wake; /* eventfd */
    pl_queue inbox;
    atomic_bool wake_pending; /* an eventfd write is in flight */
    atomic_bool stopping;
    tick ticks[MAX_HOOKS];
    int nticks;
    hook hooks[MAX_HOOKS];
    int nhooks;
    void *data;
    int64_t now_ms;
};

typedef union task_fn {
    pl_task_fn fn;
    void *p;
} task_fn;

static void drain_inbox(pl_loop *l);

static void on_wake(pl_loop *l, pl_io *io, uint32_t events)
{
    uint64_t v;
    ssize_t r = read(io->fd, &v, sizeof(v));
    (void)r;
    atomic_store(&l->wake_pending, false);
    drain_inbox(l);
}

pl_loop *pl_loop_new(int idx, size_t inbox_cap)
{
    pl_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->idx = idx;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->wake.fn = on_wake;
    if (l->epfd < 0 || l->wake.fd < 0 ||
        pl_queue_init(&l->inbox, inbox_cap) != PL_OK)
        goto fail;
    if (pl_loop_io_add(l, &l->wake, EPOLLIN) != PL_OK)
        goto fail;
    l->now_ms = pl_mono_ms();
    return l;
fail:
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wake.fd >= 0)
        close(l->wake.fd);
    free(l);
    return NULL;
}

void pl_loop_free(pl_loop *l)
{
    if (!l)
        return;
    pl_queue_close(&l->inbox);
    pl_qitem it;
    while (pl_queue_pop_many(&l->inbox, &it, 1, false) == 1) {
        task_fn t = {.p = it.a};
        t.fn(NULL, it.b); /* the owner frees what the task carries */
    }
    pl_queue_destroy(&l->inbox);
    close(l->wake.fd);
    close(l->epfd);
    free(l);
}

int pl_loop_idx(const pl_loop *l) { return l->idx; }
void pl_loop_set_data(pl_loop *l, void *data) { l->data = data; }
void *pl_loop_data(const pl_loop *l) { return l->data; }
int64_t pl_loop_now_ms(const pl_loop *l) { return l->now_ms; }

static pl_status io_ctl(pl_loop *l, int op, pl_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(l->epfd, op, io->fd, &ev) < 0)
        return PL_ERR_IO;
    io->events = events;
    return PL_OK;
}

pl_status pl_loop_io_add(pl_loop *l, pl_io *io, uint32_t events)
{
    return io_ctl(l, EPOLL_CTL_ADD, io, events);
}

pl_status pl_loop_io_mod(pl_loop *l, pl_io *io, uint32_t events)
{
    if (io->events == events)
        return PL_OK;
    return io_ctl(l, EPOLL_CTL_MOD, io, events);
}

void pl_loop_io_del(pl_loop *l, pl_io *io)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->events = 0;
}

pl_status pl_loop_post(pl_loop *l, pl_task_fn fn, void *arg, bool wait)
{
    task_fn t = {.fn = fn};
    pl_status st = pl_queue_push(&l->inbox, (pl_qitem){t.p, arg}, wait);
    if (st != PL_OK)
        return st;
    /* Coalesce wake-ups: one eventfd write per drain, not per task. */
    if (!atomic_exchange(&l->wake_pending, true)) {
        uint64_t one = 1;
        ssize_t w = write(l->wake.fd, &one, sizeof(one));
        (void)w;
    }
    return PL_OK;
}

static void drain_inbox(pl_loop *l)
{
    pl_qitem items[INBOX_BATCH];
    size_t n;
    /* bounded work per iteration so I/O is not starved */
    for (int rounds = 0; rounds < 16; rounds++) {
        n = pl_queue_pop_many(&l->inbox, items, INBOX_BATCH, false);
        for (size_t i = 0; i < n; i++) {
            task_fn t = {.p = items[i].a};
            t.fn(l, items[i].b);
        }
        if (n < INBOX_BATCH)
            return;
    }
    /* more left: make sure we come back without sleeping */
    if (!atomic_exchange(&l->wake_pending, true)) {
        uint64_t one = 1;
        ssize_t w = write(l->wake.fd, &one, sizeof(one));
        (void)w;
    }
}

pl_status pl_loop_add_tick(pl_loop *l, pl_hook_fn fn, void *ctx,
                           int64_t interval_ms)
{
    if (l->nticks == MAX_HOOKS)
        return PL_ERR_TOOLARGE;
    l->ticks[l->nticks++] = (tick){fn, ctx, interval_ms,
                                   pl_mono_ms() + interval_ms};
    return PL_OK;
}

pl_status pl_loop_add_before_sleep(pl_loop *l, pl_hook_fn fn, void *ctx)
{
    if (l->nhooks == MAX_HOOKS)
        return PL_ERR_TOOLARGE;
    l->hooks[l->nhooks++] = (hook){fn, ctx};
    return PL_OK;
}

static int run_ticks(pl_loop *l)
{
    int timeout = 1000;
    for (int i = 0; i < l->nticks; i++) {
        tick *t = &l->ticks[i];
        if (l->now_ms >= t->next_ms) {
            t->fn(l, t->ctx);
            t->next_ms = l->now_ms + t->interval_ms;
        }
        int64_t wait = t->next_ms - l->now_ms;
        if (wait < timeout)
            timeout = (int)(wait < 0 ? 0 : wait);
    }
    return timeout;
}

void pl_loop_run(pl_loop *l)
{
    struct epoll_event evs[MAX_EVENTS];
    int timeout = 0;
    while (!atomic_load(&l->stopping)) {
        int n = epoll_wait(l->epfd, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            pl_log(PL_LOG_ERROR, "epoll_wait_failed", "errno", PL_LI,
                   (int64_t)errno, NULL);
            break;
        }
        l->now_ms = pl_mono_ms();
        for (int i = 0; i < n; i++) {
            pl_io *io = evs[i].data.ptr;
            io->fn(l, io, evs[i].events);
        }
        timeout = run_ticks(l);
        for (int i = 0; i < l->nhooks; i++)
            l->hooks[i].fn(l, l->hooks[i].ctx);
    }
}

void pl_loop_stop(pl_loop *l)
{
    atomic_store(&l->stopping, true);
    uint64_t one = 1;
    ssize_t w = write(l->wake.fd, &one, sizeof(one));
    (void)w;
}

void pl_loop_close_inbox(pl_loop *l) { pl_queue_close(&l->inbox); }
