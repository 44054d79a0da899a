/* gw_int.h - the gateway's internal types, shared by gateway.c (loops,
 * index, deliveries), gw_conn.c (socket I/O), gw_http.c (HTTP), gw_rest.c
 * (REST handlers) and gw_ws.c (WebSocket sessions).
 *
 * Lifetimes: a connection belongs to its loop. It is never freed inside
 * one of its own callbacks: gw_conn_close() marks it and puts it on the
 * loop's reap list, freed in the before-sleep hook. Asynchronous work
 * (store jobs, messaging requests) refers to a connection by its 64-bit id
 * and looks it up when the result comes back: a connection that closed in
 * between is simply not found. */
#ifndef PL_GW_INT_H
#define PL_GW_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/bucket.h"
#include "../core/buf.h"
#include "../core/hmap.h"
#include "../core/jwt.h"
#include "../core/limtab.h"
#include "../core/netaddr.h"
#include "../proto/http_parse.h"
#include "../proto/ws.h"
#include "../proto/ws_msg.h"
#include "gateway.h"

#define GW_TYPING_SLOTS 8
/* WebSocket close code: the session's token expired, or the key that
 * signed it was retired; reconnect with a fresh token. */
#define GW_CLOSE_TOKEN 4001

typedef struct gw_loop gw_loop;
typedef struct gw_conn gw_conn;
typedef struct gw_user gw_user;
typedef struct gw_relay gw_relay;

/* A WebSocket session whose conversations are indexed, waiting for the
 * relay to confirm their subscriptions before its hello (cluster mode). */
typedef struct gw_hello_wait {
    uint64_t conn_id;
    uint64_t gen;        /* the relay generation it waits for */
    uint64_t pmark;      /* and the presence mark (its connect in Redis) */
    int64_t deadline_ms; /* then: close 1013 */
} gw_hello_wait;

enum gw_conn_state {
    GW_HTTP = 1,    /* reading requests */
    GW_WS_LOADING,  /* upgraded; loading the user's conversations */
    GW_WS_OPEN,     /* hello sent: a live session */
    GW_CLOSING,     /* close frame / final response queued; draining */
    GW_DEAD,        /* on the reap list */
};

typedef struct gw_outq {
    pl_rbuf **bufs; /* ring */
    size_t head, len, cap;
    size_t off;     /* bytes of bufs[head] already written */
    size_t bytes;   /* bytes queued, for the bound */
} gw_outq;

struct gw_conn {
    pl_io io;
    uint64_t id;
    gw_loop *gw;
    int state;
    char peer[64];
    int64_t created_ms, last_rx_ms;
    int64_t closing_ms;  /* when closing began (GW_CLOSING), for the timeout */
    int64_t request_ms;  /* HTTP: first byte of the current request, 0: idle */
    bool shut_wr;        /* our close is written and the write side shut */
    bool out_paused;     /* HTTP: reading paused until the output drains */
    /* input */
    uint8_t *in;
    size_t in_len, in_cap, in_max;
    bool reading_paused; /* an async request is in flight */
    bool peer_closed;
    /* output */
    gw_outq out;
    bool in_flush_list;
    gw_conn *next_flush;
    bool in_ready_list; /* buffered input to process after a resume */
    gw_conn *next_ready;
    gw_conn *next_dead;
    bool close_after_flush;
    bool keep_alive;
    /* session (after authentication) */
    pl_uuid user_id;
    char username[PL_USERNAME_MAX + 1];
    pl_uuid session_id;
    gw_user *user;
    int64_t token_exp;
    /* WebSocket message assembly */
    pl_dbuf frag;
    int frag_opcode; /* 0: no fragmented message in progress */
    uint32_t utf8_state;
    uint64_t load_gen; /* gw_loading.gen when this session's load began */
    /* typing throttle: the last typing per conversation (LRU slots) and a
     * token bucket over all conversations */
    struct {
        pl_uuid conv;
        int64_t at_ms;
    } typing[GW_TYPING_SLOTS];
    double typing_tokens;
    int64_t typing_refill_ms;
    pl_bucket send_bucket; /* send-rate per connection */
    /* presence subscription: the users this connection watches */
    pl_uuid *watching;
    size_t nwatching;
    /* abuse limits (gw_limits.c) */
    pl_ipaddr peer_addr; /* the TCP peer */
    pl_limkey conn_key;  /* what this connection is counted under */
    uint8_t lim_state;   /* enum gw_lim_state */
    bool via_proxy;      /* the peer is a trusted proxy */
    int8_t refused;      /* pl_status of a refusal at accept; 0: none */
    int32_t refuse_retry_ms;
    uint64_t token_kid;  /* pl_jwt_kid_hash of the session token's kid */
};

