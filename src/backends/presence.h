/* presence.h - the `presence` backend family: who is online, last seen.
 *
 * A user is online while at least one of their connections (on any
 * gateway) is open. connect/disconnect are called from event loops and
 * must not block: a remote backend (Redis) queues them to its own thread.
 * get may block: call it from a worker thread.
 *
 * connect/disconnect report transitions (*changed = true when the user
 * went offline->online or online->offline) so the presence role publishes
 * one event per transition, not one per connection. */
#ifndef PL_PRESENCE_H
#define PL_PRESENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/status.h"
#include "../core/uuid.h"

struct pl_config;
typedef struct pl_presence pl_presence;

pl_status pl_presence_open(const struct pl_config *cfg, pl_presence **out);
void pl_presence_close(pl_presence *p);
const char *pl_presence_name(const pl_presence *p);
pl_status pl_presence_connect(pl_presence *p, const pl_uuid *user,
                              bool *changed);
pl_status pl_presence_disconnect(pl_presence *p, const pl_uuid *user,
                                 int64_t now_ms, bool *changed);
/* *last_seen_ms = 0 if never seen since the presence store started. */
pl_status pl_presence_get(pl_presence *p, const pl_uuid *user, bool *online,
                          int64_t *last_seen_ms);

typedef struct pl_presence_ops {
    const char *name;
    pl_status (*open)(const struct pl_config *cfg, pl_presence **out);
    void (*close)(pl_presence *p);
    pl_status (*connect)(pl_presence *p, const pl_uuid *user, bool *changed);
    pl_status (*disconnect)(pl_presence *p, const pl_uuid *user,
                            int64_t now_ms, bool *changed);
    pl_status (*get)(pl_presence *p, const pl_uuid *user, bool *online,
                     int64_t *last_seen_ms);
} pl_presence_ops;

struct pl_presence {
    const pl_presence_ops *ops;
};

extern const pl_presence_ops pl_presence_memory_ops;

#endif
