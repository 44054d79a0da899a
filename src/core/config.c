/* config.c - the typed option table and its three sources.
 *
 * Every option lives in opts[] once: name (also the file key; the flag is
 * "--" + name and the env variable PARLEY_ + upper-case name with '-' as
 * '_'), type, bounds, field, default and help. Defaults are applied through
 * the same setter as user input, so a bad default cannot slip in. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netaddr.h"

#define PL_VERSION_STR "parleyd 0.1.0"
#define NAME_MAX_LEN 64
#define VALUE_MAX_LEN 1024
#define CONFIG_FILE_MAX (1 << 20)
#define KIB 1024LL
#define MIB (1024LL * 1024)
#define GIB (1024LL * 1024 * 1024)

typedef enum opt_type { OPT_STR, OPT_INT, OPT_ENUM } opt_type;

typedef int (*opt_check)(const char *value, char *err, size_t errcap);

typedef struct opt {
    const char *name;
    opt_type type;
    size_t off, size;            /* field in pl_config */
    int64_t min, max;            /* OPT_INT bounds */
    const char *const *choices;  /* OPT_ENUM: NULL-terminated */
    opt_check check;             /* OPT_STR: extra validation, or NULL */
    const char *def;
    const char *help;
} opt;

static int check_listen(const char *v, char *err, size_t errcap);
static int check_roles(const char *v, char *err, size_t errcap);
static int check_gateway_id(const char *v, char *err, size_t errcap);
static int check_cidrs(const char *v, char *err, size_t errcap);

static const char *const store_choices[] = {"sqlite", "postgres", NULL};
static const char *const bus_choices[] = {"inproc", "kafka", NULL};
static const char *const presence_choices[] = {"memory", "redis", NULL};
static const char *const level_choices[] = {"debug", "info", "warn", "error",
                                            NULL};
static const char *const sync_choices[] = {"full", "normal", NULL};
static const char *const redis_mode_choices[] = {"auto", "single", "cluster",
                                                 NULL};
static const char *const role_names[] = {"gateway", "messaging", "fanout",
                                         "presence", "auth", NULL};

#define FIELD(f) offsetof(pl_config, f), sizeof(((pl_config *)0)->f)
#define STR(n, f, chk, d, h) {n, OPT_STR, FIELD(f), 0, 0, NULL, chk, d, h}
#define INT(n, f, lo, hi, d, h) {n, OPT_INT, FIELD(f), lo, hi, NULL, NULL, d, h}
#define ENUM(n, f, c, d, h) {n, OPT_ENUM, FIELD(f), 0, 0, c, NULL, d, h}

