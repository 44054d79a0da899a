/* config.h - every option of parleyd, from one typed table.
 *
 * Precedence: command-line flag > environment variable > config file >
 * built-in default. The table in config.c is the single source of truth:
 * names, types, bounds, defaults, env names and help text; --help prints it. */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "status.h"

typedef struct pl_config {
    char listen[128];        /* HOST:PORT */
    char data_dir[512];
    char roles[128];         /* comma list; "all" */
    char store[32];          /* backend names */
    char bus[32];
    char presence[32];
    char log_level[16];      /* debug|info|warn|error */
    int threads;             /* event-loop threads; 0 = number of CPUs */
    int store_threads;       /* store worker pool size */
    int hash_threads;        /* concurrent Argon2id hashes */
    char sqlite_synchronous[16]; /* full|normal */
    int sqlite_merge_rows;   /* log rows merged into the indexes at once */
    int64_t max_frame;       /* bytes, WebSocket frame/message */
    int64_t max_content;     /* bytes of message content */
    int64_t max_body;        /* bytes of an HTTP request body */
    int64_t max_header;      /* bytes of an HTTP request head */
    int64_t outbound_limit;  /* bytes queued per connection before close */
    int64_t heartbeat_ms;    /* advertised in hello; idle close at 2x */
    int64_t header_timeout_ms;
    int64_t max_connections;
    int64_t token_ttl_s;
    char jwt_issuer[64];
    char allowed_origins[512]; /* comma list, or "*" */
    char jwt_audience[64];
    int64_t send_queue;      /* messaging pipeline queue bound */
    int64_t batch_max;       /* max messages per group commit */
    int64_t read_receipts_max_members; /* above: reads to own devices only */
    int64_t typing_max_members;        /* above: typing is dropped */
    int64_t send_rate;                 /* msgs/s per connection and user */
    int64_t send_burst;
    int64_t presence_grace_ms;         /* offline announced after this */
    int64_t presence_list_max_members; /* above: online count only */
    int64_t argon_opslimit;  /* libsodium crypto_pwhash opslimit */
    int64_t argon_memlimit;  /* bytes */
    int64_t shutdown_grace_ms;
    /* presence = redis */
    char redis_addrs[512];             /* HOST:PORT[,HOST:PORT...] */
    char redis_mode[16];               /* auto|single|cluster */
    int64_t redis_connect_timeout_ms;
    int64_t redis_command_timeout_ms;
    int64_t presence_ttl_ms;           /* a gateway's claim expires */
    int64_t presence_refresh_ms;       /* claims refreshed this often */
    int64_t presence_queue;            /* changes waiting for Redis */
    char gateway_id[128];              /* "auto" = HOSTNAME:PID:RANDOM */
    /* --- store = postgres (store_postgres*.c) */
    char pg_dsn[512];              /* libpq conninfo */
    int64_t pg_connect_timeout_ms; /* one connection attempt */
    int64_t pg_timeout_ms;         /* one store call's answer */
    /* abuse limits (gw_limits.c; docs/SECURITY.md) */
    char trusted_proxies[1024];    /* CIDR list, or "none" */
    int64_t max_connections_per_ip; /* 0: no limit */
    int64_t conn_rate_per_ip;       /* new connections/s; 0: no limit */
    int64_t conn_burst_per_ip;
    int64_t limit_table_size;       /* addresses and usernames tracked */
    int64_t auth_window_s;          /* the auth budgets refill over this */
    int64_t login_failures_per_user;
    int64_t login_failures_per_ip;
    int64_t register_per_ip;
    int64_t jwt_leeway_s;           /* clock skew tolerated on exp/nbf */
    char jwt_keys_file[512];        /* "": DATA_DIR/jwt-keys */
    /* bus = kafka (backends/bus_kafka.c) */
    char kafka_brokers[512];        /* HOST:PORT[,HOST:PORT...] */
    int64_t kafka_partitions;       /* of the topics parleyd creates */
    int64_t kafka_replication;      /* their replication factor */
    int64_t kafka_queue;            /* producer: undelivered messages */
    int64_t kafka_session_timeout_ms; /* a silent consumer leaves its group */
} pl_config;

void pl_config_defaults(pl_config *cfg);
/* Loads file (if path non-NULL), then env, then argv flags. On --help or
 * --version prints to out and returns PL_DONE. On a bad option writes a
 * message into err and returns PL_ERR_INVALID. */
pl_status pl_config_load(pl_config *cfg, int argc, char **argv,
                         char *err, size_t errcap, FILE *out);
/* Applies one "name = value" setting (file syntax, names as in the table,
 * e.g. "max-content"). */
pl_status pl_config_set(pl_config *cfg, const char *name, const char *value,
                        char *err, size_t errcap);
void pl_config_print_help(FILE *out);
/* 1 if role (e.g. "gateway") is enabled by cfg->roles. */
int pl_config_has_role(const pl_config *cfg, const char *role);

/* Added with config.c. Applies a config file (the "name = value" syntax:
 * '#' comment lines, blank lines, optional "..." or '...' quotes around a
 * value, " #" after an unquoted value starts a comment). Unknown names and
 * bad values are errors naming "FILE:LINE". Settings before the bad line
 * stay applied. Note: pl_config_load starts from pl_config_defaults itself;
 * empty environment variables count as unset. */
pl_status pl_config_load_file(pl_config *cfg, const char *path, char *err,
                              size_t errcap);
/* The same on len bytes of file text in memory (need not be NUL-terminated);
 * errors are prefixed "config:LINE". */
pl_status pl_config_load_buf(pl_config *cfg, const char *buf, size_t len,
                             char *err, size_t errcap);

#endif
