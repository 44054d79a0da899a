/* main.c - parleyd: one process running the roles the config enables.
 *
 * Start-up order follows the data flow backwards, so nothing can produce
 * work for a part that does not exist yet: backends, pools, messaging,
 * fan-out, then the gateway (which starts accepting). Shutdown runs it
 * forwards: the gateway drains (stops accepting, closes WebSockets with
 * 1001), messaging finishes what it has accepted, then the rest stops. */
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "roles/fanout.h"
#include "roles/gateway.h"
#include "roles/messaging.h"
#include "roles/node.h"
#include "roles/presence_role.h"

#define POOL_QUEUE 4096

static bool has_role(const pl_node *n, const char *role)
{
    return pl_config_has_role(&n->cfg, role) != 0;
}

/* DATA_DIR/jwt-keys, or the shared file of a cluster (jwt-keys-file). */
static const char *keys_path(const pl_node *n, char *buf, size_t cap)
{
    if (n->cfg.jwt_keys_file[0])
        return n->cfg.jwt_keys_file;
    snprintf(buf, cap, "%s/jwt-keys", n->cfg.data_dir);
    return buf;
}

/* Which role sets make sense: in single-node mode (the in-process bus)
 * the gateway needs messaging and fan-out in its own process; a cluster
 * (bus=kafka) shares its state through PostgreSQL and Redis. */
static bool roles_valid(const pl_node *n)
{
    const pl_config *c = &n->cfg;
    bool cluster = strcmp(c->bus, "kafka") == 0;
    const char *why = NULL;
    if (!cluster && strcmp(c->roles, "all") != 0 &&
        (has_role(n, "gateway") || has_role(n, "messaging") ||
         has_role(n, "fanout")) &&
        !(has_role(n, "gateway") && has_role(n, "messaging") &&
          has_role(n, "fanout")))
        why = "with bus=inproc, gateway, messaging and fanout run together "
              "(use bus=kafka for a cluster)";
    else if (cluster && (strcmp(c->store, "sqlite") == 0 ||
                         strcmp(c->presence, "memory") == 0))
        why = "bus=kafka (a cluster) needs store=postgres and presence=redis: "
              "every instance must see the same state";
    if (why)
        fprintf(stderr, "parleyd: --roles %s: %s\n", c->roles, why);
    return why == NULL;
}

static pl_status open_backends(pl_node *n)
{
    pl_status st;
    char path[600];
    mkdir(n->cfg.data_dir, 0700);
    /* one id for presence claims and the relay's ack channel */
    pl_gateway_id_resolve(n->cfg.gateway_id, sizeof(n->cfg.gateway_id));
    st = pl_store_open(&n->cfg, &n->store);
    if (st != PL_OK) {
        pl_log(PL_LOG_ERROR, "store_open_failed", "store", PL_LS, n->cfg.store,
               "data_dir", PL_LS, n->cfg.data_dir, "status", PL_LS,
               pl_status_str(st), NULL);
        return st;
    }
    st = pl_bus_open(&n->cfg, &n->bus);
    if (st == PL_OK)
        st = pl_presence_open(&n->cfg, &n->presence);
    if (st == PL_OK)
        st = pl_jwt_keyring_load_file(keys_path(n, path, sizeof(path)),
                                      n->cfg.jwt_issuer, n->cfg.jwt_audience,
                                      n->cfg.token_ttl_s, &n->keys);
    n->keys.leeway_s = n->cfg.jwt_leeway_s;
    if (st != PL_OK)
        pl_log(PL_LOG_ERROR, "backend_open_failed", "bus", PL_LS, n->cfg.bus,
               "status", PL_LS, pl_status_str(st), NULL);
    return st;
}

/* Every process serves HTTP: the gateway role the whole API, an auth
 * instance /v1/auth/, every role /healthz, /readyz and /metrics. */
static pl_status start_roles(pl_node *n)
{
    bool api = has_role(n, "gateway") || has_role(n, "auth");
    pl_status st = PL_OK;
    if (api) /* REST work and Argon2id: what the API serves */
        st = pl_workpool_start("store", n->cfg.store_threads, POOL_QUEUE,
                               n->store, &n->store_pool);
    if (st == PL_OK && api)
        st = pl_workpool_start("hash", n->cfg.hash_threads, 256, n->store,
                               &n->hash_pool);
    /* gateways report their connections; a presence instance announces
     * what Redis decided without them (a dead gateway's users reaped) */
    if (st == PL_OK && (has_role(n, "gateway") || has_role(n, "presence")))
        st = pl_presence_role_start(n);
    if (st == PL_OK && has_role(n, "messaging"))
        st = pl_messaging_start(n, &n->messaging);
    if (st == PL_OK && has_role(n, "fanout"))
        st = pl_fanout_start(n, &n->fanout);
    if (st == PL_OK)
        st = pl_bus_start(n->bus);
    if (st == PL_OK)
        st = pl_gateway_start(n, &n->gateway);
    return st;
}

