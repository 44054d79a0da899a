/* fanout.c - see fanout.h. */
#include "fanout.h"

#include <stdlib.h>

#include "../core/metrics.h"
#include "cluster_pub.h"
#include "cluster_wire.h"
#include "gateway.h"

/* The bus group of every fan-out instance: each event is relayed once. */
#define FANOUT_GROUP "fanout"

struct pl_fanout {
    pl_node *node;
    pl_cpub *out; /* cluster mode: publishes to the gateways */
};

/* End of a bus batch: the batch's offsets are committed when this
 * returns, so it returns only once Redis took every publish (or the
 * process is stopping: the batch is then replayed by the next owner). */
static void flush(pl_fanout *f)
{
    pl_cpub_flush(f->out, &f->node->stopping);
}

/* Cluster mode: the event goes to the gateways through Redis, as a
 * PL_CW_EVENT whose kind is the delivery; conversation events on the
 * conversation's channel (only gateways with an online member subscribe
 * to it), presence and membership on their broadcast channels. Called on
 * the bus's consumer thread; flushed at the end of each batch. */
static void relay(pl_fanout *f, const pl_bus_msg *m, int kind)
{
    char chan[64];
    size_t chlen;
    if (kind == PL_DELIVER_PRESENCE)
        chlen = (size_t)snprintf(chan, sizeof(chan), PL_CW_CHAN_PRESENCE);
    else if (kind == PL_DELIVER_MEMBERSHIP)
        chlen = (size_t)snprintf(chan, sizeof(chan), PL_CW_CHAN_MEMBERS);
    else
        chlen = pl_cw_channel_conv(&m->key, chan, sizeof(chan));
    pl_dbuf v;
    pl_dbuf_init(&v, (size_t)PL_CW_CONTENT_MAX + 8192);
    pl_status st =
        chlen ? pl_cw_encode_bus_msg(m, (uint8_t)kind, &v) : PL_ERR_TOOLARGE;
    if (st == PL_OK) {
        st = pl_cpub_add(f->out, chan, chlen, v.p, v.len);
        if (st == PL_ERR_TOOLARGE) { /* the batch's queue is full */
            flush(f);
            st = pl_cpub_add(f->out, chan, chlen, v.p, v.len);
        }
    }
    if (st != PL_OK)
        PL_METRIC_ADD(events_dropped_total, 1);
    pl_dbuf_free(&v);
}

static void deliver(pl_fanout *f, const pl_bus_msg *m, int kind)
{
    if (!m->payload) {
        if (f->out)
            flush(f);
        return;
    }
    if (f->out) {
        relay(f, m, kind);
        return;
    }
    if (kind == PL_DELIVER_MEMBERSHIP) { /* an index update, no frame */
        pl_gateway_deliver(f->node->gateway, kind, &m->key, NULL, NULL,
                           m->payload);
        return;
    }
    /* single node: the frame is built ONCE and shared by every socket */
    pl_rbuf *frame =
        pl_rbuf_ws_text((const char *)m->payload->data, m->payload->len);
    if (!frame) { /* OOM: droppable events are lost, messages resume from
                     history */
        PL_METRIC_ADD(events_dropped_total, 1);
        return;
    }
    frame->coalesce = m->coalesce;
    const pl_uuid *ex =
        pl_uuid_is_nil(&m->exclude_user) ? NULL : &m->exclude_user;
    const pl_uuid *only = pl_uuid_is_nil(&m->only_user) ? NULL : &m->only_user;
    pl_gateway_deliver(f->node->gateway, kind, &m->key, ex, only, frame);
    pl_rbuf_unref(frame);
}

static void on_message(void *ctx, const pl_bus_msg *m)
{
    deliver(ctx, m, PL_DELIVER_DURABLE);
}

static void on_event(void *ctx, const pl_bus_msg *m)
{
    deliver(ctx, m, PL_DELIVER_DROPPABLE);
}

static void on_presence(void *ctx, const pl_bus_msg *m)
{
    deliver(ctx, m, PL_DELIVER_PRESENCE);
}

static void on_membership(void *ctx, const pl_bus_msg *m)
{
    deliver(ctx, m, PL_DELIVER_MEMBERSHIP);
}

static pl_status subscribe_all(pl_fanout *f)
{
    static const struct {
        const char *topic;
        pl_bus_handler h;
    } subs[] = {
        {PL_TOPIC_MESSAGES, on_message},
        {PL_TOPIC_EVENTS, on_event},
        {PL_TOPIC_PRESENCE, on_presence},
        {PL_TOPIC_MEMBERSHIP, on_membership},
    };
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        pl_status st = pl_bus_subscribe(f->node->bus, subs[i].topic,
                                        FANOUT_GROUP, subs[i].h, f);
        if (st != PL_OK)
            return st;
    }
    return PL_OK;
}

pl_status pl_fanout_start(pl_node *node, pl_fanout **out)
{
    pl_fanout *f = calloc(1, sizeof(*f));
    if (!f)
        return PL_ERR_NOMEM;
    f->node = node;
    pl_status st = PL_OK;
    if (pl_bus_is_remote(node->bus))
        st = pl_cpub_open(&node->cfg, &f->out);
    if (st == PL_OK)
        st = subscribe_all(f);
    if (st != PL_OK) {
        pl_cpub_close(f->out);
        free(f);
        return st;
    }
    *out = f;
    return PL_OK;
}

void pl_fanout_stop(pl_fanout *f)
{
    if (!f)
        return;
    pl_cpub_close(f->out);
    free(f);
}
