/* redis_probe.c - drives the Parley Redis client (src/backends/redis*.c)
 * from a test: `redis-probe ADDRS [auto|single|cluster]`, then one request
 * per stdin line, one JSON answer per stdout line:
 *   GET k               a command; the key is argument 1 (0-based argv)
 *   #3 EVAL s 1 k       "#N": the key is argument N; "#-1": any node
 *   !batch N            the next N lines run as one pipelined batch; N
 *                       answers follow
 *   !stats              the client's counters
 *   !sub CH / !unsub CH subscribe (sharded in a cluster) / unsubscribe
 *   !poll MS            poll the subscriber: [[channel, message], ...]
 *   !subcounts          {"resubscribes":N,"confirmed":N,"len":N}
 *   !subn PREFIX N      subscribe PREFIX0 .. PREFIX<N-1>: {"st":..,"n":N}
 *   !unsubn PREFIX N    the same, unsubscribing
 *   !states             the state callbacks since the last !states:
 *                       [[channel, true|false], ...]
 * Answers: {"s":..} string, {"ok":..} status, {"i":..} integer, null,
 * {"err":..} error reply, [..] array, {"io":true} no reply (I/O failure).
 * Arguments are split on spaces; "\s" inside one stands for a space. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/redis.h"

#define MAX_ARGS 64
#define LINE_MAX_LEN 65536

typedef struct pcmd {
    char *buf;
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    pl_redis_cmd c;
} pcmd;

static json_t *to_json(const redisReply *r)
{
    if (!r)
        return json_pack("{sb}", "io", 1);
    switch (r->type) {
    case REDIS_REPLY_STRING:
        return json_pack("{ss#}", "s", r->str, (int)r->len);
    case REDIS_REPLY_STATUS:
        return json_pack("{ss#}", "ok", r->str, (int)r->len);
    case REDIS_REPLY_ERROR:
        return json_pack("{ss#}", "err", r->str, (int)r->len);
    case REDIS_REPLY_INTEGER:
        return json_pack("{sI}", "i", (json_int_t)r->integer);
    case REDIS_REPLY_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; i < r->elements; i++)
            json_array_append_new(a, to_json(r->element[i]));
        return a;
    }
    }
    return json_null();
}

static void emit(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    printf("%s\n", s ? s : "null");
    fflush(stdout);
    free(s);
    json_decref(j);
}

/* Splits line into p's arguments (in place, "\s" -> ' '). */
static int parse(char *line, pcmd *p)
{
    int argc = 0, key = -2;
    p->buf = line;
    for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n")) {
        if (tok[0] == '#' && argc == 0 && key == -2) {
            key = atoi(tok + 1);
            continue;
        }
        if (argc == MAX_ARGS)
            return -1;
        char *w = tok;
        for (char *r = tok; *r; r++) {
            if (r[0] == '\\' && r[1] == 's') {
                *w++ = ' ';
                r++;
            } else {
                *w++ = *r;
            }
        }
        *w = '\0';
        p->argv[argc] = tok;
        p->lens[argc++] = strlen(tok);
    }
    if (key == -2)
        key = argc > 1 ? 1 : -1;
    p->c = (pl_redis_cmd){argc, p->argv, p->lens, key, NULL, PL_OK};
    return argc;
}

static void stats(pl_redis *r)
{
    pl_redis_stats s;
    pl_redis_get_stats(r, &s);
    emit(json_pack("{sIsIsIsIsIsIsIsb}", "moved", (json_int_t)s.moved, "ask",
                   (json_int_t)s.ask, "tryagain", (json_int_t)s.tryagain,
                   "connects", (json_int_t)s.connects, "reconnects",
                   (json_int_t)s.reconnects, "io_errors",
                   (json_int_t)s.io_errors, "map_loads",
                   (json_int_t)s.map_loads, "cluster", pl_redis_is_cluster(r)));
}

static pl_redis_opts g_opts;
static pl_redis_sub *g_sub;
static json_t *g_states; /* what the state callback reported */

static void on_state(void *ctx, const char *ch, size_t chlen, bool on)
{
    json_array_append_new(g_states, json_pack("[s#b]", ch, (int)chlen, on));
}

/* !subn / !unsubn: many channels in one request. */
static void sub_many(const char *arg, bool add)
{
    char prefix[128], name[192];
    long n = 0;
    pl_status st = PL_OK;
    if (sscanf(arg, "%127s %ld", prefix, &n) != 2 || n < 0)
        st = PL_ERR_INVALID;
    for (long i = 0; st == PL_OK && i < n; i++) {
        int len = snprintf(name, sizeof(name), "%s%ld", prefix, i);
        st = add ? pl_redis_sub_add(g_sub, name, (size_t)len)
                 : pl_redis_sub_remove(g_sub, name, (size_t)len);
    }
    emit(json_pack("{sssI}", "st", pl_status_str(st), "n", (json_int_t)n));
}