static const opt opts[] = {
    STR("listen", listen, check_listen, "127.0.0.1:8080",
        "address to listen on, HOST:PORT (port 0: pick a free port)"),
    STR("data-dir", data_dir, NULL, "./parley-data",
        "directory for the SQLite database and the JWT keys"),
    STR("roles", roles, check_roles, "all",
        "roles to run: \"all\" or a comma list of gateway,messaging,"
        "fanout,presence,auth"),
    ENUM("store", store, store_choices, "sqlite", "storage backend"),
    ENUM("bus", bus, bus_choices, "inproc", "message bus backend"),
    ENUM("presence", presence, presence_choices, "memory",
         "presence backend"),
    ENUM("log-level", log_level, level_choices, "info",
         "least severe log level written"),
    INT("threads", threads, 0, 1024, "0",
        "event-loop threads (0: one per CPU)"),
    INT("store-threads", store_threads, 1, 64, "2",
        "store worker threads"),
    INT("hash-threads", hash_threads, 1, 64, "2",
        "concurrent Argon2id password hashes"),
    ENUM("sqlite-synchronous", sqlite_synchronous, sync_choices, "full",
         "SQLite PRAGMA synchronous"),
    INT("sqlite-merge-rows", sqlite_merge_rows, 64, 1048576, "8192",
        "SQLite store: message-log rows merged into the per-conversation "
        "indexes in one go (bigger: less write work, rarer but longer "
        "stalls, more memory for the unmerged tail)"),
    INT("max-frame", max_frame, 1 * KIB, 64 * MIB, "65536",
        "largest WebSocket frame or message, bytes"),
    INT("max-content", max_content, 1, 16 * MIB, "4096",
        "largest message content, UTF-8 bytes"),
    INT("max-body", max_body, 1 * KIB, 1 * GIB, "1048576",
        "largest HTTP request body, bytes"),
    INT("max-header", max_header, 1 * KIB, 1 * MIB, "8192",
        "largest HTTP request head, bytes"),
    INT("outbound-limit", outbound_limit, 4 * KIB, 1 * GIB, "1048576",
        "bytes queued to one connection before it is closed (1008)"),
    INT("heartbeat-ms", heartbeat_ms, 100, 3600000, "30000",
        "heartbeat interval; idle WebSockets are closed after twice this"),
    INT("header-timeout-ms", header_timeout_ms, 100, 3600000, "10000",
        "time allowed to send a complete HTTP request (head and body)"),
    INT("max-connections", max_connections, 1, 10000000, "19000",
        "most concurrent client connections"),
    INT("token-ttl", token_ttl_s, 1, 10 * 366 * 86400LL, "86400",
        "lifetime of issued tokens, seconds"),
    STR("jwt-issuer", jwt_issuer, NULL, "parley", "JWT iss claim"),
    STR("allowed-origins", allowed_origins, NULL, "*",
        "WebSocket upgrades carrying an Origin header must name one of these "
        "(comma list of exact origins, e.g. https://chat.example.com); "
        "\"*\": any. Clients that send no Origin (non-browsers) are allowed"),
    STR("jwt-audience", jwt_audience, NULL, "parley-clients",
        "JWT aud claim"),
    INT("send-queue", send_queue, 1, 16 * MIB, "65536",
        "bound of the messaging pipeline queue"),
    INT("batch-max", batch_max, 1, 65536, "1024",
        "most messages stored per group commit"),
    INT("read-receipts-max-members", read_receipts_max_members, 0, 10000000,
        "256",
        "read receipts go to the other members of conversations up to this "
        "size; above it only to the reader's own devices"),
    INT("presence-grace-ms", presence_grace_ms, 0, 600000, "3000",
        "a user is announced offline only after this long without a "
        "connection (reconnects within it produce no presence events)"),
    INT("presence-list-max-members", presence_list_max_members, 0, 100000,
        "1000",
        "GET /v1/conversations/{id}/presence lists online member ids for "
        "conversations up to this size (above: the count only)"),
    /* --- presence = redis (backends/presence_redis.c) --- */
    STR("redis-addrs", redis_addrs, NULL, "127.0.0.1:6379",
        "Redis server, or seed nodes of a Redis Cluster (comma list of "
        "HOST:PORT)"),
    ENUM("redis-mode", redis_mode, redis_mode_choices, "auto",
         "single server or Redis Cluster (auto: asks CLUSTER INFO)"),
    INT("redis-connect-timeout-ms", redis_connect_timeout_ms, 10, 600000,
        "1000", "Redis connect timeout"),
    INT("redis-command-timeout-ms", redis_command_timeout_ms, 10, 600000,
        "2000", "Redis reply timeout (the connection is dropped after it)"),
    INT("presence-ttl-ms", presence_ttl_ms, 500, 86400000, "30000",
        "presence=redis: a gateway's claim that a user is online expires "
        "after this unless refreshed (a dead gateway's users go offline)"),
    INT("presence-refresh-ms", presence_refresh_ms, 100, 86400000, "10000",
        "presence=redis: how often a gateway refreshes its online users "
        "(must be below presence-ttl-ms; also the rebuild delay after Redis "
        "lost its data)"),
    INT("presence-queue", presence_queue, 16, 16 * MIB, "65536",
        "presence=redis: connects/disconnects waiting for Redis; above it "
        "they wait for the next refresh"),
    /* --- bus = kafka (backends/bus_kafka.c) --- */
    STR("kafka-brokers", kafka_brokers, NULL, "127.0.0.1:9092",
        "bus=kafka: Kafka bootstrap brokers (comma list of HOST:PORT)"),
    INT("kafka-partitions", kafka_partitions, 1, 10000, "8",
        "bus=kafka: partitions of the topics parleyd creates when missing "
        "(the most messaging or fanout instances that share the work)"),
    INT("kafka-replication", kafka_replication, 1, 16, "1",
        "bus=kafka: replication factor of the topics parleyd creates (3 in "
        "production; 1 for a one-broker development cluster)"),
    INT("kafka-queue", kafka_queue, 1000, 10000000, "100000",
        "bus=kafka: messages a producer holds before the broker acknowledged "
        "them; above it publishing answers busy"),
    INT("kafka-session-timeout-ms", kafka_session_timeout_ms, 6000, 300000,
        "10000",
        "bus=kafka: a messaging or fan-out instance that stops heartbeating "
        "this long loses its partitions to the others (the failover time)"),
    STR("jwt-keys-file", jwt_keys_file, NULL, "",
        "the JWT signing keys (created if missing; default DATA_DIR/jwt-keys)"
        "; every instance of a cluster names the same file (keep the name "
        "jwt-keys: `parley admin rotate-key --data-dir` edits DIR/jwt-keys)"),
    STR("gateway-id", gateway_id, check_gateway_id, "auto",
        "this gateway's name in Redis presence, unique per process (auto: "
        "HOSTNAME:PID:RANDOM; else at most 100 of [A-Za-z0-9_.:-])"),
    INT("send-rate", send_rate, 0, 1000000, "100",
        "messages per second a WebSocket connection (and, per event loop, a "
        "user) may send; 0: unlimited"),
    INT("send-burst", send_burst, 1, 1000000, "200",
        "messages a connection may send at once before send-rate applies"),
    INT("typing-max-members", typing_max_members, 0, 10000000, "1000",
        "typing events are dropped in conversations above this size"),
    INT("argon-opslimit", argon_opslimit, 1, 4294967295LL, "2",
        "Argon2id opslimit (libsodium crypto_pwhash)"),
    INT("argon-memlimit", argon_memlimit, 8 * KIB, 4 * GIB, "67108864",
        "Argon2id memory limit, bytes"),
    INT("shutdown-grace-ms", shutdown_grace_ms, 0, 600000, "5000",
        "time to drain connections on SIGTERM"),
    /* --- store = postgres (store_postgres*.c) */
    STR("pg-dsn", pg_dsn, NULL, "host=127.0.0.1 dbname=parley user=parley",
        "PostgreSQL connection string (libpq conninfo, e.g. \"host=H "
        "port=P dbname=D user=U\", or a postgresql:// URI) for store = "
        "postgres"),
    INT("pg-connect-timeout-ms", pg_connect_timeout_ms, 100, 600000, "5000",
        "longest wait for one PostgreSQL connection attempt"),
    INT("pg-timeout-ms", pg_timeout_ms, 100, 3600000, "30000",
        "longest wait for PostgreSQL to answer one store call; past it the "
        "connection is dropped and the call fails"),
    /* abuse limits: docs/SECURITY.md */
    STR("trusted-proxies", trusted_proxies, check_cidrs, "none",
        "comma list of proxy addresses or CIDRs (e.g. 127.0.0.1,10.0.0.0/8) "
        "whose X-Forwarded-For / X-Real-IP name the client; \"none\": the "
        "TCP peer is always the client"),
    INT("max-connections-per-ip", max_connections_per_ip, 0, 10000000,
        "1000",
        "most open connections per client address (IPv6: per /64); over it "
        "429 too_many_requests; 0: unlimited"),
    INT("conn-rate-per-ip", conn_rate_per_ip, 0, 1000000, "50",
        "new connections per second per client address; over it 429 "
        "too_many_requests; 0: unlimited"),
    INT("conn-burst-per-ip", conn_burst_per_ip, 1, 1000000, "500",
        "connections a client address may open at once before "
        "conn-rate-per-ip applies"),
    INT("limit-table-size", limit_table_size, 1024, 64 * MIB, "65536",
        "client addresses and usernames whose limits are tracked (96 to "
        "144 bytes each); keep it above max-connections"),
    INT("auth-window", auth_window_s, 1, 86400, "600",
        "seconds over which the login and register budgets refill"),
    INT("login-failures-per-user", login_failures_per_user, 0, 1000000, "10",
        "failed logins per username per auth-window; over it every login "
        "of that name is 429 too_many_requests; 0: unlimited"),
    INT("login-failures-per-ip", login_failures_per_ip, 0, 1000000, "100",
        "failed logins per client address per auth-window; 0: unlimited"),
    INT("register-per-ip", register_per_ip, 0, 1000000, "20",
        "registrations per client address per auth-window; 0: unlimited"),
    INT("jwt-leeway", jwt_leeway_s, 0, 300, "5",
        "clock skew tolerated on a token's exp and nbf, seconds"),
};

