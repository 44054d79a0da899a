/* kafka_consumer.c - a consumer-group member with manual offset commits
 * (see kafka_client.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "kafka_client_int.h"

#define DEFAULT_CONSUMER_KBYTES 16384
#define END_TIMEOUT_MS 5000

struct pl_kafka_consumer {
    rd_kafka_t *rk;
    uint64_t epoch; /* +1 per assignment change (on the polling thread) */
    /* from_now: where the first assignment starts; NULL after it */
    rd_kafka_topic_partition_list_t *start;
};

/* Commits the stored offsets, synchronously. Nothing stored is success. */
static pl_status commit_stored(rd_kafka_t *rk)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, NULL, 0);

    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return PL_OK;
    pl_log(PL_LOG_WARN, "kafka_commit_failed", "client", PL_LS,
           rd_kafka_name(rk), "code", PL_LS, rd_kafka_err2name(e), NULL);
    return PL_ERR_IO;
}

static void assign(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                   int revoke)
{
    rd_kafka_error_t *err = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0)
        err = revoke ? rd_kafka_incremental_unassign(rk, parts)
                     : rd_kafka_incremental_assign(rk, parts);
    else
        e = rd_kafka_assign(rk, revoke ? NULL : parts);
    if (err) {
        e = rd_kafka_error_code(err);
        rd_kafka_error_destroy(err);
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        pl_log(PL_LOG_WARN, "kafka_assign_failed", "client", PL_LS,
               rd_kafka_name(rk), "code", PL_LS, rd_kafka_err2name(e), NULL);
}

/* First assignment of a from_now consumer: partitions without a commit
 * (offset INVALID: the committed one is looked up later) start where
 * their end was at creation. Later assignments resume from the commits. */
static void apply_start(pl_kafka_consumer *k,
                        rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; k->start && i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        const rd_kafka_topic_partition_t *s =
            rd_kafka_topic_partition_list_find(k->start, p->topic,
                                               p->partition);
        if (s && p->offset == RD_KAFKA_OFFSET_INVALID)
            p->offset = s->offset;
    }
    if (k->start)
        rd_kafka_topic_partition_list_destroy(k->start);
    k->start = NULL;
}

/* Before giving partitions away, commit what was processed on them, so
 * that their next owner does not process it again. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    pl_kafka_consumer *k = opaque;
    pl_log(PL_LOG_INFO, "kafka_rebalance", "client", PL_LS, rd_kafka_name(rk),
           "event", PL_LS, rd_kafka_err2name(e), "partitions", PL_LI,
           (int64_t)parts->cnt, NULL);
    k->epoch++;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        apply_start(k, parts);
        assign(rk, parts, 0);
        return;
    }
    if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS &&
        !rd_kafka_assignment_lost(rk))
        commit_stored(rk);
    assign(rk, parts, 1);
}

static const char *const consumer_defs[] = {
    "enable.auto.commit=false",
    "enable.auto.offset.store=false",
    "auto.offset.reset=earliest",
    "session.timeout.ms=10000",
    "heartbeat.interval.ms=1000",
    "reconnect.backoff.ms=100",
    "reconnect.backoff.max.ms=1000",
    "log.connection.close=false",
    NULL,
};

static pl_status subscribe(rd_kafka_t *rk, const char *const *topics, size_t n,
                           char *err, size_t errcap)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;

    l = rd_kafka_topic_partition_list_new((int)n);
    if (!l) {
        snprintf(err, errcap, "kafka: out of memory");
        return PL_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    e = rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errcap, "kafka subscribe: %s", rd_kafka_err2str(e));
        return pl_kafka_status(e);
    }
    return PL_OK;
}

static rd_kafka_conf_t *consumer_conf(const pl_kafka_conf *c,
                                      pl_kafka_consumer *k, char *err,
                                      size_t errcap)
{
    char kb[32];
    rd_kafka_conf_t *rc;

    if (!c->group_id || !c->group_id[0]) {
        snprintf(err, errcap, "kafka consumer: no group id given");
        return NULL;
    }
    rc = pl_kafka_conf_build(c, consumer_defs, err, errcap);
    if (!rc)
        return NULL;
    snprintf(
        kb, sizeof(kb), "%lld",
        (long long)(c->queue_max > 0 ? c->queue_max : DEFAULT_CONSUMER_KBYTES));
    if (rd_kafka_conf_set(rc, "group.id", c->group_id, err, errcap) ||
        rd_kafka_conf_set(rc, "queued.max.messages.kbytes", kb, err, errcap)) {
        rd_kafka_conf_destroy(rc);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(rc, rebalance_cb);
    rd_kafka_conf_set_opaque(rc, k);
    return rc;
}

/* The end offset (high watermark) of every partition of topics, now;
 * NULL (logged) when the broker does not answer. */
