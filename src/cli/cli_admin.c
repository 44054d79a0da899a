/* cli_admin.c - `parley admin`: works on the data directory directly (the
 * store and DATA_DIR/jwt-keys), also while parleyd runs, to mint users and
 * tokens for load tests and operators without going through the API. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "backends/store.h"
#include "cli.h"
#include "core/config.h"
#include "core/jwt.h"
#include "core/timeutil.h"
#include "core/uuid.h"

#define BULK_CHUNK 10000
#define MAX_COUNT 1000000
#define USERNAME_MIN 3

static const char usage_admin[] =
    "usage: parley admin create-users --count N --prefix P [--data-dir DIR]\n"
    "                                 [--password-login [--password PW]]\n"
    "       parley admin token USERNAME [--data-dir DIR]\n"
    "       parley admin list-keys | rotate-key | retire-key KID "
    "[--data-dir DIR]\n"
    "  Opens the store and the JWT keys in DIR (--data-dir, else\n"
    "  PARLEY_DATA_DIR, else ./parley-data) directly. create-users makes\n"
    "  users P0..P(N-1) and prints \"user_id<TAB>username<TAB>token\" per\n"
    "  user; they cannot log in with a password unless --password-login\n"
    "  (password from --password, PARLEY_PASSWORD or a prompt) is given.\n"
    "  All of the usernames must be free, else nothing is created.\n"
    "  The server's store, sqlite-synchronous, pg-dsn, jwt-issuer,\n"
    "  jwt-audience and token-ttl settings are taken from the same PARLEY_*\n"
    "  variables (e.g. PARLEY_STORE=postgres PARLEY_PG_DSN=...).\n";

typedef struct admin_env {
    pl_config cfg;
    pl_store *store;
    pl_store_conn *conn;
    pl_jwt_keyring kr;
} admin_env;

/* The settings that must agree with the running server's. */
static const char *const shared_settings[] = {
    "store", "sqlite-synchronous", "jwt-issuer", "jwt-audience", "token-ttl",
    "argon-opslimit", "argon-memlimit", "pg-dsn", "pg-connect-timeout-ms",
    "pg-timeout-ms", NULL,
};

/* Applies PARLEY_<NAME> for each shared setting. 0 or -1 (reported). */
static int apply_env(pl_config *cfg)
{
    char env[64], err[256];

    for (const char *const *n = shared_settings; *n; n++) {
        size_t len = strlen(*n), i;
        const char *v;
        memcpy(env, "PARLEY_", 7);
        for (i = 0; i < len && 7 + i < sizeof env - 1; i++)
            env[7 + i] = (*n)[i] == '-' ? '_' : (char)((*n)[i] & ~0x20);
        env[7 + i] = '\0';
        if (!(v = getenv(env)) || !*v)
            continue;
        if (pl_config_set(cfg, *n, v, err, sizeof err) != PL_OK) {
            fprintf(stderr, "error: %s: %s\n", env, err);
            return -1;
        }
    }
    return 0;
}

static int config_for(pl_config *cfg, const char *data_dir)
{
    const char *dir = data_dir ? data_dir : getenv("PARLEY_DATA_DIR");
    size_t n;

    pl_config_defaults(cfg);
    if (!dir || !*dir)
        dir = "./parley-data";
    n = strlen(dir);
    if (n >= sizeof cfg->data_dir) {
        fprintf(stderr, "error: data dir path too long\n");
        return -1;
    }
    memcpy(cfg->data_dir, dir, n + 1);
    return apply_env(cfg);
}

/* Opens the store (creating/migrating it if needed) and the keyring. */
static int admin_open(admin_env *e, const char *data_dir)
{
    pl_status st;

    memset(e, 0, sizeof *e);
    if (config_for(&e->cfg, data_dir) < 0)
        return -1;
    st = pl_store_open(&e->cfg, &e->store);
    if (st == PL_OK)
        st = pl_store_conn_open(e->store, &e->conn);
    if (st != PL_OK) {
        fprintf(stderr, "error: cannot open the store in %s: %s\n",
                e->cfg.data_dir, pl_status_str(st));
        return -1;
    }
    st = pl_jwt_keyring_load(e->cfg.data_dir, e->cfg.jwt_issuer,
                             e->cfg.jwt_audience, e->cfg.token_ttl_s, &e->kr);
    if (st != PL_OK) {
        fprintf(stderr, "error: cannot load %s/jwt-keys: %s\n",
                e->cfg.data_dir, pl_status_str(st));
        return -1;
    }
    return 0;
}

static void admin_close(admin_env *e)
{
    if (e->conn)
        pl_store_conn_close(e->conn);
    if (e->store)
        pl_store_close(e->store);
    sodium_memzero(&e->kr, sizeof e->kr);
}

