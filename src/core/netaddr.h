/* netaddr.h - IP addresses and CIDR lists for the per-address limits and
 * the trusted-proxies option.
 *
 * An address is 16 bytes: IPv6, or IPv4 as an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d), so one type and one table serve both families. Limits
 * count an IPv6 client by its /64 (one subscriber usually gets a whole
 * /64, so counting single addresses would let it use 2^64 of them). */
#ifndef PL_NETADDR_H
#define PL_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define PL_IPADDR_STRLEN 46 /* INET6_ADDRSTRLEN, with the NUL */
#define PL_CIDR_MAX 32      /* entries in one trusted-proxies list */

typedef struct pl_ipaddr {
    uint8_t b[16];
} pl_ipaddr;

typedef struct pl_cidr {
    pl_ipaddr net; /* host bits cleared */
    int bits;      /* prefix length out of 128 (IPv4 /n is 96 + n) */
} pl_cidr;

typedef struct pl_cidr_list {
    pl_cidr v[PL_CIDR_MAX];
    int n;
} pl_cidr_list;

/* v4 in network byte order (a struct in_addr's s_addr). */
void pl_ipaddr_from_v4(pl_ipaddr *a, uint32_t v4);
bool pl_ipaddr_is_v4(const pl_ipaddr *a);
/* Parses an IPv4 or IPv6 address in text (len bytes, no NUL needed).
 * Strict: inet_pton syntax, no port, no brackets, no zone. */
bool pl_ipaddr_parse(const char *s, size_t len, pl_ipaddr *out);
/* Formats as text (IPv4 dotted, IPv6 RFC 5952); out: PL_IPADDR_STRLEN. */
char *pl_ipaddr_fmt(const pl_ipaddr *a, char *out);
/* The address limits are counted under: IPv4 itself, IPv6 its /64. */
pl_ipaddr pl_ipaddr_limit_key(const pl_ipaddr *a);

/* Parses "none" (empty list) or a comma list of ADDR or ADDR/BITS
 * (IPv4 bits 0..32, IPv6 0..128), spaces around items allowed. On error
 * writes a message naming the bad item into err and returns
 * PL_ERR_INVALID. */
pl_status pl_cidr_list_parse(const char *s, pl_cidr_list *out, char *err,
                             size_t errcap);
bool pl_cidr_list_match(const pl_cidr_list *l, const pl_ipaddr *a);

/* The client address of a request that came through trusted proxies:
 * X-Forwarded-For values (vals[0..n), in header order) are walked from
 * the right, skipping addresses in trusted; the first untrusted one is the
 * client. All trusted: the leftmost. An entry that is not an address
 * ends the walk: the last good address (or *peer) is the answer, since
 * only what the trusted proxies appended can be believed. Entries may
 * carry a port ("1.2.3.4:5678", "[2001:db8::1]:443"). Returns *peer when
 * there is no entry at all. */
pl_ipaddr pl_forwarded_client(const pl_cidr_list *trusted,
                              const pl_ipaddr *peer, const char *const *vals,
                              const size_t *lens, size_t n);

#endif