#define NOPTS (sizeof opts / sizeof opts[0])

static void seterr(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errcap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

/* Prefixes err with where the bad setting came from, e.g. "file:3" +
 * sep ": ", or "--" with no separator for flags (err names the option). */
static void prefix_err(char *err, size_t errcap, const char *where,
                       const char *sep)
{
    char tmp[512];

    if (err == NULL || errcap == 0)
        return;
    snprintf(tmp, sizeof tmp, "%s", err);
    snprintf(err, errcap, "%s%s%s", where, sep, tmp);
}

static const opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static void env_name(const opt *o, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "PARLEY_");

    for (const char *p = o->name; *p && n + 1 < cap; p++)
        buf[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[n] = '\0';
}

/* ---- value parsers ---- */

static int64_t suffix_mult(char c)
{
    switch (c) {
    case 'k': case 'K': return KIB;
    case 'm': case 'M': return MIB;
    case 'g': case 'G': return GIB;
    }
    return 0;
}

/* Strict decimal with an optional k/m/g (1024-based) suffix: no spaces,
 * no '+', no hex, nothing trailing. */
static int parse_int(const char *s, int64_t *out)
{
    int neg = 0;
    int64_t v = 0, mult = 1;

    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++)
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, *s - '0', &v))
            return -1;
    if (*s != '\0') {
        mult = suffix_mult(*s);
        if (mult == 0 || s[1] != '\0')
            return -1;
    }
    if (__builtin_mul_overflow(v, mult, &v))
        return -1;
    *out = neg ? -v : v;
    return 0;
}

