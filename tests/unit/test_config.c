/* test_config.c - the option table: defaults, precedence (flag > env >
 * file > default), bounds, suffixes, file syntax, enums, help. */
#include "core/config.h"

#include <stdlib.h>
#include <unistd.h>

#include "unit.h"

extern char **environ;

static char tmpdir[] = "/tmp/pl_test_config_XXXXXX";
static char cfg_path[300];
static char err[512];

/* Tests must not see the developer's PARLEY_* variables. */
static void clear_env(void)
{
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "PARLEY_", 7) == 0) {
                char name[128];
                size_t n = strcspn(*e, "=");
                snprintf(name, sizeof name, "%.*s", (int)n, *e);
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
}

static void write_cfg(const char *text)
{
    FILE *f = fopen(cfg_path, "w");

    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Runs pl_config_load on a NULL-terminated argument list. */
static pl_status load(pl_config *cfg, const char *const *args)
{
    char *argv[32];
    int argc = 0;

    argv[argc++] = (char *)"parleyd";
    while (*args && argc < 31)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    err[0] = '\0';
    return pl_config_load(cfg, argc, argv, err, sizeof err, stdout);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOARGS ((const char *const[]){NULL})

static void test_defaults(void)
{
    pl_config c;

    pl_config_defaults(&c);
    CHECK_STR(c.listen, "127.0.0.1:8080");
    CHECK_STR(c.data_dir, "./parley-data");
    CHECK_STR(c.roles, "all");
    CHECK_STR(c.store, "sqlite");
    CHECK_STR(c.bus, "inproc");
    CHECK_STR(c.presence, "memory");
    CHECK_STR(c.log_level, "info");
    CHECK_EQ_INT(c.threads, 0);
    CHECK_EQ_INT(c.store_threads, 2);
    CHECK_EQ_INT(c.hash_threads, 2);
    CHECK_STR(c.sqlite_synchronous, "full");
    CHECK_EQ_INT(c.max_frame, 65536);
    CHECK_EQ_INT(c.max_content, 4096);
    CHECK_EQ_INT(c.max_body, 1048576);
    CHECK_EQ_INT(c.max_header, 8192);
    CHECK_EQ_INT(c.outbound_limit, 1048576);
    CHECK_EQ_INT(c.heartbeat_ms, 30000);
    CHECK_EQ_INT(c.header_timeout_ms, 10000);
    CHECK_EQ_INT(c.max_connections, 19000);
    CHECK_EQ_INT(c.token_ttl_s, 86400);
    CHECK_STR(c.jwt_issuer, "parley");
    CHECK_STR(c.jwt_audience, "parley-clients");
    CHECK_EQ_INT(c.send_queue, 65536);
    CHECK_EQ_INT(c.batch_max, 1024);
    CHECK_EQ_INT(c.argon_opslimit, 2);
    CHECK_EQ_INT(c.argon_memlimit, 67108864);
    CHECK_EQ_INT(c.shutdown_grace_ms, 5000);
    /* load with nothing given equals the defaults, whatever cfg held */
    pl_config d;
    memset(&d, 0x5a, sizeof d);
    CHECK_EQ_INT(load(&d, NOARGS), PL_OK);
    CHECK(memcmp(&c, &d, sizeof c) == 0);
    CHECK(pl_config_has_role(&c, "gateway"));
    CHECK(pl_config_has_role(&c, "auth"));
}

static void test_flags(void)
{
    pl_config c;

    CHECK_EQ_INT(load(&c, ARGS("--listen", "0.0.0.0:0", "--threads=3",
                               "--data-dir=/x=y", "--store", "postgres")),
                 PL_OK);
    CHECK_STR(c.listen, "0.0.0.0:0");
    CHECK_EQ_INT(c.threads, 3);
    CHECK_STR(c.data_dir, "/x=y");
    CHECK_STR(c.store, "postgres");
    /* the last occurrence wins */
    CHECK_EQ_INT(load(&c, ARGS("--threads", "3", "--threads", "5")), PL_OK);
    CHECK_EQ_INT(c.threads, 5);
    CHECK_EQ_INT(load(&c, ARGS("--listen", "[::1]:9000")), PL_OK);
    CHECK_STR(c.listen, "[::1]:9000");

    CHECK_EQ_INT(load(&c, ARGS("--bogus", "1")), PL_ERR_INVALID);
    CHECK(strstr(err, "--bogus") != NULL);
    CHECK_EQ_INT(load(&c, ARGS("--threads")), PL_ERR_INVALID);
    CHECK(strstr(err, "threads") != NULL);
    CHECK_EQ_INT(load(&c, ARGS("threads", "3")), PL_ERR_INVALID);
    CHECK_EQ_INT(load(&c, ARGS("-t", "3")), PL_ERR_INVALID);
    CHECK_EQ_INT(load(&c, ARGS("--")), PL_ERR_INVALID);
    CHECK_EQ_INT(load(&c, ARGS("--version=2")), PL_ERR_INVALID);
    CHECK_EQ_INT(load(&c, ARGS("--listen", "nohost")), PL_ERR_INVALID);
    CHECK(strstr(err, "listen") != NULL);
    CHECK_EQ_INT(load(&c, ARGS("--listen", "h:65536")), PL_ERR_INVALID);
    CHECK_EQ_INT(load(&c, ARGS("--listen", "h:8k")), PL_ERR_INVALID);
    CHECK_EQ_INT(load(&c, ARGS("--listen", "h:")), PL_ERR_INVALID);
    CHECK_EQ_INT(load(&c, ARGS("--listen", ":80")), PL_ERR_INVALID);
    CHECK_EQ_INT(load(&c, ARGS("--data-dir", "")), PL_ERR_INVALID);
    char longv[600];
    memset(longv, 'd', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    CHECK_EQ_INT(load(&c, ARGS("--data-dir", longv)), PL_ERR_INVALID);
    CHECK(strstr(err, "too long") != NULL);
}

static void test_ints(void)
{
    pl_config c;
    char e[256];

    pl_config_defaults(&c);
    CHECK_EQ_INT(pl_config_set(&c, "max-frame", "64k", e, sizeof e), PL_OK);
    CHECK_EQ_INT(c.max_frame, 65536);
    CHECK_EQ_INT(pl_config_set(&c, "max-frame", "2M", e, sizeof e), PL_OK);
    CHECK_EQ_INT(c.max_frame, 2 * 1024 * 1024);
    CHECK_EQ_INT(pl_config_set(&c, "argon-memlimit", "1G", e, sizeof e), PL_OK);
    CHECK_EQ_INT(c.argon_memlimit, 1073741824LL);
    CHECK_EQ_INT(pl_config_set(&c, "argon-memlimit", "64m", e, sizeof e),
                 PL_OK);
    CHECK_EQ_INT(c.argon_memlimit, 67108864);
    CHECK_EQ_INT(pl_config_set(&c, "max-body", "1K", e, sizeof e), PL_OK);
    CHECK_EQ_INT(c.max_body, 1024);
    /* bounds, naming the option */
    CHECK_EQ_INT(pl_config_set(&c, "max-frame", "1023", e, sizeof e),
                 PL_ERR_INVALID);
    CHECK(strstr(e, "max-frame") != NULL && strstr(e, "range") != NULL);
    CHECK_EQ_INT(c.max_frame, 2 * 1024 * 1024); /* unchanged */
    CHECK_EQ_INT(pl_config_set(&c, "max-frame", "65M", e, sizeof e),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_config_set(&c, "threads", "-1", e, sizeof e),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_config_set(&c, "store-threads", "0", e, sizeof e),
                 PL_ERR_INVALID);
    CHECK(strstr(e, "store-threads") != NULL);
    CHECK_EQ_INT(pl_config_set(&c, "threads", "1024", e, sizeof e), PL_OK);
    CHECK_EQ_INT(c.threads, 1024);
    CHECK_EQ_INT(pl_config_set(&c, "threads", "1025", e, sizeof e),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_config_set(&c, "shutdown-grace-ms", "0", e, sizeof e),
                 PL_OK);
    CHECK_EQ_INT(c.shutdown_grace_ms, 0);
    /* syntax */
    static const char *bad[] = {"", "abc", "12abc", "1kk", "1 ", " 1", "+5",
                                "0x10", "1.5", "-", "1k2", "5t",
                                "99999999999999999999",
                                "9999999999999999g"}; /* overflow */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(pl_config_set(&c, "heartbeat-ms", bad[i], e, sizeof e),
                     PL_ERR_INVALID);
        CHECK(strstr(e, "heartbeat-ms") != NULL);
    }
    CHECK_EQ_INT(c.heartbeat_ms, 30000);
    CHECK_EQ_INT(pl_config_set(&c, "no-such", "1", e, sizeof e),
                 PL_ERR_INVALID);
    CHECK(strstr(e, "no-such") != NULL);
    /* NULL err buffer is allowed */
    CHECK_EQ_INT(pl_config_set(&c, "threads", "x", NULL, 0), PL_ERR_INVALID);
}

static void test_enums_roles(void)
{
    pl_config c;
    char e[256];

    pl_config_defaults(&c);
    CHECK_EQ_INT(pl_config_set(&c, "bus", "kafka", e, sizeof e), PL_OK);
    CHECK_STR(c.bus, "kafka");
    CHECK_EQ_INT(pl_config_set(&c, "presence", "redis", e, sizeof e), PL_OK);
    CHECK_EQ_INT(pl_config_set(&c, "log-level", "debug", e, sizeof e), PL_OK);
    CHECK_EQ_INT(pl_config_set(&c, "sqlite-synchronous", "normal", e,
                               sizeof e), PL_OK);
    static const char *const bad[][2] = {
        {"store", "mysql"}, {"store", "SQLITE"}, {"store", ""},
        {"bus", "inproc "}, {"presence", "memcache"},
        {"log-level", "trace"}, {"sqlite-synchronous", "off"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ_INT(pl_config_set(&c, bad[i][0], bad[i][1], e, sizeof e),
                     PL_ERR_INVALID);
        CHECK(strstr(e, bad[i][0]) != NULL);
    }
    CHECK_STR(c.store, "sqlite");
    CHECK(strstr(e, "full|normal") != NULL);

    CHECK_EQ_INT(pl_config_set(&c, "roles", "gateway,messaging", e, sizeof e),
                 PL_OK);
    CHECK(pl_config_has_role(&c, "gateway"));
    CHECK(pl_config_has_role(&c, "messaging"));
    CHECK(!pl_config_has_role(&c, "fanout"));
    CHECK(!pl_config_has_role(&c, "gate"));
    CHECK(!pl_config_has_role(&c, "gatewayx"));
    CHECK_EQ_INT(pl_config_set(&c, "roles", " auth , presence", e, sizeof e),
                 PL_OK);
    CHECK(pl_config_has_role(&c, "auth"));
    CHECK(pl_config_has_role(&c, "presence"));
    CHECK(!pl_config_has_role(&c, "gateway"));
    CHECK_EQ_INT(pl_config_set(&c, "roles", "fanout,all", e, sizeof e), PL_OK);
    CHECK(pl_config_has_role(&c, "gateway"));
    static const char *bad_roles[] = {"", "bogus", "gateway,bogus",
                                      "gateway,", ",gateway", "gateway,,auth",
                                      "ALL"};
    for (size_t i = 0; i < sizeof bad_roles / sizeof bad_roles[0]; i++) {
        CHECK_EQ_INT(pl_config_set(&c, "roles", bad_roles[i], e, sizeof e),
                     PL_ERR_INVALID);
        CHECK(strstr(e, "roles") != NULL);
    }
    CHECK_STR(c.roles, "fanout,all");
}

static void test_file_syntax(void)
{
    pl_config c;

    write_cfg("# comment\n"
              "\n"
              "   \t\n"
              "listen = 0.0.0.0:9999\n"
              "data-dir=\"/var/lib/parley data\"\n"
              "  threads\t=  4  \r\n"
              "jwt-issuer = 'iss # not a comment'\n"
              "max-frame = 128k # trailing comment\n"
              "log-level = warn");          /* no final newline */
    CHECK_EQ_INT(pl_config_load_file(&c, cfg_path, err, sizeof err), PL_OK);
    pl_config_defaults(&c);
    CHECK_EQ_INT(pl_config_load_file(&c, cfg_path, err, sizeof err), PL_OK);
    CHECK_STR(c.listen, "0.0.0.0:9999");
    CHECK_STR(c.data_dir, "/var/lib/parley data");
    CHECK_EQ_INT(c.threads, 4);
    CHECK_STR(c.jwt_issuer, "iss # not a comment");
    CHECK_EQ_INT(c.max_frame, 131072);
    CHECK_STR(c.log_level, "warn");

    /* errors carry FILE:LINE */
    static const struct { const char *text; const char *want; } bad[] = {
        {"threads = 2\n\nbogus = 1\n", ":3: unknown option 'bogus'"},
        {"threads = 2\nthreads 3\n", ":2: expected"},
        {"# c\nmax-frame = 10\n", ":2: max-frame: 10 is out of range"},
        {"store = mysql\n", ":1: store"},
        {"data-dir = \"unterminated\n", ":1: data-dir"},
        {"data-dir = \"a\" junk\n", ":1: data-dir"},
        {" = 5\n", ":1: bad option name"},
        {"threads =\n", ":1: threads"},
        {"--threads = 3\n", ":1: unknown option '--threads'"},
        {"config = x\n", ":1: unknown option 'config'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_cfg(bad[i].text);
        err[0] = '\0';
        CHECK_EQ_INT(pl_config_load_file(&c, cfg_path, err, sizeof err),
                     PL_ERR_INVALID);
        if (strstr(err, bad[i].want) == NULL || strstr(err, cfg_path) == NULL)
            fprintf(stderr, "case %zu: err '%s', want '%s'\n", i, err,
                    bad[i].want);
        CHECK(strstr(err, bad[i].want) != NULL);
        CHECK(strncmp(err, cfg_path, strlen(cfg_path)) == 0);
    }
    CHECK_EQ_INT(pl_config_load_file(&c, "/nonexistent/parley.conf", err,
                                     sizeof err), PL_ERR_INVALID);
    CHECK(strstr(err, "/nonexistent/parley.conf") != NULL);

    /* in memory: not NUL-terminated, NUL bytes rejected */
    const char buf[] = "threads = 7\nthreads = 8";
    pl_config_defaults(&c);
    CHECK_EQ_INT(pl_config_load_buf(&c, buf, 11, err, sizeof err), PL_OK);
    CHECK_EQ_INT(c.threads, 7);
    CHECK_EQ_INT(pl_config_load_buf(&c, "threads = 9\0x\n", 14, err,
                                    sizeof err), PL_ERR_INVALID);
    CHECK(strstr(err, "config:1") != NULL);
    CHECK_EQ_INT(pl_config_load_buf(&c, "", 0, err, sizeof err), PL_OK);
    char longline[3000];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "data-dir = ", 11);
    CHECK_EQ_INT(pl_config_load_buf(&c, longline, sizeof longline, err,
                                    sizeof err), PL_ERR_INVALID);
}

static void test_precedence(void)
{
    pl_config c;
    char cfg_arg[320];

    snprintf(cfg_arg, sizeof cfg_arg, "--config=%s", cfg_path);
    write_cfg("threads = 3\nstore-threads = 3\nhash-threads = 3\n");

    /* file > default */
    CHECK_EQ_INT(load(&c, ARGS("--config", cfg_path)), PL_OK);
    CHECK_EQ_INT(c.threads, 3);
    CHECK_EQ_INT(c.batch_max, 1024);
    /* env > file */
    setenv("PARLEY_STORE_THREADS", "4", 1);
    CHECK_EQ_INT(load(&c, ARGS(cfg_arg)), PL_OK);
    CHECK_EQ_INT(c.threads, 3);
    CHECK_EQ_INT(c.store_threads, 4);
    /* flag > env and flag > file, with --config after the flags: the file
     * is still read first */
    CHECK_EQ_INT(load(&c, ARGS("--store-threads", "5", "--threads=6",
                               "--config", cfg_path)), PL_OK);
    CHECK_EQ_INT(c.store_threads, 5);
    CHECK_EQ_INT(c.threads, 6);
    CHECK_EQ_INT(c.hash_threads, 3);
    /* env > default */
    setenv("PARLEY_MAX_CONTENT", "2k", 1);
    setenv("PARLEY_DATA_DIR", "/srv/parley", 1);
    CHECK_EQ_INT(load(&c, NOARGS), PL_OK);
    CHECK_EQ_INT(c.max_content, 2048);
    CHECK_STR(c.data_dir, "/srv/parley");
    CHECK_EQ_INT(c.threads, 0);
    /* empty env counts as unset */
    setenv("PARLEY_DATA_DIR", "", 1);
    CHECK_EQ_INT(load(&c, NOARGS), PL_OK);
    CHECK_STR(c.data_dir, "./parley-data");
    /* a bad env value names the variable */
    setenv("PARLEY_MAX_CONTENT", "lots", 1);
    CHECK_EQ_INT(load(&c, NOARGS), PL_ERR_INVALID);
    CHECK(strstr(err, "PARLEY_MAX_CONTENT") != NULL);
    /* ... but a flag does not rescue it: env is still parsed */
    CHECK_EQ_INT(load(&c, ARGS("--max-content", "100")), PL_ERR_INVALID);
    unsetenv("PARLEY_MAX_CONTENT");
    /* a bad flag names the flag */
    CHECK_EQ_INT(load(&c, ARGS("--max-content", "0")), PL_ERR_INVALID);
    CHECK(strstr(err, "--max-content") != NULL);
    /* PARLEY_CONFIG names the file; --config overrides it */
    setenv("PARLEY_CONFIG", cfg_path, 1);
    CHECK_EQ_INT(load(&c, NOARGS), PL_OK);
    CHECK_EQ_INT(c.hash_threads, 3);
    CHECK_EQ_INT(load(&c, ARGS("--config", "/nonexistent/x.conf")),
                 PL_ERR_INVALID);
    CHECK(strstr(err, "/nonexistent/x.conf") != NULL);
    unsetenv("PARLEY_CONFIG");
    unsetenv("PARLEY_STORE_THREADS");
    /* a bad file line fails the whole load */
    write_cfg("threads = 3\nnope = 1\n");
    CHECK_EQ_INT(load(&c, ARGS("--config", cfg_path)), PL_ERR_INVALID);
    CHECK(strstr(err, ":2:") != NULL);
    CHECK_EQ_INT(load(&c, ARGS("--config")), PL_ERR_INVALID);
}

static char *capture(const char *const *args, pl_status *st)
{
    char *argv[8], *text = NULL;
    size_t len = 0;
    int argc = 0;
    pl_config c;
    FILE *f = open_memstream(&text, &len);

    argv[argc++] = (char *)"parleyd";
    while (*args && argc < 7)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    *st = pl_config_load(&c, argc, argv, err, sizeof err, f);
    fclose(f);
    return text;
}

static void test_help_version(void)
{
    static const char *names[] = {
        "listen", "data-dir", "roles", "store", "bus", "presence",
        "log-level", "threads", "store-threads", "hash-threads",
        "sqlite-synchronous", "max-frame", "max-content", "max-body",
        "max-header", "outbound-limit", "heartbeat-ms", "header-timeout-ms",
        "max-connections", "token-ttl", "jwt-issuer", "jwt-audience",
        "send-queue", "batch-max", "argon-opslimit", "argon-memlimit",
        "shutdown-grace-ms", "pg-dsn", "pg-connect-timeout-ms",
        "pg-timeout-ms",
    };
    pl_status st;
    char *text = capture(ARGS("--help"), &st);

    CHECK_EQ_INT(st, PL_DONE);
    CHECK(text != NULL);
    for (size_t i = 0; text && i < sizeof names / sizeof names[0]; i++) {
        char flag[64], env[64];
        snprintf(flag, sizeof flag, "--%s ", names[i]);
        snprintf(env, sizeof env, "PARLEY_");
        for (size_t j = 0; names[i][j] && j + 8 < sizeof env; j++) {
            char ch = names[i][j];
            env[7 + j] = ch == '-' ? '_' : (char)(ch - 'a' + 'A');
            env[8 + j] = '\0';
        }
        CHECK(strstr(text, flag) != NULL);
        CHECK(strstr(text, env) != NULL);
    }
    CHECK(text && strstr(text, "PARLEY_MAX_FRAME] (default: 65536)") != NULL);
    CHECK(text && strstr(text, "(default: 127.0.0.1:8080)") != NULL);
    CHECK(text && strstr(text, "--config") != NULL);
    free(text);

    text = capture(ARGS("--threads", "2", "-h"), &st);
    CHECK_EQ_INT(st, PL_DONE);
    CHECK(text && strstr(text, "Usage") != NULL);
    free(text);
    text = capture(ARGS("--version"), &st);
    CHECK_EQ_INT(st, PL_DONE);
    CHECK(text && strcmp(text, "parleyd 0.1.0\n") == 0);
    free(text);
    /* a value that looks like a flag is a value */
    text = capture(ARGS("--data-dir", "--help"), &st);
    CHECK_EQ_INT(st, PL_OK);
    CHECK(text && text[0] == '\0');
    free(text);
}

/* The store = postgres block: defaults, a quoted DSN from a file line,
 * bounds. */
static void test_pg_options(void)
{
    static const char line[] =
        "pg-dsn = \"host=db port=6543 options='-c search_path=s'\"\n";
    char e[256];
    pl_config c;

    pl_config_defaults(&c);
    CHECK_STR(c.pg_dsn, "host=127.0.0.1 dbname=parley user=parley");
    CHECK_EQ_INT(c.pg_connect_timeout_ms, 5000);
    CHECK_EQ_INT(c.pg_timeout_ms, 30000);
    CHECK_EQ_INT(pl_config_load_buf(&c, line, strlen(line), e, sizeof e),
                 PL_OK);
    CHECK_STR(c.pg_dsn, "host=db port=6543 options='-c search_path=s'");
    CHECK_EQ_INT(pl_config_set(&c, "pg-dsn", "", e, sizeof e),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_config_set(&c, "pg-timeout-ms", "99", e, sizeof e),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_config_set(&c, "pg-connect-timeout-ms", "1s", e,
                               sizeof e),
                 PL_ERR_INVALID);
    CHECK_EQ_INT(pl_config_set(&c, "pg-timeout-ms", "100", e, sizeof e),
                 PL_OK);
    CHECK_EQ_INT(c.pg_timeout_ms, 100);
}

int main(void)
{
    clear_env();
    CHECK(mkdtemp(tmpdir) != NULL);
    snprintf(cfg_path, sizeof cfg_path, "%s/parley.conf", tmpdir);
    test_defaults();
    test_flags();
    test_ints();
    test_enums_roles();
    test_file_syntax();
    test_precedence();
    test_help_version();
    test_pg_options();
    unlink(cfg_path);
    rmdir(tmpdir);
    UNIT_DONE();
}
