/* messaging_cluster.c - the messaging role's input and output in cluster
 * mode (docs/ARCHITECTURE.md, cluster mode).
 *
 * Input: the bus stream of PL_TOPIC_SENDS (Kafka parley.sends, group
 * parley-messaging). Kafka gives each partition to one instance of the
 * group, and every conversation's requests to one partition, so each
 * conversation has one sequencing writer at a time. Ownership moves on a
 * rebalance: the stream's epoch changes and every cached sequencer is
 * dropped (the next seq is read from the store again). A writer that lost
 * its partitions without knowing it yet (paused, partitioned away) is
 * fenced by the store: PRIMARY KEY (conversation, seq) and UNIQUE
 * (conversation, sender, client_msg_id) reject its batch, which is redone
 * carefully from the store's state (messaging.c) — it can never write a
 * second copy or leave a gap.
 *
 * One batch: decode the requests, run the same pipeline as single node
 * (validate, sequence, one store transaction), publish the new messages
 * on the bus, ack every request on its gateway's Redis channel, wait until
 * the brokers hold the published messages, then commit the batch's
 * offsets. A crash anywhere before the commit replays the batch: stored
 * sends are then found by (sender, client_msg_id), acked with the original
 * seq and id, and published again (gateways drop the copy they have).
 * An ack lost on the way (Redis down, gateway gone) costs the client a
 * resend with the same client_msg_id, which returns the original. */
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/metrics.h"
#include "cluster_wire.h"
#include "messaging_int.h"

#define POLL_MS 100
#define FLUSH_MS 5000

/* A request from the stream, with the gateway to answer. pl_msg_req comes
 * first, so pl_msg_req_free frees the whole block. */
typedef struct cluster_req {
    pl_msg_req r;
    char reply_to[PL_CW_REPLY_TO_MAX + 1];
} cluster_req;

pl_status pl_messaging_cluster_open(pl_messaging *m)
{
    pl_status st = PL_ERR_NOMEM;
    m->bms = calloc(m->batch_max, sizeof(*m->bms));
    m->kept = calloc(m->batch_max, sizeof(*m->kept));
    if (!m->bms || !m->kept)
        return st;
    st = pl_cpub_open(&m->node->cfg, &m->acks);
    if (st == PL_OK)
        st = pl_bus_stream_open(m->node->bus, PL_TOPIC_SENDS, "messaging",
                                &m->stream);
    return st;
}

void pl_messaging_cluster_close(pl_messaging *m)
{
    pl_bus_stream_close(m->stream);
    m->stream = NULL;
    pl_cpub_close(m->acks);
    m->acks = NULL;
    free(m->bms);
    m->bms = NULL;
    free(m->kept);
    m->kept = NULL;
}

/* done() of a cluster request: its ack joins the batch's publishes, and
 * a stored message is kept for messages_durable. */
static void ack_request(pl_msg_req *r)
{
    cluster_req *cr = (cluster_req *)r;
    pl_messaging *m = r->ctx;
    char chan[PL_CW_REPLY_TO_MAX + 16];
    size_t chlen = pl_cw_channel_gateway(cr->reply_to, chan, sizeof(chan));
    pl_dbuf ack;
    pl_dbuf_init(&ack, (size_t)PL_CW_CONTENT_MAX + 4096);
    if (chlen && pl_cw_encode_ack(r, &ack) == PL_OK)
        pl_cpub_add(m->acks, chan, chlen, ack.p, ack.len);
    pl_dbuf_free(&ack);
    if (r->kind == PL_REQ_SEND && r->st == PL_OK && r->dup_of < 0 &&
        m->nkept < m->batch_max) {
        m->kept[m->nkept++] = r->msg; /* takes the content */
        r->msg.content = NULL;
    }
    pl_msg_req_free(r);
}

static pl_msg_req *decode_request(pl_messaging *m, const pl_bus_msg *bm)
{
    cluster_req *cr = calloc(1, sizeof(*cr));
    if (!cr)
        return NULL;
    if (pl_cw_decode_req(bm->payload->data, bm->payload->len, &cr->r,
                         cr->reply_to, NULL) != PL_OK ||
        !pl_uuid_eq(&cr->r.conv_id, &bm->key)) {
        free(cr);
        PL_METRIC_ADD(bus_bad_records_total, 1);
        return NULL;
    }
    cr->r.dup_of = -1;
    cr->r.ctx = m;
    cr->r.done = ack_request;
    return &cr->r;
}

/* The batch's messages must be on the bus before its offsets commit:
 * until the brokers acknowledge them, publish again (gateways drop the
 * copies). Gives up only when stopping: the offsets then stay
 * uncommitted, and the next owner replays the batch. */
static bool messages_durable(pl_messaging *m, pl_msg *msgs, size_t n)
{
    pl_status st;
    while ((st = pl_bus_flush(m->node->bus, FLUSH_MS)) != PL_OK) {
        pl_log(PL_LOG_WARN, "messages_publish_retry", "status", PL_LS,
               pl_status_str(st), "messages", PL_LI, (int64_t)n, NULL);
        if (atomic_load(&m->stopping))
            return false;
        for (size_t i = 0; i < n; i++)
            pl_messaging_publish_msg(m, &msgs[i]);
    }
    return true;
}

static void run_batch(pl_messaging *m, size_t nb)
{
    pl_msg_req **reqs = (pl_msg_req **)m->msgs_reqs;
    size_t n = 0;
    for (size_t i = 0; i < nb; i++) {
        pl_msg_req *r = decode_request(m, &m->bms[i]);
        if (r)
            reqs[n++] = r;
    }
    m->nkept = 0;
    if (n > 0)
        pl_messaging_process_batch(m, reqs, n); /* done() frees each */
    /* acks: one attempt; lost ones cost their clients a resend */
    if (pl_cpub_flush(m->acks, NULL) != PL_OK)
        PL_METRIC_ADD(cluster_publish_retries_total, 1);
    bool durable = messages_durable(m, m->kept, m->nkept);
    for (size_t i = 0; i < m->nkept; i++)
        pl_msg_clear(&m->kept[i]);
    m->nkept = 0;
    if (durable)
        pl_bus_stream_commit(m->stream);
}

void *pl_messaging_cluster_main(void *arg)
{
    pl_messaging *m = arg;
    pthread_setname_np(pthread_self(), "pl-messaging");
    while (!atomic_load(&m->stopping)) {
        uint64_t epoch = m->epoch;
        size_t nb = pl_bus_stream_poll(m->stream, m->bms, m->batch_max, POLL_MS,
                                       &epoch);
        if (epoch != m->epoch) { /* partitions moved: re-read sequencers */
            pl_messaging_forget_seqs(m);
            m->epoch = epoch;
        }
        if (nb == 0) {
            pl_bus_stream_commit(m->stream); /* bad records only */
            continue;
        }
        run_batch(m, nb);
    }
    return NULL;
}
