/* cli.h - shared pieces of the `parley` command-line client: the context
 * main() sets up, option parsing, the saved token, password prompting and
 * message printing.
 *
 * Exit codes: 0 success, 1 error (server said no, network, I/O), 2 usage. */
#ifndef PL_CLI_H
#define PL_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/jwt.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERR 1
#define CLI_EXIT_USAGE 2

#define CLI_URL_MAX 512
#define CLI_PASSWORD_MAX 1024

/* Everything main() derives from global options and the environment.
 * Commands read it; only cli_token() fills token_buf (lazily). */
typedef struct cli_ctx {
    char url[CLI_URL_MAX];   /* base URL, no trailing '/' */
    const char *token_opt;   /* --token, else NULL */
    int json;                /* --json: print raw JSON responses */
    char token_buf[PL_JWT_MAX_TOKEN + 1];
} cli_ctx;

/* One command option. Exactly one of val (takes a value) and flag (a
 * switch, set to 1) is non-NULL. */
typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    const char **val;
    int *flag;
} cli_opt;

/* Result of cli_parse_args. */
#define CLI_ARGS_OK 0
#define CLI_ARGS_HELP 1   /* --help printed usage to stdout */
#define CLI_ARGS_ERR (-1) /* message and usage printed to stderr */

/* Parses argv[0..argc) (the arguments after the command name): options
 * from opts ("--name value" or "--name=value"), "--help"/"-h", and "--"
 * ending options. Positionals go to pos (borrowed pointers into argv),
 * at most maxpos of them, else an error. */
int cli_parse_args(int argc, char **argv, const cli_opt *opts,
                   const char *usage, char **pos, int maxpos, int *npos);
/* Reports a usage error: "parley: MSG" and the usage to stderr.
 * Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parses a decimal integer in [min, max]. 0 on success, -1 otherwise. */
int cli_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* The bearer token: --token, else $PARLEY_TOKEN, else the saved token
 * file. NULL (and a message on stderr) if there is none. */
const char *cli_token(cli_ctx *ctx);
/* Writes token to the token file (mode 0600, atomically via rename) and
 * puts its path into path (cap bytes). 0 or -1 (message on stderr). */
int cli_token_save(const char *token, char *path, size_t cap);
/* The password: opt if non-NULL, else $PARLEY_PASSWORD, else a prompt on
 * the terminal (echo off). Writes into out (cap bytes). 0 or -1. */
int cli_password(const char *opt, char *out, size_t cap);

/* Field accessors that tolerate a missing or mistyped field: the string
 * (NULL if absent) and the integer (0 if absent) of o[key]. */
const char *cli_jstr(const json_t *o, const char *key);
json_int_t cli_jint(const json_t *o, const char *key);

/* Writes s[0..len) with control characters escaped (\n, \t, \xNN), so
 * that one message stays one line. */
void cli_print_escaped(FILE *out, const char *s, size_t len);
/* Prints a message object as one line:
 * "[CONV_ID ]#SEQ TIME SENDER: content\n" (with_conv adds the id). */
void cli_print_msg(FILE *out, const json_t *msg, const char *sender,
                   int with_conv);

/* Commands. argv holds the arguments after the command name. Each returns
 * an exit code. */
int cli_cmd_register(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_login(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_me(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_conversations(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_create(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_send(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_history(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_listen(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_admin(cli_ctx *ctx, int argc, char **argv);

/* cli_keys.c: `parley admin list-keys | rotate-key | retire-key`. The
 * exit code, or -1 if sub is none of these. */
int cli_admin_keys(const char *sub, int argc, char **argv);

#endif
