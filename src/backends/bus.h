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

#include <stdbool.h>

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
    int64_t seq;          /* messages: the message's seq; else 0 */
    pl_rbuf *payload;     /* borrowed; NULL: end of a batch (see below) */
} pl_bus_msg;

/* Handlers of a remote bus (Kafka) are called on the bus's consumer
 * thread, one call per event, then once per batch with m->payload NULL:
 * the handler flushes what it buffered (a fan-out writes its batch to
 * Redis) and returns only when that is done or the bus is stopping,
 * because the bus commits the batch's offsets after that call. The
 * in-process bus never makes the end-of-batch call. */
typedef void (*pl_bus_handler)(void *ctx, const pl_bus_msg *m);

pl_status pl_bus_open(const struct pl_config *cfg, pl_bus **out);
/* Stops (if needed) and frees. */
void pl_bus_close(pl_bus *b);
const char *pl_bus_name(const pl_bus *b);
/* true when events cross processes (Kafka): cluster mode. */
bool pl_bus_is_remote(const pl_bus *b);
/* Subscribe before pl_bus_start. group names who shares the events: every
 * process subscribing under the same group gets each event once between
 * them (work sharing: "fanout"); NULL: every process gets every event
 * (broadcast, from the time it starts). In-process: ignored. */
pl_status pl_bus_subscribe(pl_bus *b, const char *topic, const char *group,
                           pl_bus_handler h, void *ctx);
/* Starts delivering to the subscribers (Kafka: consumer threads). */
pl_status pl_bus_start(pl_bus *b);
/* Stops delivering: when it returns no handler runs or will run; waits
 * up to timeout_ms for published events to be acknowledged. Idempotent. */
void pl_bus_stop(pl_bus *b, int timeout_ms);
pl_status pl_bus_publish(pl_bus *b, const pl_bus_msg *m);
/* Waits up to timeout_ms until every event published so far is durable
 * (Kafka: acknowledged by the brokers). PL_OK, or PL_AGAIN on timeout, or
 * PL_ERR_IO when one of them failed since the last call. */
pl_status pl_bus_flush(pl_bus *b, int timeout_ms);

/* --- work streams (remote buses only) -------------------------------------
 * A consumer-group member that polls batches itself and says when they are
 * processed: the messaging role takes PL_TOPIC_SENDS this way. Events of
 * one key come in order; each event is delivered at least once (again
 * after a crash or a rebalance, from the last commit). Used from one
 * thread. */
typedef struct pl_bus_stream pl_bus_stream;
/* PL_ERR_INVALID on the in-process bus. */
pl_status pl_bus_stream_open(pl_bus *b, const char *topic, const char *group,
                             pl_bus_stream **out);
/* Up to max events into out (their payloads are valid until the next
 * poll), waiting up to timeout_ms for the first. *epoch is bumped each
 * time partitions were assigned or revoked: state tied to owning a key
 * (sequencers) must then be dropped. Returns the count (0: none). */
size_t pl_bus_stream_poll(pl_bus_stream *s, pl_bus_msg *out, size_t max,
                          int timeout_ms, uint64_t *epoch);
/* The last poll's events are processed: commits them. Call it after every
 * poll that returned events, before the next poll: a poll releases the
 * previous batch unmarked, and since offsets are per partition a later
 * commit would then cover it without its having been processed. */
pl_status pl_bus_stream_commit(pl_bus_stream *s);
void pl_bus_stream_close(pl_bus_stream *s);

#endif