static pl_status set_int(pl_config *cfg, const opt *o, const char *value,
                         char *err, size_t errcap)
{
    int64_t v;
    char *field = (char *)cfg + o->off;

    if (parse_int(value, &v) != 0) {
        seterr(err, errcap, "%s: '%s' is not an integer (suffixes k, m, g "
               "allowed)", o->name, value);
        return PL_ERR_INVALID;
    }
    if (v < o->min || v > o->max) {
        seterr(err, errcap, "%s: %lld is out of range [%lld, %lld]", o->name,
               (long long)v, (long long)o->min, (long long)o->max);
        return PL_ERR_INVALID;
    }
    if (o->size == sizeof(int)) {
        int iv = (int)v;
        memcpy(field, &iv, sizeof iv);
    } else {
        memcpy(field, &v, sizeof v);
    }
    return PL_OK;
}

static pl_status set_str(pl_config *cfg, const opt *o, const char *value,
                         char *err, size_t errcap)
{
    size_t n = value ? strlen(value) : 0;

    if (n == 0) {
        seterr(err, errcap, "%s: must not be empty", o->name);
        return PL_ERR_INVALID;
    }
    if (n >= o->size) {
        seterr(err, errcap, "%s: value too long (max %zu bytes)", o->name,
               o->size - 1);
        return PL_ERR_INVALID;
    }
    if (o->check != NULL && o->check(value, err, errcap) != 0)
        return PL_ERR_INVALID;
    memcpy((char *)cfg + o->off, value, n + 1);
    return PL_OK;
}

