/* gateway.h - the gateway role: terminates HTTP and WebSocket connections
 * on N event-loop threads, authenticates, routes client requests to the
 * other roles and writes their results and deliveries back.
 *
 * Each loop keeps a local index of its online users and, per conversation,
 * which of those users are members (built from the store at connect and
 * kept current by membership events). Deliveries use it to reach exactly
 * the local connections that must get a frame. */
#ifndef PL_GATEWAY_H
#define PL_GATEWAY_H

#include "../backends/bus.h"
#include "node.h"

typedef struct pl_gateway pl_gateway;

enum pl_delivery {
    PL_DELIVER_DURABLE = 1, /* a message: never dropped; a connection that
                               cannot take it is closed (it resumes from
                               history) */
    PL_DELIVER_DROPPABLE,   /* typing, read, presence: dropped under
                               back-pressure */
    PL_DELIVER_MEMBERSHIP,  /* index update, no frame */
    PL_DELIVER_PRESENCE,    /* a presence frame, keyed by the user it is
                               about, to that user's subscribers; droppable */
};

/* Binds the listeners and starts the loop threads. */
pl_status pl_gateway_start(pl_node *node, pl_gateway **out);
/* Thread-safe. frame: the complete WebSocket frame (borrowed; the gateway
 * takes its own references). exclude_user / only_user (NULL: unused)
 * narrow the recipients to all members but one, or to one member's own
 * devices. For PL_DELIVER_MEMBERSHIP, frame is the
 * membership JSON payload. Durable deliveries may block (wait for inbox
 * room) when called from a non-loop thread. */
void pl_gateway_deliver(pl_gateway *g, int kind, const pl_uuid *conv,
                        const pl_uuid *exclude_user, const pl_uuid *only_user,
                        pl_rbuf *frame);
/* Thread-safe (not from a loop). Gives every loop a copy of the new
 * keyring; sessions whose token was signed by a key no longer in it are
 * closed (4001). */
void pl_gateway_set_keys(pl_gateway *g, const pl_jwt_keyring *kr);
/* Stops accepting, closes every WebSocket with 1001 and waits up to the
 * grace period for the output to drain. */
void pl_gateway_drain(pl_gateway *g);
/* Stops the loops and joins their threads; later deliveries and
 * completions are refused (their senders free them). Connections stay
 * open until pl_gateway_stop. */
void pl_gateway_halt(pl_gateway *g);
/* Halts if needed, closes every connection, frees everything. */
void pl_gateway_stop(pl_gateway *g);

#endif
