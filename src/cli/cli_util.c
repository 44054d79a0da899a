/* cli_util.c - option parsing, the saved token, password prompt and
 * message printing shared by the CLI commands. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "core/util.h"

#define PATH_CAP 1024

static const cli_opt *find_opt(const cli_opt *opts, const char *name,
                               size_t len)
{
    for (; opts && opts->name; opts++)
        if (strlen(opts->name) == len && memcmp(opts->name, name, len) == 0)
            return opts;
    return NULL;
}

/* Handles argv[*i] = "--name[=value]". 0 or -1 (reported). */
static int take_opt(int argc, char **argv, int *i, const cli_opt *opts,
                    const char *usage)
{
    const char *name = argv[*i] + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const cli_opt *o = find_opt(opts, name, len);

    if (!o)
        return cli_usage_error(usage, "unknown option %s", argv[*i]), -1;
    if (o->flag) {
        if (eq)
            return cli_usage_error(usage, "--%s takes no value", o->name),
                   -1;
        *o->flag = 1;
        return 0;
    }
    if (eq) {
        *o->val = eq + 1;
    } else if (*i + 1 < argc) {
        *o->val = argv[++*i];
    } else {
        return cli_usage_error(usage, "--%s needs a value", o->name), -1;
    }
    return 0;
}

int cli_parse_args(int argc, char **argv, const cli_opt *opts,
                   const char *usage, char **pos, int maxpos, int *npos)
{
    int opts_done = 0;

    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = 1;
        } else if (!opts_done &&
                   (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            fputs(usage, stdout);
            return CLI_ARGS_HELP;
        } else if (!opts_done && a[0] == '-' && a[1] == '-') {
            if (take_opt(argc, argv, &i, opts, usage) < 0)
                return CLI_ARGS_ERR;
        } else if (*npos >= maxpos) {
            cli_usage_error(usage, "unexpected argument '%s'", a);
            return CLI_ARGS_ERR;
        } else {
            pos[(*npos)++] = argv[i];
        }
    }
    return CLI_ARGS_OK;
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;

    fputs("parley: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (usage)
        fputs(usage, stderr);
    return CLI_EXIT_USAGE;
}

int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* DIR of the token file: $XDG_CONFIG_HOME/parley or ~/.config/parley. */
static int token_dir(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;

    if (xdg && xdg[0] == '/')
        n = snprintf(out, cap, "%s/parley", xdg);
    else if (home && *home)
        n = snprintf(out, cap, "%s/.config/parley", home);
    else
        return -1;
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* mkdir -p with mode 0700 for the components we create. */
static int mkdirs(const char *path)
{
    char tmp[PATH_CAP];
    size_t n = strlen(path);

    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int read_token_file(char *out, size_t cap)
{
    char dir[PATH_CAP], path[PATH_CAP + 8];
    ssize_t n;
    int fd;

    if (token_dir(dir, sizeof dir) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/token", dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, out, cap - 1);
    close(fd);
    if (n <= 0)
        return -1;
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' ||
                     out[n - 1] == ' '))
        n--;
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

const char *cli_token(cli_ctx *ctx)
{
    const char *env = getenv("PARLEY_TOKEN");

    if (ctx->token_opt && *ctx->token_opt)
        return ctx->token_opt;
    if (env && *env)
        return env;
    if (read_token_file(ctx->token_buf, sizeof ctx->token_buf) == 0)
        return ctx->token_buf;
    fprintf(stderr, "error: not logged in (use `parley login`, --token or "
                    "PARLEY_TOKEN)\n");
    return NULL;
}


/* Writes token + "\n" to tmp (created 0600), then renames it to path, so
 * a reader never sees a half-written token. */
static int write_token(const char *tmp, const char *path, const char *token)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1;

    if (fd < 0)
        return -1;
    if (fchmod(fd, 0600) == 0 && pl_write_all(fd, token, strlen(token)) == 0 &&
        pl_write_all(fd, "\n", 1) == 0 && fsync(fd) == 0)
        rc = 0;
    if (close(fd) < 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -1;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int cli_token_save(const char *token, char *path, size_t cap)
{
    char dir[PATH_CAP], tmp[PATH_CAP + 32];

    if (token_dir(dir, sizeof dir) < 0 || mkdirs(dir) < 0) {
        fprintf(stderr, "error: cannot create the config directory: %s\n",
                strerror(errno));
        return -1;
    }
    snprintf(path, cap, "%s/token", dir);
    snprintf(tmp, sizeof tmp, "%s/.token.%ld", dir, (long)getpid());
    if (write_token(tmp, path, token) < 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads one line from stdin with terminal echo off (if it is a tty). */
static int prompt_password(char *out, size_t cap)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    char *line;
    size_t n;

    fputs("Password: ", stderr);
    fflush(stderr);
    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    line = fgets(out, (int)cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!line)
        return -1;
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return 0;
}

int cli_password(const char *opt, char *out, size_t cap)
{
    const char *p = opt ? opt : getenv("PARLEY_PASSWORD");
    size_t n;

    if (!p)
        return prompt_password(out, cap);
    n = strlen(p);
    if (n >= cap) {
        fprintf(stderr, "error: password too long\n");
        return -1;
    }
    memcpy(out, p, n + 1);
    return 0;
}

const char *cli_jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

json_int_t cli_jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

void cli_print_escaped(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

void cli_print_msg(FILE *out, const json_t *msg, const char *sender,
                   int with_conv)
{
    const json_t *content = json_object_get(msg, "content");
    const char *conv = cli_jstr(msg, "conversation_id");
    const char *at = cli_jstr(msg, "created_at");
    json_int_t seq = cli_jint(msg, "seq");

    if (with_conv)
        fprintf(out, "%s ", conv ? conv : "?");
    fprintf(out, "#%lld %s %s: ", (long long)seq, at ? at : "?",
            sender ? sender : "?");
    if (json_is_string(content))
        cli_print_escaped(out, json_string_value(content),
                          json_string_length(content));
    fputc('\n', out);
}
