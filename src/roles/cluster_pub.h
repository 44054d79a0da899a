/* cluster_pub.h - batched Redis publishes, for the cluster roles that
 * talk to gateways: messaging (acks on pl:g:{gateway}) and fan-out
 * (deliveries on pl:c:{conversation}, pl:presence, pl:members).
 *
 * Publishes are queued, then sent pipelined by pl_cpub_flush (one round
 * trip per Redis node, not one per message): SPUBLISH on a Redis Cluster
 * (the channel's slot owner forwards it to the shard's subscribers only),
 * PUBLISH on a single server. Pub/sub is at most once; what makes that
 * enough is said where each role uses it.
 *
 * Not thread-safe: one pl_cpub per thread. Channels and messages are
 * copied at add. */
#ifndef PL_CLUSTER_PUB_H
#define PL_CLUSTER_PUB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "../core/config.h"
#include "../core/status.h"

typedef struct pl_cpub pl_cpub;

pl_status pl_cpub_open(const pl_config *cfg, pl_cpub **out);
void pl_cpub_close(pl_cpub *p);
/* Queues one publish. PL_ERR_TOOLARGE when the queue holds max_bytes
 * already (flush first). */
pl_status pl_cpub_add(pl_cpub *p, const char *chan, size_t chlen,
                      const void *msg, size_t len);
size_t pl_cpub_pending(const pl_cpub *p);
/* Sends what is queued. Publishes that got no reply are retried, with a
 * growing pause, until they do or *stop is true (stop may be NULL: one
 * attempt). The queue is empty afterwards either way. PL_OK when every
 * publish was answered by Redis. */
pl_status pl_cpub_flush(pl_cpub *p, const atomic_bool *stop);

#endif