enum gw_lim_state {
    GW_LIM_NONE = 0, /* not counted (limits off) */
    GW_LIM_COUNTED,  /* holds one count under conn_key */
    GW_LIM_PENDING,  /* from a trusted proxy: counted at its first request */
};

/* A locally connected user: its connections on this loop and its
 * conversations (the index rows it appears in). */
struct gw_user {
    pl_uuid id;
    pl_bucket send_bucket; /* send-rate per user, on this loop */
    gw_conn **conns;
    size_t nconns, conns_cap;
    pl_uuid *convs;
    size_t nconvs, convs_cap;
};

/* The local online members of one conversation. */
typedef struct gw_conv {
    pl_uuid id;
    pl_hmap users;      /* user id -> gw_user */
    int64_t members;    /* member count (all members, not just online) */
    int64_t members_ms; /* when it was read; 0: never */
    bool members_pending;
} gw_conv;

struct gw_loop {
    pl_loop *loop;
    pl_gateway *g;
    pl_node *node;
    int idx;
    pl_io listen_io;
    pl_hmap conns; /* id -> gw_conn */
    uint64_t next_id;
    gw_conn *flush_head;
    gw_conn *ready_head;
    gw_conn *dead_head;
    pl_hmap users; /* user id -> gw_user */
    pl_hmap convs; /* conversation id -> gw_conv */
    pl_hmap watchers; /* watched user id -> gw_watch (presence) */
    uint64_t presence_events; /* presence frames delivered on this loop */
    pl_hmap loading; /* user id -> gw_loading: sessions still loading */
    bool draining;
    pl_jwt_keyring keys; /* this loop's copy: verifies without locks */
    pl_limtab *limtab;   /* shared by every loop (gateway-owned) */
    const pl_cidr_list *trusted; /* trusted-proxies, parsed */
    unsigned sweep_shard;
    int refused_conns; /* refused, waiting for their request */
    gw_relay *relay;   /* cluster mode; NULL: single node */
    gw_hello_wait *hello_wait; /* sessions waiting for their hello */
    size_t nhello, hello_cap;
};

/* A user with sessions whose conversation list is being loaded. */
typedef struct gw_loading {
    int sessions;
    uint64_t gen; /* +1 per membership change of the user */
} gw_loading;

/* gateway.c: the index. A session's conversation list is loaded on a
 * worker; a membership change that arrives meanwhile may not be in it,
 * so the load is redone until none raced it. */
uint64_t gw_loading_begin(gw_loop *gw, const pl_uuid *user);
/* Ends one load begun at gen; true if the user's membership changed since
 * (the caller loads again). */
bool gw_loading_end(gw_loop *gw, const pl_uuid *user, uint64_t gen);
pl_status gw_index_add_conn(gw_loop *gw, gw_conn *c, const pl_uuid *convs,
                            size_t n);
void gw_index_remove_conn(gw_loop *gw, gw_conn *c);
bool gw_index_is_member(gw_loop *gw, const pl_uuid *user, const pl_uuid *conv);
/* The conversation's member count as last read (refreshed in the
 * background when older than 30 s); -1 if not known yet. */
int64_t gw_conv_members(gw_loop *gw, const pl_uuid *conv);
gw_conn *gw_conn_find(gw_loop *gw, uint64_t id);
pl_gateway *gw_gateway(gw_loop *gw);
int gw_loop_count(pl_gateway *g);
pl_loop *gw_loop_at(pl_gateway *g, int i);
gw_loop *gw_loop_get(pl_gateway *g, int i);

