/* cli_cmds.c - the user commands of the CLI: thin REST calls that print
 * either a human-readable summary or (--json) the raw response. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_http.h"
#include "core/uuid.h"

#define SEND_RETRIES 3
#define PATH_CAP 512

static const char usage_register[] =
    "usage: parley register USERNAME [--password P]\n"
    "  The password comes from --password, else PARLEY_PASSWORD, else a "
    "prompt.\n";
static const char usage_login[] =
    "usage: parley login USERNAME [--password P] [--no-save]\n"
    "  Saves the token in $XDG_CONFIG_HOME/parley/token (default\n"
    "  ~/.config/parley/token, mode 0600); with --no-save prints it "
    "instead.\n";
static const char usage_me[] = "usage: parley me\n";
static const char usage_convs[] = "usage: parley conversations\n";
static const char usage_create[] =
    "usage: parley create direct USERNAME\n"
    "       parley create group NAME [USERNAME...]\n"
    "  Prints the conversation id.\n";
static const char usage_send[] =
    "usage: parley send CONVERSATION_ID TEXT...\n"
    "  The words of TEXT are joined with spaces. Prints \"sent #SEQ\".\n";
static const char usage_history[] =
    "usage: parley history CONVERSATION_ID [--after N] [--before N] "
    "[--limit L]\n"
    "  Without --after/--before shows the latest messages (limit default "
    "50, max 200).\n";

/* Runs a request and prints the outcome's error if any. Returns 0 when a
 * 2xx response is in r (to be freed by the caller), else an exit code
 * (r already freed). */
static int request(cli_http *h, const char *method, const char *path,
                   const json_t *body, cli_resp *r)
{
    cli_http_do(h, method, path, body, r);
    if (cli_resp_ok(r))
        return 0;
    cli_resp_report(r);
    cli_resp_free(r);
    return CLI_EXIT_ERR;
}

static void print_json(const cli_resp *r)
{
    fwrite(r->body ? r->body : "", 1, r->body ? r->body_len : 0, stdout);
    if (!r->body || !r->body_len || r->body[r->body_len - 1] != '\n')
        fputc('\n', stdout);
}

/* Opens the HTTP helper; with need_token, fails if there is no token. */
static int open_http(cli_ctx *ctx, cli_http *h, int need_token)
{
    const char *token = need_token ? cli_token(ctx) : NULL;

    if (need_token && !token)
        return CLI_EXIT_ERR;
    if (cli_http_init(h, ctx->url, token) != PL_OK) {
        fprintf(stderr, "error: cannot initialise libcurl\n");
        return CLI_EXIT_ERR;
    }
    return 0;
}

/* Parses "USERNAME [--password P]" and reads the password. 0 to go on;
 * else -1 and the exit code in *rc (0 after --help). */
static int parse_credentials(int argc, char **argv, const char *usage,
                             const cli_opt *extra, char *user, char *pw,
                             int *rc)
{
    const char *pw_opt = NULL;
    cli_opt opts[4] = {{"password", &pw_opt, NULL}};
    char *pos[1];
    int npos, r;

    if (extra)
        opts[1] = *extra;
    r = cli_parse_args(argc, argv, opts, usage, pos, 1, &npos);
    *rc = CLI_EXIT_USAGE;
    if (r != CLI_ARGS_OK) {
        if (r == CLI_ARGS_HELP)
            *rc = CLI_EXIT_OK;
        return -1;
    }
    if (npos != 1 || strlen(pos[0]) > 64) {
        cli_usage_error(usage, "one USERNAME (at most 64 bytes) needed");
        return -1;
    }
    memcpy(user, pos[0], strlen(pos[0]) + 1);
    if (cli_password(pw_opt, pw, CLI_PASSWORD_MAX + 1) < 0) {
        fprintf(stderr, "error: no password\n");
        *rc = CLI_EXIT_ERR;
        return -1;
    }
    return 0;
}

/* POSTs {username,password} to path; r holds the 2xx response. */
static int post_credentials(cli_ctx *ctx, const char *path, const char *user,
                            const char *pw, cli_resp *r)
{
    json_t *body = json_pack("{s:s, s:s}", "username", user, "password", pw);
    cli_http h;
    int rc;

    if (!body) {
        fprintf(stderr, "error: username/password must be UTF-8\n");
        return CLI_EXIT_USAGE;
    }
    rc = open_http(ctx, &h, 0);
    if (rc == 0) {
        rc = request(&h, "POST", path, body, r);
        cli_http_cleanup(&h);
    }
    json_decref(body);
    return rc;
}