/* Prints "user_id\tusername\ttoken" for u. 0 or -1. */
static int print_token_line(const admin_env *e, const pl_user *u,
                            int with_id)
{
    char tok[PL_JWT_MAX_TOKEN + 1], id[PL_UUID_STRLEN + 1];
    pl_status st = pl_jwt_sign(&e->kr, &u->id, u->username,
                               pl_now_ms() / 1000, tok, sizeof tok);

    if (st != PL_OK) {
        fprintf(stderr, "error: signing a token failed: %s\n",
                pl_status_str(st));
        return -1;
    }
    if (with_id)
        printf("%s\t%s\t%s\n", pl_uuid_fmt(&u->id, id), u->username, tok);
    else
        printf("%s\n", tok);
    return 0;
}

/* ---- create-users -------------------------------------------------------- */

typedef struct create_args {
    const char *count, *prefix, *data_dir, *password;
    int password_login;
    int64_t n;
} create_args;

static int valid_name_chars(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
              *s == '-'))
            return 0;
    return 1;
}

/* Checks --count and --prefix: every name P0..P(N-1) must be a valid
 * username (3..32 of [A-Za-z0-9_.-]). */
static int check_create_args(create_args *a)
{
    char longest[64];
    int n;

    if (!a->count || !a->prefix)
        return cli_usage_error(usage_admin, "--count and --prefix needed");
    if (cli_parse_i64(a->count, 1, MAX_COUNT, &a->n) < 0)
        return cli_usage_error(usage_admin, "--count must be 1..%d",
                               MAX_COUNT);
    if (!valid_name_chars(a->prefix))
        return cli_usage_error(usage_admin, "--prefix may only hold "
                                            "A-Z a-z 0-9 _ . -");
    n = snprintf(longest, sizeof longest, "%s%lld", a->prefix,
                 (long long)(a->n - 1));
    if (n < 0 || n > PL_USERNAME_MAX)
        return cli_usage_error(usage_admin, "usernames would exceed %d "
                                            "characters", PL_USERNAME_MAX);
    if (strlen(a->prefix) + 1 < USERNAME_MIN)
        return cli_usage_error(usage_admin, "usernames need at least %d "
                                            "characters: longer --prefix",
                               USERNAME_MIN);
    return 0;
}

/* The password hash every created user gets: "!" (no password login) or
 * one Argon2id hash shared by all of them (hashing is deliberately slow:
 * once, not N times). 0 or -1. */
