/* opts.c - command-line options of parley-bench. */
#include "bench/bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_usage(FILE *f)
{
    fputs(
        "usage: parley-bench SCENARIO [options]\n"
        "scenarios:\n"
        "  direct --pairs P --rate R --duration S [--warmup S]\n"
        "        P 1:1 conversations, open-loop sends at R msgs/s in total\n"
        "  group  --members G --connected K --rate R --duration S\n"
        "         [--senders N] [--burst M]\n"
        "        one group of G members, K connected, R msgs/s (or a burst\n"
        "        of M messages sent at once)\n"
        "  idle   --conns N [--hold S] [--concurrency C] [--server-pid PID]\n"
        "        hold N authenticated WebSockets; server RSS per connection\n"
        "  floor  --conns N --frame-bytes B (--rate R --duration S |\n"
        "         --rate 0 --messages M) [--coalesce F]\n"
        "        raw-socket floor: a plain epoll writer (forked child) to N\n"
        "        plain readers, same fan-out shape as group, no Parley\n"
        "  relay  --pairs P --rate R --duration S [--frame-bytes B]\n"
        "        raw-socket floor of direct: a plain epoll relay (forked\n"
        "        child, one thread per core) answers each frame with an ack\n"
        "        and an echo and passes it to the peer, no Parley\n"
        "  max    --of direct|group [--p99-ms B] [--step-duration S]\n"
        "         [--lo R] [--hi R] [--bisect N] + the scenario's options\n"
        "        highest rate at which p99 (direct: send->receive, group:\n"
        "        all-reached) stays under B ms (50) with no errors or\n"
        "        missing messages: doubles from --lo, then bisects N times\n"
        "  selftest\n"
        "        checks of the histogram, the JSON scanner, URL checks\n"
        "  merge OUT NAME=FILE...\n"
        "        one JSON of several results, with a summary (bench/run.sh)\n"
        "  timeline RESULT.json\n"
        "        a result's per-second timeline as columns (for gnuplot)\n"
        "common options:\n"
        "  --url URL          parleyd base URL (http://127.0.0.1:8080)\n"
        "  --threads T        client threads (1)\n"
        "  --users FILE       users from `parley admin create-users`\n"
        "  --data-dir DIR     create the users with that command instead\n"
        "  --parley PATH      the parley CLI (default: next to parley-bench)\n"
        "  --content-bytes N  message content size (32)\n"
        "  --warmup S         sent but not measured (2)\n"
        "  --drain S          max wait for missing acks/deliveries (10)\n"
        "  --out-dir DIR      result files (bench/results)\n"
        "  --json FILE        also write the result JSON to FILE\n"
        "  --quiet            no progress line\n",
        f);
}

static void defaults(bench_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->threads = 1;
    o->out_dir = "bench/results";
    o->pairs = 100;
    o->members = 10000;
    o->connected = 1000;
    o->senders = 1;
    o->conns = 1000;
    o->concurrency = 256;
    o->frame_bytes = 300;
    o->content_bytes = 32;
    o->messages = 50;
    o->coalesce = 1;
    o->rate = 1000;
    o->duration = 10;
    o->warmup = 2;
    o->hold = 5;
    o->drain = 10;
    o->p99_ms = 50;
    o->step_duration = 5;
    o->bisect = 4;
}

/* Splits "host[:port]" of length alen into t; 0 or -1. */
static int parse_authority(const char *p, size_t alen, bench_target *t)
{
    char host[64];
    unsigned long port = 80;
    const char *colon = memchr(p, ':', alen);
    size_t hlen = colon ? (size_t)(colon - p) : alen;
    if (hlen == 0 || hlen >= sizeof(host) || alen >= sizeof(t->hostport))
        return -1;
    memcpy(host, p, hlen);
    host[hlen] = '\0';
    if (colon) {
        char *end;
        port = strtoul(colon + 1, &end, 10);
        if (end != p + alen || port == 0 || port > 65535)
            return -1;
    }
    if (strcmp(host, "localhost") == 0)
        memcpy(host, "127.0.0.1", 10);
    memset(&t->addr, 0, sizeof(t->addr));
    t->addr.sin_family = AF_INET;
    t->addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &t->addr.sin_addr) != 1)
        return -1;
    memcpy(t->hostport, p, alen);
    t->hostport[alen] = '\0';
    return 0;
}

pl_status bench_parse_url(const char *url, bench_target *t, char *err,
                          size_t cap)
{
    if (strncmp(url, "http://", 7) != 0 || strlen(url) >= sizeof(t->url))
        goto bad;
    const char *p = url + 7, *slash = strchr(p, '/');
    if (slash && slash[1] != '\0')
        goto bad; /* base URL only: the paths are Parley's */
    if (parse_authority(p, slash ? (size_t)(slash - p) : strlen(p), t) < 0)
        goto bad;
    if ((ntohl(t->addr.sin_addr.s_addr) >> 24) != 127) {
        snprintf(err, cap, "%s: only 127.0.0.0/8 targets are allowed", url);
        return PL_ERR_INVALID;
    }
    snprintf(t->url, sizeof(t->url), "%s", url);
    return PL_OK;
bad:
    snprintf(err, cap, "%s: expected http://127.x.x.x[:PORT]", url);
    return PL_ERR_INVALID;
}

/* Numeric options: name, where, and whether it is a double. */
typedef struct num_opt {
    const char *name;
    size_t off;
    int is_double;
} num_opt;

