/* bus.c - registry and wrappers of the bus family (see bus.h). */
#include "bus_int.h"

#include <string.h>

#include "../core/config.h"

static const pl_bus_ops *const backends[] = {
    &pl_bus_inproc_ops,
#ifdef PL_HAVE_KAFKA
    &pl_bus_kafka_ops,
#endif
};

pl_status pl_bus_open(const struct pl_config *cfg, pl_bus **out)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i]->name, cfg->bus) == 0)
            return backends[i]->open(cfg, out);
    return PL_ERR_NOTFOUND;
}

void pl_bus_close(pl_bus *b)
{
    if (!b)
        return;
    pl_bus_stop(b, 5000);
    b->ops->close(b);
}

const char *pl_bus_name(const pl_bus *b)
{
    return b->ops->name;
}

bool pl_bus_is_remote(const pl_bus *b)
{
    return b->ops->remote;
}

pl_status pl_bus_subscribe(pl_bus *b, const char *topic, const char *group,
                           pl_bus_handler h, void *ctx)
{
    return b->ops->subscribe(b, topic, group, h, ctx);
}

pl_status pl_bus_start(pl_bus *b)
{
    return b->ops->start ? b->ops->start(b) : PL_OK;
}

void pl_bus_stop(pl_bus *b, int timeout_ms)
{
    if (b && b->ops->stop)
        b->ops->stop(b, timeout_ms);
}

pl_status pl_bus_publish(pl_bus *b, const pl_bus_msg *m)
{
    return b->ops->publish(b, m);
}

pl_status pl_bus_flush(pl_bus *b, int timeout_ms)
{
    return b->ops->flush ? b->ops->flush(b, timeout_ms) : PL_OK;
}

pl_status pl_bus_stream_open(pl_bus *b, const char *topic, const char *group,
                             pl_bus_stream **out)
{
    if (!b->ops->stream_open)
        return PL_ERR_INVALID;
    return b->ops->stream_open(b, topic, group, out);
}

size_t pl_bus_stream_poll(pl_bus_stream *s, pl_bus_msg *out, size_t max,
                          int timeout_ms, uint64_t *epoch)
{
    return s->ops->stream_poll(s, out, max, timeout_ms, epoch);
}

pl_status pl_bus_stream_commit(pl_bus_stream *s)
{
    return s->ops->stream_commit(s);
}

void pl_bus_stream_close(pl_bus_stream *s)
{
    if (s)
        s->ops->stream_close(s);
}
