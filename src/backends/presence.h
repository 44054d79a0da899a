/* presence.h - the `presence` backend family: who is online, last seen.
 *
 * A user is online while at least one of their connections (on any
 * gateway) is open. connect/disconnect are called from event loops and
 * must not block: a remote backend (Redis) queues them to its own thread.
 * get/get_many may block: call them from a worker thread.
 *
 * Transitions (a user went offline->online or online->offline, cluster-
 * wide) are reported to the listener set with pl_presence_listen(), so the
 * presence role publishes one event per transition, not one per
 * connection. The memory backend reports them synchronously from inside
 * connect/disconnect (on the calling loop); the Redis backend from its own
 * thread once Redis has decided, and also for transitions no local call
 * caused (another gateway died and its users were reaped, Redis lost its
 * data and the state was rebuilt). A listener must not block and must not
 * call back into the backend. The same transition may be reported twice
 * (e.g. online again after a rebuild): listeners treat a report as the
 * current state, not as a delta. */
#ifndef PL_PRESENCE_H
#define PL_PRESENCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "../core/uuid.h"

struct pl_config;
typedef struct pl_presence pl_presence;

/* last_seen_ms: for offline, when the user was last connected (0 if
 * unknown); for online, 0. */
typedef void (*pl_presence_listener)(void *ctx, const pl_uuid *user,
                                     bool online, int64_t last_seen_ms);

pl_status pl_presence_open(const struct pl_config *cfg, pl_presence **out);
void pl_presence_close(pl_presence *p);
const char *pl_presence_name(const pl_presence *p);
/* Sets (fn non-NULL) or removes the listener. After it returns with NULL,
 * no call of the previous listener is running or will start. */
void pl_presence_listen(pl_presence *p, pl_presence_listener fn, void *ctx);
pl_status pl_presence_connect(pl_presence *p, const pl_uuid *user);
pl_status pl_presence_disconnect(pl_presence *p, const pl_uuid *user,
                                 int64_t now_ms);
/* *last_seen_ms = 0 if never seen (memory: since the process started). */
pl_status pl_presence_get(pl_presence *p, const pl_uuid *user, bool *online,
                          int64_t *last_seen_ms);
/* The same for n users at once (one round trip for remote backends). */
pl_status pl_presence_get_many(pl_presence *p, const pl_uuid *users, size_t n,
                               bool *online, int64_t *last_seen_ms);
/* Waits (at most timeout_ms) until the connects/disconnects queued so far
 * have reached the backend and their transitions were reported. Called at
 * shutdown, before the listener goes away. */
void pl_presence_flush(pl_presence *p, int64_t timeout_ms);
/* A mark covering every connect/disconnect queued so far, and whether
 * they have all reached the backend (so other gateways see them). The
 * memory backend is always there. Thread-safe, never block. */
uint64_t pl_presence_mark(pl_presence *p);
bool pl_presence_reached(pl_presence *p, uint64_t mark);

typedef struct pl_presence_ops {
    const char *name;
    pl_status (*open)(const struct pl_config *cfg, pl_presence **out);
    void (*close)(pl_presence *p);
    pl_status (*connect)(pl_presence *p, const pl_uuid *user);
    pl_status (*disconnect)(pl_presence *p, const pl_uuid *user,
                            int64_t now_ms);
    pl_status (*get)(pl_presence *p, const pl_uuid *user, bool *online,
                     int64_t *last_seen_ms);
    /* optional (NULL: get per user) */
    pl_status (*get_many)(pl_presence *p, const pl_uuid *users, size_t n,
                          bool *online, int64_t *last_seen_ms);
    /* optional (NULL: nothing is queued) */
    void (*flush)(pl_presence *p, int64_t timeout_ms);
    /* optional (NULL: changes take effect at once) */
    uint64_t (*mark)(pl_presence *p);
    bool (*reached)(pl_presence *p, uint64_t mark);
} pl_presence_ops;

/* The part every backend embeds first. Backends call pl_presence_base_init
 * in open, pl_presence_base_fini in close, and pl_presence_emit to report
 * a transition (it calls the listener under a read lock, so a listener is
 * never removed while it runs). */
struct pl_presence {
    const pl_presence_ops *ops;
    pthread_rwlock_t lk;
    pl_presence_listener fn;
    void *ctx;
};

void pl_presence_base_init(pl_presence *p, const pl_presence_ops *ops);
void pl_presence_base_fini(pl_presence *p);
void pl_presence_emit(pl_presence *p, const pl_uuid *user, bool online,
                      int64_t last_seen_ms);

extern const pl_presence_ops pl_presence_memory_ops;
extern const pl_presence_ops pl_presence_redis_ops;

#endif
