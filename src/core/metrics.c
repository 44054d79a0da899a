/* metrics.c - see metrics.h. One table names and describes each metric. */
#include "metrics.h"

#include <stddef.h>

pl_metrics pl_metrics_g;

typedef struct metric_def {
    const char *name;
    const char *type; /* counter | gauge */
    const char *help;
    size_t off;
} metric_def;

#define M(field, type, help) {"parley_" #field, type, help, offsetof(pl_metrics, field)}

static const metric_def defs[] = {
    M(connections, "gauge", "Open TCP connections."),
    M(ws_connections, "gauge", "Open WebSocket sessions."),
    M(accepted_total, "counter", "Accepted TCP connections."),
    M(http_requests_total, "counter", "HTTP requests handled."),
    M(http_4xx_total, "counter", "HTTP responses with a 4xx status."),
    M(http_5xx_total, "counter", "HTTP responses with a 5xx status."),
    M(ws_frames_in_total, "counter", "WebSocket data frames received."),
    M(ws_frames_out_total, "counter", "WebSocket frames queued to clients."),
    M(messages_stored_total, "counter", "Messages durably stored."),
    M(messages_deduplicated_total, "counter",
      "Sends answered from an earlier copy (same client_msg_id)."),
    M(deliveries_total, "counter", "Message frames queued to connections."),
    M(events_dropped_total, "counter",
      "Droppable events (typing, presence) dropped under back-pressure."),
    M(slow_consumer_closes_total, "counter",
      "Connections closed because their outbound queue overflowed."),
    M(store_batches_total, "counter", "Group commits of the messaging pipeline."),
    M(store_batch_messages_total, "counter",
      "Messages written by group commits (divide by batches for batch size)."),
    M(store_errors_total, "counter", "Failed store transactions."),
    M(messaging_careful_batches_total, "counter",
      "Group commits redone with a client_msg_id lookup per message because "
      "the first try hit the store's fence (a resend of a stored message)."),
    M(messaging_queue_depth, "gauge", "Requests waiting for the messaging pipeline."),
    M(auth_failures_total, "counter", "Rejected tokens and failed logins."),
    M(presence_queue_overflows_total, "counter",
      "presence=redis: changes left to the next refresh (queue full)."),
    M(presence_redis_errors_total, "counter",
      "presence=redis: scripts that failed or answered unexpectedly."),
    M(connections_refused_total, "counter",
      "Connections refused by the per-address limits (429, or 503 when the "
      "limit table is full)."),
    M(auth_throttled_total, "counter",
      "Logins and registrations refused with 429 by their throttles."),
    M(token_closes_total, "counter",
      "WebSocket sessions closed (4001) because their token expired or its "
      "signing key was retired."),
    M(limit_entries, "gauge",
      "Client addresses and usernames tracked by the limit table."),
    M(limit_evictions_total, "counter",
      "Limit table entries evicted while still holding state (table full)."),
    M(bus_consumed_total, "counter",
      "Events this process consumed from the Kafka bus."),
    M(bus_bad_records_total, "counter",
      "Kafka records that did not decode (skipped and counted)."),
    M(bus_publish_refused_total, "counter",
      "Bus publishes refused at once (producer queue full, or bad topic)."),
    M(bus_publish_failed_total, "counter",
      "Bus publishes the brokers never acknowledged (delivery reports)."),
    M(cluster_publishes_total, "counter",
      "Redis publishes to gateways (acks and deliveries)."),
    M(cluster_publish_retries_total, "counter",
      "Pipelined Redis publish rounds retried because some got no reply."),
    M(messaging_republished_total, "counter",
      "Messages found already stored on a redelivered send and published "
      "again (gateways drop the copy they already delivered)."),
    M(relay_acks_total, "counter",
      "Cluster gateway: messaging results received on the gateway's Redis "
      "channel and handed to their connection's loop."),
    M(relay_events_total, "counter",
      "Cluster gateway: deliveries (messages, typing, read, presence, "
      "membership) received from Redis."),
    M(relay_bad_records_total, "counter",
      "Cluster gateway: Redis records dropped as undecodable or of an "
      "unknown kind."),
    M(relay_repairs_total, "counter",
      "Cluster gateway: gaps in a conversation's seqs repaired from the "
      "store (a jump, or a check after a resubscription)."),
    M(relay_repaired_messages_total, "counter",
      "Cluster gateway: messages read from the store and delivered by "
      "repairs."),
    M(relay_dropped_duplicates_total, "counter",
      "Cluster gateway: message deliveries dropped because this gateway had "
      "already delivered that seq (a re-publish)."),
    M(relay_subscriptions, "gauge",
      "Cluster gateway: Redis channels the relay subscribes (one per "
      "conversation with an online member here, plus its own three)."),
    M(relay_hello_timeouts_total, "counter",
      "Cluster gateway: WebSocket sessions closed with 1013 because their "
      "subscriptions were not confirmed in time."),
};

void pl_metrics_render(pl_dbuf *d)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        const metric_def *m = &defs[i];
        atomic_int_fast64_t *v =
            (atomic_int_fast64_t *)((char *)&pl_metrics_g + m->off);
        pl_dbuf_printf(d, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", m->name,
                       m->help, m->name, m->type, m->name,
                       (long long)atomic_load_explicit(v, memory_order_relaxed));
    }
}
