/* fanout.c - see fanout.h. */
#include "fanout.h"

#include <stdlib.h>

#include "../core/metrics.h"
#include "gateway.h"

struct pl_fanout {
    pl_node *node;
};

static void on_message(void *ctx, const pl_bus_msg *m)
{
    pl_fanout *f = ctx;
    pl_rbuf *frame = pl_rbuf_ws_text((const char *)m->payload->data,
                                     m->payload->len);
    if (!frame)
        return; /* OOM: receivers resume from history */
    pl_gateway_deliver(f->node->gateway, PL_DELIVER_DURABLE, &m->key, NULL,
                       NULL, frame);
    pl_rbuf_unref(frame);
}

/* Wraps a droppable event's JSON in a WebSocket frame, once, and hands it
 * to the gateway with the recipients the event names. */
static void deliver_droppable(pl_fanout *f, const pl_bus_msg *m, int kind)
{
    pl_rbuf *frame = pl_rbuf_ws_text((const char *)m->payload->data,
                                     m->payload->len);
    if (!frame) {
        PL_METRIC_ADD(events_dropped_total, 1);
        return;
    }
    frame->coalesce = m->coalesce;
    const pl_uuid *ex = pl_uuid_is_nil(&m->exclude_user) ? NULL
                                                         : &m->exclude_user;
    const pl_uuid *only = pl_uuid_is_nil(&m->only_user) ? NULL : &m->only_user;
    pl_gateway_deliver(f->node->gateway, kind, &m->key, ex, only, frame);
    pl_rbuf_unref(frame);
}

static void on_event(void *ctx, const pl_bus_msg *m)
{
    deliver_droppable(ctx, m, PL_DELIVER_DROPPABLE);
}

static void on_presence(void *ctx, const pl_bus_msg *m)
{
    deliver_droppable(ctx, m, PL_DELIVER_PRESENCE);
}

static void on_membership(void *ctx, const pl_bus_msg *m)
{
    pl_fanout *f = ctx;
    pl_gateway_deliver(f->node->gateway, PL_DELIVER_MEMBERSHIP, &m->key,
                       NULL, NULL, m->payload);
}

pl_status pl_fanout_start(pl_node *node, pl_fanout **out)
{
    pl_fanout *f = calloc(1, sizeof(*f));
    if (!f)
        return PL_ERR_NOMEM;
    f->node = node;
    pl_status st = pl_bus_subscribe(node->bus, PL_TOPIC_MESSAGES, on_message, f);
    if (st == PL_OK)
        st = pl_bus_subscribe(node->bus, PL_TOPIC_EVENTS, on_event, f);
    if (st == PL_OK)
        st = pl_bus_subscribe(node->bus, PL_TOPIC_PRESENCE, on_presence, f);
    if (st == PL_OK)
        st = pl_bus_subscribe(node->bus, PL_TOPIC_MEMBERSHIP, on_membership, f);
    if (st != PL_OK) {
        free(f);
        return st;
    }
    *out = f;
    return PL_OK;
}

void pl_fanout_stop(pl_fanout *f) { free(f); }
