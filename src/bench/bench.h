/* bench.h - parley-bench, Parley's load generator: options, target, users
 * and the scenario entry points.
 *
 * Process layout: the main thread parses options, does the setup over
 * blocking REST (setup is not measured), starts --threads worker threads
 * that own every measured socket (one epoll loop each, non-blocking, one
 * write per connection per loop iteration), prints a progress line on
 * stderr once per second, and finally prints the report and writes the JSON
 * result file. Nothing here talks to anything but 127.0.0.0/8. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

#define BENCH_ERRLEN 256

/* Where parleyd listens. Only 127.0.0.0/8 hosts are accepted. */
typedef struct bench_target {
    struct sockaddr_in addr;
    char hostport[64]; /* for the Host header */
    char url[128];     /* as given, for reports */
} bench_target;

typedef struct bench_opts {
    const char *scenario;
    int argc; /* the whole command line, for the result file */
    char **argv;
    bench_target target;
    int threads;
    const char *users_file; /* --users: "user_id\tusername\ttoken" lines */
    const char *data_dir;   /* --data-dir: run `parley admin create-users` */
    const char *parley_bin; /* --parley: the CLI binary for create-users */
    const char *out_dir;    /* --out-dir: result files (bench/results) */
    const char *json_out;   /* --json: also write the result here */
    long pairs, members, connected, senders, conns, concurrency, burst;
    long frame_bytes, content_bytes, messages, coalesce;
    double rate, duration, warmup, hold, drain;
    int server_pid;
    const char *of;        /* max: --of direct|group */
    double p99_ms;         /* max: --p99-ms bound (50) */
    double step_duration;  /* max: measured seconds per step (5) */
    double lo, hi;         /* max: first rate, highest rate tried */
    long bisect;           /* max: bisection steps after the doubling (4) */
    int quiet; /* --quiet: no progress line */
    /* Set by bench_fit_fds: the connections do not fit under one fd
     * table, so every worker thread takes its own (see common.h). */
    int private_fds;
} bench_opts;

/* One user from `parley admin create-users`. Strings point into the
 * owning bench_users' storage. */
typedef struct bench_user {
    const char *id, *name, *token;
} bench_user;

typedef struct bench_users {
    bench_user *u;
    size_t n;
    char *text; /* owns every string the entries point to */
} bench_users;

/* opts.c */
pl_status bench_parse_opts(int argc, char **argv, bench_opts *o, char *err,
                           size_t cap);
pl_status bench_parse_url(const char *url, bench_target *t, char *err,
                          size_t cap);
void bench_usage(FILE *f);

/* users.c: loads at least `need` users from --users, or creates them with
 * --data-dir. Fills *out (caller frees with bench_users_free). */
pl_status bench_users_get(const bench_opts *o, size_t need, bench_users *out,
                          char *err, size_t cap);
void bench_users_free(bench_users *u);

/* procinfo.c */
/* VmRSS of pid in KiB, or -1. */
long bench_rss_kib(int pid);
/* The pid of the process listening on 127.x:port (via /proc/net/tcp and
 * /proc/PID/fd), or -1. */
int bench_find_listener_pid(uint16_t port);
/* Raises the soft RLIMIT_NOFILE to the hard one; returns the new soft
 * limit. */
long bench_raise_nofile(void);
/* The fd headroom a process keeps for itself (epoll, stdio, REST, pipes). */
#define BENCH_FD_RESERVE 64
/* When the scenario's connections exceed the fd limit, gives each worker
 * thread its own descriptor table (o->private_fds) and raises o->threads
 * so each thread's share fits; `max` keeps one table (its connections
 * outlive the threads of one step). 0, or -1 with err filled. */
int bench_fit_fds(bench_opts *o, char *err, size_t cap);

/* Scenarios: each returns the process exit status. */
int bench_direct(const bench_opts *o);
int bench_group(const bench_opts *o);
int bench_idle(const bench_opts *o);
int bench_floor(const bench_opts *o);
int bench_relay(const bench_opts *o);
int bench_max(const bench_opts *o);
int bench_selftest(void);
/* merge.c: `parley-bench merge OUT NAME=FILE...` (argv as given). */
int bench_merge(int argc, char **argv);
/* `parley-bench timeline FILE`: a result's per-second timeline as columns
 * (for gnuplot). */
int bench_timeline(int argc, char **argv);

#endif
