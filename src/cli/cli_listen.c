/* cli_listen.c - `parley listen`: streams live messages over the
 * WebSocket, one line each, and survives server restarts.
 *
 * Per conversation it remembers the last seq printed. Messages are printed
 * in seq order without repeats: a live frame at or below the last seq is
 * dropped; one that skips ahead first has the gap filled from REST. After
 * every (re)connect the conversation list is compared with what was printed
 * and whatever was missed meanwhile is fetched from REST before the live
 * frames (which queue up in the socket) are looked at. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "cli.h"
#include "cli_http.h"
#include "cli_ws.h"
#include "core/timeutil.h"
#include "core/uuid.h"

#define CONNECT_TIMEOUT_MS 10000
#define HELLO_TIMEOUT_MS 10000
#define DEFAULT_HEARTBEAT_MS 30000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define PAGE_LIMIT 200
#define PATH_CAP 256

static const char usage_listen[] =
    "usage: parley listen [CONVERSATION_ID...]\n"
    "  Prints each new message as \"CONV_ID #SEQ TIME SENDER: content\"\n"
    "  (--json: the message frame). Only the given conversations if any.\n"
    "  Reconnects with backoff when the server restarts (close 1001) or\n"
    "  the connection drops, and prints what was missed meanwhile.\n";

/* How a session ended. */
enum { SESSION_EXIT, SESSION_RETRY };

typedef struct listen_state {
    const cli_ctx *ctx;
    const char *token;
    cli_http http;
    json_t *filter;  /* conversation id -> true; empty: all */
    json_t *last;    /* conversation id -> last seq printed (or baseline) */
    json_t *names;   /* user id -> username */
    int64_t heartbeat_ms;
    int connected_once;
    int attempt;     /* failed connects in a row, for the backoff */
    int exit_code;   /* for SESSION_EXIT */
} listen_state;

static int wanted(const listen_state *st, const char *conv)
{
    return conv && (json_object_size(st->filter) == 0 ||
                    json_object_get(st->filter, conv) != NULL);
}

/* Last seq printed for conv; -1 when the conversation is unknown. */
static json_int_t last_seq(const listen_state *st, const char *conv)
{
    json_t *v = json_object_get(st->last, conv);

    return v ? json_integer_value(v) : -1;
}

static void set_last(listen_state *st, const char *conv, json_int_t seq)
{
    json_object_set_new(st->last, conv, json_integer(seq));
}

/* Prints msg (a message object of conv; raw: the frame as received, or
 * NULL) and records its seq. */
static void print_message(listen_state *st, const char *conv, json_t *msg,
                          const char *raw, size_t raw_len)
{
    const char *sender = cli_jstr(msg, "sender_id");

    if (st->ctx->json && raw) {
        fwrite(raw, 1, raw_len, stdout);
        fputc('\n', stdout);
    } else if (st->ctx->json) {
        json_object_set_new(msg, "type", json_string("message"));
        json_dumpf(msg, stdout, JSON_COMPACT);
        fputc('\n', stdout);
    } else {
        cli_print_msg(stdout, msg,
                      sender ? cli_user_name(&st->http, st->names, sender)
                             : "?", 1);
    }
    fflush(stdout); /* a pipe reader wants each line as it happens */
    set_last(st, conv, cli_jint(msg, "seq"));
}

/* Prints the REST page's messages that are newer than what was printed.
 * Returns the page's has_more. */
static int print_page(listen_state *st, const char *conv, json_t *page)
{
    json_t *msgs = json_object_get(page, "messages"), *m;
    size_t i;

    json_array_foreach(msgs, i, m) {
        if (cli_jint(m, "seq") > last_seq(st, conv))
            print_message(st, conv, m, NULL, 0);
    }
    return json_is_true(json_object_get(page, "has_more")) &&
           json_array_size(msgs) > 0;
}

/* Fetches and prints the messages of conv after its last printed seq,
 * page by page. Returns the HTTP status of a failed request, else 0. */
static long fetch_missed(listen_state *st, const char *conv)
{
    char path[PATH_CAP];
    cli_resp r;
    int more = 1;
    json_int_t before = -2;

    /* A page that does not move the offset on would repeat forever. */
    while (more && last_seq(st, conv) != before) {
        before = last_seq(st, conv);
        snprintf(path, sizeof path,
                 "/v1/conversations/%s/messages?after_seq=%lld&limit=%d",
                 conv, (long long)last_seq(st, conv), PAGE_LIMIT);
        cli_http_do(&st->http, "GET", path, NULL, &r);
        if (!cli_resp_ok(&r)) {
            long status = r.status ? r.status : -1;
            cli_resp_report(&r);
            cli_resp_free(&r);
            return status;
        }
        more = print_page(st, conv, r.json);
        cli_resp_free(&r);
    }
    return 0;
}

