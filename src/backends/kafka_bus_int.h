/* kafka_bus_int.h - what kafka_bus.c (publish, subscribe) shares with
 * kafka_stream.c (work streams). Not for other modules. */
#ifndef PL_KAFKA_BUS_INT_H
#define PL_KAFKA_BUS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "../core/config.h"
#include "bus_int.h"
#include "kafka_client.h"

#define MAX_SUBS 16
#define MAX_GROUPS 4

typedef struct ksub {
    char topic[32];
    int group; /* index in groups */
    pl_bus_handler h;
    void *ctx;
} ksub;

typedef struct kgroup {
    struct kafka_bus *b;
    char id[192];
    bool broadcast;
    const char *topics[8]; /* Kafka topic names (static strings) */
    size_t ntopics;
    pl_kafka_consumer *c;
    pthread_t th;
    bool running;
} kgroup;

typedef struct kafka_bus {
    pl_bus base;
    const pl_config *cfg; /* the node's: lives as long as the process */
    char instance[96];
    pl_kafka_producer *prod;
    pthread_t poll_th;
    bool poll_running;
    atomic_bool stopping;
    atomic_uint_fast64_t failed; /* delivery failures since the last flush */
    ksub subs[MAX_SUBS];
    int nsubs;
    kgroup groups[MAX_GROUPS];
    int ngroups;
} kafka_bus;

/* A bus topic and its Kafka topic. */
typedef struct ktopic {
    const char *name;  /* PL_TOPIC_* */
    const char *kafka; /* parley.* */
    int num;           /* PL_CW_T_*: the kind of its records */
    bool durable;
    const char *retention_ms;
} ktopic;

/* "session.timeout.ms=N" from the configuration, for every consumer. */
void pl_kafka_session_prop(const pl_config *cfg, char *buf, size_t cap);

const ktopic *pl_kafka_topic_by_name(const char *name);
const ktopic *pl_kafka_topic_by_kafka(const char *kafka);

/* kafka_stream.c */
pl_status pl_kafka_stream_open(pl_bus *b, const char *topic, const char *group,
                               pl_bus_stream **out);
size_t pl_kafka_stream_poll(pl_bus_stream *s, pl_bus_msg *out, size_t max,
                            int timeout_ms, uint64_t *epoch);
pl_status pl_kafka_stream_commit(pl_bus_stream *s);
void pl_kafka_stream_close(pl_bus_stream *s);

#endif
