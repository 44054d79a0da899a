/* kafka_bus.c - the Kafka bus backend (bus = kafka): cluster mode.
 *
 * Topic T is the Kafka topic parley.T, created at open when missing
 * (kafka-partitions, kafka-replication). The record key is the event's
 * 16-byte key (a conversation or a user), so one key is one partition and
 * keeps its order. The value is a PL_CW_EVENT record (roles/cluster_wire.h)
 * carrying the routing fields of pl_bus_msg around the payload.
 *
 * Publishing: one idempotent producer per process (acks=all), polled for
 * delivery reports by its own thread. Durable topics (messages) wait for
 * room in the producer's bounded queue; the others never block (sends are
 * published from event loops: a full queue answers PL_ERR_BUSY, the
 * client is told to retry; droppable events are dropped and counted).
 *
 * Subscribing: one consumer thread per group (see pl_bus_subscribe): it
 * polls a batch, calls the handlers, makes the end-of-batch call, then
 * commits the batch's offsets: a crash replays at most the uncommitted
 * batch, and every handler deduplicates (gateways drop seqs they already
 * delivered). Broadcast subscriptions (group NULL) use a group of their
 * own per process, starting at the latest offset. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "../core/config.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/timeutil.h"
#include "../roles/cluster_wire.h"
#include "kafka_bus_int.h"
#include "kafka_client_int.h"

#define BATCH_MAX 512
#define DURABLE_WAIT_MS 30000 /* a durable publish waits this long for room */
#define ADMIN_TIMEOUT_MS 15000

static const ktopic topics[] = {
    {PL_TOPIC_SENDS, "parley.sends", PL_CW_T_SENDS, false, "604800000"},
    {PL_TOPIC_MESSAGES, "parley.messages", PL_CW_T_MESSAGES, true, "604800000"},
    {PL_TOPIC_EVENTS, "parley.events", PL_CW_T_EVENTS, false, "3600000"},
    {PL_TOPIC_PRESENCE, "parley.presence", PL_CW_T_PRESENCE, false, "3600000"},
    {PL_TOPIC_MEMBERSHIP, "parley.membership", PL_CW_T_MEMBERSHIP, false,
     "604800000"},
};
#define NTOPICS (sizeof(topics) / sizeof(topics[0]))

const ktopic *pl_kafka_topic_by_name(const char *name)
{
    for (size_t i = 0; i < NTOPICS; i++)
        if (strcmp(topics[i].name, name) == 0)
            return &topics[i];
    return NULL;
}

const ktopic *pl_kafka_topic_by_kafka(const char *kafka)
{
    for (size_t i = 0; i < NTOPICS; i++)
        if (strcmp(topics[i].kafka, kafka) == 0)
            return &topics[i];
    return NULL;
}

/* --- topics: created when missing ------------------------------------- */

static bool topic_result_ok(const rd_kafka_topic_result_t *r)
{
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(r);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR ||
        e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return true;
    pl_log(PL_LOG_ERROR, "kafka_create_topic_failed", "topic", PL_LS,
           rd_kafka_topic_result_name(r), "code", PL_LS, rd_kafka_err2name(e),
           "reason", PL_LS, rd_kafka_topic_result_error_string(r), NULL);
    return false;
}

static pl_status await_create(rd_kafka_t *rk, rd_kafka_queue_t *q)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 1000);
    pl_status st = PL_ERR_IO;
    const rd_kafka_CreateTopics_result_t *res =
        ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    if (res) {
        size_t n;
        const rd_kafka_topic_result_t **rs =
            rd_kafka_CreateTopics_result_topics(res, &n);
        st = n == NTOPICS ? PL_OK : PL_ERR_IO;
        for (size_t i = 0; i < n; i++)
            if (!topic_result_ok(rs[i]))
                st = PL_ERR_IO;
    } else {
        pl_log(PL_LOG_ERROR, "kafka_create_topics_failed", "reason", PL_LS,
               ev ? rd_kafka_event_error_string(ev) : "timed out", NULL);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    (void)rk;
    return st;
}

static pl_status create_topics(rd_kafka_t *rk, const pl_config *cfg)
{
    char err[256];
    rd_kafka_NewTopic_t *nt[NTOPICS] = {0};
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    pl_status st = PL_ERR_NOMEM;
    for (size_t i = 0; i < NTOPICS; i++) {
        nt[i] = rd_kafka_NewTopic_new(
            topics[i].kafka, (int)cfg->kafka_partitions,
            (int)cfg->kafka_replication, err, sizeof(err));
        if (!nt[i])
            goto out;
        rd_kafka_NewTopic_set_config(nt[i], "retention.ms",
                                     topics[i].retention_ms);
    }
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(o, ADMIN_TIMEOUT_MS, err,
                                              sizeof(err));
    rd_kafka_CreateTopics(rk, nt, NTOPICS, o, q);
    st = await_create(rk, q);
    rd_kafka_AdminOptions_destroy(o);
out:
    for (size_t i = 0; i < NTOPICS; i++)
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
    rd_kafka_queue_destroy(q);
    return st;
}