/* gw_relay.c: the gateway side of cluster mode (docs/ARCHITECTURE.md §15).
 * gw_submit hands a send/read to messaging: in this process (single node,
 * node->messaging set) or as a PL_CW_REQ on the bus topic sends (cluster
 * mode; the result comes back through the relay as an ack). Sets r's
 * ctx, ctx_loop and done (the caller sets ctx_id, ctx_kind). PL_OK: r is
 * taken; else the caller still owns r and answers "overloaded". */
struct pl_msg_req;
pl_status gw_submit(gw_loop *gw, struct pl_msg_req *r);
/* Cluster mode only (pl_gateway_start): creates the relay (resolves the
 * gateway id "auto" in node->cfg, opens its Redis subscriber), starts and
 * stops its thread, frees it (after the loops: they still report
 * conversations while closing their connections). */
pl_status gw_relay_new(pl_gateway *g, pl_node *node, gw_relay **out);
pl_status gw_relay_start(gw_relay *r);
void gw_relay_stop(gw_relay *r);
void gw_relay_free(gw_relay *r);
/* Loop thread: conv got its first local member (+1) / lost its last (-1)
 * on this loop. No-op without a relay. */
void gw_relay_conv_ref(gw_loop *gw, const pl_uuid *conv, int delta);
/* Loop thread: c's conversations are indexed; sends its hello now (no
 * relay, or every subscription it needs is confirmed) or once the relay
 * confirms them, or closes it with 1013 after a timeout. */
void gw_relay_hello(gw_conn *c);
/* Loop tick and relay pokes: hellos now due, and timeouts. */
void gw_relay_hello_check(gw_loop *gw);

/* What gw_limits_admit decided about a new connection. */
typedef struct gw_admission {
    pl_ipaddr peer;
    int lim_state;   /* enum gw_lim_state */
    pl_limkey key;   /* GW_LIM_COUNTED: the count it holds */
    int refused;     /* pl_status: answer the first request with 429/503 */
    int64_t retry_ms;
} gw_admission;

/* gw_conn.c. The connection releases what the admission counted when it
 * is reaped (or at once if it cannot be set up). */
void gw_conn_accept(gw_loop *gw, int fd, const char *peer,
                    const gw_admission *a);
/* Takes ownership of one reference of b. Enforces the outbound bound:
 * a durable frame over the limit closes the connection (1008); returns
 * PL_ERR_TOOLARGE then. */
pl_status gw_conn_send(gw_conn *c, pl_rbuf *b);
/* Like gw_conn_send, but drops the frame instead when the queue is above
 * half its bound (droppable events). */
void gw_conn_send_droppable(gw_conn *c, pl_rbuf *b);
/* Marks for closing after the queued output is written. */
void gw_conn_close_after_flush(gw_conn *c);
/* Immediate close (no more output). Safe inside the conn's callbacks. */
void gw_conn_close(gw_conn *c);
void gw_conn_pause(gw_conn *c);
void gw_conn_resume(gw_conn *c);
void gw_flush_all(pl_loop *l, void *gw);
void gw_process_ready(gw_loop *gw); /* input buffered while paused */
void gw_reap(gw_loop *gw);
void gw_conn_tick(gw_loop *gw); /* timeouts */

/* gw_presence.c: presence subscriptions */
#define GW_PRESENCE_MAX_SUBS 1000
void gw_presence_subscribe(gw_conn *c, json_t *frame);
void gw_presence_unsubscribe_all(gw_conn *c);
void gw_presence_deliver(gw_loop *gw, const pl_uuid *user, pl_rbuf *frame);

/* gw_http.c */
/* Handles what is buffered in c->in while in GW_HTTP state. */
void gw_http_process(gw_conn *c);
/* Queues a JSON response (body may be NULL: no body). Steals body. */
void gw_http_respond_json(gw_conn *c, int status, json_t *body);
void gw_http_respond_error(gw_conn *c, int status, const char *code,
                           const char *message);
void gw_http_respond_raw(gw_conn *c, int status, const char *ctype,
                         const char *body, size_t len);
/* Queues a response whose header lines (each ending in CRLF) the caller
 * wrote, Content-Length included; adds the status line and Connection.
 * body may be NULL with len 0 (HEAD, 304). Copies body. */
void gw_http_respond_fields(gw_conn *c, int status, const char *fields,
                            const void *body, size_t len);
