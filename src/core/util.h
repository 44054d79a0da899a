/* util.h - small helpers shared across the tree. */
#ifndef PL_UTIL_H
#define PL_UTIL_H

#include <stddef.h>

/* Value of a hex digit (either case), or -1. */
int pl_hexval(char c);
/* Writes all n bytes to a blocking fd, retrying on EINTR and short
 * writes. 0 on success, -1 on error (errno set). Not for event loops. */
int pl_write_all(int fd, const void *p, size_t n);
/* Resolves a gateway id in place: "auto" becomes HOSTNAME:PID:RANDOM
 * (the host name reduced to [A-Za-z0-9_.-], 8 random hex digits), unique
 * per process; any other value is kept. Call once per process, before the
 * presence backend and the gateway read it, so both use the same id. */
void pl_gateway_id_resolve(char *id, size_t cap);

#endif
