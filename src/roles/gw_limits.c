/* gw_limits.c - the gateway's abuse limits (docs/SECURITY.md): open
 * connections and new connections per client address, the client address
 * behind trusted proxies, login and register throttles, and the sessions
 * whose token expired or whose signing key was retired.
 *
 * All the per-address and per-username state lives in one pl_limtab
 * shared by the loops (and the hash workers, which report login
 * outcomes): a limit per loop would multiply every limit by the number of
 * loops, and which loop accepts a connection is up to the kernel. The
 * table's locks cover a lookup and some arithmetic, never I/O. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/timeutil.h"
#include "gw_int.h"

#define REFUSE_RETRY_MS 1000 /* Retry-After for "too many open" and "busy" */

static pl_limit conn_limit(const pl_config *cfg)
{
    if (cfg->conn_rate_per_ip <= 0)
        return (pl_limit){0, 0};
    return (pl_limit){(double)cfg->conn_rate_per_ip,
                      (double)cfg->conn_burst_per_ip};
}

/* n per auth-window, all of it available at once. */
static pl_limit auth_limit(const pl_config *cfg, int64_t n)
{
    if (n <= 0)
        return (pl_limit){0, 0};
    return (pl_limit){(double)n / (double)cfg->auth_window_s, (double)n};
}

static bool conn_limits_on(const pl_config *cfg)
{
    return cfg->max_connections_per_ip > 0 || cfg->conn_rate_per_ip > 0;
}

static pl_limkey conn_key(gw_loop *gw, const pl_ipaddr *client)
{
    pl_ipaddr k = pl_ipaddr_limit_key(client);
    return pl_limtab_key(gw->limtab, PL_LIM_CONN, k.b, sizeof k.b);
}

/* What a refusal says, by the table's answer. */
static void refusal(pl_status st, int *status, const char **code,
                    const char **msg)
{
    *status = st == PL_ERR_BUSY ? 503 : 429;
    *code = st == PL_ERR_BUSY ? "overloaded" : "too_many_requests";
    *msg = st == PL_AGAIN ? "too many new connections from this address"
           : st == PL_ERR_TOOLARGE ? "too many open connections from this "
                                     "address"
                                   : "server busy, retry later";
}

static void log_refusal(const pl_ipaddr *client, const char *msg)
{
    char ip[PL_IPADDR_STRLEN];
    PL_METRIC_ADD(connections_refused_total, 1);
    pl_log(PL_LOG_DEBUG, "connection_refused", "client", PL_LS,
           pl_ipaddr_fmt(client, ip), "reason", PL_LS, msg, NULL);
}

/* --- at accept ---------------------------------------------------------- */

/* A refused connection is answered after its request head has been read:
 * answering first and closing would make a client that is still sending
 * see a reset instead of the 429 (browsers and the websockets library
 * do). Waiting costs a descriptor and a connection for at most
 * REFUSED_WAIT_MS, and at most REFUSED_MAX per loop may wait: beyond
 * that a flood is shed with one write and a close, no answer promised. */
#define REFUSED_WAIT_MS 2000
#define REFUSED_MAX 128

static void shed_fd(int fd, pl_status st)
{
    char resp[256];
    int status;
    const char *code, *msg;
    refusal(st, &status, &code, &msg);
    int n = snprintf(
        resp, sizeof resp,
        "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n"
        "Retry-After: 1\r\nConnection: close\r\n\r\n",
        status, status == 429 ? "Too Many Requests" : "Service Unavailable");
    (void)!write(fd, resp, (size_t)n); /* a fresh socket takes it */
    close(fd);
}

bool gw_limits_admit(gw_loop *gw, int fd, gw_admission *a)
{
    const pl_config *cfg = &gw->node->cfg;
    a->lim_state = GW_LIM_NONE;
    a->refused = PL_OK;
    a->retry_ms = REFUSE_RETRY_MS;
    memset(&a->key, 0, sizeof(a->key));
    if (pl_cidr_list_match(gw->trusted, &a->peer)) {
        a->lim_state = GW_LIM_PENDING; /* the client is in the request */
        return true;
    }
    if (!conn_limits_on(cfg))
        return true;
    a->key = conn_key(gw, &a->peer);
    pl_status st = pl_limtab_conn_open(gw->limtab, &a->key, conn_limit(cfg),
                                       cfg->max_connections_per_ip,
                                       pl_loop_now_ms(gw->loop), &a->retry_ms);
    if (st == PL_OK) {
        a->lim_state = GW_LIM_COUNTED;
        return true;
    }
    int status;
    const char *code, *msg;
    refusal(st, &status, &code, &msg);
    log_refusal(&a->peer, msg);
    if (st != PL_AGAIN)
        a->retry_ms = REFUSE_RETRY_MS;
    a->refused = st;
    if (gw->refused_conns < REFUSED_MAX)
        return true; /* answered at its first request */
    shed_fd(fd, st);
    return false;
}