static pl_status ensure_topics(const pl_config *cfg)
{
    char err[256];
    pl_kafka_conf kc = {.brokers = cfg->kafka_brokers,
                        .client_id = "parley-admin"};
    rd_kafka_conf_t *rc = pl_kafka_conf_build(&kc, NULL, err, sizeof(err));
    rd_kafka_t *rk =
        rc ? rd_kafka_new(RD_KAFKA_PRODUCER, rc, err, sizeof(err)) : NULL;
    if (!rk) {
        if (rc)
            rd_kafka_conf_destroy(rc);
        pl_log(PL_LOG_ERROR, "kafka_admin_failed", "reason", PL_LS, err, NULL);
        return PL_ERR_INVALID;
    }
    pl_status st = create_topics(rk, cfg);
    rd_kafka_destroy(rk);
    return st;
}

/* --- producer ----------------------------------------------------------- */

static void on_delivery(void *opaque, void *msg_opaque, pl_status st,
                        int32_t partition, int64_t offset)
{
    kafka_bus *b = opaque;
    (void)msg_opaque;
    (void)partition;
    (void)offset;
    if (st == PL_OK)
        return;
    atomic_fetch_add(&b->failed, 1);
    PL_METRIC_ADD(bus_publish_failed_total, 1);
}

static void *poll_main(void *arg)
{
    kafka_bus *b = arg;
    pthread_setname_np(pthread_self(), "pl-kafka-prod");
    while (!atomic_load(&b->stopping))
        pl_kafka_producer_poll(b->prod, 100);
    return NULL;
}

static pl_status produce(kafka_bus *b, const ktopic *t, const pl_bus_msg *m,
                         const pl_dbuf *v)
{
    int64_t deadline = pl_now_ms() + (t->durable ? DURABLE_WAIT_MS : 0);
    for (;;) {
        pl_status st = pl_kafka_produce(b->prod, t->kafka, m->key.b, 16,
                                        v->p, v->len, NULL);
        if (st != PL_ERR_BUSY || pl_now_ms() >= deadline ||
            atomic_load(&b->stopping))
            return st;
        struct timespec ts = {0, 5 * 1000 * 1000}; /* the poll thread frees
                                                      room */
        nanosleep(&ts, NULL);
    }
}

static pl_status kafka_publish(pl_bus *b_, const pl_bus_msg *m)
{
    kafka_bus *b = (kafka_bus *)b_;
    const ktopic *t = pl_kafka_topic_by_name(m->topic);
    if (!t || !m->payload)
        return PL_ERR_INVALID;
    pl_dbuf v;
    pl_dbuf_init(&v, (size_t)PL_CW_CONTENT_MAX + 8192);
    pl_status st = pl_cw_encode_bus_msg(m, (uint8_t)t->num, &v);
    if (st == PL_OK)
        st = produce(b, t, m, &v);
    pl_dbuf_free(&v);
    if (st != PL_OK) {
        PL_METRIC_ADD(bus_publish_refused_total, 1);
        pl_log(t->durable ? PL_LOG_ERROR : PL_LOG_DEBUG, "bus_publish_failed",
               "topic", PL_LS, t->kafka, "status", PL_LS, pl_status_str(st),
               NULL);
    }
    return st;
}

static pl_status kafka_flush(pl_bus *b_, int timeout_ms)
{
    kafka_bus *b = (kafka_bus *)b_;
    pl_status st = pl_kafka_producer_flush(b->prod, timeout_ms);
    if (atomic_exchange(&b->failed, 0) != 0)
        return PL_ERR_IO;
    return st;
}

/* --- subscribers -------------------------------------------------------- */

static int group_for(kafka_bus *b, const char *group)
{
    bool bcast = group == NULL;
    char id[192];
    if (bcast)
        snprintf(id, sizeof(id), "parley-b-%s", b->instance);
    else
        snprintf(id, sizeof(id), "parley-%s", group);
    for (int i = 0; i < b->ngroups; i++)
        if (strcmp(b->groups[i].id, id) == 0)
            return i;
    if (b->ngroups == MAX_GROUPS)
        return -1;
    kgroup *g = &b->groups[b->ngroups];
    memset(g, 0, sizeof(*g));
    g->b = b;
    g->broadcast = bcast;
    memcpy(g->id, id, sizeof(id));
    return b->ngroups++;
}

