/* bus.c - registry and wrappers of the bus family (see bus.h). */
#include "bus_int.h"

#include <string.h>

#include "../core/config.h"

static const pl_bus_ops *const backends[] = {&pl_bus_inproc_ops};

pl_status pl_bus_open(const struct pl_config *cfg, pl_bus **out)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i]->name, cfg->bus) == 0)
            return backends[i]->open(cfg, out);
    return PL_ERR_NOTFOUND;
}

void pl_bus_close(pl_bus *b)
{
    if (b)
        b->ops->close(b);
}

const char *pl_bus_name(const pl_bus *b) { return b->ops->name; }

pl_status pl_bus_subscribe(pl_bus *b, const char *topic, pl_bus_handler h,
                           void *ctx)
{
    return b->ops->subscribe(b, topic, h, ctx);
}

pl_status pl_bus_publish(pl_bus *b, const pl_bus_msg *m)
{
    return b->ops->publish(b, m);
}