static pl_status set_enum(pl_config *cfg, const opt *o, const char *value,
                          char *err, size_t errcap)
{
    char list[128];
    size_t n = 0;

    for (const char *const *c = o->choices; *c; c++) {
        if (strcmp(*c, value) == 0) {
            memcpy((char *)cfg + o->off, value, strlen(value) + 1);
            return PL_OK;
        }
    }
    list[0] = '\0';
    for (const char *const *c = o->choices; *c && n < sizeof list; c++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
                              c == o->choices ? "" : "|", *c);
    seterr(err, errcap, "%s: '%s' is not one of %s", o->name, value, list);
    return PL_ERR_INVALID;
}

/* HOST:PORT with a decimal port 0..65535 (HOST may be "[v6]"). */
static int check_listen(const char *v, char *err, size_t errcap)
{
    const char *colon = strrchr(v, ':');
    size_t n = colon ? strlen(colon + 1) : 0;
    long port = 0;

    for (size_t i = 0; i < n && n <= 5; i++)
        port = isdigit((unsigned char)colon[1 + i])
                   ? port * 10 + (colon[1 + i] - '0') : 100000;
    if (colon == NULL || colon == v || n == 0 || n > 5 || port > 65535) {
        seterr(err, errcap, "listen: '%s' is not HOST:PORT", v);
        return -1;
    }
    return 0;
}

static int check_gateway_id(const char *v, char *err, size_t errcap)
{
    size_t n = strlen(v);
    for (size_t i = 0; i < n && n <= 100; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr("_.:-", v[i]))
            n = 101;
    if (n > 100) {
        seterr(err, errcap, "gateway-id: '%s': use at most 100 of "
               "[A-Za-z0-9_.:-]", v);
        return -1;
    }
    return 0;
}

static int is_role(const char *s, size_t n)
{
    for (const char *const *r = role_names; *r; r++)
        if (strlen(*r) == n && memcmp(*r, s, n) == 0)
            return 1;
    return 0;
}

/* Calls fn on each comma-separated, space-trimmed item of list; stops at
 * the first nonzero result and returns it. */
static int each_item(const char *list, int (*fn)(const char *, size_t, void *),
                     void *arg)
{
    const char *p = list;

    for (;;) {
        const char *comma = strchr(p, ','), *e = comma ? comma : p + strlen(p);
        const char *s = p;
        while (s < e && *s == ' ')
            s++;
        while (e > s && e[-1] == ' ')
            e--;
        int r = fn(s, (size_t)(e - s), arg);
        if (r != 0 || comma == NULL)
            return r;
        p = comma + 1;
    }
}

static int bad_role(const char *s, size_t n, void *arg)
{
    (void)arg;
    return !(is_role(s, n) || (n == 3 && memcmp(s, "all", 3) == 0));
}

static int check_roles(const char *v, char *err, size_t errcap)
{
    if (each_item(v, bad_role, NULL) != 0) {
        seterr(err, errcap, "roles: '%s' is not \"all\" or a comma list of "
               "gateway,messaging,fanout,presence,auth", v);
        return -1;
    }
    return 0;
}

static int check_cidrs(const char *v, char *err, size_t errcap)
{
    pl_cidr_list l;
    char why[128];

    if (pl_cidr_list_parse(v, &l, why, sizeof why) != PL_OK) {
        seterr(err, errcap, "trusted-proxies: %s", why);
        return -1;
    }
    return 0;
}

