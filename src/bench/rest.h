/* rest.h - a small blocking HTTP/1.1 client for the setup steps (creating
 * conversations, adding members). Setup is not measured, so blocking I/O
 * is fine here; nothing in a measurement loop uses this. One keep-alive
 * connection, reopened once when the server has closed it. */
#ifndef BENCH_REST_H
#define BENCH_REST_H

#include <jansson.h>

#include "bench/bench.h"

typedef struct rest_conn {
    const bench_target *t; /* borrowed */
    int fd;                /* owned, -1 when closed */
    char *buf;             /* owned response buffer */
    size_t len, cap;
} rest_conn;

void rest_init(rest_conn *r, const bench_target *t);
void rest_close(rest_conn *r);
/* Sends METHOD path with an optional bearer token and JSON body (NULL for
 * none). Returns the HTTP status, or -1 on a transport error (err filled).
 * On success *resp (if resp) gets the parsed body (caller decrefs; NULL if
 * the body is not JSON). */
int rest_call(rest_conn *r, const char *method, const char *path,
              const char *token, const json_t *body, json_t **resp, char *err,
              size_t cap);

#endif