bool gw_limits_refused_expired(gw_conn *c, int64_t now_ms)
{
    return c->refused && c->state == GW_HTTP && !c->close_after_flush &&
           now_ms - c->created_ms > REFUSED_WAIT_MS;
}

void gw_limits_release(gw_conn *c)
{
    if (c->lim_state == GW_LIM_COUNTED)
        pl_limtab_conn_close(c->gw->limtab, &c->conn_key);
    c->lim_state = GW_LIM_NONE;
    if (c->refused)
        c->gw->refused_conns--;
    c->refused = 0;
}

/* --- behind trusted proxies --------------------------------------------- */

static bool name_is(const pl_http_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->name.len == n && strncasecmp(h->name.p, name, n) == 0;
}

pl_ipaddr gw_limits_client(gw_conn *c, const pl_http_request *req)
{
    const char *vals[PL_HTTP_MAX_HEADERS];
    size_t lens[PL_HTTP_MAX_HEADERS], n = 0;
    pl_ipaddr a;
    if (!c->via_proxy)
        return c->peer_addr;
    for (size_t i = 0; i < req->nheaders; i++)
        if (name_is(&req->headers[i], "x-forwarded-for")) {
            vals[n] = req->headers[i].value.p;
            lens[n++] = req->headers[i].value.len;
        }
    if (n > 0)
        return pl_forwarded_client(c->gw->trusted, &c->peer_addr, vals, lens,
                                   n);
    const pl_http_header *h = pl_http_find_header(req, "x-real-ip");
    if (h && pl_ipaddr_parse(h->value.p, h->value.len, &a))
        return a;
    return c->peer_addr;
}

/* Answers a refused connection's request and closes it. */
static void refuse_request(gw_conn *c, pl_status st, int64_t retry_ms)
{
    int status;
    const char *code, *msg;
    refusal(st, &status, &code, &msg);
    c->keep_alive = false;
    gw_http_respond_retry(c, status, code, msg, retry_ms);
}

bool gw_limits_request(gw_conn *c, const gw_request *r)
{
    gw_loop *gw = c->gw;
    const pl_config *cfg = &gw->node->cfg;
    int64_t retry = REFUSE_RETRY_MS;
    if (c->refused) {
        refuse_request(c, c->refused, c->refuse_retry_ms);
        return false;
    }
    if (c->lim_state != GW_LIM_PENDING)
        return true;
    c->lim_state = GW_LIM_NONE;
    if (!conn_limits_on(cfg))
        return true;
    pl_ipaddr client = gw_limits_client(c, r->req);
    pl_limkey key = conn_key(gw, &client);
    pl_status st = pl_limtab_conn_open(gw->limtab, &key, conn_limit(cfg),
                                       cfg->max_connections_per_ip,
                                       pl_loop_now_ms(gw->loop), &retry);
    if (st == PL_OK) {
        c->conn_key = key;
        c->lim_state = GW_LIM_COUNTED;
        return true;
    }
    int status;
    const char *code, *msg;
    refusal(st, &status, &code, &msg);
    log_refusal(&client, msg);
    refuse_request(c, st, st == PL_AGAIN ? retry : REFUSE_RETRY_MS);
    return false;
}

/* --- login and register --------------------------------------------------- */

static pl_limkey user_key(gw_loop *gw, const char *name)
{
    char low[PL_USERNAME_MAX + 1];
    size_t n = strnlen(name, PL_USERNAME_MAX);
    for (size_t i = 0; i < n; i++) /* names are unique case-insensitively */
        low[i] = (char)tolower((unsigned char)name[i]);
    return pl_limtab_key(gw->limtab, PL_LIM_LOGIN_USER, low, n);
}

static pl_limkey ip_key(gw_loop *gw, int purpose, const pl_ipaddr *client)
{
    pl_ipaddr k = pl_ipaddr_limit_key(client);
    return pl_limtab_key(gw->limtab, purpose, k.b, sizeof k.b);
}

/* Takes one token of key under lim into the ticket (bit). */
static pl_status ticket_take(gw_loop *gw, gw_ticket *t, int bit, pl_limit lim,
                             int64_t *retry)
{
    if (lim.rate <= 0)
        return PL_OK;
    pl_limkey *k = bit == GW_TICKET_USER ? &t->user : &t->ip;
    pl_status st = pl_limtab_take(gw->limtab, k, lim, pl_mono_ms(), retry);
    if (st == PL_OK)
        t->held |= (uint8_t)bit;
    return st;
}