struct role_match {
    const char *role;
};

static int role_hit(const char *s, size_t n, void *arg)
{
    const struct role_match *m = arg;

    return (n == 3 && memcmp(s, "all", 3) == 0) ||
           (strlen(m->role) == n && memcmp(m->role, s, n) == 0);
}

int pl_config_has_role(const pl_config *cfg, const char *role)
{
    struct role_match m = {role};

    return each_item(cfg->roles, role_hit, &m);
}

pl_status pl_config_set(pl_config *cfg, const char *name, const char *value,
                        char *err, size_t errcap)
{
    const opt *o = find_opt(name, strlen(name));

    if (o == NULL) {
        seterr(err, errcap, "unknown option '%s'", name);
        return PL_ERR_INVALID;
    }
    switch (o->type) {
    case OPT_INT: return set_int(cfg, o, value, err, errcap);
    case OPT_STR: return set_str(cfg, o, value, err, errcap);
    case OPT_ENUM: return set_enum(cfg, o, value, err, errcap);
    }
    return PL_ERR_INVALID;
}

void pl_config_defaults(pl_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTS; i++)
        (void)pl_config_set(cfg, opts[i].name, opts[i].def, NULL, 0);
}

void pl_config_print_help(FILE *out)
{
    char env[NAME_MAX_LEN + 8];

    fprintf(out,
            "Usage: parleyd [OPTIONS]\n\n"
            "Every option can be given as a flag (--name VALUE or "
            "--name=VALUE),\nan environment variable, or a line "
            "\"name = VALUE\" in the config file.\n"
            "Precedence: flag > environment > config file > default.\n"
            "Integers accept the suffixes k, m, g (x1024).\n\n"
            "  --config FILE  [PARLEY_CONFIG]\n"
            "      config file to read first\n"
            "  --help, -h\n      print this help and exit\n"
            "  --version\n      print the version and exit\n");
    for (size_t i = 0; i < NOPTS; i++) {
        env_name(&opts[i], env, sizeof env);
        fprintf(out, "  --%s VALUE  [%s] (default: %s)\n      %s", opts[i].name,
                env, opts[i].def, opts[i].help);
        if (opts[i].type == OPT_INT)
            fprintf(out, "; %lld..%lld", (long long)opts[i].min,
                    (long long)opts[i].max);
        if (opts[i].type == OPT_ENUM)
            for (const char *const *c = opts[i].choices; *c; c++)
                fprintf(out, "%s%s", c == opts[i].choices ? ": " : "|", *c);
        fputc('\n', out);
    }
}