/* An error with a Retry-After header (seconds, rounded up from retry_ms,
 * at least 1): 429 too_many_requests and 503 overloaded of the limits. */
void gw_http_respond_retry(gw_conn *c, int status, const char *code,
                           const char *message, int64_t retry_ms);
/* Called when an async request finishes: resumes parsing the next one. */
void gw_http_request_done(gw_conn *c);

/* gw_rest.c: routes one request (head parsed, body complete). */
typedef struct gw_request {
    pl_http_request *req;
    const char *body;
    size_t body_len;
} gw_request;
void gw_rest_route(gw_conn *c, const gw_request *r);
/* Verifies the bearer token of a request into c's session fields. */
pl_status gw_auth_token(gw_conn *c, const char *token, size_t len);

/* gw_limits.c: the abuse limits (docs/SECURITY.md). */
/* At accept, for a peer that is not a trusted proxy: counts the
 * connection under its address, or marks it refused (its first request
 * is answered 429/503, then it closes). false: closed at once (too many
 * refused connections waiting for their request on this loop). */
bool gw_limits_admit(gw_loop *gw, int fd, gw_admission *a);
/* The tick's verdict on a refused connection: true when it waited too
 * long for its request (it is closed without an answer). */
bool gw_limits_refused_expired(gw_conn *c, int64_t now_ms);
/* Called by gw_http.c before any route (REST, WebSocket, whatever else
 * is served): answers a connection refused at accept, and counts a
 * connection from a trusted proxy under the forwarded client at its first
 * request. false: answered (429/503, connection closing). */
bool gw_limits_request(gw_conn *c, const gw_request *r);
/* The client of this request: the peer, or whom a trusted proxy names. */
pl_ipaddr gw_limits_client(gw_conn *c, const pl_http_request *req);
void gw_limits_release(gw_conn *c); /* when the connection is freed */

/* Login / register throttles. A ticket holds the budget tokens an attempt
 * took; the attempt's outcome decides which are given back. */
typedef struct gw_ticket {
    pl_limkey user, ip;
    uint8_t held; /* GW_TICKET_USER | GW_TICKET_IP */
    uint8_t kind; /* GW_TICKET_LOGIN | GW_TICKET_REGISTER */
} gw_ticket;
enum { GW_TICKET_USER = 1, GW_TICKET_IP = 2 };
enum { GW_TICKET_LOGIN = 1, GW_TICKET_REGISTER = 2 };
enum gw_auth_outcome {
    GW_AUTH_OK = 1,    /* login: the name's budget refills, the address's
                          token comes back (only failures count) */
    GW_AUTH_FAILED,    /* wrong credentials: the tokens stay spent */
    GW_AUTH_NOT_TRIED, /* no verdict (queue full, store error): all back */
};
/* false: answered 429 (or 503 when the table is full). */
bool gw_limits_login_begin(gw_conn *c, const gw_request *r,
                           const char *username, gw_ticket *t);
bool gw_limits_register_begin(gw_conn *c, const gw_request *r, gw_ticket *t);
/* Thread-safe: the hash workers call it with the job's loop. */
void gw_limits_auth_end(gw_loop *gw, gw_ticket *t, int outcome);
/* Loop tick: loop 0 sweeps a shard of the table and updates metrics. */
void gw_limits_tick(gw_loop *gw);
/* After gw->keys changed: closes sessions whose key was retired. */
void gw_limits_keys_changed(gw_loop *gw);

/* gw_ws.c */
void gw_ws_upgrade(gw_conn *c, const gw_request *r);
void gw_ws_process(gw_conn *c);
/* Queues a close frame with code and reason and closes after flush. */
void gw_ws_close(gw_conn *c, int code, const char *reason);
/* The session is live: GW_WS_OPEN, hello sent, input resumed. */
void gw_ws_open(gw_conn *c);
void gw_ws_send_json(gw_conn *c, json_t *o); /* steals o */
void gw_ws_send_error(gw_conn *c, const char *code, const char *message,
                      const char *client_msg_id);
/* gw_sync.c: the `sync` frame (history pages over the WebSocket) */
void gw_ws_sync(gw_conn *c, const pl_ws_msg *m); /* validated */

#endif