static rd_kafka_topic_partition_list_t *
end_offsets(rd_kafka_t *rk, const char *const *topics, size_t n)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, END_TIMEOUT_MS);

    for (int i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        bool want = false;
        for (size_t j = 0; j < n; j++)
            want = want || strcmp(topics[j], t->topic) == 0;
        for (int p = 0; want && e == 0 && p < t->partition_cnt; p++) {
            int64_t lo, hi;
            int32_t id = t->partitions[p].id;
            e = rd_kafka_query_watermark_offsets(rk, t->topic, id, &lo, &hi,
                                                 END_TIMEOUT_MS);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                rd_kafka_topic_partition_list_add(l, t->topic, id)->offset =
                    hi;
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return l;
    pl_log(PL_LOG_WARN, "kafka_end_offsets_failed", "client", PL_LS,
           rd_kafka_name(rk), "code", PL_LS, rd_kafka_err2name(e), NULL);
    rd_kafka_topic_partition_list_destroy(l);
    return NULL;
}

pl_kafka_consumer *pl_kafka_consumer_new(const pl_kafka_conf *c,
                                         const char *const *topics,
                                         size_t ntopics, char *err,
                                         size_t errcap)
{
    rd_kafka_conf_t *rc;
    pl_kafka_consumer *k = calloc(1, sizeof(*k));

    if (!k) {
        snprintf(err, errcap, "kafka: out of memory");
        return NULL;
    }
    rc = consumer_conf(c, k, err, errcap);
    if (!rc)
        goto fail;
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, rc, err, errcap);
    if (!k->rk) {
        rd_kafka_conf_destroy(rc);
        goto fail;
    }
    /* Errors and rebalances are served by consumer_poll's thread. */
    rd_kafka_poll_set_consumer(k->rk);
    if (c->from_now)
        k->start = end_offsets(k->rk, topics, ntopics);
    if (subscribe(k->rk, topics, ntopics, err, errcap) != PL_OK) {
        rd_kafka_destroy(k->rk);
        if (k->start)
            rd_kafka_topic_partition_list_destroy(k->start);
        goto fail;
    }
    return k;
fail:
    free(k);
    return NULL;
}

pl_status pl_kafka_consumer_poll(pl_kafka_consumer *c, pl_kafka_msg *m,
                                 int timeout_ms)
{
    rd_kafka_message_t *km = rd_kafka_consumer_poll(c->rk, timeout_ms);
    pl_status st;

    memset(m, 0, sizeof(*m));
    if (!km)
        return PL_AGAIN;
    if (km->err) {
        st = km->err == RD_KAFKA_RESP_ERR__PARTITION_EOF
                 ? PL_AGAIN
                 : pl_kafka_status(km->err);
        if (st != PL_AGAIN)
            pl_log(PL_LOG_WARN, "kafka_consume_error", "client", PL_LS,
                   rd_kafka_name(c->rk), "code", PL_LS,
                   rd_kafka_err2name(km->err), "reason", PL_LS,
                   rd_kafka_message_errstr(km), NULL);
        rd_kafka_message_destroy(km);
        return st == PL_OK ? PL_ERR : st;
    }
    m->topic = rd_kafka_topic_name(km->rkt);
    m->partition = km->partition;
    m->offset = km->offset;
    m->key = km->key;
    m->key_len = km->key_len;
    m->value = km->payload;
    m->value_len = km->len;
    m->priv_ = km;
    return PL_OK;
}

void pl_kafka_msg_release(pl_kafka_msg *m)
{
    if (m->priv_)
        rd_kafka_message_destroy(m->priv_);
    memset(m, 0, sizeof(*m));
}

pl_status pl_kafka_consumer_store(pl_kafka_consumer *c, const pl_kafka_msg *m)
{
    rd_kafka_message_t *km = m->priv_;
    rd_kafka_resp_err_t e;

    if (!km)
        return PL_ERR_INVALID;
    /* Fails (_STATE) when a rebalance took the partition away: its new
     * owner gets the message again, which at-least-once allows. */
    e = rd_kafka_offset_store(km->rkt, km->partition, km->offset);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR ? PL_OK : PL_ERR_IO;
}

pl_status pl_kafka_consumer_commit(pl_kafka_consumer *c)
{
    return commit_stored(c->rk);
}

pl_status pl_kafka_consumer_commit_async(pl_kafka_consumer *c)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 1);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return PL_OK;
    pl_log(PL_LOG_WARN, "kafka_commit_failed", "client", PL_LS,
           rd_kafka_name(c->rk), "code", PL_LS, rd_kafka_err2name(e), NULL);
    return PL_ERR_IO;
}

uint64_t pl_kafka_consumer_epoch(const pl_kafka_consumer *c)
{
    return c->epoch;
}

void pl_kafka_consumer_free(pl_kafka_consumer *c)
{
    rd_kafka_resp_err_t e;

    if (!c)
        return;
    commit_stored(c->rk);
    e = rd_kafka_consumer_close(c->rk);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        pl_log(PL_LOG_WARN, "kafka_close_failed", "client", PL_LS,
               rd_kafka_name(c->rk), "code", PL_LS, rd_kafka_err2name(e), NULL);
    rd_kafka_destroy(c->rk);
    if (c->start)
        rd_kafka_topic_partition_list_destroy(c->start);
    free(c);
}