int cli_cmd_register(cli_ctx *ctx, int argc, char **argv)
{
    char user[65], pw[CLI_PASSWORD_MAX + 2];
    cli_resp r;
    int rc;

    if (parse_credentials(argc, argv, usage_register, NULL, user, pw, &rc))
        return rc;
    rc = post_credentials(ctx, "/v1/auth/register", user, pw, &r);
    if (rc)
        return rc;
    if (ctx->json)
        print_json(&r);
    else
        printf("registered %s %s\n", cli_jstr(r.json, "username"),
               cli_jstr(r.json, "user_id"));
    cli_resp_free(&r);
    return CLI_EXIT_OK;
}

static int login_output(cli_ctx *ctx, const cli_resp *r, int no_save,
                        const char *user)
{
    const char *token = cli_jstr(r->json, "token");
    char path[1100];

    if (!token) {
        fprintf(stderr, "error: the server sent no token\n");
        return CLI_EXIT_ERR;
    }
    if (!no_save && cli_token_save(token, path, sizeof path) < 0)
        return CLI_EXIT_ERR;
    if (ctx->json)
        print_json(r);
    else if (no_save)
        printf("%s\n", token);
    else
        printf("logged in as %s %s (token saved to %s)\n", user,
               cli_jstr(r->json, "user_id"), path);
    return CLI_EXIT_OK;
}

int cli_cmd_login(cli_ctx *ctx, int argc, char **argv)
{
    char user[65], pw[CLI_PASSWORD_MAX + 2];
    int no_save = 0, rc;
    const cli_opt extra = {"no-save", NULL, &no_save};
    cli_resp r;

    if (parse_credentials(argc, argv, usage_login, &extra, user, pw, &rc))
        return rc;
    rc = post_credentials(ctx, "/v1/auth/login", user, pw, &r);
    if (rc)
        return rc;
    rc = login_output(ctx, &r, no_save, user);
    cli_resp_free(&r);
    return rc;
}

/* Runs a command without arguments: GET path, then show(). */
static int simple_get(cli_ctx *ctx, int argc, char **argv, const char *usage,
                      const char *path, void (*show)(const json_t *))
{
    char *pos[1];
    int npos, rc = cli_parse_args(argc, argv, NULL, usage, pos, 0, &npos);
    cli_http h;
    cli_resp r;

    if (rc != CLI_ARGS_OK)
        return rc == CLI_ARGS_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if ((rc = open_http(ctx, &h, 1)) != 0)
        return rc;
    rc = request(&h, "GET", path, NULL, &r);
    if (rc == 0) {
        if (ctx->json)
            print_json(&r);
        else
            show(r.json);
        cli_resp_free(&r);
    }
    cli_http_cleanup(&h);
    return rc;
}

static void show_me(const json_t *j)
{
    printf("user_id: %s\nusername: %s\ncreated_at: %s\n",
           cli_jstr(j, "user_id"), cli_jstr(j, "username"),
           cli_jstr(j, "created_at"));
}

int cli_cmd_me(cli_ctx *ctx, int argc, char **argv)
{
    return simple_get(ctx, argc, argv, usage_me, "/v1/me", show_me);
}

static void show_conv(const json_t *c)
{
    const char *name = cli_jstr(c, "name");
    const char *role = cli_jstr(c, "role");

    printf("%s %-6s %s last_seq=%lld unread=%lld members=%lld role=%s\n",
           cli_jstr(c, "conversation_id"), cli_jstr(c, "type"),
           name && *name ? name : "-", (long long)cli_jint(c, "last_seq"),
           (long long)cli_jint(c, "unread_count"),
           (long long)cli_jint(c, "member_count"), role ? role : "-");
}

static void show_convs(const json_t *j)
{
    const json_t *list = json_object_get(j, "conversations"), *c;
    size_t i;

    json_array_foreach(list, i, c)
        show_conv(c);
}

int cli_cmd_conversations(cli_ctx *ctx, int argc, char **argv)
{
    return simple_get(ctx, argc, argv, usage_convs, "/v1/conversations",
                      show_convs);
}

/* Resolves username to its user_id (a new JSON string, or NULL after
 * reporting the error). */
