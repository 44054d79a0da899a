/* gateway_probe.c - a gateway running in cluster mode without Kafka, for
 * tests/redis/test_gateway_relay.py: the same options as parleyd, the
 * sqlite store, the inproc bus and memory presence, no messaging and no
 * fan-out role; the gateway is started as if bus were kafka, so its relay
 * (src/roles/gw_relay.c) subscribes Redis and delivers what the test
 * publishes there as the fan-out role would. Stops on SIGTERM/SIGINT. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/log.h"
#include "roles/gateway.h"
#include "roles/node.h"
#include "roles/presence_role.h"

static pl_status open_all(pl_node *n)
{
    mkdir(n->cfg.data_dir, 0700);
    pl_status st = pl_store_open(&n->cfg, &n->store);
    if (st == PL_OK)
        st = pl_bus_open(&n->cfg, &n->bus);
    if (st == PL_OK)
        st = pl_presence_open(&n->cfg, &n->presence);
    if (st == PL_OK)
        st = pl_jwt_keyring_load(n->cfg.data_dir, n->cfg.jwt_issuer,
                                 n->cfg.jwt_audience, n->cfg.token_ttl_s,
                                 &n->keys);
    n->keys.leeway_s = n->cfg.jwt_leeway_s;
    if (st == PL_OK)
        st = pl_workpool_start("store", n->cfg.store_threads, 4096, n->store,
                               &n->store_pool);
    if (st == PL_OK)
        st = pl_workpool_start("hash", n->cfg.hash_threads, 256, n->store,
                               &n->hash_pool);
    if (st == PL_OK)
        st = pl_presence_role_start(n);
    snprintf(n->cfg.bus, sizeof(n->cfg.bus), "kafka"); /* the relay on */
    if (st == PL_OK)
        st = pl_gateway_start(n, &n->gateway);
    return st;
}

int main(int argc, char **argv)
{
    static pl_node node;
    char err[512];
    pl_config_defaults(&node.cfg);
    if (pl_config_load(&node.cfg, argc, argv, err, sizeof(err), stdout) !=
        PL_OK) {
        fprintf(stderr, "gateway-probe: %s\n", err);
        return 2;
    }
    pl_log_set_level(pl_log_level_parse(node.cfg.log_level));
    if (sodium_init() < 0)
        return 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&node.keys_mu, NULL);
    int rc = 1, sig;
    if (open_all(&node) == PL_OK) {
        atomic_store(&node.state, PL_NODE_READY);
        sigwait(&set, &sig);
        rc = 0;
    }
    if (node.gateway)
        pl_gateway_drain(node.gateway);
    pl_gateway_halt(node.gateway);
    pl_workpool_stop(node.hash_pool);
    pl_workpool_stop(node.store_pool);
    pl_presence_role_stop(&node);
    pl_gateway_stop(node.gateway);
    pl_presence_close(node.presence);
    pl_bus_close(node.bus);
    if (node.store)
        pl_store_close(node.store);
    return rc;
}
