/* main.c - `parley`, the command-line client: global options, dispatch and
 * the top-level usage. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cli.h"

static const char usage_top[] =
    "usage: parley [--url URL] [--token TOKEN] [--json] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  register USERNAME [--password P]     create an account\n"
    "  login USERNAME [--password P] [--no-save]\n"
    "                                       get a token (saved unless "
    "--no-save)\n"
    "  me                                   show the logged-in user\n"
    "  conversations                        list your conversations\n"
    "  create direct USERNAME               open a direct conversation\n"
    "  create group NAME [USERNAME...]      create a group\n"
    "  send CONVERSATION_ID TEXT...         send a message\n"
    "  history CONVERSATION_ID [--after N] [--before N] [--limit L]\n"
    "                                       show messages\n"
    "  listen [CONVERSATION_ID...]          stream live messages\n"
    "  admin create-users --count N --prefix P [--data-dir DIR]\n"
    "  admin token USERNAME [--data-dir DIR]\n"
    "  admin list-keys | rotate-key | retire-key KID [--data-dir DIR]\n"
    "                                       JWT signing keys\n"
    "\n"
    "Global options (anywhere before \"--\"):\n"
    "  --url URL      server (env PARLEY_URL, default "
    "http://127.0.0.1:8080)\n"
    "  --token TOKEN  bearer token (env PARLEY_TOKEN, else the token saved\n"
    "                 by login in $XDG_CONFIG_HOME/parley/token)\n"
    "  --json         print the raw JSON responses\n"
    "\n"
    "`parley COMMAND --help` shows the options of a command.\n"
    "Exit status: 0 ok, 1 error, 2 usage error.\n";

typedef struct cli_command {
    const char *name;
    int (*fn)(cli_ctx *ctx, int argc, char **argv);
} cli_command;

static const cli_command commands[] = {
    {"register", cli_cmd_register},
    {"login", cli_cmd_login},
    {"me", cli_cmd_me},
    {"conversations", cli_cmd_conversations},
    {"create", cli_cmd_create},
    {"send", cli_cmd_send},
    {"history", cli_cmd_history},
    {"listen", cli_cmd_listen},
    {"admin", cli_cmd_admin},
    {NULL, NULL},
};

static int set_url(cli_ctx *ctx, const char *url)
{
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/')
        n--; /* paths are appended with their own leading '/' */
    if (n == 0 || n >= sizeof ctx->url)
        return cli_usage_error(NULL, "bad --url '%s'", url), -1;
    memcpy(ctx->url, url, n);
    ctx->url[n] = '\0';
    return 0;
}

/* If argv[*i] is a global option, consumes it (and its value) and returns
 * 1; 0 if it is not one; -1 on a missing value. */
static int take_global(cli_ctx *ctx, int argc, char **argv, int *i,
                       const char **url)
{
    const char *a = argv[*i];
    const char **dst = NULL;

    if (strcmp(a, "--json") == 0)
        return ctx->json = 1;
    if (strncmp(a, "--url", 5) == 0 && (a[5] == '=' || !a[5]))
        dst = url;
    else if (strncmp(a, "--token", 7) == 0 && (a[7] == '=' || !a[7]))
        dst = &ctx->token_opt;
    else
        return 0;
    if (strchr(a, '=')) {
        *dst = strchr(a, '=') + 1;
    } else if (*i + 1 < argc) {
        *dst = argv[++*i];
    } else {
        cli_usage_error(NULL, "%s needs a value", a);
        return -1;
    }
    return 1;
}

/* Moves the global options out of argv (up to "--"), compacting the rest
 * into argv[0..*n). */
static int strip_globals(cli_ctx *ctx, int argc, char **argv, int *n)
{
    const char *url = getenv("PARLEY_URL");
    int out = 0, done = 0;

    for (int i = 0; i < argc; i++) {
        int r = done ? 0 : take_global(ctx, argc, argv, &i, &url);
        if (r < 0)
            return -1;
        if (!done && strcmp(argv[i], "--") == 0)
            done = 1;
        if (r == 0)
            argv[out++] = argv[i];
    }
    *n = out;
    return set_url(ctx, url && *url ? url : "http://127.0.0.1:8080");
}

static int dispatch(cli_ctx *ctx, int argc, char **argv)
{
    const char *cmd = argc > 0 ? argv[0] : NULL;

    if (!cmd)
        return cli_usage_error(usage_top, "no command given");
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") ||
        !strcmp(cmd, "help")) {
        fputs(usage_top, stdout);
        return CLI_EXIT_OK;
    }
    for (const cli_command *c = commands; c->name; c++)
        if (strcmp(c->name, cmd) == 0)
            return c->fn(ctx, argc - 1, argv + 1);
    return cli_usage_error(usage_top, "unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
    cli_ctx ctx;
    int n, rc;

    memset(&ctx, 0, sizeof ctx);
    signal(SIGPIPE, SIG_IGN); /* a vanished server is an error, not death */
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fputs("parley: library initialisation failed\n", stderr);
        return CLI_EXIT_ERR;
    }
    if (strip_globals(&ctx, argc - 1, argv + 1, &n) < 0)
        rc = CLI_EXIT_USAGE;
    else
        rc = dispatch(&ctx, n, argv + 1);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_ERR;
    curl_global_cleanup();
    return rc;
}
