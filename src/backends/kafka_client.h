/* kafka_client.h - a small producer and consumer over librdkafka: the
 * base of the Kafka bus backend (cluster mode), not the backend itself.
 *
 * Producer: idempotent (enable.idempotence=true, hence acks=all and
 * ordered, duplicate-free retries per partition), with a bounded queue of
 * undelivered messages: pl_kafka_produce answers PL_ERR_BUSY when it is
 * full instead of growing. Every message gets exactly one delivery report
 * through the callback, served by pl_kafka_producer_poll on the caller's
 * thread: the message is acknowledged by the broker (PL_OK) or failed.
 *
 * Consumer: one member of a consumer group, offsets committed only by the
 * application (enable.auto.commit=false): pl_kafka_consumer_store marks a
 * message processed, pl_kafka_consumer_commit commits what is marked. A
 * restart or a rebalance redelivers from the last commit, so a consumer
 * sees every message at least once, in order per partition (per key).
 *
 * librdkafka's errors and logs go to src/core/log.h ("kafka_error",
 * "kafka_log" events). Threads: produce may be called from any thread;
 * poll/flush of one producer from one thread at a time; a consumer from
 * one thread. Every object here is owned by its creator and freed by the
 * matching _free. */
#ifndef PL_KAFKA_CLIENT_H
#define PL_KAFKA_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

typedef struct pl_kafka_conf {
    const char *brokers;   /* required: "host:port[,host:port...]" */
    const char *client_id; /* NULL: "parley" */
    const char *group_id;  /* consumers: required */
    /* Producer: most messages queued and not yet acknowledged; 0: 100000.
     * Consumer: most KiB prefetched per client; 0: 16384. */
    int64_t queue_max;
    /* Extra librdkafka properties, "name=value" strings, applied last (they
     * override the defaults above); NULL or NULL-terminated. */
    const char *const *props;
    /* Consumers: on its first assignment, a partition the group has no
     * commit for starts at its end as of pl_kafka_consumer_new (read
     * there, a blocking round trip per partition), so every message
     * acknowledged after new returns is consumed. auto.offset.reset alone
     * resolves the end later, when the group has formed, and misses what
     * came meanwhile. If the ends cannot be read, the reset policy applies
     * (logged). */
    int from_now;
} pl_kafka_conf;

/* ---- producer ---- */

typedef struct pl_kafka_producer pl_kafka_producer;

/* A delivery report: st is PL_OK when the broker acknowledged the message
 * (partition and offset are then set), else the failure (offset -1).
 * msg_opaque is the pointer given to pl_kafka_produce. */
typedef void (*pl_kafka_dr_cb)(void *opaque, void *msg_opaque, pl_status st,
                               int32_t partition, int64_t offset);

/* Returns NULL on a bad configuration or allocation failure, with the
 * reason in err. dr may be NULL. */
pl_kafka_producer *pl_kafka_producer_new(const pl_kafka_conf *c,
                                         pl_kafka_dr_cb dr, void *opaque,
                                         char *err, size_t errcap);

/* Queues one message (key and value are copied; key may be NULL to let
 * the partitioner pick). PL_OK: queued, a delivery report follows.
 * PL_ERR_BUSY: the queue is full; poll and try again. PL_ERR_TOOLARGE:
 * over message.max.bytes. PL_ERR_INVALID: unknown topic. PL_ERR: the
 * producer hit a fatal error (logged) and accepts nothing more. */
pl_status pl_kafka_produce(pl_kafka_producer *p, const char *topic,
                           const void *key, size_t key_len, const void *value,
                           size_t value_len, void *msg_opaque);

/* Serves delivery reports and errors, waiting up to timeout_ms for the
 * first one. Returns the number of events served. */
int pl_kafka_producer_poll(pl_kafka_producer *p, int timeout_ms);

/* Waits up to timeout_ms until every queued message has its delivery
 * report (served through the callback). PL_OK or PL_AGAIN (timed out). */
pl_status pl_kafka_producer_flush(pl_kafka_producer *p, int timeout_ms);

/* Messages queued without a delivery report yet. */
int pl_kafka_producer_pending(pl_kafka_producer *p);

/* Flushes for up to timeout_ms (messages still undelivered then are
 * reported failed and logged), then frees. NULL is a no-op. */
void pl_kafka_producer_free(pl_kafka_producer *p, int timeout_ms);

/* ---- consumer ---- */

typedef struct pl_kafka_consumer pl_kafka_consumer;

/* One consumed message. Its pointers stay valid until
 * pl_kafka_msg_release, which must be called once for every PL_OK poll. */
typedef struct pl_kafka_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* NULL when the message has none */
    size_t key_len;
    const void *value;
    size_t value_len;
    void *priv_; /* the librdkafka message */
} pl_kafka_msg;

/* Joins group c->group_id and subscribes to ntopics topics. A new group
 * starts at the earliest offset (auto.offset.reset=earliest; override in
 * props). Returns NULL with the reason in err. */
pl_kafka_consumer *pl_kafka_consumer_new(const pl_kafka_conf *c,
                                         const char *const *topics,
                                         size_t ntopics, char *err,
                                         size_t errcap);

/* Waits up to timeout_ms for a message. PL_OK: m is filled. PL_AGAIN: no
 * message (or an end-of-partition / transient broker event, logged).
 * PL_ERR_*: a consumer error (logged); polling may continue. */
pl_status pl_kafka_consumer_poll(pl_kafka_consumer *c, pl_kafka_msg *m,
                                 int timeout_ms);
void pl_kafka_msg_release(pl_kafka_msg *m);

/* Marks m processed: the next commit covers it (offset + 1). */
pl_status pl_kafka_consumer_store(pl_kafka_consumer *c, const pl_kafka_msg *m);

/* Commits the marked offsets and waits for the broker's answer. PL_OK
 * (also when nothing was marked since the last commit), or PL_ERR_IO
 * (logged; the offsets stay marked, the next commit retries them). */
pl_status pl_kafka_consumer_commit(pl_kafka_consumer *c);

/* The same without waiting for the broker's answer: commits of one
 * consumer are sent in order, and a lost one only means those records
 * come again (at-least-once). Saves a broker round trip per batch. */
pl_status pl_kafka_consumer_commit_async(pl_kafka_consumer *c);

/* Bumped each time the consumer's partition assignment changes (a
 * rebalance gave or took partitions), inside poll. */
uint64_t pl_kafka_consumer_epoch(const pl_kafka_consumer *c);

/* Commits the marked offsets, leaves the group (its partitions move to
 * the other members at once) and frees. NULL is a no-op. */
void pl_kafka_consumer_free(pl_kafka_consumer *c);

#endif
