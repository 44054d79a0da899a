/* node.h - one Parley process: its configuration, the backends it opened
 * and the roles it runs. Roles receive the node and talk to each other
 * only through the role APIs (messaging.h, fanout.h, gateway.h, auth.h,
 * presence_role.h), never through each other's state; in cluster mode a
 * process runs a subset of the roles and the bus carries what crosses
 * process boundaries. */
#ifndef PL_NODE_H
#define PL_NODE_H

#include <pthread.h>
#include <stdatomic.h>

#include "../backends/bus.h"
#include "../backends/presence.h"
#include "../backends/store.h"
#include "../core/config.h"
#include "../core/jwt.h"
#include "../net/workpool.h"

enum pl_node_state { PL_NODE_STARTING = 0, PL_NODE_READY, PL_NODE_DRAINING };

typedef struct pl_node {
    pl_config cfg;
    pl_store *store;
    pl_bus *bus;
    pl_presence *presence;
    pl_jwt_keyring keys;   /* the master copy; loops keep their own */
    pthread_mutex_t keys_mu; /* keys: replaced on reload, read to mint */
    pl_workpool *store_pool; /* store reads and small writes for REST */
    pl_workpool *hash_pool;  /* Argon2id: slow, memory-hard, capped */
    struct pl_messaging *messaging;
    struct pl_gateway *gateway;
    struct pl_fanout *fanout;
    struct pl_presence_role *presence_role;
    atomic_int state;
    atomic_bool stopping; /* set first at shutdown: retry loops give up */
    /* Bumped on every membership change seen on the bus (messaging's
     * member cache drops its entries when it moves). Lives in the node,
     * not in a role: bus subscriptions outlive the roles. */
    atomic_uint_fast64_t membership_gen;
} pl_node;

#endif
