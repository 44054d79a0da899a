/* presence.c - registry and wrappers of the presence family. */
#include "presence.h"

#include <string.h>

#include "../core/config.h"

static const pl_presence_ops *const backends[] = {&pl_presence_memory_ops};

pl_status pl_presence_open(const struct pl_config *cfg, pl_presence **out)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i]->name, cfg->presence) == 0)
            return backends[i]->open(cfg, out);
    return PL_ERR_NOTFOUND;
}

void pl_presence_close(pl_presence *p)
{
    if (p)
        p->ops->close(p);
}

const char *pl_presence_name(const pl_presence *p) { return p->ops->name; }

pl_status pl_presence_connect(pl_presence *p, const pl_uuid *user,
                              bool *changed)
{
    return p->ops->connect(p, user, changed);
}

pl_status pl_presence_disconnect(pl_presence *p, const pl_uuid *user,
                                 int64_t now_ms, bool *changed)
{
    return p->ops->disconnect(p, user, now_ms, changed);
}

pl_status pl_presence_get(pl_presence *p, const pl_uuid *user, bool *online,
                          int64_t *last_seen_ms)
{
    return p->ops->get(p, user, online, last_seen_ms);
}
