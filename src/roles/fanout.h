/* fanout.h - the fan-out role: turns bus events into frames for the
 * gateways that hold the recipients' connections.
 *
 * It subscribes to the message, event and membership topics. For each
 * message it builds the WebSocket frame ONCE (one refcounted buffer) and
 * hands it to the gateway layer, which queues a reference on each local
 * connection of each online member (lazy fan-out: cost O(online members),
 * offline members catch up from history; nothing is written per member). */
#ifndef PL_FANOUT_H
#define PL_FANOUT_H

#include "node.h"

typedef struct pl_fanout pl_fanout;

pl_status pl_fanout_start(pl_node *node, pl_fanout **out);
void pl_fanout_stop(pl_fanout *f);

#endif