/* A live message frame: in order, after the gap (if any) is filled. */
static void on_live_message(listen_state *st, json_t *msg, const char *raw,
                            size_t raw_len)
{
    const char *conv = cli_jstr(msg, "conversation_id");
    json_int_t seq = cli_jint(msg, "seq"), last;

    if (!wanted(st, conv) || strlen(conv) > PL_UUID_STRLEN)
        return;
    last = last_seq(st, conv);
    if (last < 0)
        last = seq - 1; /* new to us: it starts here */
    if (seq <= last)
        return;
    if (seq > last + 1) {
        set_last(st, conv, last);
        fetch_missed(st, conv);
        last = last_seq(st, conv);
        if (seq <= last)
            return; /* the fill already printed it */
        if (seq > last + 1)
            fprintf(stderr, "parley: warning: %s: missed #%lld..#%lld\n",
                    conv, (long long)last + 1, (long long)seq - 1);
    }
    print_message(st, conv, msg, raw, raw_len);
}

static void on_frame(listen_state *st, const char *data, size_t len)
{
    json_t *j = json_loadb(data, len, 0, NULL);
    const char *type = cli_jstr(j, "type");

    if (type && strcmp(type, "message") == 0)
        on_live_message(st, j, data, len);
    json_decref(j);
}

/* Compares the conversation list with what was printed: known ones that
 * moved on are caught up from REST; unknown ones start at their current
 * last_seq. Returns 0, or the HTTP status (-1: no response) of a failure. */
static long catch_up(listen_state *st)
{
    json_t *convs, *c;
    cli_resp r;
    long status = 0;
    size_t i;

    cli_http_do(&st->http, "GET", "/v1/conversations", NULL, &r);
    if (!cli_resp_ok(&r)) {
        cli_resp_report(&r);
        status = r.status ? r.status : -1;
        cli_resp_free(&r);
        return status;
    }
    convs = json_object_get(r.json, "conversations");
    json_array_foreach(convs, i, c) {
        const char *id = cli_jstr(c, "conversation_id");
        json_int_t top = cli_jint(c, "last_seq");
        if (!wanted(st, id) || strlen(id) > PL_UUID_STRLEN)
            continue;
        if (last_seq(st, id) < 0)
            set_last(st, id, top);
        else if (top > last_seq(st, id) && (status = fetch_missed(st, id)))
            break;
    }
    cli_resp_free(&r);
    return status;
}

/* Waits for the server's hello and takes the heartbeat interval from it. */
static int await_hello(listen_state *st, cli_ws *ws)
{
    const char *data;
    size_t len;
    json_t *j;
    const char *type;
    int ok;

    if (cli_ws_recv(ws, HELLO_TIMEOUT_MS, &data, &len) != PL_OK)
        return -1;
    j = json_loadb(data, len, 0, NULL);
    type = cli_jstr(j, "type");
    ok = type && strcmp(type, "hello") == 0;
    st->heartbeat_ms = cli_jint(j, "heartbeat_interval_ms");
    if (st->heartbeat_ms < 1000)
        st->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    json_decref(j);
    if (!ok)
        snprintf(ws->err, sizeof ws->err, "no hello from the server");
    return ok ? 0 : -1;
}

/* A failure on the way to a working session: fatal before the first
 * success (or when the credentials are refused), else retried. */
static int give_up_or_retry(listen_state *st, int fatal, const char *why)
{
    fprintf(stderr, "parley: %s\n", why);
    if (fatal || !st->connected_once) {
        st->exit_code = CLI_EXIT_ERR;
        return SESSION_EXIT;
    }
    return SESSION_RETRY;
}

/* What to do when the connection ended with close code `code`. */
static int on_closed(listen_state *st, const cli_ws *ws)
{
    int code = ws->close_code;

    if (code == 1000) {
        st->exit_code = CLI_EXIT_OK;
        return SESSION_EXIT;
    }
    if (code == 4001) { /* the token expired or its key was retired */
        fprintf(stderr, "parley: %s: log in again (parley login)\n",
                ws->err);
        st->exit_code = CLI_EXIT_ERR;
        return SESSION_EXIT;
    }
    /* These mean one of us broke the protocol: a retry would repeat it. */
    if (code == 1002 || code == 1003 || code == 1007 || code == 1009) {
        fprintf(stderr, "parley: %s\n", ws->err);
        st->exit_code = CLI_EXIT_ERR;
        return SESSION_EXIT;
    }
    fprintf(stderr, "parley: %s; reconnecting\n", ws->err);
    return SESSION_RETRY;
}

static pl_status send_ping(cli_ws *ws)
{
    static const char ping[] = "{\"type\":\"ping\"}";

    return cli_ws_send_text(ws, ping, sizeof ping - 1);
}

/* stdout went away (a closed pipe): nobody is listening any more. */
static int output_gone(listen_state *st)
{
    if (!ferror(stdout))
        return 0;
    fprintf(stderr, "parley: cannot write to stdout\n");
    st->exit_code = CLI_EXIT_ERR;
    return 1;
}

/* Receives until the connection ends. Pings every heartbeat/2; a server
 * silent for two heartbeats (it answers every ping) is presumed dead. */
