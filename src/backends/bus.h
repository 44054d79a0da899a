/* bus.h - the `bus` backend family: how roles hand events to each other.
 *
 * Topics (PL_TOPIC_*) carry byte payloads keyed by a conversation id; the
 * key decides ordering (one key = one ordered stream, like a Kafka
 * partition key). In single-node mode the "inproc" backend calls each
 * subscriber synchronously on the publisher's thread, in publish order; in
 * cluster mode a Kafka backend will carry the same payloads between
 * processes. Roles never know which.
 *
 * Payload ownership: pl_bus_publish borrows payload; a handler that keeps
 * it takes its own reference (pl_rbuf_ref). Handlers must be thread-safe
 * and must not block for long (they hand work to a loop's inbox).
 *
 * Durable topics (messages) may block in publish: publish them only from
 * worker threads. Ephemeral topics (events) never block: publishable from
 * an event loop; a backend may drop them under pressure. */
#ifndef PL_BUS_H
#define PL_BUS_H

#include "../core/buf.h"
#include "../core/status.h"
#include "../core/uuid.h"

struct pl_config;

/* A stored message as the JSON `message` frame text. Key: conversation. */
#define PL_TOPIC_MESSAGES "messages"
/* Typing, read receipts, presence: JSON frames, key: conversation (or the
 * user for presence). Droppable. */
#define PL_TOPIC_EVENTS "events"
/* Presence transitions: the JSON `presence` frame, key: the user. Gateways
 * deliver it to the connections that subscribed to that user. Droppable. */
#define PL_TOPIC_PRESENCE "presence"
/* Membership changes: JSON {"conversation_id","user_ids":[..],"op":
 * "add"|"remove"}. Gateways keep their online index with it. */
#define PL_TOPIC_MEMBERSHIP "membership"

/* Cluster mode only: client requests (sends, reads) on their way to the
 * messaging instance that owns the conversation; payload: a PL_CW_REQ
 * record (roles/cluster_wire.h). Key: conversation. */
#define PL_TOPIC_SENDS "sends"

typedef struct pl_bus pl_bus;

/* Event metadata passed along with the payload. */
typedef struct pl_bus_msg {
    const char *topic;
    pl_uuid key;
    pl_uuid exclude_user; /* nil: none; else do not deliver to this user */
    pl_uuid only_user;    /* nil: every member; else only this user */
    uint64_t coalesce;    /* 0, or a key: latest wins in output queues */
    pl_rbuf *payload;     /* borrowed */
} pl_bus_msg;

typedef void (*pl_bus_handler)(void *ctx, const pl_bus_msg *m);

pl_status pl_bus_open(const struct pl_config *cfg, pl_bus **out);
void pl_bus_close(pl_bus *b);
const char *pl_bus_name(const pl_bus *b);
/* Subscribe before the node starts serving. */
pl_status pl_bus_subscribe(pl_bus *b, const char *topic, pl_bus_handler h,
                           void *ctx);
pl_status pl_bus_publish(pl_bus *b, const pl_bus_msg *m);

#endif