static void group_add_topic(kgroup *g, const char *kafka)
{
    for (size_t i = 0; i < g->ntopics; i++)
        if (strcmp(g->topics[i], kafka) == 0)
            return;
    if (g->ntopics < sizeof(g->topics) / sizeof(g->topics[0]))
        g->topics[g->ntopics++] = kafka;
}

static pl_status kafka_subscribe(pl_bus *b_, const char *topic,
                                 const char *group, pl_bus_handler h, void *ctx)
{
    kafka_bus *b = (kafka_bus *)b_;
    const ktopic *t = pl_kafka_topic_by_name(topic);
    if (!t)
        return PL_ERR_INVALID;
    int gi = group_for(b, group);
    if (gi < 0 || b->nsubs == MAX_SUBS)
        return PL_ERR_TOOLARGE;
    ksub *s = &b->subs[b->nsubs++];
    snprintf(s->topic, sizeof(s->topic), "%s", topic);
    s->group = gi;
    s->h = h;
    s->ctx = ctx;
    group_add_topic(&b->groups[gi], t->kafka);
    return PL_OK;
}

/* Decodes one consumed record and calls the group's handlers for it. */
static void dispatch(kgroup *g, const pl_kafka_msg *km)
{
    kafka_bus *b = g->b;
    const ktopic *t = pl_kafka_topic_by_kafka(km->topic);
    pl_cw_event e;
    if (!t || pl_cw_decode_event(km->value, km->value_len, &e) != PL_OK ||
        e.kind != t->num) {
        PL_METRIC_ADD(bus_bad_records_total, 1);
        return;
    }
    pl_rbuf *payload = pl_rbuf_copy(e.payload, e.payload_len);
    if (!payload)
        return;
    pl_bus_msg m = {.topic = t->name,
                    .key = e.key,
                    .exclude_user = e.exclude_user,
                    .only_user = e.only_user,
                    .coalesce = e.coalesce,
                    .seq = e.seq,
                    .payload = payload};
    int gi = (int)(g - b->groups);
    for (int i = 0; i < b->nsubs; i++)
        if (b->subs[i].group == gi && strcmp(b->subs[i].topic, t->name) == 0)
            b->subs[i].h(b->subs[i].ctx, &m);
    pl_rbuf_unref(payload);
    PL_METRIC_ADD(bus_consumed_total, 1);
}

static void end_batch(kgroup *g)
{
    kafka_bus *b = g->b;
    int gi = (int)(g - b->groups);
    pl_bus_msg m = {.payload = NULL};
    for (int i = 0; i < b->nsubs; i++)
        if (b->subs[i].group == gi) {
            m.topic = b->subs[i].topic;
            b->subs[i].h(b->subs[i].ctx, &m);
        }
}

/* Offsets are marked only after the end-of-batch call: the rebalance
 * callback commits what is marked, and it runs inside poll — marking
 * while gathering could commit records whose output is not flushed. The
 * batch's records are kept (not released) until then. */
static void *group_main(void *arg)
{
    kgroup *g = arg;
    pl_kafka_msg *batch = calloc(BATCH_MAX, sizeof(*batch));
    pthread_setname_np(pthread_self(), "pl-kafka-sub");
    while (batch && !atomic_load(&g->b->stopping)) {
        size_t n = 0;
        while (n < BATCH_MAX &&
               pl_kafka_consumer_poll(g->c, &batch[n], n ? 0 : 100) == PL_OK)
            dispatch(g, &batch[n++]);
        if (n == 0)
            continue;
        end_batch(g);
        for (size_t i = 0; i < n; i++) {
            pl_kafka_consumer_store(g->c, &batch[i]);
            pl_kafka_msg_release(&batch[i]);
        }
        pl_kafka_consumer_commit_async(g->c);
    }
    if (!batch)
        pl_log(PL_LOG_ERROR, "bus_consumer_nomem", "group", PL_LS, g->id,
               NULL);
    free(batch);
    return NULL;
}

void pl_kafka_session_prop(const pl_config *cfg, char *buf, size_t cap)
{
    snprintf(buf, cap, "session.timeout.ms=%lld",
             (long long)cfg->kafka_session_timeout_ms);
}