static json_t *resolve_user(cli_http *h, const char *username)
{
    char *esc = cli_http_escape(username), path[PATH_CAP];
    json_t *id = NULL;
    cli_resp r;

    if (!esc || strlen(esc) > PATH_CAP - 32) {
        fprintf(stderr, "error: bad username '%s'\n", username);
        free(esc);
        return NULL;
    }
    snprintf(path, sizeof path, "/v1/users?username=%s", esc);
    free(esc);
    if (request(h, "GET", path, NULL, &r) != 0) {
        fprintf(stderr, "error: cannot resolve user '%s'\n", username);
        return NULL;
    }
    id = json_incref(json_object_get(r.json, "user_id"));
    cli_resp_free(&r);
    if (!json_is_string(id)) {
        fprintf(stderr, "error: bad user object for '%s'\n", username);
        json_decref(id);
        return NULL;
    }
    return id;
}

/* Builds the POST /v1/conversations body; NULL after reporting. */
static json_t *create_body(cli_http *h, int group, char **pos, int npos)
{
    json_t *ids = json_array(), *body;

    for (int i = group ? 2 : 1; ids && i < npos; i++) {
        json_t *id = resolve_user(h, pos[i]);
        if (!id || json_array_append_new(ids, id) < 0) {
            json_decref(ids);
            return NULL;
        }
    }
    if (!ids)
        return NULL;
    body = json_pack("{s:s, s:o}", "type", group ? "group" : "direct",
                     "member_ids", ids);
    if (body && group &&
        json_object_set_new(body, "name", json_string(pos[1])) < 0) {
        json_decref(body);
        body = NULL;
    }
    if (!body)
        fprintf(stderr, "error: bad group name (must be UTF-8)\n");
    return body;
}

static int create_run(cli_ctx *ctx, int group, char **pos, int npos)
{
    json_t *body = NULL;
    cli_http h;
    cli_resp r;
    int rc = open_http(ctx, &h, 1);

    if (rc)
        return rc;
    body = create_body(&h, group, pos, npos);
    rc = body ? request(&h, "POST", "/v1/conversations", body, &r)
              : CLI_EXIT_ERR;
    if (rc == 0) {
        if (ctx->json)
            print_json(&r);
        else
            printf("%s\n", cli_jstr(r.json, "conversation_id"));
        cli_resp_free(&r);
    }
    json_decref(body);
    cli_http_cleanup(&h);
    return rc;
}

int cli_cmd_create(cli_ctx *ctx, int argc, char **argv)
{
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos, group, rc;

    if (!pos)
        return CLI_EXIT_ERR;
    rc = cli_parse_args(argc, argv, NULL, usage_create, pos, argc, &npos);
    if (rc != CLI_ARGS_OK) {
        rc = rc == CLI_ARGS_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    } else if (npos < 2 || (strcmp(pos[0], "direct") != 0 &&
                            strcmp(pos[0], "group") != 0)) {
        rc = cli_usage_error(usage_create, "expected direct or group");
    } else if ((group = !strcmp(pos[0], "group")) == 0 && npos != 2) {
        rc = cli_usage_error(usage_create, "direct takes one USERNAME");
    } else {
        rc = create_run(ctx, group, pos, npos);
    }
    free(pos);
    return rc;
}

/* Builds "/v1/conversations/ID/messages" with id escaped: ids are passed
 * through unvalidated so that the server's own error (400 invalid_request,
 * 404 not_found) reaches the user. 0 or -1. */