#define NUM_L(n, f)                                                            \
    {                                                                          \
        n, offsetof(bench_opts, f), 0                                          \
    }
#define NUM_D(n, f)                                                            \
    {                                                                          \
        n, offsetof(bench_opts, f), 1                                          \
    }
static const num_opt num_opts[] = {
    NUM_L("--pairs", pairs),
    NUM_L("--members", members),
    NUM_L("--connected", connected),
    NUM_L("--senders", senders),
    NUM_L("--conns", conns),
    NUM_L("--concurrency", concurrency),
    NUM_L("--burst", burst),
    NUM_L("--frame-bytes", frame_bytes),
    NUM_L("--content-bytes", content_bytes),
    NUM_L("--messages", messages),
    NUM_L("--coalesce", coalesce),
    NUM_D("--rate", rate),
    NUM_D("--duration", duration),
    NUM_D("--warmup", warmup),
    NUM_D("--hold", hold),
    NUM_D("--drain", drain),
    NUM_D("--p99-ms", p99_ms),
    NUM_D("--step-duration", step_duration),
    NUM_D("--lo", lo),
    NUM_D("--hi", hi),
    NUM_L("--bisect", bisect),
};

/* Parses v into the numeric option named n. 1 if handled, 0 if n is not a
 * numeric option, -1 on a bad value. */
static int set_num(bench_opts *o, const char *n, const char *v)
{
    for (size_t i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++) {
        if (strcmp(num_opts[i].name, n) != 0)
            continue;
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end || d < 0 || d > 1e12)
            return -1;
        char *dst = (char *)o + num_opts[i].off;
        if (num_opts[i].is_double) {
            memcpy(dst, &d, sizeof(d));
        } else {
            long l = (long)d;
            if ((double)l != d)
                return -1;
            memcpy(dst, &l, sizeof(l));
        }
        return 1;
    }
    return 0;
}

/* String options. 1 if handled, 0 if unknown, -1 bad value, -2 bad value
 * with err already written. */
static int set_str(bench_opts *o, const char *n, const char *v, char *err,
                   size_t cap)
{
    if (strcmp(n, "--url") == 0)
        return bench_parse_url(v, &o->target, err, cap) == PL_OK ? 1 : -2;
    if (strcmp(n, "--users") == 0)
        o->users_file = v;
    else if (strcmp(n, "--data-dir") == 0)
        o->data_dir = v;
    else if (strcmp(n, "--parley") == 0)
        o->parley_bin = v;
    else if (strcmp(n, "--out-dir") == 0)
        o->out_dir = v;
    else if (strcmp(n, "--json") == 0)
        o->json_out = v;
    else if (strcmp(n, "--threads") == 0)
        o->threads = atoi(v);
    else if (strcmp(n, "--of") == 0)
        o->of = v;
    else if (strcmp(n, "--server-pid") == 0)
        o->server_pid = atoi(v);
    else
        return 0;
    return 1;
}

static pl_status check_opts(const bench_opts *o, char *err, size_t cap)
{
    if (o->threads < 1 || o->threads > 64)
        snprintf(err, cap, "--threads must be 1..64");
    else if (o->content_bytes < 1 || o->content_bytes > 4096)
        snprintf(err, cap, "--content-bytes must be 1..4096");
    else if (o->frame_bytes < 16 || o->frame_bytes > 65536)
        snprintf(err, cap, "--frame-bytes must be 16..65536");
    else if (o->coalesce < 1 || o->coalesce > 1024)
        snprintf(err, cap, "--coalesce must be 1..1024");
    else if (o->concurrency < 1)
        snprintf(err, cap, "--concurrency must be >= 1");
    else if (o->p99_ms <= 0 || o->step_duration <= 0 ||
             o->step_duration > 3600 || o->bisect > 30)
        snprintf(err, cap, "need --p99-ms > 0, --step-duration 0..3600 s, "
                           "--bisect <= 30");
    else if (o->duration <= 0 || o->duration > 86400)
        snprintf(err, cap, "--duration must be > 0 s and <= 1 day");
    else
        return PL_OK;
    return PL_ERR_INVALID;
}

pl_status bench_parse_opts(int argc, char **argv, bench_opts *o, char *err,
                           size_t cap)
{
    defaults(o);
    o->argc = argc;
    o->argv = argv;
    if (argc < 2 || argv[1][0] == '-') {
        snprintf(err, cap, "missing scenario");
        return PL_ERR_INVALID;
    }
    o->scenario = argv[1];
    if (bench_parse_url("http://127.0.0.1:8080", &o->target, err, cap))
        return PL_ERR;
    for (int i = 2; i < argc; i++) {
        const char *n = argv[i];
        if (strcmp(n, "--quiet") == 0) {
            o->quiet = 1;
            continue;
        }
        if (i + 1 >= argc) {
            snprintf(err, cap, "%s: missing value or unknown option", n);
            return PL_ERR_INVALID;
        }
        const char *v = argv[++i];
        int r = set_num(o, n, v);
        if (r == 0)
            r = set_str(o, n, v, err, cap);
        if (r == 0)
            snprintf(err, cap, "unknown option %s", n);
        else if (r == -1)
            snprintf(err, cap, "%s: bad value '%s'", n, v);
        if (r <= 0)
            return PL_ERR_INVALID;
    }
    return check_opts(o, err, cap);
}