static pl_kafka_consumer *group_consumer(kafka_bus *b, kgroup *g)
{
    char err[256];
    /* broadcast: from the partitions' ends as they are now (from_now);
     * latest only if those could not be read */
    char session[64];
    pl_kafka_session_prop(b->cfg, session, sizeof(session));
    const char *props[] = {session,
                           g->broadcast ? "auto.offset.reset=latest" : NULL,
                           NULL};
    pl_kafka_conf kc = {.brokers = b->cfg->kafka_brokers,
                        .client_id = g->id,
                        .group_id = g->id,
                        .props = props,
                        .from_now = g->broadcast};
    pl_kafka_consumer *c =
        pl_kafka_consumer_new(&kc, g->topics, g->ntopics, err, sizeof(err));
    if (!c)
        pl_log(PL_LOG_ERROR, "kafka_consumer_failed", "group", PL_LS, g->id,
               "reason", PL_LS, err, NULL);
    return c;
}

static pl_status kafka_start(pl_bus *b_)
{
    kafka_bus *b = (kafka_bus *)b_;
    for (int i = 0; i < b->ngroups; i++) {
        kgroup *g = &b->groups[i];
        g->c = group_consumer(b, g);
        if (!g->c)
            return PL_ERR_IO;
        if (pthread_create(&g->th, NULL, group_main, g) != 0)
            return PL_ERR;
        g->running = true;
    }
    return PL_OK;
}

static void kafka_stop(pl_bus *b_, int timeout_ms)
{
    kafka_bus *b = (kafka_bus *)b_;
    if (atomic_exchange(&b->stopping, true))
        return;
    for (int i = 0; i < b->ngroups; i++) {
        kgroup *g = &b->groups[i];
        if (g->running)
            pthread_join(g->th, NULL);
        g->running = false;
        pl_kafka_consumer_free(g->c);
        g->c = NULL;
    }
    if (b->poll_running)
        pthread_join(b->poll_th, NULL);
    b->poll_running = false;
    if (pl_kafka_producer_flush(b->prod, timeout_ms) != PL_OK)
        pl_log(PL_LOG_WARN, "bus_stop_unflushed", "pending", PL_LI,
               (int64_t)pl_kafka_producer_pending(b->prod), NULL);
}

/* --- open / close --------------------------------------------------------- */

static pl_status kafka_open(const pl_config *cfg, pl_bus **out)
{
    char err[256], host[64] = "host";
    kafka_bus *b = calloc(1, sizeof(*b));
    if (!b)
        return PL_ERR_NOMEM;
    b->base.ops = &pl_bus_kafka_ops;
    b->cfg = cfg;
    gethostname(host, sizeof(host) - 1);
    snprintf(b->instance, sizeof(b->instance), "%s-%d-%08x", host,
             (int)getpid(), (unsigned)(pl_now_ms() ^ (int64_t)random()));
    pl_status st = ensure_topics(cfg);
    if (st != PL_OK)
        goto fail;
    /* linger 1 ms: a send crosses the bus twice on its way to a receiver;
     * under load batches form anyway while earlier requests are in flight */
    static const char *const props[] = {"linger.ms=1", NULL};
    pl_kafka_conf kc = {.brokers = cfg->kafka_brokers,
                        .client_id = "parley",
                        .queue_max = cfg->kafka_queue,
                        .props = props};
    b->prod = pl_kafka_producer_new(&kc, on_delivery, b, err, sizeof(err));
    st = PL_ERR_INVALID;
    if (!b->prod) {
        pl_log(PL_LOG_ERROR, "kafka_producer_failed", "reason", PL_LS, err,
               NULL);
        goto fail;
    }
    if (pthread_create(&b->poll_th, NULL, poll_main, b) != 0)
        goto fail;
    b->poll_running = true;
    *out = &b->base;
    return PL_OK;
fail:
    pl_kafka_producer_free(b->prod, 0);
    free(b);
    return st;
}

static void kafka_close(pl_bus *b_)
{
    kafka_bus *b = (kafka_bus *)b_;
    kafka_stop(b_, 5000);
    pl_kafka_producer_free(b->prod, 1000);
    free(b);
}

const pl_bus_ops pl_bus_kafka_ops = {
    .name = "kafka",
    .open = kafka_open,
    .close = kafka_close,
    .subscribe = kafka_subscribe,
    .publish = kafka_publish,
    .start = kafka_start,
    .stop = kafka_stop,
    .flush = kafka_flush,
    .stream_open = pl_kafka_stream_open,
    .stream_poll = pl_kafka_stream_poll,
    .stream_commit = pl_kafka_stream_commit,
    .stream_close = pl_kafka_stream_close,
    .remote = true,
};
