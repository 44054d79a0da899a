/* kafka_client_int.h - what kafka_client.c (producer, configuration,
 * logging) shares with kafka_consumer.c. Not for other modules. */
#ifndef PL_KAFKA_CLIENT_INT_H
#define PL_KAFKA_CLIENT_INT_H

#include <librdkafka/rdkafka.h>

#include "kafka_client.h"

/* A new librdkafka configuration: bootstrap.servers and client.id from c,
 * then defs ("name=value", NULL-terminated), then c->props; logs and
 * errors routed to log.h. NULL with the reason in err. The caller owns
 * the result until rd_kafka_new takes it. */
rd_kafka_conf_t *pl_kafka_conf_build(const pl_kafka_conf *c,
                                     const char *const *defs, char *err,
                                     size_t errcap);

/* Applies one "name=value" property. */
pl_status pl_kafka_conf_set(rd_kafka_conf_t *rc, const char *prop, char *err,
                            size_t errcap);

/* The pl_status of a librdkafka error code. */
pl_status pl_kafka_status(rd_kafka_resp_err_t e);

#endif
