/* kafka_stream.c - work streams on the Kafka bus (see bus.h): a consumer
 * whose owner polls batches and commits them once processed.
 *
 * Offsets are marked (rd_kafka_offset_store) only in commit, never at
 * poll: the rebalance callback commits what is marked before it gives a
 * partition away, and it runs inside poll, so marking at poll could
 * commit a record of the batch still being gathered. */
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../core/metrics.h"
#include "../roles/cluster_wire.h"
#include "kafka_bus_int.h"

typedef struct kstream {
    pl_bus_stream base;
    pl_kafka_consumer *c;
    pl_kafka_msg *held; /* polled, not committed yet */
    pl_rbuf **payloads; /* handed out with the batch */
    size_t nheld, cap;
} kstream;

static void release_held(kstream *s, bool mark)
{
    for (size_t i = 0; i < s->nheld; i++) {
        if (mark)
            pl_kafka_consumer_store(s->c, &s->held[i]);
        pl_kafka_msg_release(&s->held[i]);
        pl_rbuf_unref(s->payloads[i]);
        s->payloads[i] = NULL;
    }
    s->nheld = 0;
}

pl_status pl_kafka_stream_open(pl_bus *b_, const char *topic, const char *group,
                               pl_bus_stream **out)
{
    kafka_bus *b = (kafka_bus *)b_;
    const ktopic *t = pl_kafka_topic_by_name(topic);
    char id[192], err[256];
    if (!t || !group)
        return PL_ERR_INVALID;
    kstream *s = calloc(1, sizeof(*s));
    if (!s)
        return PL_ERR_NOMEM;
    s->base.ops = b->base.ops;
    snprintf(id, sizeof(id), "parley-%s", group);
    char session[64];
    pl_kafka_session_prop(b->cfg, session, sizeof(session));
    const char *props[] = {session, NULL};
    pl_kafka_conf kc = {.brokers = b->cfg->kafka_brokers,
                        .client_id = id,
                        .group_id = id,
                        .props = props};
    const char *topics[1] = {t->kafka};
    s->c = pl_kafka_consumer_new(&kc, topics, 1, err, sizeof(err));
    if (!s->c) {
        pl_log(PL_LOG_ERROR, "kafka_consumer_failed", "group", PL_LS, id,
               "reason", PL_LS, err, NULL);
        free(s);
        return PL_ERR_IO;
    }
    *out = &s->base;
    return PL_OK;
}

static bool grow(kstream *s, size_t want)
{
    if (want <= s->cap)
        return true;
    pl_kafka_msg *h = realloc(s->held, want * sizeof(*h));
    if (h)
        s->held = h;
    pl_rbuf **p = realloc(s->payloads, want * sizeof(*p));
    if (p)
        s->payloads = p;
    if (!h || !p)
        return false;
    s->cap = want;
    return true;
}

/* Decodes held[i] into out[*n]; a bad record is skipped (and committed
 * with the batch: replaying it would not make it good). */
static void take(kstream *s, const ktopic *t, pl_bus_msg *out, size_t *n)
{
    size_t i = s->nheld - 1;
    pl_cw_event e;
    pl_kafka_msg *km = &s->held[i];
    s->payloads[i] = NULL;
    if (pl_cw_decode_event(km->value, km->value_len, &e) != PL_OK ||
        e.kind != t->num) {
        PL_METRIC_ADD(bus_bad_records_total, 1);
        return;
    }
    s->payloads[i] = pl_rbuf_copy(e.payload, e.payload_len);
    if (!s->payloads[i])
        return;
    out[(*n)++] = (pl_bus_msg){.topic = t->name,
                               .key = e.key,
                               .exclude_user = e.exclude_user,
                               .only_user = e.only_user,
                               .coalesce = e.coalesce,
                               .seq = e.seq,
                               .payload = s->payloads[i]};
}

size_t pl_kafka_stream_poll(pl_bus_stream *s_, pl_bus_msg *out, size_t max,
                            int timeout_ms, uint64_t *epoch)
{
    kstream *s = (kstream *)s_;
    size_t n = 0;
    release_held(s, false); /* the caller did not commit: not processed */
    if (!grow(s, max))
        return 0;
    while (s->nheld < max) {
        pl_kafka_msg *km = &s->held[s->nheld];
        if (pl_kafka_consumer_poll(s->c, km, s->nheld ? 0 : timeout_ms) !=
            PL_OK)
            break;
        const ktopic *t = pl_kafka_topic_by_kafka(km->topic);
        s->nheld++;
        if (t)
            take(s, t, out, &n);
        else
            s->payloads[s->nheld - 1] = NULL;
    }
    *epoch = pl_kafka_consumer_epoch(s->c);
    return n;
}

pl_status pl_kafka_stream_commit(pl_bus_stream *s_)
{
    kstream *s = (kstream *)s_;
    bool any = s->nheld > 0;
    release_held(s, true);
    return any ? pl_kafka_consumer_commit_async(s->c) : PL_OK;
}

void pl_kafka_stream_close(pl_bus_stream *s_)
{
    kstream *s = (kstream *)s_;
    release_held(s, false);
    pl_kafka_consumer_free(s->c);
    free(s->held);
    free(s->payloads);
    free(s);
}
