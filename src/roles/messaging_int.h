/* messaging_int.h - what messaging.c (the pipeline) shares with
 * messaging_cluster.c (its input and output in cluster mode). */
#ifndef PL_MESSAGING_INT_H
#define PL_MESSAGING_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "../core/hmap.h"
#include "../core/queue.h"
#include "cluster_pub.h"
#include "member_cache.h"
#include "messaging.h"

typedef struct size_entry {
    int64_t members;
    int64_t at_ms;
} size_entry;

typedef struct seq_entry {
    int64_t last_seq;
} seq_entry;

struct pl_messaging {
    pl_node *node;
    pl_queue q;
    pthread_t thread;
    pl_store_conn *store;
    pl_hmap seqs;  /* conversation -> seq_entry: the sequencers */
    pl_hmap sizes; /* conversation -> size_entry (read receipt policy) */
    pl_member_cache members; /* who may send where (member_cache.h) */
    size_t batch_max;
    /* per-batch scratch, sized batch_max */
    pl_qitem *items;
    pl_msg *msgs;
    pl_read_offset *offs;
    pl_hmap dedupe; /* in-batch (conv, user, client_msg_id) -> index+1 */
    void **msgs_reqs;
    /* cluster mode (bus is remote): requests come from a bus stream,
     * results go back to the gateways through Redis */
    bool cluster;
    pl_bus_stream *stream;
    pl_bus_msg *bms; /* per-batch scratch, batch_max */
    pl_cpub *acks;
    pl_msg *kept; /* the batch's stored messages, batch_max */
    size_t nkept;
    uint64_t epoch; /* the stream's partition assignment */
    atomic_bool stopping;
};

/* messaging.c */
void pl_messaging_process_batch(pl_messaging *m, pl_msg_req **reqs, size_t n);
/* Forgets every sequencer (the partitions this instance owns changed:
 * the next seq of each conversation is read from the store again). */
void pl_messaging_forget_seqs(pl_messaging *m);
/* Publishes a stored message on the bus (PL_TOPIC_MESSAGES). */
void pl_messaging_publish_msg(pl_messaging *m, const pl_msg *msg);

/* messaging_cluster.c */
pl_status pl_messaging_cluster_open(pl_messaging *m);
void pl_messaging_cluster_close(pl_messaging *m);
void *pl_messaging_cluster_main(void *arg);

#endif