static int pump(listen_state *st, cli_ws *ws)
{
    int64_t now = pl_mono_ms(), next_ping = now + st->heartbeat_ms / 2;
    int64_t last_rx = now;
    const char *data;
    size_t len;
    pl_status rc;

    for (;;) {
        now = pl_mono_ms();
        if (now >= next_ping) {
            if (send_ping(ws) != PL_OK)
                return on_closed(st, ws);
            next_ping = now + st->heartbeat_ms / 2;
        }
        if (now - last_rx > 2 * st->heartbeat_ms) {
            fprintf(stderr, "parley: server silent; reconnecting\n");
            return SESSION_RETRY;
        }
        rc = cli_ws_recv(ws, (int)(next_ping - now), &data, &len);
        if (rc == PL_OK) {
            last_rx = pl_mono_ms();
            on_frame(st, data, len);
            if (output_gone(st))
                return SESSION_EXIT;
        } else if (rc == PL_ERR_IO) {
            fprintf(stderr, "parley: %s; reconnecting\n", ws->err);
            return SESSION_RETRY;
        } else if (rc != PL_AGAIN) {
            return on_closed(st, ws); /* closed, or a protocol error */
        }
    }
}

/* Connects, greets, catches up, then pumps. */
static int session(listen_state *st, cli_ws *ws)
{
    pl_status rc = cli_ws_connect(ws, st->ctx->url, st->token,
                                  CONNECT_TIMEOUT_MS);
    long status;

    if (rc != PL_OK)
        return give_up_or_retry(st, rc == PL_ERR_UNAUTH ||
                                        rc == PL_ERR_INVALID, ws->err);
    if (await_hello(st, ws) < 0)
        return give_up_or_retry(st, 0, ws->err);
    if ((status = catch_up(st)) != 0)
        return give_up_or_retry(st, status == 401 || status == 403,
                                "catching up failed");
    if (output_gone(st))
        return SESSION_EXIT;
    st->connected_once = 1;
    st->attempt = 0;
    fprintf(stderr, "parley: listening\n");
    return pump(st, ws);
}

/* Jittered exponential backoff: uniform in [cap/2, cap], cap doubling from
 * 0.5 s to 30 s, so restarted servers are not hit by all clients at once. */
static void backoff(listen_state *st)
{
    int64_t cap = BACKOFF_MIN_MS;
    struct timespec ts;
    int64_t ms;

    for (int i = 0; i < st->attempt && cap < BACKOFF_MAX_MS; i++)
        cap *= 2;
    if (cap > BACKOFF_MAX_MS)
        cap = BACKOFF_MAX_MS;
    ms = cap / 2 + randombytes_uniform((uint32_t)(cap / 2) + 1);
    st->attempt++;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int listen_loop(listen_state *st)
{
    /* The baseline: only what arrives from now on is printed. */
    if (catch_up(st) != 0)
        return CLI_EXIT_ERR;
    for (;;) {
        cli_ws ws;
        int outcome = session(st, &ws);
        cli_ws_free(&ws);
        if (outcome == SESSION_EXIT)
            return st->exit_code;
        backoff(st);
    }
}

/* Fills the filter from the arguments (UUIDs, normalised to lower case). */
static int parse_filter(listen_state *st, char **pos, int npos)
{
    char id[PL_UUID_STRLEN + 1];
    pl_uuid u;

    for (int i = 0; i < npos; i++) {
        if (pl_uuid_parse(pos[i], strlen(pos[i]), &u) != PL_OK)
            return cli_usage_error(usage_listen, "bad conversation id '%s'",
                                   pos[i]);
        json_object_set_new(st->filter, pl_uuid_fmt(&u, id), json_true());
    }
    return 0;
}

static int listen_run(cli_ctx *ctx, char **pos, int npos)
{
    listen_state st = {.ctx = ctx};
    int rc = CLI_EXIT_ERR;

    st.filter = json_object();
    st.last = json_object();
    st.names = json_object();
    st.token = cli_token(ctx);
    if (!st.filter || !st.last || !st.names || !st.token)
        goto out;
    if ((rc = parse_filter(&st, pos, npos)) != 0)
        goto out;
    if (cli_http_init(&st.http, ctx->url, st.token) != PL_OK) {
        rc = CLI_EXIT_ERR;
        goto out;
    }
    rc = listen_loop(&st);
    cli_http_cleanup(&st.http);
out:
    json_decref(st.filter);
    json_decref(st.last);
    json_decref(st.names);
    return rc;
}

int cli_cmd_listen(cli_ctx *ctx, int argc, char **argv)
{
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos, rc;

    if (!pos)
        return CLI_EXIT_ERR;
    rc = cli_parse_args(argc, argv, NULL, usage_listen, pos, argc, &npos);
    if (rc == CLI_ARGS_OK)
        rc = listen_run(ctx, pos, npos);
    else
        rc = rc == CLI_ARGS_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    free(pos);
    return rc;
}