static void throttled(gw_conn *c, gw_ticket *t, pl_status st, int64_t retry,
                      const char *msg)
{
    gw_limits_auth_end(c->gw, t, GW_AUTH_NOT_TRIED);
    PL_METRIC_ADD(auth_throttled_total, 1);
    if (st == PL_ERR_BUSY)
        gw_http_respond_retry(c, 503, "overloaded", "server busy, retry later",
                              REFUSE_RETRY_MS);
    else
        gw_http_respond_retry(c, 429, "too_many_requests", msg, retry);
}

bool gw_limits_login_begin(gw_conn *c, const gw_request *r,
                           const char *username, gw_ticket *t)
{
    const pl_config *cfg = &c->gw->node->cfg;
    pl_ipaddr client = gw_limits_client(c, r->req);
    int64_t retry = 0;
    memset(t, 0, sizeof(*t));
    t->kind = GW_TICKET_LOGIN;
    t->user = user_key(c->gw, username);
    t->ip = ip_key(c->gw, PL_LIM_LOGIN_IP, &client);
    pl_status st =
        ticket_take(c->gw, t, GW_TICKET_USER,
                    auth_limit(cfg, cfg->login_failures_per_user), &retry);
    if (st != PL_OK) {
        throttled(c, t, st, retry, "too many failed logins for this username");
        return false;
    }
    st = ticket_take(c->gw, t, GW_TICKET_IP,
                     auth_limit(cfg, cfg->login_failures_per_ip), &retry);
    if (st != PL_OK) {
        throttled(c, t, st, retry, "too many failed logins from this address");
        return false;
    }
    return true;
}

bool gw_limits_register_begin(gw_conn *c, const gw_request *r, gw_ticket *t)
{
    const pl_config *cfg = &c->gw->node->cfg;
    pl_ipaddr client = gw_limits_client(c, r->req);
    int64_t retry = 0;
    memset(t, 0, sizeof(*t));
    t->kind = GW_TICKET_REGISTER;
    t->ip = ip_key(c->gw, PL_LIM_REGISTER_IP, &client);
    pl_status st = ticket_take(c->gw, t, GW_TICKET_IP,
                               auth_limit(cfg, cfg->register_per_ip), &retry);
    if (st != PL_OK) {
        throttled(c, t, st, retry, "too many registrations from this address");
        return false;
    }
    return true;
}

void gw_limits_auth_end(gw_loop *gw, gw_ticket *t, int outcome)
{
    const pl_config *cfg = &gw->node->cfg;
    int64_t now = pl_mono_ms();
    bool login = t->kind == GW_TICKET_LOGIN;
    pl_limit ul = auth_limit(cfg, cfg->login_failures_per_user);
    pl_limit il = auth_limit(cfg, login ? cfg->login_failures_per_ip
                                        : cfg->register_per_ip);
    if (outcome == GW_AUTH_FAILED || (!login && outcome == GW_AUTH_OK))
        goto out; /* failures count; every registration counts */
    if (t->held & GW_TICKET_USER) /* a good login clears the name's record */
        pl_limtab_give(gw->limtab, &t->user, ul, now,
                       outcome == GW_AUTH_OK ? -1 : 1);
    if (t->held & GW_TICKET_IP)
        pl_limtab_give(gw->limtab, &t->ip, il, now, 1);
out:
    t->held = 0;
}

/* --- ticks and key changes ---------------------------------------------- */

void gw_limits_tick(gw_loop *gw)
{
    if (gw->idx != 0) /* one loop sweeps the shared table */
        return;
    pl_limtab_sweep(gw->limtab, gw->sweep_shard++, pl_mono_ms());
    atomic_store(&pl_metrics_g.limit_entries,
                 (int64_t)pl_limtab_len(gw->limtab));
    atomic_store(&pl_metrics_g.limit_evictions_total,
                 (int64_t)pl_limtab_evictions(gw->limtab));
}

static bool kid_known(const pl_jwt_keyring *kr, uint64_t kid)
{
    for (int i = 0; i < kr->nkeys; i++)
        if (pl_jwt_kid_hash(kr->keys[i].kid) == kid)
            return true;
    return false;
}

void gw_limits_keys_changed(gw_loop *gw)
{
    for (size_t i = 0; i < gw->conns.cap; i++) {
        gw_conn *c = gw->conns.slots[i].val;
        if (!c || (c->state != GW_WS_OPEN && c->state != GW_WS_LOADING) ||
            kid_known(&gw->keys, c->token_kid))
            continue;
        PL_METRIC_ADD(token_closes_total, 1);
        gw_ws_close(c, GW_CLOSE_TOKEN, "token revoked: its key was retired");
    }
}
