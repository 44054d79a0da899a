/* util.h - small helpers shared across the tree. */
#ifndef PL_UTIL_H
#define PL_UTIL_H

#include <stddef.h>

/* Value of a hex digit (either case), or -1. */
int pl_hexval(char c);
/* Writes all n bytes to a blocking fd, retrying on EINTR and short
 * writes. 0 on success, -1 on error (errno set). Not for event loops. */
int pl_write_all(int fd, const void *p, size_t n);

#endif
