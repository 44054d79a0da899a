/* limtab.h - a bounded, thread-safe table of limiter state: per key, one
 * token bucket and a count of open connections.
 *
 * It backs the per-address connection limits and the login / register
 * throttles, which every gateway loop and the hash workers consult, so it
 * is shared: 16 shards, each behind its own mutex, held only for a hash
 * lookup and a few arithmetic operations (never for I/O), so a loop never
 * waits on anything slower than another loop's lookup.
 *
 * Memory is bounded: at most `cap` entries (split evenly over the shards),
 * allocated once. An entry whose bucket has refilled and that counts no
 * connection holds no information and is dropped (by pl_limtab_sweep, or
 * reused at once when its shard is full). A full shard evicts the entry
 * closest to that state among a random sample (Redis-style approximate
 * LRU); an entry with open connections is never evicted, so when every
 * entry of a shard counts connections, new keys are refused
 * (PL_ERR_BUSY): size the table above max-connections.
 *
 * Keys are keyed BLAKE2b digests of (purpose, bytes) with a per-process
 * random secret, so clients cannot aim many keys at one shard or one
 * probe chain. */
#ifndef PL_LIMTAB_H
#define PL_LIMTAB_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "uuid.h"

typedef struct pl_limtab pl_limtab;
typedef pl_uuid pl_limkey; /* 16 opaque bytes */

/* A bucket: rate tokens per second, at most burst saved (a new key
 * starts full). rate <= 0: unlimited (takes always succeed). */
typedef struct pl_limit {
    double rate;
    double burst;
} pl_limit;

/* What a key counts, mixed into its digest. */
enum pl_lim_purpose {
    PL_LIM_CONN = 1,    /* connections per client address */
    PL_LIM_LOGIN_USER,  /* failed logins per username */
    PL_LIM_LOGIN_IP,    /* failed logins per client address */
    PL_LIM_REGISTER_IP, /* registrations per client address */
};

/* cap: most entries (at least 16). NULL when out of memory. */
pl_limtab *pl_limtab_new(size_t cap);
void pl_limtab_free(pl_limtab *t);
pl_limkey pl_limtab_key(const pl_limtab *t, int purpose, const void *data,
                        size_t len);

/* Takes one token. PL_OK; PL_AGAIN when empty (*retry_ms: until the next
 * token); PL_ERR_BUSY when no entry could be made (table full). */
pl_status pl_limtab_take(pl_limtab *t, const pl_limkey *k, pl_limit l,
                         int64_t now_ms, int64_t *retry_ms);
/* Gives back n tokens (n < 0: fills the bucket). Unknown key: nothing. */
void pl_limtab_give(pl_limtab *t, const pl_limkey *k, pl_limit l,
                    int64_t now_ms, int n);

/* A connection attempt: takes a token of l, then counts the connection if
 * fewer than max are open (max <= 0: no count limit). PL_OK (counted);
 * PL_AGAIN (no token; *retry_ms); PL_ERR_TOOLARGE (max reached);
 * PL_ERR_BUSY (table full). A refused attempt keeps its token spent. */
pl_status pl_limtab_conn_open(pl_limtab *t, const pl_limkey *k, pl_limit l,
                              int64_t max, int64_t now_ms, int64_t *retry_ms);
/* Undoes one counted pl_limtab_conn_open. */
void pl_limtab_conn_close(pl_limtab *t, const pl_limkey *k);

/* Drops the entries of one shard (shard % 16) that hold no information
 * at now_ms; returns how many. Spread over ticks by the caller. */
size_t pl_limtab_sweep(pl_limtab *t, unsigned shard, int64_t now_ms);
size_t pl_limtab_len(pl_limtab *t);
uint64_t pl_limtab_evictions(pl_limtab *t);

#endif