static int messages_path(const char *id, char *path, size_t cap)
{
    char *esc = cli_http_escape(id);
    int n = esc ? snprintf(path, cap, "/v1/conversations/%s/messages", esc)
                : -1;

    free(esc);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Joins words with single spaces into a malloc'd string. */
static char *join_words(char **w, int n)
{
    size_t len = 1, off = 0;
    char *s;

    for (int i = 0; i < n; i++)
        len += strlen(w[i]) + 1;
    if (!(s = malloc(len)))
        return NULL;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(w[i]);
        if (i)
            s[off++] = ' ';
        memcpy(s + off, w[i], k);
        off += k;
    }
    s[off] = '\0';
    return s;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* POSTs body, retrying on transport errors and 5xx with the same
 * client_msg_id: the server de-duplicates, so a retry of a message that
 * was in fact stored returns the original (at-least-once, no doubles). */
static int send_with_retry(cli_http *h, const char *path, const json_t *body,
                           cli_resp *r)
{
    for (int attempt = 0;; attempt++) {
        cli_http_do(h, "POST", path, body, r);
        if (cli_resp_ok(r))
            return 0;
        if ((r->status != 0 && r->status < 500) || attempt == SEND_RETRIES)
            break;
        cli_resp_free(r);
        sleep_ms(200L << attempt);
    }
    cli_resp_report(r);
    cli_resp_free(r);
    return CLI_EXIT_ERR;
}

static int send_run(cli_ctx *ctx, const char *conv, const char *text)
{
    char path[PATH_CAP], cmid[PL_UUID_STRLEN + 1];
    pl_uuid u;
    json_t *body;
    cli_http h;
    cli_resp r;
    int rc;

    pl_uuid_v4(&u);
    body = json_pack("{s:s, s:s}", "client_msg_id", pl_uuid_fmt(&u, cmid),
                     "content", text);
    if (!body)
        return cli_usage_error(usage_send, "TEXT must be UTF-8");
    if (messages_path(conv, path, sizeof path) < 0)
        rc = cli_usage_error(usage_send, "conversation id too long");
    else if ((rc = open_http(ctx, &h, 1)) == 0) {
        rc = send_with_retry(&h, path, body, &r);
        if (rc == 0 && ctx->json)
            print_json(&r);
        else if (rc == 0)
            printf("sent #%lld\n", (long long)cli_jint(r.json, "seq"));
        if (rc == 0)
            cli_resp_free(&r);
        cli_http_cleanup(&h);
    }
    json_decref(body);
    return rc;
}

int cli_cmd_send(cli_ctx *ctx, int argc, char **argv)
{
    char **pos = calloc((size_t)argc + 1, sizeof *pos), *text = NULL;
    int npos, rc;

    if (!pos)
        return CLI_EXIT_ERR;
    rc = cli_parse_args(argc, argv, NULL, usage_send, pos, argc, &npos);
    if (rc != CLI_ARGS_OK)
        rc = rc == CLI_ARGS_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    else if (npos < 2)
        rc = cli_usage_error(usage_send, "CONVERSATION_ID and TEXT needed");
    else if (!(text = join_words(pos + 1, npos - 1)))
        rc = CLI_EXIT_ERR;
    else if (!*text)
        rc = cli_usage_error(usage_send, "TEXT is empty");
    else
        rc = send_run(ctx, pos[0], text);
    free(text);
    free(pos);
    return rc;
}

typedef struct history_args {
    const char *conv;
    const char *after, *before, *limit;
} history_args;

/* Builds the messages path with the numeric query parameters. */
static int history_path(const history_args *a, char *path, size_t cap)
{
    int64_t v;
    int n;
    const char *names[3] = {"after_seq", "before_seq", "limit"};
    const char *vals[3] = {a->after, a->before, a->limit};

    if (messages_path(a->conv, path, cap - 100) < 0)
        return cli_usage_error(usage_history, "conversation id too long");
    n = (int)strlen(path);
    path[n++] = '?';
    for (int i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        if (cli_parse_i64(vals[i], 0, INT64_MAX, &v) < 0)
            return cli_usage_error(usage_history, "bad number '%s'",
                                   vals[i]);
        n += snprintf(path + n, cap - (size_t)n, "%s%s=%lld",
                      path[n - 1] == '?' ? "" : "&", names[i], (long long)v);
    }
    if (path[n - 1] == '?')
        path[n - 1] = '\0';
    return 0;
}

static void show_history(cli_http *h, const json_t *j)
{
    const json_t *msgs = json_object_get(j, "messages"), *m;
    json_t *names = json_object();
    size_t i;

    json_array_foreach(msgs, i, m) {
        const char *sender = cli_jstr(m, "sender_id");
        cli_print_msg(stdout, m,
                      sender ? cli_user_name(h, names, sender) : "?", 0);
    }
    json_decref(names);
}

static int history_run(cli_ctx *ctx, const history_args *a)
{
    char path[PATH_CAP];
    cli_http h;
    cli_resp r;
    int rc = history_path(a, path, sizeof path);

    if (rc || (rc = open_http(ctx, &h, 1)) != 0)
        return rc;
    if ((rc = request(&h, "GET", path, NULL, &r)) == 0) {
        if (ctx->json)
            print_json(&r);
        else
            show_history(&h, r.json);
        cli_resp_free(&r);
    }
    cli_http_cleanup(&h);
    return rc;
}

int cli_cmd_history(cli_ctx *ctx, int argc, char **argv)
{
    history_args a = {NULL, NULL, NULL, NULL};
    const cli_opt opts[] = {{"after", &a.after, NULL},
                            {"before", &a.before, NULL},
                            {"limit", &a.limit, NULL},
                            {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc;

    rc = cli_parse_args(argc, argv, opts, usage_history, pos, 1, &npos);
    if (rc != CLI_ARGS_OK)
        return rc == CLI_ARGS_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (npos != 1)
        return cli_usage_error(usage_history, "CONVERSATION_ID is required");
    a.conv = pos[0];
    return history_run(ctx, &a);
}