static int make_pw_hash(const create_args *a, const pl_config *cfg,
                        char out[PL_PWHASH_MAX + 1])
{
    char pw[CLI_PASSWORD_MAX + 2], hash[crypto_pwhash_STRBYTES];
    int rc = -1;

    if (!a->password_login) {
        memcpy(out, "!", 2);
        return 0;
    }
    if (cli_password(a->password, pw, sizeof pw) < 0 || strlen(pw) < 8) {
        fprintf(stderr, "error: --password-login needs a password of at "
                        "least 8 bytes\n");
        goto out;
    }
    if (crypto_pwhash_str_alg(hash, pw, strlen(pw),
                              (unsigned long long)cfg->argon_opslimit,
                              (size_t)cfg->argon_memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0 ||
        strlen(hash) > PL_PWHASH_MAX) {
        fprintf(stderr, "error: password hashing failed\n");
        goto out;
    }
    memcpy(out, hash, strlen(hash) + 1);
    rc = 0;
out:
    sodium_memzero(pw, sizeof pw);
    return rc;
}

/* Builds the n users in memory (malloc'd array, NULL on failure). */
static pl_user *build_users(const create_args *a, const char *pw_hash)
{
    pl_user *u = calloc((size_t)a->n, sizeof *u);
    int64_t now = pl_now_ms();

    if (!u) {
        fprintf(stderr, "error: out of memory for %lld users\n",
                (long long)a->n);
        return NULL;
    }
    for (int64_t i = 0; i < a->n; i++) {
        pl_uuid_v4(&u[i].id);
        snprintf(u[i].username, sizeof u[i].username, "%s%lld", a->prefix,
                 (long long)i);
        memcpy(u[i].pw_hash, pw_hash, strlen(pw_hash) + 1);
        u[i].created_ms = now;
    }
    return u;
}

/* The bulk insert goes in chunks (separate transactions), so a taken name
 * is looked for first: nothing is written when one is found. */
static int check_free(admin_env *e, const pl_user *u, size_t n)
{
    pl_user found;

    for (size_t i = 0; i < n; i++) {
        pl_status st = pl_store_user_by_name(e->conn, u[i].username, &found);
        if (st == PL_ERR_NOTFOUND)
            continue;
        if (st == PL_OK)
            fprintf(stderr, "error: username_taken: user '%s' already "
                            "exists; no users were created\n", u[i].username);
        else
            fprintf(stderr, "error: looking up '%s' failed: %s\n",
                    u[i].username, pl_status_str(st));
        return -1;
    }
    return 0;
}

static int insert_users(admin_env *e, const pl_user *u, size_t n)
{
    for (size_t off = 0; off < n; off += BULK_CHUNK) {
        size_t k = n - off < BULK_CHUNK ? n - off : BULK_CHUNK;
        pl_status st = pl_store_users_create_bulk(e->conn, u + off, k);
        if (st == PL_OK)
            continue;
        if (st == PL_ERR_CONFLICT)
            fprintf(stderr, "error: username_taken: a username in %s..%s "
                            "was taken meanwhile", u[off].username,
                    u[off + k - 1].username);
        else
            fprintf(stderr, "error: creating users failed: %s",
                    pl_status_str(st));
        fprintf(stderr, "; %zu of %zu users were created\n", off, n);
        return -1;
    }
    return 0;
}

static int create_users_run(create_args *a)
{
    char pw_hash[PL_PWHASH_MAX + 1];
    pl_user *users = NULL;
    admin_env e;
    int rc = CLI_EXIT_ERR;

    if (admin_open(&e, a->data_dir) < 0 ||
        make_pw_hash(a, &e.cfg, pw_hash) < 0 ||
        !(users = build_users(a, pw_hash)) ||
        check_free(&e, users, (size_t)a->n) < 0 ||
        insert_users(&e, users, (size_t)a->n) < 0)
        goto out;
    rc = CLI_EXIT_OK;
    for (int64_t i = 0; i < a->n && rc == CLI_EXIT_OK; i++)
        if (print_token_line(&e, &users[i], 1) < 0)
            rc = CLI_EXIT_ERR;
out:
    free(users);
    admin_close(&e);
    return rc;
}

static int cmd_create_users(int argc, char **argv)
{
    create_args a = {0};
    const cli_opt opts[] = {{"count", &a.count, NULL},
                            {"prefix", &a.prefix, NULL},
                            {"data-dir", &a.data_dir, NULL},
                            {"password", &a.password, NULL},
                            {"password-login", NULL, &a.password_login},
                            {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc;

    rc = cli_parse_args(argc, argv, opts, usage_admin, pos, 0, &npos);
    if (rc != CLI_ARGS_OK)
        return rc == CLI_ARGS_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if ((rc = check_create_args(&a)) != 0)
        return rc;
    return create_users_run(&a);
}

/* ---- token --------------------------------------------------------------- */

static int token_run(const char *username, const char *data_dir)
{
    admin_env e;
    pl_user u;
    pl_status st;
    int rc = CLI_EXIT_ERR;

    if (admin_open(&e, data_dir) < 0)
        goto out;
    st = pl_store_user_by_name(e.conn, username, &u);
    if (st == PL_ERR_NOTFOUND)
        fprintf(stderr, "error: user_not_found: no user named '%s'\n",
                username);
    else if (st != PL_OK)
        fprintf(stderr, "error: looking up '%s' failed: %s\n", username,
                pl_status_str(st));
    else if (print_token_line(&e, &u, 0) == 0)
        rc = CLI_EXIT_OK;
out:
    admin_close(&e);
    return rc;
}

static int cmd_token(int argc, char **argv)
{
    const char *data_dir = NULL;
    const cli_opt opts[] = {{"data-dir", &data_dir, NULL},
                            {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc;

    rc = cli_parse_args(argc, argv, opts, usage_admin, pos, 1, &npos);
    if (rc != CLI_ARGS_OK)
        return rc == CLI_ARGS_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    if (npos != 1)
        return cli_usage_error(usage_admin, "USERNAME is required");
    if (strlen(pos[0]) > PL_USERNAME_MAX)
        return cli_usage_error(usage_admin, "username too long");
    return token_run(pos[0], data_dir);
}

int cli_cmd_admin(cli_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : NULL;

    if (!sub)
        return cli_usage_error(usage_admin, "admin needs a subcommand");
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(usage_admin, stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(sub, "create-users") == 0)
        return cmd_create_users(argc - 1, argv + 1);
    if (strcmp(sub, "token") == 0)
        return cmd_token(argc - 1, argv + 1);
    int rc = cli_admin_keys(sub, argc - 1, argv + 1);
    if (rc >= 0)
        return rc;
    return cli_usage_error(usage_admin, "unknown admin command '%s'", sub);
}
