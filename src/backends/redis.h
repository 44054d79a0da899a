/* redis.h - a blocking Redis client for worker threads, on hiredis 0.14's
 * synchronous API, with Redis Cluster routing done here (hiredis 0.14 has
 * none).
 *
 * - Single server or Redis Cluster, detected with CLUSTER INFO on the first
 *   connection (or forced by pl_redis_opts.mode).
 * - Cluster: the slot map comes from CLUSTER SLOTS; a command goes to the
 *   master of its key's slot (CRC16 with {hash tags}); `-MOVED` updates the
 *   map and is followed, `-ASK` is followed once with ASKING, `-TRYAGAIN`
 *   is retried after a short pause; at most max_redirects of these per
 *   command. A connection error marks the map stale: it is reloaded from
 *   any reachable node before the next command.
 * - Connections: connect and command timeouts; a connection that fails is
 *   dropped (its byte stream may be out of step) and reopened; a node that
 *   cannot be reached is retried after a backoff doubling up to
 *   backoff_max_ms, so while Redis is down calls fail fast (PL_ERR_IO).
 *   A command that failed on a connection that had worked is retried once
 *   at once on a new connection (the usual stale-socket case after a Redis
 *   restart): commands must therefore be idempotent, or the caller must
 *   accept that one may run twice.
 * - Pipelining: pl_redis_run() sends a batch to every node involved before
 *   reading any reply, so a batch costs one round trip per node, not one
 *   per command. Commands that were redirected or failed are then retried
 *   one by one; order between commands of one batch is not kept across
 *   such retries.
 *
 * Pub/sub: PUBLISH and SPUBLISH are ordinary commands (key -1 resp. 1,
 * the channel). Subscribing is pl_redis_sub below: its own connections
 * (a subscribed connection takes no other command).
 *
 * Not thread-safe: one pl_redis belongs to one thread at a time (or is
 * guarded by the caller's mutex). Replies are hiredis trees (redisReply),
 * owned by the caller, freed with freeReplyObject(); they come from the
 * network, so callers check every type and length they rely on. */
#ifndef PL_REDIS_H
#define PL_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

#define PL_REDIS_SLOTS 16384
#define PL_REDIS_MAX_NODES 64 /* distinct servers one client talks to */
#define PL_REDIS_HOST_MAX 64  /* host names longer than this are refused */

typedef enum pl_redis_mode {
    PL_REDIS_AUTO = 0, /* CLUSTER INFO decides */
    PL_REDIS_SINGLE,
    PL_REDIS_CLUSTER,
} pl_redis_mode;

typedef struct pl_redis_opts {
    const char *addrs;      /* "host:port[,host:port...]": the seeds */
    pl_redis_mode mode;
    int connect_timeout_ms; /* default 1000 */
    int command_timeout_ms; /* default 2000 */
    int max_redirects;      /* MOVED/ASK/TRYAGAIN per command; default 5 */
    int backoff_max_ms;     /* reconnect backoff cap; default 2000 */
} pl_redis_opts;

typedef struct pl_redis_stats {
    uint64_t moved, ask, tryagain; /* redirections followed */
    uint64_t connects;             /* connections opened */
    uint64_t reconnects;           /* of those, to a node connected before */
    uint64_t io_errors;            /* failed connects, reads and writes */
    uint64_t map_loads;            /* slot maps installed */
} pl_redis_stats;

typedef struct pl_redis pl_redis;

/* One command of a batch. argv[i] has lens[i] bytes (binary safe). key is
 * the argv index of the key that routes it in a cluster (e.g. 1 for GET,
 * 3 for EVALSHA sha 1 key), -1 for "any node". On return: reply (owned by
 * the caller; may be an error reply) and st: PL_OK when a reply came,
 * PL_ERR_IO when none could be had. */
typedef struct pl_redis_cmd {
    int argc;
    const char *const *argv;
    const size_t *lens;
    int key;
    redisReply *reply;
    pl_status st;
} pl_redis_cmd;

