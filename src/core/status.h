/* status.h - the one status vocabulary of Parley.
 *
 * Every function that can fail returns a pl_status. Zero is success; negative
 * values are errors; PL_AGAIN means "not now, try later" (a full queue, a
 * socket that would block, an incomplete parse) and PL_DONE means "finished,
 * nothing more to do" (EOF, end of a range). Roles map the error kinds to
 * HTTP statuses and `error` frame codes in one place (see pl_status_http()).
 */
#ifndef PL_STATUS_H
#define PL_STATUS_H

typedef enum pl_status {
    PL_OK = 0,
    PL_DONE = 1,          /* finished / end of stream */
    PL_AGAIN = -1,        /* would block, incomplete, queue full: retry later */
    PL_ERR = -2,          /* generic internal error */
    PL_ERR_NOMEM = -3,    /* allocation failed */
    PL_ERR_IO = -4,       /* system call or driver failure */
    PL_ERR_INVALID = -5,  /* malformed or out-of-range input */
    PL_ERR_NOTFOUND = -6, /* no such row / key */
    PL_ERR_CONFLICT = -7, /* unique constraint: already exists */
    PL_ERR_FORBIDDEN = -8,/* authenticated but not allowed (e.g. not a member) */
    PL_ERR_UNAUTH = -9,   /* missing or bad credentials */
    PL_ERR_TOOLARGE = -10,/* input exceeds a configured limit */
    PL_ERR_BUSY = -11,    /* overloaded: a bounded queue is full */
    PL_ERR_PROTO = -12,   /* peer violated the wire protocol */
} pl_status;

/* A short stable snake_case name, e.g. "not_found". Never NULL. */
const char *pl_status_str(pl_status s);

/* The HTTP status code a REST handler answers for s (200 for PL_OK). */
int pl_status_http(pl_status s);

#endif