static void on_msg(void *ctx, const char *ch, size_t chlen, const char *msg,
                   size_t len)
{
    json_array_append_new(ctx, json_pack("[s#s#]", ch, (int)chlen, msg,
                                         (int)len));
}

static void sub_cmd(const char *line)
{
    char arg[LINE_MAX_LEN];
    const char *sp = strchr(line, ' ');
    snprintf(arg, sizeof(arg), "%s", sp ? sp + 1 : "");
    arg[strcspn(arg, "\n")] = '\0';
    if (!g_sub && pl_redis_sub_open(&g_opts, &g_sub) != PL_OK) {
        emit(json_pack("{ss}", "probe_error", "sub open"));
        return;
    }
    if (!g_states) {
        g_states = json_array();
        pl_redis_sub_on_state(g_sub, on_state, NULL);
    }
    if (strncmp(line, "!subn ", 6) == 0 || strncmp(line, "!unsubn ", 8) == 0) {
        sub_many(arg, line[1] == 's');
    } else if (strncmp(line, "!states", 7) == 0) {
        emit(g_states);
        g_states = json_array();
    } else if (strncmp(line, "!sub ", 5) == 0) {
        emit(json_pack("{ss}", "st", pl_status_str(pl_redis_sub_add(
                                         g_sub, arg, strlen(arg)))));
    } else if (strncmp(line, "!unsub ", 7) == 0) {
        emit(json_pack("{ss}", "st", pl_status_str(pl_redis_sub_remove(
                                         g_sub, arg, strlen(arg)))));
    } else if (strncmp(line, "!poll ", 6) == 0) {
        json_t *msgs = json_array();
        pl_redis_sub_poll(g_sub, atoi(arg), on_msg, msgs);
        emit(msgs);
    } else {
        uint64_t re;
        size_t ok;
        pl_redis_sub_counts(g_sub, &re, &ok);
        emit(json_pack("{sIsIsI}", "resubscribes", (json_int_t)re,
                       "confirmed", (json_int_t)ok, "len",
                       (json_int_t)pl_redis_sub_len(g_sub)));
    }
}

static void batch(pl_redis *r, int n)
{
    pcmd *ps = calloc((size_t)n, sizeof(*ps));
    pl_redis_cmd *cs = calloc((size_t)n, sizeof(*cs));
    char *lines = malloc((size_t)n * LINE_MAX_LEN);
    int got = 0;
    for (; ps && cs && lines && got < n; got++) {
        char *l = lines + (size_t)got * LINE_MAX_LEN;
        if (!fgets(l, LINE_MAX_LEN, stdin) || parse(l, &ps[got]) <= 0)
            break;
        cs[got] = ps[got].c;
    }
    if (got == n) {
        pl_redis_run(r, cs, (size_t)n);
        for (int i = 0; i < n; i++) {
            emit(to_json(cs[i].reply));
            if (cs[i].reply)
                freeReplyObject(cs[i].reply);
        }
    } else {
        emit(json_pack("{ss}", "probe_error", "bad batch"));
    }
    free(ps);
    free(cs);
    free(lines);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: redis-probe ADDRS [auto|single|cluster]\n");
        return 2;
    }
    pl_redis_opts o = {.addrs = argv[1], .command_timeout_ms = 2000,
                       .connect_timeout_ms = 1000, .backoff_max_ms = 500};
    if (argc > 2)
        o.mode = strcmp(argv[2], "cluster") == 0  ? PL_REDIS_CLUSTER
                 : strcmp(argv[2], "single") == 0 ? PL_REDIS_SINGLE
                                                  : PL_REDIS_AUTO;
    pl_redis *r;
    g_opts = o;
    if (pl_redis_open(&o, &r) != PL_OK) {
        fprintf(stderr, "redis-probe: bad addresses %s\n", argv[1]);
        return 2;
    }
    static char line[LINE_MAX_LEN];
    while (fgets(line, sizeof(line), stdin)) {
        pcmd p;
        if (strncmp(line, "!stats", 6) == 0) {
            stats(r);
        } else if (strncmp(line, "!sub", 4) == 0 ||
                   strncmp(line, "!unsub", 6) == 0 ||
                   strncmp(line, "!states", 7) == 0 ||
                   strncmp(line, "!poll ", 6) == 0) {
            sub_cmd(line);
        } else if (strncmp(line, "!batch ", 7) == 0) {
            batch(r, atoi(line + 7));
        } else if (parse(line, &p) > 0) {
            if (pl_redis_connect(r) == PL_OK)
                pl_redis_run(r, &p.c, 1);
            emit(to_json(p.c.reply));
            if (p.c.reply)
                freeReplyObject(p.c.reply);
        }
    }
    pl_redis_close(r);
    pl_redis_sub_close(g_sub);
    json_decref(g_states);
    return 0;
}
