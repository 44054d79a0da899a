/* kafka_client.c - configuration, logging and the idempotent producer.
 * The consumer is in kafka_consumer.c. */
#include "kafka_client_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"

#define PROP_MAX 512
#define DEFAULT_PRODUCER_QUEUE 100000

struct pl_kafka_producer {
    rd_kafka_t *rk;
    pl_kafka_dr_cb dr;
    void *opaque;
    /* queued and not yet reported (rd_kafka_outq_len counts events too) */
    atomic_int pending;
};

/* ---- configuration and logging (shared with the consumer) ---- */

pl_status pl_kafka_status(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR: return PL_OK;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL: return PL_ERR_BUSY;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: return PL_ERR_TOOLARGE;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG: return PL_ERR_INVALID;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN: return PL_ERR_IO;
    default: return PL_ERR;
    }
}

/* librdkafka's own log lines (syslog levels). Errors it reports here are
 * ones it recovers from (a broker restarting, a connection refused): warn.
 * What it cannot recover from arrives through error_cb as "error". */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    int lv = level <= 4 ? PL_LOG_WARN : level <= 6 ? PL_LOG_INFO : PL_LOG_DEBUG;
    pl_log(lv, "kafka_log", "client", PL_LS, rd_kafka_name(rk), "facility",
           PL_LS, fac, "msg", PL_LS, buf, NULL);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    char fatal[256];
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;

    if (e == RD_KAFKA_RESP_ERR__FATAL) {
        e = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        pl_log(PL_LOG_ERROR, "kafka_error", "client", PL_LS, rd_kafka_name(rk),
               "fatal", PL_LI, (int64_t)1, "code", PL_LS, rd_kafka_err2name(e),
               "reason", PL_LS, fatal, NULL);
        return;
    }
    pl_log(PL_LOG_WARN, "kafka_error", "client", PL_LS, rd_kafka_name(rk),
           "code", PL_LS, rd_kafka_err2name(e), "reason", PL_LS, reason, NULL);
}

pl_status pl_kafka_conf_set(rd_kafka_conf_t *rc, const char *prop, char *err,
                            size_t errcap)
{
    char name[PROP_MAX];
    const char *eq = strchr(prop, '=');
    size_t n = eq ? (size_t)(eq - prop) : 0;

    if (n == 0 || n >= sizeof(name)) {
        snprintf(err, errcap, "kafka property '%s': want name=value", prop);
        return PL_ERR_INVALID;
    }
    memcpy(name, prop, n);
    name[n] = '\0';
    if (rd_kafka_conf_set(rc, name, eq + 1, err, errcap) != RD_KAFKA_CONF_OK)
        return PL_ERR_INVALID;
    return PL_OK;
}

static pl_status conf_set_list(rd_kafka_conf_t *rc, const char *const *props,
                               char *err, size_t errcap)
{
    for (size_t i = 0; props && props[i]; i++) {
        pl_status st = pl_kafka_conf_set(rc, props[i], err, errcap);
        if (st != PL_OK)
            return st;
    }
    return PL_OK;
}

rd_kafka_conf_t *pl_kafka_conf_build(const pl_kafka_conf *c,
                                     const char *const *defs, char *err,
                                     size_t errcap)
{
    rd_kafka_conf_t *rc;
    const char *id = c->client_id ? c->client_id : "parley";

    if (!c->brokers || !c->brokers[0]) {
        snprintf(err, errcap, "kafka: no brokers given");
        return NULL;
    }
    rc = rd_kafka_conf_new();
    if (!rc) {
        snprintf(err, errcap, "kafka: out of memory");
        return NULL;
    }
    if (rd_kafka_conf_set(rc, "bootstrap.servers", c->brokers, err, errcap) ||
        rd_kafka_conf_set(rc, "client.id", id, err, errcap) ||
        conf_set_list(rc, defs, err, errcap) != PL_OK ||
        conf_set_list(rc, c->props, err, errcap) != PL_OK) {
        rd_kafka_conf_destroy(rc);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(rc, log_cb);
    rd_kafka_conf_set_error_cb(rc, error_cb);
    return rc;
}

/* ---- producer ---- */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    pl_kafka_producer *p = opaque;
    pl_status st = pl_kafka_status(m->err);

    atomic_fetch_sub(&p->pending, 1);
    if (st != PL_OK)
        pl_log(PL_LOG_WARN, "kafka_delivery_failed", "topic", PL_LS,
               rd_kafka_topic_name(m->rkt), "code", PL_LS,
               rd_kafka_err2name(m->err), NULL);
    if (p->dr)
        p->dr(p->opaque, m->_private, st, m->partition,
              st == PL_OK ? m->offset : -1);
}