static void stop_all(pl_node *n)
{
    atomic_store(&n->stopping, true);
    atomic_store(&n->state, PL_NODE_DRAINING);
    if (n->gateway)
        pl_gateway_drain(n->gateway);
    /* no loop may submit work once messaging and the pools are gone */
    pl_gateway_halt(n->gateway);
    pl_messaging_stop(n->messaging); /* finishes accepted work first */
    pl_workpool_stop(n->hash_pool);
    pl_workpool_stop(n->store_pool);
    pl_presence_role_stop(n); /* pending offline announcements go out */
    pl_gateway_stop(n->gateway);
    n->gateway = NULL;
    if (n->bus)
        pl_bus_stop(n->bus, 5000); /* no handler runs after this */
    pl_fanout_stop(n->fanout);
    pl_presence_close(n->presence);
    pl_bus_close(n->bus);
    if (n->store)
        pl_store_close(n->store);
}

/* Connections need descriptors: raise the soft limit to the hard one and
 * keep max-connections under it (with room for the store and pipes). */
static void fit_fd_limit(pl_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    int64_t room = (int64_t)rl.rlim_cur - 64;
    if (rl.rlim_cur != RLIM_INFINITY && cfg->max_connections > room) {
        pl_log(PL_LOG_WARN, "max_connections_lowered", "configured", PL_LI,
               cfg->max_connections, "fd_limit", PL_LI, (int64_t)rl.rlim_cur,
               NULL);
        cfg->max_connections = room > 1 ? room : 1;
    }
}

/* --- key rotation: DATA_DIR/jwt-keys is read again on SIGHUP and when
 * it changes (polled once a second, here on the main thread, so no loop
 * ever touches the file system). A file that is missing or malformed is
 * logged and ignored: the keys in use stay. */

typedef struct keys_stamp {
    struct timespec mtime, ctime;
    ino_t ino;
    off_t size;
} keys_stamp;

static bool keys_stamp_get(const pl_node *n, keys_stamp *ks)
{
    char path[600];
    struct stat st;
    memset(ks, 0, sizeof(*ks));
    if (stat(keys_path(n, path, sizeof(path)), &st) != 0)
        return false;
    *ks = (keys_stamp){st.st_mtim, st.st_ctim, st.st_ino, st.st_size};
    return true;
}

static void reload_keys(pl_node *n, const char *why)
{
    char path[600];
    pl_jwt_keyring kr = n->keys; /* only this thread writes n->keys */
    pl_status st =
        pl_jwt_keyring_reload_file(keys_path(n, path, sizeof(path)), &kr);
    if (st != PL_OK) {
        pl_log(PL_LOG_ERROR, "jwt_keys_reload_failed", "status", PL_LS,
               pl_status_str(st), "trigger", PL_LS, why, NULL);
        sodium_memzero(&kr, sizeof(kr));
        return;
    }
    pthread_mutex_lock(&n->keys_mu);
    n->keys = kr;
    pthread_mutex_unlock(&n->keys_mu);
    if (n->gateway)
        pl_gateway_set_keys(n->gateway, &kr);
    pl_log(PL_LOG_INFO, "jwt_keys_reloaded", "trigger", PL_LS, why, "keys",
           PL_LI, (int64_t)kr.nkeys, "signing_kid", PL_LS, kr.keys[0].kid,
           NULL);
    sodium_memzero(&kr, sizeof(kr));
}

/* Waits for SIGTERM or SIGINT (returned); meanwhile SIGHUP or a changed
 * key file reloads the keys. */
static int wait_for_signal(pl_node *n, const sigset_t *set)
{
    keys_stamp last, now;
    keys_stamp_get(n, &last);
    for (;;) {
        struct timespec tick = {1, 0};
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig == SIGTERM || sig == SIGINT)
            return sig;
        bool changed =
            keys_stamp_get(n, &now) && memcmp(&now, &last, sizeof(now)) != 0;
        if (sig == SIGHUP || changed)
            reload_keys(n, sig == SIGHUP ? "SIGHUP" : "file_changed");
        last = now;
    }
}

int main(int argc, char **argv)
{
    static pl_node node; /* big (keyring); lives for the whole process */
    char err[512];
    pl_config_defaults(&node.cfg);
    pl_status st =
        pl_config_load(&node.cfg, argc, argv, err, sizeof(err), stdout);
    if (st == PL_DONE)
        return 0;
    if (st != PL_OK) {
        fprintf(stderr, "parleyd: %s\n(see parleyd --help)\n", err);
        return 2;
    }
    pl_log_set_level(pl_log_level_parse(node.cfg.log_level));
    if (!roles_valid(&node))
        return 2;
    if (sodium_init() < 0)
        return 1;
    fit_fd_limit(&node.cfg);
    /* signals are taken synchronously by main; every thread inherits the
     * mask, so none is interrupted by them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_mutex_init(&node.keys_mu, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = 1;
    if (open_backends(&node) == PL_OK && start_roles(&node) == PL_OK) {
        atomic_store(&node.state, PL_NODE_READY);
        pl_log(PL_LOG_INFO, "ready", "roles", PL_LS, node.cfg.roles, "store",
               PL_LS, node.cfg.store, "bus", PL_LS, node.cfg.bus, "presence",
               PL_LS, node.cfg.presence, "data_dir", PL_LS, node.cfg.data_dir,
               NULL);
        int sig = wait_for_signal(&node, &set);
        pl_log(PL_LOG_INFO, "shutting_down", "signal", PL_LS,
               sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
        rc = 0;
    }
    stop_all(&node);
    pl_log(PL_LOG_INFO, "stopped", NULL);
    return rc;
}
