/* presence_role.h - the presence role: turns connection opens and closes
 * into online/offline transitions in the presence backend and publishes
 * one `presence` event per transition (never one per connection, so a
 * user with five devices does not flap). Safe to call from event loops. */
#ifndef PL_PRESENCE_ROLE_H
#define PL_PRESENCE_ROLE_H

#include "node.h"

/* Starts the role: it listens to the backend's transitions and a small
 * thread publishes delayed offline events.
 * A user whose last connection closes is announced offline only after
 * presence-grace-ms without a new connection: a flapping client (reconnect
 * within the grace) produces no events at all. */
pl_status pl_presence_role_start(pl_node *node);
void pl_presence_role_stop(pl_node *node);
void pl_presence_role_online(pl_node *node, const pl_uuid *user);
void pl_presence_role_offline(pl_node *node, const pl_uuid *user);
/* The presence subscribers see: online also during the grace after the
 * last session closed (their offline announcement has not gone out).
 * May block (presence backend): worker threads only. */
void pl_presence_role_get(pl_node *node, const pl_uuid *user, bool *online,
                          int64_t *last_seen_ms);
/* The same for n users (one round trip to a remote backend). */
void pl_presence_role_get_many(pl_node *node, const pl_uuid *users, size_t n,
                               bool *online, int64_t *last_seen_ms);
/* Builds the `presence` frame JSON object for a user (new reference). */
struct json_t;
struct json_t *pl_presence_json(const pl_uuid *user, bool online,
                                int64_t last_seen_ms);

#endif
