/* metrics.h - process-wide counters and gauges, exported by GET /metrics
 * in the Prometheus text format. Relaxed atomics: a counter increment is
 * one uncontended locked add, cheap enough for per-message paths. */
#ifndef PL_METRICS_H
#define PL_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"

typedef struct pl_metrics {
    atomic_int_fast64_t connections;      /* gauge: open TCP connections */
    atomic_int_fast64_t ws_connections;   /* gauge: open WebSockets */
    atomic_int_fast64_t accepted_total;
    atomic_int_fast64_t http_requests_total;
    atomic_int_fast64_t http_4xx_total;
    atomic_int_fast64_t http_5xx_total;
    atomic_int_fast64_t ws_frames_in_total;
    atomic_int_fast64_t ws_frames_out_total;
    atomic_int_fast64_t messages_stored_total;
    atomic_int_fast64_t messages_deduplicated_total;
    atomic_int_fast64_t deliveries_total;  /* message frames queued */
    atomic_int_fast64_t events_dropped_total;
    atomic_int_fast64_t slow_consumer_closes_total;
    atomic_int_fast64_t store_batches_total;
    atomic_int_fast64_t store_batch_messages_total;
    atomic_int_fast64_t store_errors_total;
    atomic_int_fast64_t messaging_careful_batches_total;
    atomic_int_fast64_t messaging_queue_depth; /* gauge */
    atomic_int_fast64_t auth_failures_total;
    atomic_int_fast64_t presence_queue_overflows_total;
    atomic_int_fast64_t presence_redis_errors_total;
    /* abuse limits */
    atomic_int_fast64_t connections_refused_total;
    atomic_int_fast64_t auth_throttled_total;
    atomic_int_fast64_t token_closes_total;
    atomic_int_fast64_t limit_entries;         /* gauge */
    atomic_int_fast64_t limit_evictions_total;
    /* cluster mode: the Kafka bus and the Redis publishes */
    atomic_int_fast64_t bus_consumed_total;
    atomic_int_fast64_t bus_bad_records_total;
    atomic_int_fast64_t bus_publish_refused_total;
    atomic_int_fast64_t bus_publish_failed_total;
    atomic_int_fast64_t cluster_publishes_total;
    atomic_int_fast64_t cluster_publish_retries_total;
    atomic_int_fast64_t messaging_republished_total;
    /* the gateway relay (cluster mode, gw_relay.c) */
    atomic_int_fast64_t relay_acks_total;
    atomic_int_fast64_t relay_events_total;
    atomic_int_fast64_t relay_bad_records_total;
    atomic_int_fast64_t relay_repairs_total;
    atomic_int_fast64_t relay_repaired_messages_total;
    atomic_int_fast64_t relay_dropped_duplicates_total;
    atomic_int_fast64_t relay_subscriptions; /* gauge */
    atomic_int_fast64_t relay_hello_timeouts_total;
} pl_metrics;

extern pl_metrics pl_metrics_g;

#define PL_METRIC_ADD(name, v)                                               \
    atomic_fetch_add_explicit(&pl_metrics_g.name, (v), memory_order_relaxed)

/* Appends the Prometheus exposition of every metric to d. */
void pl_metrics_render(pl_dbuf *d);

#endif