/* The options of parleyd's configuration (redis-addrs, redis-mode, the
 * two timeouts); the defaults for the rest. o->addrs points into cfg. */
struct pl_config;
void pl_redis_opts_from_config(const struct pl_config *cfg, pl_redis_opts *o);

/* Parses the seeds and sets up; connects lazily (the first command), so
 * this fails only on bad options: PL_ERR_INVALID, PL_ERR_NOMEM. */
pl_status pl_redis_open(const pl_redis_opts *o, pl_redis **out);
void pl_redis_close(pl_redis *r);

/* Connects if needed and learns the topology. PL_OK, or PL_ERR_IO when no
 * seed answers (then again after the backoff). */
pl_status pl_redis_connect(pl_redis *r);
bool pl_redis_is_cluster(const pl_redis *r);

/* Runs n commands, pipelined per node. Returns PL_OK if every command got a
 * reply (check each for REDIS_REPLY_ERROR), else PL_ERR_IO (see each st). */
pl_status pl_redis_run(pl_redis *r, pl_redis_cmd *cmds, size_t n);

/* One command from NUL-terminated strings ended by NULL, e.g.
 * pl_redis_cmdv(r, 1, "GET", "k", NULL). The reply, or NULL on I/O failure.
 * At most 32 arguments. */
redisReply *pl_redis_cmdv(pl_redis *r, int key, const char *arg0, ...)
    __attribute__((sentinel));

/* The same on a given node ("host:port", which must be a seed or known
 * from the slot map), without routing or redirects: for tests and
 * administration. */
redisReply *pl_redis_node_cmdv(pl_redis *r, const char *addr,
                               const char *arg0, ...)
    __attribute__((sentinel));

/* Counts since open. reconnects tells a caller that a server it had been
 * talking to came back (after a restart it may have lost its data). */
void pl_redis_get_stats(const pl_redis *r, pl_redis_stats *out);

/* --- subscriber (redis_sub.c) ----------------------------------------------
 * A set of channels kept subscribed. Single server: SUBSCRIBE on one
 * connection. Redis Cluster: sharded pub/sub (SSUBSCRIBE, Redis >= 7.0),
 * one connection per node owning subscribed channels; a channel goes to
 * the master of its slot (hash tags apply), follows -MOVED, and is
 * resubscribed on the new owner when its slot migrates (the server sends
 * an unsolicited sunsubscribe) and on every node after a reconnect.
 * Publishers use SPUBLISH (cluster) / PUBLISH (single). Messages published
 * while a channel was being resubscribed are lost (pub/sub is at most
 * once). Not thread-safe: one thread polls. */
typedef struct pl_redis_sub pl_redis_sub;
typedef void (*pl_redis_msg_fn)(void *ctx, const char *channel, size_t chlen,
                                const char *msg, size_t len);

pl_status pl_redis_sub_open(const pl_redis_opts *o, pl_redis_sub **out);
void pl_redis_sub_close(pl_redis_sub *s);
/* Adds / removes a channel (binary safe, 1..PL_REDIS_CHANNEL_MAX bytes,
 * at most PL_REDIS_SUB_MAX channels: PL_ERR_TOOLARGE beyond). Takes
 * effect at the next poll. Lookups are O(1) (hashed), and a poll costs
 * O(channels waiting to be sent + messages), not O(channels). */
#define PL_REDIS_CHANNEL_MAX 256
#define PL_REDIS_SUB_MAX (1 << 20)
pl_status pl_redis_sub_add(pl_redis_sub *s, const char *ch, size_t len);
pl_status pl_redis_sub_remove(pl_redis_sub *s, const char *ch, size_t len);
/* Optional: fn(ctx, channel, len, true) when the server confirms a
 * channel's (re)subscription, fn(..., false) when a confirmed channel
 * stops being subscribed (its connection dropped, its slot moved, an
 * error): it is resent at the next polls and confirmed again later. Not
 * called for pl_redis_sub_remove. Called from inside pl_redis_sub_poll:
 * fn must not call back into s. */
