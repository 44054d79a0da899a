/* scn.h - small helpers the scenarios share: error-code tallies, setup
 * steps over REST, message content, phase lengths, fd-limit check. */
#ifndef BENCH_SCN_H
#define BENCH_SCN_H

#include <jansson.h>
#include <stdio.h>

#include "bench/bench.h"
#include "bench/common.h"
#include "bench/rest.h"

#define SCN_MAX_CODES 8

/* Counts of `error` frames by code (the first SCN_MAX_CODES codes seen;
 * the rest are "other"). Plain data: one per worker, merged at the end. */
typedef struct scn_codes {
    struct {
        char code[32];
        uint64_t n;
    } c[SCN_MAX_CODES];
    uint64_t other;
} scn_codes;

void scn_codes_add(scn_codes *c, const char *frame, size_t n);
void scn_codes_merge(scn_codes *dst, const scn_codes *src);
void scn_codes_print(const scn_codes *c, FILE *f);
json_t *scn_codes_json(const scn_codes *c);

/* bench_users_get with a note on stderr. 0 or -1 (err filled). */
int scn_users(const bench_opts *o, size_t need, bench_users *u, char *err,
              size_t cap);
/* POST /v1/conversations with body; copies conversation_id into id. */
int scn_create_conv(rest_conn *r, const char *token, const json_t *body,
                    char id[37], char *err, size_t cap);
/* A short id unique to this run (time, pid), e.g. "k3x9a2-". */
void scn_run_id(char *buf, size_t cap);
/* n bytes of plain ASCII message content (heap, NUL-terminated). */
char *scn_content(size_t n);
void scn_shared_init(bc_shared *sh, const bench_opts *o, const char *label,
                     size_t conns);
/* The merged per-second timeline as JSON (new reference). */
json_t *scn_timeline(bc_worker **wp, int n, const char *a, const char *b);
/* Fails with a clear message when nconns sockets (plus headroom) do not
 * fit under this process's file-descriptor limit. */
int scn_check_fds(const bench_opts *o, size_t nconns, char *err,
                  size_t cap);
/* --server-pid, else the local process listening on the target's port
 * (-1 if none is found: a remote server, or nginx in front). */
int scn_server_pid(const bench_opts *o);

#endif