/* Loopback or one LAN: reconnect within a second of a broker's return
 * (the default backoff grows to 10 s). Bytes are bounded too, not only
 * messages (the default is 1 GiB). */
static const char *const producer_defs[] = {
    "enable.idempotence=true",
    "acks=all",
    "linger.ms=5",
    "queue.buffering.max.kbytes=65536",
    "reconnect.backoff.ms=100",
    "reconnect.backoff.max.ms=1000",
    "log.connection.close=false",
    NULL,
};

pl_kafka_producer *pl_kafka_producer_new(const pl_kafka_conf *c,
                                         pl_kafka_dr_cb dr, void *opaque,
                                         char *err, size_t errcap)
{
    char qmax[32];
    rd_kafka_conf_t *rc = NULL;
    pl_kafka_producer *p = calloc(1, sizeof(*p));

    if (!p) {
        snprintf(err, errcap, "kafka: out of memory");
        return NULL;
    }
    p->dr = dr;
    p->opaque = opaque;
    rc = pl_kafka_conf_build(c, producer_defs, err, errcap);
    if (!rc)
        goto fail;
    snprintf(
        qmax, sizeof(qmax), "%lld",
        (long long)(c->queue_max > 0 ? c->queue_max : DEFAULT_PRODUCER_QUEUE));
    if (rd_kafka_conf_set(rc, "queue.buffering.max.messages", qmax, err,
                          errcap) != RD_KAFKA_CONF_OK)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(rc, dr_msg_cb);
    rd_kafka_conf_set_opaque(rc, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, err, errcap);
    if (!p->rk)
        goto fail;
    return p; /* rd_kafka_new owns rc now */
fail:
    if (rc)
        rd_kafka_conf_destroy(rc);
    free(p);
    return NULL;
}

pl_status pl_kafka_produce(pl_kafka_producer *p, const char *topic,
                           const void *key, size_t key_len, const void *value,
                           size_t value_len, void *msg_opaque)
{
    rd_kafka_resp_err_t e;

    /* MSG_F_COPY: librdkafka copies, so the casts drop no real const. */
    e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_KEY((void *)key, key_len),
                          RD_KAFKA_V_VALUE((void *)value, value_len),
                          RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add(&p->pending, 1);
        return PL_OK;
    }
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        pl_log(PL_LOG_WARN, "kafka_produce_failed", "topic", PL_LS, topic,
               "code", PL_LS, rd_kafka_err2name(e), NULL);
    return e == RD_KAFKA_RESP_ERR__FATAL ? PL_ERR : pl_kafka_status(e);
}

int pl_kafka_producer_poll(pl_kafka_producer *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

pl_status pl_kafka_producer_flush(pl_kafka_producer *p, int timeout_ms)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR ? PL_OK : PL_AGAIN;
}

int pl_kafka_producer_pending(pl_kafka_producer *p)
{
    return atomic_load(&p->pending);
}

void pl_kafka_producer_free(pl_kafka_producer *p, int timeout_ms)
{
    if (!p)
        return;
    if (pl_kafka_producer_flush(p, timeout_ms) != PL_OK) {
        /* Fail what is left, so that every message still gets its report
         * (served by the second, short flush). */
        pl_log(PL_LOG_WARN, "kafka_close_undelivered", "client", PL_LS,
               rd_kafka_name(p->rk), "count", PL_LI,
               (int64_t)atomic_load(&p->pending), NULL);
        rd_kafka_purge(p->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 1000);
    }
    rd_kafka_destroy(p->rk);
    free(p);
}