/* ---- config file ---- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Trims blanks from both ends of [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && is_blank(**s))
        (*s)++;
    while (*e > *s && is_blank((*e)[-1]))
        (*e)--;
}

/* Copies [s, e) into dst as a C string; -1 if it does not fit. */
static int copy_span(char *dst, size_t cap, const char *s, const char *e)
{
    size_t n = (size_t)(e - s);

    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* The value part of a line: "quoted" or 'quoted' (no escapes), or bare,
 * where " #" starts a trailing comment. */
static int unquote(const char **s, const char **e)
{
    const char *p;

    if (*s < *e && (**s == '"' || **s == '\'')) {
        p = memchr(*s + 1, **s, (size_t)(*e - *s - 1));
        if (p == NULL)
            return -1; /* unterminated */
        const char *rest = p + 1, *rest_end = *e;
        trim(&rest, &rest_end);
        if (rest < rest_end && *rest != '#')
            return -1; /* junk after the closing quote */
        (*s)++;
        *e = p;
        return 0;
    }
    for (p = *s; p < *e; p++) {
        if (*p == '#' && (p == *s || is_blank(p[-1]))) {
            *e = p;
            break;
        }
    }
    trim(s, e);
    return 0;
}

static pl_status load_line(pl_config *cfg, const char *s, const char *e,
                           char *err, size_t errcap)
{
    char name[NAME_MAX_LEN], value[VALUE_MAX_LEN];
    const char *eq, *ns, *ne, *vs, *ve;

    trim(&s, &e);
    if (s == e || *s == '#')
        return PL_OK;
    if (memchr(s, '\0', (size_t)(e - s)) != NULL) {
        seterr(err, errcap, "NUL byte in line");
        return PL_ERR_INVALID;
    }
    eq = memchr(s, '=', (size_t)(e - s));
    if (eq == NULL) {
        seterr(err, errcap, "expected 'name = value'");
        return PL_ERR_INVALID;
    }
    ns = s;
    ne = eq;
    vs = eq + 1;
    ve = e;
    trim(&ns, &ne);
    trim(&vs, &ve);
    if (ns == ne || copy_span(name, sizeof name, ns, ne) != 0) {
        seterr(err, errcap, "bad option name");
        return PL_ERR_INVALID;
    }
    if (unquote(&vs, &ve) != 0 || copy_span(value, sizeof value, vs, ve)) {
        seterr(err, errcap, "%s: bad or too long value", name);
        return PL_ERR_INVALID;
    }
    return pl_config_set(cfg, name, value, err, errcap);
}

/* path only names the source in error messages. */
static pl_status load_buf(pl_config *cfg, const char *buf, size_t len,
                          const char *path, char *err, size_t errcap)
{
    const char *p = buf, *end = buf + len;
    char where[600];
    pl_status st;

    for (int line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if ((st = load_line(cfg, p, eol, err, errcap)) != PL_OK) {
            snprintf(where, sizeof where, "%s:%d", path ? path : "config",
                     line);
            prefix_err(err, errcap, where, ": ");
            return st;
        }
        p = nl ? nl + 1 : end;
    }
    return PL_OK;
}

pl_status pl_config_load_buf(pl_config *cfg, const char *buf, size_t len,
                             char *err, size_t errcap)
{
    return load_buf(cfg, buf, len, NULL, err, errcap);
}

static pl_status read_all(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;

    for (;;) {
        if (n == cap)
            return PL_ERR_TOOLARGE;
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return PL_ERR_IO;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return PL_OK;
}

pl_status pl_config_load_file(pl_config *cfg, const char *path, char *err,
                              size_t errcap)
{
    char *buf = NULL;
    size_t len = 0;
    pl_status st = PL_ERR_INVALID;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        seterr(err, errcap, "%s: cannot open: %s", path, strerror(errno));
        return st;
    }
    buf = malloc(CONFIG_FILE_MAX);
    if (buf == NULL) {
        seterr(err, errcap, "%s: out of memory", path);
        goto out;
    }
    if (read_all(fd, buf, CONFIG_FILE_MAX, &len) != PL_OK) {
        seterr(err, errcap, "%s: cannot read (or larger than %d bytes)", path,
               CONFIG_FILE_MAX);
        goto out;
    }
    st = load_buf(cfg, buf, len, path, err, errcap);
out:
    free(buf);
    close(fd);
    return st;
}

/* ---- environment and flags ---- */

static pl_status load_env(pl_config *cfg, char *err, size_t errcap)
{
    char env[NAME_MAX_LEN + 8];
    pl_status st;

    for (size_t i = 0; i < NOPTS; i++) {
        env_name(&opts[i], env, sizeof env);
        const char *v = getenv(env);
        /* An empty variable counts as unset (VAR= in compose files). */
        if (v == NULL || v[0] == '\0')
            continue;
        if ((st = pl_config_set(cfg, opts[i].name, v, err, errcap)) != PL_OK) {
            prefix_err(err, errcap, env, ": ");
            return st;
        }
    }
    return PL_OK;
}

/* One parsed command-line flag. */
typedef struct flag {
    const char *name;  /* after "--" */
    size_t name_len;
    const char *value; /* NULL for --help / --version */
} flag;

static int flag_is(const flag *f, const char *name)
{
    return strlen(name) == f->name_len &&
           memcmp(f->name, name, f->name_len) == 0;
}

/* Splits argv[*i] (and maybe argv[*i + 1]) into a flag and advances *i. */
static pl_status next_flag(int argc, char **argv, int *i, flag *f, char *err,
                           size_t errcap)
{
    const char *a = argv[*i], *eq;

    if (strcmp(a, "-h") == 0)
        a = "--help";
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
        seterr(err, errcap, "unexpected argument '%s' (see --help)", a);
        return PL_ERR_INVALID;
    }
    f->name = a + 2;
    eq = strchr(f->name, '=');
    f->name_len = eq ? (size_t)(eq - f->name) : strlen(f->name);
    f->value = eq ? eq + 1 : NULL;
    (*i)++;
    if (flag_is(f, "help") || flag_is(f, "version")) {
        if (eq == NULL)
            return PL_OK;
        seterr(err, errcap, "--%.*s takes no value", (int)f->name_len, f->name);
        return PL_ERR_INVALID;
    }
    if (!flag_is(f, "config") && find_opt(f->name, f->name_len) == NULL) {
        seterr(err, errcap, "unknown option '--%.*s' (see --help)",
               (int)f->name_len, f->name);
        return PL_ERR_INVALID;
    }
    if (f->value == NULL) {
        if (*i >= argc) {
            seterr(err, errcap, "--%.*s needs a value", (int)f->name_len,
                   f->name);
            return PL_ERR_INVALID;
        }
        f->value = argv[(*i)++];
    }
    return PL_OK;
}

