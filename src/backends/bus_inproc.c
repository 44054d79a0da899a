/* bus_inproc.c - the in-process bus: subscribers are called directly on
 * the publisher's thread, in publish order. Ordering per key therefore
 * follows from the publisher's order (the messaging pipeline publishes a
 * conversation's messages in seq order from one thread). */
#include <stdlib.h>
#include <string.h>

#include "bus_int.h"

#define MAX_SUBS 16

typedef struct sub {
    char topic[32];
    pl_bus_handler h;
    void *ctx;
} sub;

typedef struct inproc_bus {
    pl_bus base;
    sub subs[MAX_SUBS];
    int nsubs; /* fixed before serving starts: read without locks */
} inproc_bus;

static pl_status inproc_open(const struct pl_config *cfg, pl_bus **out)
{
    inproc_bus *b = calloc(1, sizeof(*b));
    if (!b)
        return PL_ERR_NOMEM;
    b->base.ops = &pl_bus_inproc_ops;
    *out = &b->base;
    return PL_OK;
}

static void inproc_close(pl_bus *b) { free(b); }

static pl_status inproc_subscribe(pl_bus *b_, const char *topic,
                                  const char *group, pl_bus_handler h,
                                  void *ctx)
{
    (void)group; /* one process: every subscriber gets every event */
    inproc_bus *b = (inproc_bus *)b_;
    if (b->nsubs == MAX_SUBS || strlen(topic) >= sizeof(b->subs[0].topic))
        return PL_ERR_TOOLARGE;
    sub *s = &b->subs[b->nsubs++];
    memcpy(s->topic, topic, strlen(topic) + 1);
    s->h = h;
    s->ctx = ctx;
    return PL_OK;
}

static pl_status inproc_publish(pl_bus *b_, const pl_bus_msg *m)
{
    inproc_bus *b = (inproc_bus *)b_;
    for (int i = 0; i < b->nsubs; i++)
        if (strcmp(b->subs[i].topic, m->topic) == 0)
            b->subs[i].h(b->subs[i].ctx, m);
    return PL_OK;
}

const pl_bus_ops pl_bus_inproc_ops = {
    .name = "inproc",
    .open = inproc_open,
    .close = inproc_close,
    .subscribe = inproc_subscribe,
    .publish = inproc_publish,
};