typedef void (*pl_redis_sub_state_fn)(void *ctx, const char *channel,
                                      size_t chlen, bool confirmed);
void pl_redis_sub_on_state(pl_redis_sub *s, pl_redis_sub_state_fn fn,
                           void *ctx);
/* The number of channels added and not removed. */
size_t pl_redis_sub_len(const pl_redis_sub *s);
/* (Re)subscribes what is not subscribed, then waits up to timeout_ms for
 * messages and calls fn for each. PL_OK, or PL_ERR_IO when some channel
 * could not be subscribed (retried at the next poll, after the backoff). */
pl_status pl_redis_sub_poll(pl_redis_sub *s, int timeout_ms,
                            pl_redis_msg_fn fn, void *ctx);
/* How many subscriptions were (re)sent after the first, and how many
 * channels are confirmed subscribed right now. */
void pl_redis_sub_counts(const pl_redis_sub *s, uint64_t *resubscribes,
                         size_t *confirmed);

/* --- pure helpers (redis_proto.c), unit-tested and fuzzed --------------- */

/* CRC16-CCITT (XModem) as Redis Cluster uses it; crc16("123456789") ==
 * 0x31C3. */
uint16_t pl_redis_crc16(const void *buf, size_t len);
/* The slot of a key: CRC16 of the {hash tag} if the key has a non-empty
 * one (first '{', then the first '}' after it), else of the whole key. */
uint16_t pl_redis_key_slot(const void *key, size_t len);

/* Most elements an array reply may announce; more is a protocol error. */
#define PL_REDIS_MAX_ELEMENTS (1 << 20)
/* Makes rd refuse array replies above PL_REDIS_MAX_ELEMENTS instead of
 * allocating what the peer announces (hiredis 0.14 has no limit). Call on
 * every reader: each connection's c->reader. Thread-safe. */
void pl_redis_reader_limit(redisReader *rd);

typedef enum pl_redis_redirect {
    PL_REDIS_NOT_REDIRECT = 0,
    PL_REDIS_MOVED,
    PL_REDIS_ASK,
} pl_redis_redirect;

/* Parses an error reply "MOVED 3999 127.0.0.1:6381" / "ASK ...". The host
 * may be empty (Redis 7: "the endpoint you asked"): host[0] = 0 then. The
 * port splits at the last ':' (IPv6 hosts). Returns NOT_REDIRECT for other
 * errors, and PL_ERR_INVALID through *st for a malformed redirect. */
pl_redis_redirect pl_redis_parse_redirect(const char *s, size_t len,
                                          int *slot, char *host,
                                          size_t hostcap, int *port,
                                          pl_status *st);

/* One slot range of a CLUSTER SLOTS reply, served by the master host:port. */
typedef struct pl_redis_range {
    uint16_t start, end;
    char host[PL_REDIS_HOST_MAX + 1];
    int port;
} pl_redis_range;

/* Decodes a CLUSTER SLOTS reply (a pure function over the reply tree)
 * into at most cap ranges, masters only. A NULL or empty host means the
 * node that was asked: self_host is used. Ranges whose endpoint is "?"
 * (unknown) are skipped. *n = ranges written. PL_ERR_INVALID on a
 * malformed reply (wrong type, slot outside 0..16383, start > end, port
 * outside 1..65535, host too long), PL_ERR_TOOLARGE over cap. */
pl_status pl_redis_slots_decode(const redisReply *r, const char *self_host,
                                pl_redis_range *out, size_t cap, size_t *n);

/* Splits "host:port" (last ':'; "[v6]:port" brackets removed) into host
 * and port. PL_ERR_INVALID on anything else. */
pl_status pl_redis_parse_addr(const char *s, size_t len, char *host,
                              size_t hostcap, int *port);

#endif