/* First pass: syntax, --help, --version and --config (the file must be
 * read before env and flags even though --config is itself a flag). */
static pl_status scan_flags(int argc, char **argv, const char **config,
                            FILE *out, char *err, size_t errcap)
{
    flag f;
    pl_status st;

    for (int i = 1; i < argc;) {
        if ((st = next_flag(argc, argv, &i, &f, err, errcap)) != PL_OK)
            return st;
        if (flag_is(&f, "help")) {
            pl_config_print_help(out ? out : stdout);
            return PL_DONE;
        }
        if (flag_is(&f, "version")) {
            fprintf(out ? out : stdout, "%s\n", PL_VERSION_STR);
            return PL_DONE;
        }
        if (flag_is(&f, "config"))
            *config = f.value;
    }
    return PL_OK;
}

static pl_status apply_flags(pl_config *cfg, int argc, char **argv, char *err,
                             size_t errcap)
{
    char name[NAME_MAX_LEN];
    flag f;
    pl_status st;

    for (int i = 1; i < argc;) {
        if ((st = next_flag(argc, argv, &i, &f, err, errcap)) != PL_OK)
            return st;
        if (flag_is(&f, "config"))
            continue;
        /* scan_flags validated the name: it fits */
        snprintf(name, sizeof name, "%.*s", (int)f.name_len, f.name);
        if ((st = pl_config_set(cfg, name, f.value, err, errcap)) != PL_OK) {
            prefix_err(err, errcap, "--", "");
            return st;
        }
    }
    return PL_OK;
}

pl_status pl_config_load(pl_config *cfg, int argc, char **argv, char *err,
                         size_t errcap, FILE *out)
{
    const char *config = getenv("PARLEY_CONFIG");
    pl_status st;

    if (config != NULL && config[0] == '\0')
        config = NULL;
    pl_config_defaults(cfg);
    if ((st = scan_flags(argc, argv, &config, out, err, errcap)) != PL_OK)
        return st;
    if (config != NULL &&
        (st = pl_config_load_file(cfg, config, err, errcap)) != PL_OK)
        return st;
    if ((st = load_env(cfg, err, errcap)) != PL_OK)
        return st;
    return apply_flags(cfg, argc, argv, err, errcap);
}
