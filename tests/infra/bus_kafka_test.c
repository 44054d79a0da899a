/* bus_kafka_test.c - the Kafka bus backend (bus.h with bus = kafka,
 * src/backends/kafka_bus.c, kafka_stream.c) against a real broker. Run by
 * scripts/infra-test.sh:
 *
 *   bus-kafka-test --brokers 127.0.0.1:PORT
 *
 * Several pl_bus instances live in this one process, each with its own
 * pl_config, as separate parleyd processes would. The Kafka topic names
 * are fixed (parley.*), so every event carries this run's tag and every
 * consumer group is named after the run: records a previous run left on
 * the broker are counted as foreign, never as ours. Checks, in order:
 *   share      two buses in one group share the events: each exactly once
 *   order      one key's events arrive in publish order, at one member
 *   broadcast  group NULL: events published after start reach every bus
 *   batch      end-of-batch call; offsets committed only after it returns;
 *              a new member of the group gets nothing old
 *   stream     work streams: uncommitted records come again, committed
 *              ones do not; the epoch moves when a member joins
 *   bad        records that do not decode are skipped and counted
 *   nonblock   publishing a droppable event never waits for room
 *   flush      pl_bus_flush returns PL_OK once the broker has everything
 * Exit status 0 when every check holds; each failure says why on stdout. */
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "backends/bus.h"
#include "backends/kafka_client.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/uuid.h"
#include "roles/cluster_wire.h"

#define NKEYS 32
#define WAIT_MS 15000

static const char *brokers;
static char run_tag[17]; /* hex: this run */
static int failures;

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void check(const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void check(const char *name, bool ok, const char *fmt, ...)
{
    va_list ap;
    printf("bus-kafka-test: %-9s %s: ", name, ok ? "ok" : "FAILED");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    failures += !ok;
}

/* The key of key index k of check c: the run tag in it keeps runs apart. */
static pl_uuid key_of(char c, int k)
{
    pl_uuid u = {{0}};
    memcpy(u.b, run_tag, 8);
    u.b[8] = (uint8_t)c;
    u.b[12] = (uint8_t)(k >> 8);
    u.b[13] = (uint8_t)k;
    return u;
}

/* A bus as one parleyd would have it. The config outlives the bus. */
typedef struct tbus {
    pl_config cfg;
    pl_bus *bus;
} tbus;

static tbus *bus_new(int64_t queue)
{
    tbus *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    pl_config_defaults(&t->cfg);
    snprintf(t->cfg.bus, sizeof(t->cfg.bus), "kafka");
    snprintf(t->cfg.kafka_brokers, sizeof(t->cfg.kafka_brokers), "%s",
             brokers);
    t->cfg.kafka_partitions = 4;
    t->cfg.kafka_replication = 1;
    if (queue > 0)
        t->cfg.kafka_queue = queue;
    if (pl_bus_open(&t->cfg, &t->bus) != PL_OK) {
        fprintf(stderr, "bus-kafka-test: pl_bus_open failed\n");
        free(t);
        return NULL;
    }
    return t;
}

static void bus_free(tbus *t)
{
    if (!t)
        return;
    pl_bus_close(t->bus);
    free(t);
}

static void group_name(char *buf, size_t cap, const char *what)
{
    snprintf(buf, cap, "bt-%s-%s", run_tag, what);
}

/* Payload "bt <run> <check> <id>": id < 0 for probes and markers. */
static pl_status publish(tbus *t, const char *topic, char c, int key, int id)
{
    char p[64];
    int n = snprintf(p, sizeof(p), "bt %s %c %d", run_tag, c, id);
    pl_rbuf *b = pl_rbuf_copy(p, (size_t)n);
    if (!b)
        return PL_ERR_NOMEM;
    pl_bus_msg m = {.topic = topic, .key = key_of(c, key), .payload = b};
    pl_status st = pl_bus_publish(t->bus, &m);
    pl_rbuf_unref(b);
    return st;
}

/* Parses a payload of ours: true with its check and id. */
static bool parse(const uint8_t *p, size_t n, char *c, int *id)
{
    char s[64], tag[32];
    if (n >= sizeof(s))
        return false;
    memcpy(s, p, n);
    s[n] = '\0';
    return sscanf(s, "bt %31s %c %d", tag, c, id) == 3 &&
           strcmp(tag, run_tag) == 0;
}

/* ---- a subscriber's view: what its handler saw ---- */

#define MAX_IDS 4096

typedef struct rx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char want;       /* the check whose events are counted */
    int count[MAX_IDS];
    int last[NKEYS]; /* per key: the last id seen (-1: none) */
    int got, dups, disorder, foreign, eob;
    int max_probe;   /* the latest probe round seen, -1: none */
    bool marker;     /* the marker (id -2) arrived */
    int before_marker; /* records other than the marker, until it came */
    /* batch: block in the first end-of-batch call until released */
    bool block, blocked, released;
} rx;

static void rx_init(rx *r, char want)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->want = want;
    r->max_probe = -1;
    for (int k = 0; k < NKEYS; k++)
        r->last[k] = -1;
}

static void rx_destroy(rx *r)
{
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

/* id = seq * NKEYS + key: ids of a key are published in increasing order */
static void rx_note(rx *r, char c, int id)
{
    if (c != r->want || id >= MAX_IDS) {
        r->foreign++;
        return;
    }
    if (id == -2) {
        r->marker = true;
        return;
    }
    if (!r->marker)
        r->before_marker++;
    if (id < 0) {
        r->max_probe = -id - 3 > r->max_probe ? -id - 3 : r->max_probe;
        return;
    }
    if (r->count[id]++ > 0) {
        r->dups++;
        return;
    }
    r->got++;
    int k = id % NKEYS;
    if (id <= r->last[k])
        r->disorder++;
    r->last[k] = id;
}

static void on_event(void *ctx, const pl_bus_msg *m)
{
    rx *r = ctx;
    char c;
    int id;
    pthread_mutex_lock(&r->mu);
    if (!m->payload) {
        r->eob++;
        if (r->block && !r->released) {
            r->blocked = true;
            pthread_cond_broadcast(&r->cv);
            while (!r->released)
                pthread_cond_wait(&r->cv, &r->mu);
        }
    } else if (parse(m->payload->data, m->payload->len, &c, &id)) {
        rx_note(r, c, id);
    } else {
        r->foreign++;
        if (!r->marker)
            r->before_marker++;
    }
    pthread_mutex_unlock(&r->mu);
}

/* Waits until pred(r) holds, up to ms. */
static bool rx_wait(rx *r, bool (*pred)(rx *, int), int arg, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        bool ok = pred(r, arg);
        pthread_mutex_unlock(&r->mu);
        if (ok || now_ms() >= end)
            return ok;
        sleep_ms(20);
    }
}

static bool has_got(rx *r, int n) { return r->got >= n; }
static bool has_marker(rx *r, int unused)
{
    (void)unused;
    return r->marker;
}
static bool is_blocked(rx *r, int unused)
{
    (void)unused;
    return r->blocked;
}

static int rx_get(rx *r, const int *field)
{
    pthread_mutex_lock(&r->mu);
    int v = *field;
    pthread_mutex_unlock(&r->mu);
    return v;
}

/* ---- raw librdkafka: watermarks and committed offsets ---- */

static rd_kafka_t *raw_consumer(const char *group)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (rd_kafka_conf_set(c, "bootstrap.servers", brokers, err,
                          sizeof(err)) ||
        rd_kafka_conf_set(c, "group.id", group, err, sizeof(err)) ||
        rd_kafka_conf_set(c, "log_level", "3", err, sizeof(err))) {
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    if (!rk)
        rd_kafka_conf_destroy(c);
    return rk;
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    if (t && rd_kafka_metadata(rk, 0, t, &md, 5000) == 0) {
        if (md->topic_cnt == 1 && md->topics[0].err == 0)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    if (t)
        rd_kafka_topic_destroy(t);
    return n;
}

/* Sum of the partitions' high watermarks (records ever written). */
static int64_t end_offsets(rd_kafka_t *rk, const char *topic, int64_t *hi,
                           int np)
{
    int64_t sum = 0, lo;
    for (int p = 0; p < np; p++) {
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi[p],
                                             5000) != 0)
            return -1;
        sum += hi[p];
    }
    return sum;
}

/* Partitions whose committed offset (for rk's group) is below hi[]; *none
 * is set when no partition has any committed offset. -1 on error. */
static int behind(rd_kafka_t *rk, const char *topic, const int64_t *hi,
                  int np, bool *none)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
    int n = 0;
    for (int p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    if (rd_kafka_committed(rk, l, 5000) != 0) {
        rd_kafka_topic_partition_list_destroy(l);
        return -1;
    }
    *none = true;
    for (int i = 0; i < l->cnt; i++) {
        int64_t off = l->elems[i].offset;
        if (off >= 0)
            *none = false;
        n += off < hi[l->elems[i].partition];
    }
    rd_kafka_topic_partition_list_destroy(l);
    return n;
}

/* ---- check: share and order ---- */

/* Publishes probe rounds until one round reached both members: the group
 * has settled (each holds partitions). */
static bool settle(tbus *pub, rx *a, rx *b)
{
    int64_t end = now_ms() + WAIT_MS;
    int streak = 0;
    for (int round = 0; now_ms() < end; round++) {
        for (int k = 0; k < NKEYS; k++)
            publish(pub, PL_TOPIC_EVENTS, 's', k, -3 - round);
        pl_bus_flush(pub->bus, 5000);
        sleep_ms(300);
        bool both = rx_get(a, &a->max_probe) >= round &&
                    rx_get(b, &b->max_probe) >= round;
        streak = both ? streak + 1 : 0;
        if (streak == 2)
            return true;
    }
    return false;
}

static void check_share(void)
{
    enum { N = 2000 };
    char g[64];
    static rx a, b;
    tbus *ba = bus_new(0), *bb = bus_new(0);
    rx_init(&a, 's');
    rx_init(&b, 's');
    group_name(g, sizeof(g), "share");
    if (!ba || !bb ||
        pl_bus_subscribe(ba->bus, PL_TOPIC_EVENTS, g, on_event, &a) ||
        pl_bus_subscribe(bb->bus, PL_TOPIC_EVENTS, g, on_event, &b) ||
        pl_bus_start(ba->bus) || pl_bus_start(bb->bus)) {
        check("share", false, "could not open, subscribe or start two buses");
        goto out;
    }
    bool settled = settle(ba, &a, &b);
    int refused = 0;
    for (int id = 0; id < N; id++)
        refused += publish(id % 2 ? ba : bb, PL_TOPIC_EVENTS, 's',
                           id % NKEYS, id) != PL_OK;
    pl_bus_flush(ba->bus, 10000);
    pl_bus_flush(bb->bus, 10000);
    int64_t end = now_ms() + WAIT_MS;
    while (rx_get(&a, &a.got) + rx_get(&b, &b.got) < N && now_ms() < end)
        sleep_ms(20);
    sleep_ms(300); /* late duplicates */
    pthread_mutex_lock(&a.mu);
    pthread_mutex_lock(&b.mu);
    int lost = 0, both = 0, split = 0;
    for (int id = 0; id < N; id++) {
        lost += a.count[id] + b.count[id] == 0;
        both += a.count[id] > 0 && b.count[id] > 0;
    }
    for (int k = 0; k < NKEYS; k++)
        split += a.last[k] >= 0 && b.last[k] >= 0;
    check("share", settled && refused == 0 && lost == 0 && both == 0 &&
                       a.dups + b.dups == 0 && a.got > 0 && b.got > 0,
          "group %s; %d published (%d refused): member A got %d, B got %d, "
          "%d lost, %d reached both, %d duplicates%s",
          settled ? "settled" : "NEVER SETTLED", N, refused, a.got, b.got,
          lost, both, a.dups + b.dups,
          a.got == 0 || b.got == 0 ? "; one member got nothing" : "");
    check("order", a.disorder + b.disorder == 0 && split == 0,
          "%d events out of publish order; %d of %d keys delivered to both "
          "members",
          a.disorder + b.disorder, split, NKEYS);
    pthread_mutex_unlock(&b.mu);
    pthread_mutex_unlock(&a.mu);
out:
    bus_free(ba);
    bus_free(bb);
    rx_destroy(&a);
    rx_destroy(&b);
}

/* ---- check: broadcast ---- */

static void check_broadcast(void)
{
    enum { N = 200 };
    static rx a, b;
    tbus *ba = bus_new(0), *bb = bus_new(0);
    rx_init(&a, 'b');
    rx_init(&b, 'b');
    if (!ba || !bb ||
        pl_bus_subscribe(ba->bus, PL_TOPIC_MEMBERSHIP, NULL, on_event, &a) ||
        pl_bus_subscribe(bb->bus, PL_TOPIC_MEMBERSHIP, NULL, on_event, &b) ||
        publish(ba, PL_TOPIC_MEMBERSHIP, 'B', 0, 0) ||
        pl_bus_flush(ba->bus, 10000) || /* the producer is ready */
        pl_bus_start(ba->bus) || pl_bus_start(bb->bus)) {
        check("broadcast", false, "could not open, subscribe or start");
        goto out;
    }
    /* right after start: "every event from the time it starts" */
    int refused = 0;
    for (int id = 0; id < N; id++)
        refused += publish(ba, PL_TOPIC_MEMBERSHIP, 'b', id % NKEYS, id) !=
                   PL_OK;
    pl_bus_flush(ba->bus, 10000);
    bool oka = rx_wait(&a, has_got, N, WAIT_MS);
    bool okb = rx_wait(&b, has_got, N, 3000);
    check("broadcast", oka && okb && refused == 0,
          "%d published right after both started (%d refused): bus A got %d, "
          "bus B got %d (each must get all)",
          N, refused, rx_get(&a, &a.got), rx_get(&b, &b.got));
out:
    bus_free(ba);
    bus_free(bb);
    rx_destroy(&a);
    rx_destroy(&b);
}

/* ---- check: end-of-batch call and commit ---- */

static void check_batch(void)
{
    enum { N = 300 };
    char g[64], kg[80];
    static rx a, d;
    int64_t hi[64];
    bool none = false;
    int np, behind_blocked = -1, behind_after = -1;
    tbus *ba = bus_new(0), *bd = NULL;
    rd_kafka_t *rk = NULL;
    rx_init(&a, 'c');
    rx_init(&d, 'c');
    group_name(g, sizeof(g), "batch");
    snprintf(kg, sizeof(kg), "parley-%s", g); /* the backend's group id */
    a.block = true;
    if (!ba || !(rk = raw_consumer(kg)) ||
        (np = partitions_of(rk, "parley.events")) < 1 || np > 64 ||
        pl_bus_subscribe(ba->bus, PL_TOPIC_EVENTS, g, on_event, &a) ||
        pl_bus_start(ba->bus)) {
        check("batch", false, "could not set up");
        goto out;
    }
    for (int id = 0; id < N; id++)
        publish(ba, PL_TOPIC_EVENTS, 'c', id % NKEYS, id);
    pl_bus_flush(ba->bus, 10000);
    bool blocked = rx_wait(&a, is_blocked, 0, WAIT_MS);
    if (blocked && end_offsets(rk, "parley.events", hi, np) >= 0)
        behind_blocked = behind(rk, "parley.events", hi, np, &none);
    pthread_mutex_lock(&a.mu);
    a.released = true;
    pthread_cond_broadcast(&a.cv);
    pthread_mutex_unlock(&a.mu);
    check("batch", blocked && none && behind_blocked >= 0,
          "end-of-batch call %s; while it had not returned, %s",
          blocked ? "made" : "NEVER MADE",
          none ? "no offset of the group was committed"
               : "OFFSETS WERE ALREADY COMMITTED");
    bool all = rx_wait(&a, has_got, N, WAIT_MS);
    /* after the batches: committed up to the end of every partition */
    for (int64_t end = now_ms() + 5000; now_ms() < end; sleep_ms(100))
        if ((behind_after = behind(rk, "parley.events", hi, np, &none)) == 0)
            break;
    int eob = rx_get(&a, &a.eob);
    bus_free(ba);
    ba = NULL;
    /* a new member of the group: starts after the commit */
    bd = bus_new(0);
    if (!bd || pl_bus_subscribe(bd->bus, PL_TOPIC_EVENTS, g, on_event, &d) ||
        pl_bus_start(bd->bus)) {
        check("batch", false, "could not start the second member");
        goto out;
    }
    bool marker = false;
    for (int64_t end = now_ms() + WAIT_MS; !marker && now_ms() < end;) {
        publish(bd, PL_TOPIC_EVENTS, 'c', 0, -2);
        marker = rx_wait(&d, has_marker, 0, 1000);
    }
    sleep_ms(500); /* other partitions: anything old would come now */
    int old = rx_get(&d, &d.before_marker) + rx_get(&d, &d.got);
    check("batch", all && eob > 0 && behind_after == 0 && marker && old == 0,
          "%d/%d events and %d end-of-batch calls; after them %d partitions "
          "not committed to the end; a new member %s and got %d old records",
          rx_get(&a, &a.got), N, eob, behind_after,
          marker ? "got the marker" : "NEVER GOT THE MARKER", old);
out:
    bus_free(ba);
    bus_free(bd);
    if (rk)
        rd_kafka_destroy(rk);
    rx_destroy(&a);
    rx_destroy(&d);
}

/* ---- check: work streams ---- */

typedef struct sview {
    int count[MAX_IDS];
    int got, marker, other;
    uint64_t epoch;
} sview;

/* Polls s once; counts our 'w' records into v; commits when asked. */
static void stream_poll(pl_bus_stream *s, sview *v, bool commit, int ms)
{
    static pl_bus_msg out[512];
    size_t n = pl_bus_stream_poll(s, out, 512, ms, &v->epoch);
    for (size_t i = 0; i < n; i++) {
        char c;
        int id;
        if (!parse(out[i].payload->data, out[i].payload->len, &c, &id) ||
            c != 'w' || id >= MAX_IDS)
            v->other++;
        else if (id == -2)
            v->marker++;
        else if (id >= 0 && v->count[id]++ == 0)
            v->got++;
    }
    if (commit)
        pl_bus_stream_commit(s);
}

static bool stream_take(pl_bus_stream *s, sview *v, int n, bool commit)
{
    for (int64_t end = now_ms() + WAIT_MS; v->got < n && now_ms() < end;)
        stream_poll(s, v, commit, 200);
    return v->got >= n;
}

static pl_bus_stream *stream_open(tbus *t, const char *g)
{
    pl_bus_stream *s = NULL;
    if (pl_bus_stream_open(t->bus, PL_TOPIC_SENDS, g, &s) != PL_OK)
        return NULL;
    return s;
}

static void check_stream(void)
{
    enum { N = 100 };
    char g[64];
    static sview v1, v2, v3, v4;
    tbus *t = bus_new(0);
    pl_bus_stream *s1 = NULL, *s2 = NULL;
    group_name(g, sizeof(g), "stream");
    if (!t) {
        check("stream", false, "could not open a bus");
        return;
    }
    for (int id = 0; id < N; id++)
        publish(t, PL_TOPIC_SENDS, 'w', id % NKEYS, id);
    if (pl_bus_flush(t->bus, 10000) != PL_OK || !(s1 = stream_open(t, g))) {
        check("stream", false, "could not publish or open a stream");
        goto out;
    }
    bool first = stream_take(s1, &v1, N, false);
    pl_bus_stream_close(s1);
    s1 = stream_open(t, g);
    bool again = s1 && stream_take(s1, &v2, N, true);
    check("stream", first && again,
          "first stream polled %d/%d without commit; after it closed, a new "
          "stream got %d/%d of them again",
          v1.got, N, v2.got, N);
    pl_bus_stream_close(s1);
    /* committed: a new stream gets only what comes after (the marker) */
    s1 = stream_open(t, g);
    int64_t end = now_ms() + WAIT_MS;
    while (s1 && v3.marker == 0 && now_ms() < end) {
        publish(t, PL_TOPIC_SENDS, 'w', 0, -2);
        stream_poll(s1, &v3, true, 500);
    }
    check("stream", v3.marker > 0 && v3.got == 0,
          "after the commit a new stream %s and got %d old records",
          v3.marker ? "got the marker" : "NEVER GOT THE MARKER", v3.got);
    /* a second member joins: the first one's epoch moves */
    uint64_t e0 = v3.epoch;
    s2 = s1 ? stream_open(t, g) : NULL;
    end = now_ms() + WAIT_MS;
    while (s2 && (v3.epoch == e0 || v4.epoch == 0) && now_ms() < end) {
        stream_poll(s1, &v3, true, 100);
        stream_poll(s2, &v4, true, 100);
    }
    check("stream", e0 > 0 && v3.epoch != e0 && v4.epoch > 0,
          "epoch of the first member %llu -> %llu when a second joined "
          "(its epoch %llu)",
          (unsigned long long)e0, (unsigned long long)v3.epoch,
          (unsigned long long)v4.epoch);
out:
    if (s2)
        pl_bus_stream_close(s2);
    if (s1)
        pl_bus_stream_close(s1);
    bus_free(t);
}

/* ---- check: bad records ---- */

static int produce_bad(pl_kafka_producer *p, const pl_uuid *key)
{
    pl_dbuf good;
    pl_cw_event e = {.kind = PL_CW_T_MESSAGES, /* the wrong topic's kind */
                     .key = *key,
                     .payload = (const uint8_t *)"x",
                     .payload_len = 1};
    int n = 0;
    pl_dbuf_init(&good, 1 << 16);
    if (pl_cw_encode_event(&e, &good) != PL_OK)
        return -1;
    /* empty, text, a valid record of the wrong kind, truncated, and with
     * a trailing byte */
    const char junk[] = "not a record";
    n += pl_kafka_produce(p, "parley.events", key->b, 16, "", 0, NULL) == PL_OK;
    n += pl_kafka_produce(p, "parley.events", key->b, 16, junk,
                          sizeof(junk) - 1, NULL) == PL_OK;
    n += pl_kafka_produce(p, "parley.events", key->b, 16, good.p, good.len,
                          NULL) == PL_OK;
    good.p[0] = PL_CW_T_EVENTS;
    n += pl_kafka_produce(p, "parley.events", key->b, 16, good.p,
                          good.len - 1, NULL) == PL_OK;
    pl_dbuf_append(&good, "!", 1);
    n += pl_kafka_produce(p, "parley.events", key->b, 16, good.p, good.len,
                          NULL) == PL_OK;
    pl_dbuf_free(&good);
    return n;
}

static void check_bad(void)
{
    char g[64], kg[80], err[256];
    static rx a;
    pl_kafka_conf kc = {.brokers = brokers, .client_id = "bus-kafka-test"};
    pl_kafka_producer *p = pl_kafka_producer_new(&kc, NULL, NULL, err,
                                                 sizeof(err));
    tbus *t = bus_new(0);
    rd_kafka_t *rk = NULL;
    int64_t hi[64];
    int np = -1, left = -1;
    bool none;
    rx_init(&a, 'x');
    group_name(g, sizeof(g), "bad");
    snprintf(kg, sizeof(kg), "parley-%s", g);
    if (!p || !t || !(rk = raw_consumer(kg)) ||
        (np = partitions_of(rk, "parley.events")) < 1 || np > 64 ||
        end_offsets(rk, "parley.events", hi, np) < 0 ||
        pl_bus_subscribe(t->bus, PL_TOPIC_EVENTS, g, on_event, &a) ||
        pl_bus_start(t->bus)) {
        check("bad", false, "could not set up");
        goto out;
    }
    /* the group is new: it reads parley.events from the start (records
     * of earlier runs too); counting starts once it committed the end */
    for (int64_t end = now_ms() + WAIT_MS; left != 0 && now_ms() < end;
         sleep_ms(100))
        left = behind(rk, "parley.events", hi, np, &none);
    bool caught_up = left == 0;
    int64_t bad0 = atomic_load(&pl_metrics_g.bus_bad_records_total);
    pl_uuid key = key_of('x', 0);
    int produced = produce_bad(p, &key);
    pl_kafka_producer_flush(p, 10000);
    /* after the garbage, on its key (its partition): one good event */
    publish(t, PL_TOPIC_EVENTS, 'x', 0, 7);
    bool works = rx_wait(&a, has_got, 1, WAIT_MS);
    int64_t bad = atomic_load(&pl_metrics_g.bus_bad_records_total) - bad0;
    int calls = rx_get(&a, &a.foreign);
    check("bad", caught_up && produced == 5 && works && bad == 5,
          "%s; %d bad records produced; the bus %s the good event after "
          "them; bus_bad_records_total +%lld (want 5); %d handler calls "
          "for other checks' and runs' events",
          caught_up ? "caught up" : "NEVER CAUGHT UP", produced,
          works ? "delivered" : "DID NOT DELIVER", (long long)bad, calls);
out:
    if (rk)
        rd_kafka_destroy(rk);
    pl_kafka_producer_free(p, 1000);
    bus_free(t);
    rx_destroy(&a);
}

/* ---- check: non-blocking publish, flush ---- */

static void check_nonblock(void)
{
    enum { N = 20000 };
    tbus *t = bus_new(1000);
    int busy = 0, other = 0;
    int64_t worst = 0;
    if (!t) {
        check("nonblock", false, "could not open a bus");
        return;
    }
    for (int id = 0; id < N; id++) {
        int64_t t0 = now_ms();
        pl_status st = publish(t, PL_TOPIC_PRESENCE, 'n', id % NKEYS, id);
        int64_t dt = now_ms() - t0;
        worst = dt > worst ? dt : worst;
        busy += st == PL_ERR_BUSY;
        other += st != PL_OK && st != PL_ERR_BUSY;
    }
    check("nonblock", worst < 50 && other == 0,
          "%d droppable events through a 1000-message queue: %d refused busy, "
          "%d other errors, slowest publish %lld ms (limit 50)",
          N, busy, other, (long long)worst);
    pl_bus_flush(t->bus, 10000);
    bus_free(t);
}

static void check_flush(void)
{
    enum { N = 1000 };
    int64_t hi[64];
    tbus *t = bus_new(0);
    rd_kafka_t *rk = raw_consumer("bus-kafka-test-flush");
    int np = rk ? partitions_of(rk, "parley.presence") : -1;
    if (!t || np < 1 || np > 64) {
        check("flush", false, "could not set up");
        goto out;
    }
    int64_t before = end_offsets(rk, "parley.presence", hi, np);
    int refused = 0;
    for (int id = 0; id < N; id++)
        refused += publish(t, PL_TOPIC_PRESENCE, 'f', id % NKEYS, id) != PL_OK;
    pl_status st = pl_bus_flush(t->bus, 10000);
    int64_t after = end_offsets(rk, "parley.presence", hi, np);
    pl_status idle = pl_bus_flush(t->bus, 1000);
    check("flush", st == PL_OK && refused == 0 && after - before == N &&
                       idle == PL_OK,
          "flush after %d publishes (%d refused): %s; the topic grew by "
          "%lld records meanwhile; an idle flush: %s",
          N, refused, pl_status_str(st), (long long)(after - before),
          pl_status_str(idle));
out:
    if (rk)
        rd_kafka_destroy(rk);
    bus_free(t);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"brokers", 1, 0, 'b'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
        if (ch == 'b')
            brokers = optarg;
    if (!brokers) {
        fprintf(stderr, "usage: bus-kafka-test --brokers HOST:PORT\n");
        return 2;
    }
    pl_log_set_level(getenv("BT_DEBUG") ? PL_LOG_INFO : PL_LOG_WARN);
    pl_uuid u;
    pl_uuid_v4(&u);
    for (int i = 0; i < 8; i++)
        snprintf(run_tag + 2 * i, 3, "%02x", u.b[i]);
    int64_t t0 = now_ms();
    check_share();
    check_broadcast();
    check_batch();
    check_stream();
    check_bad();
    check_nonblock();
    check_flush();
    printf("bus-kafka-test: %s, %d failed, %.1f s\n",
           failures ? "FAILED" : "all checks passed", failures,
           (double)(now_ms() - t0) / 1000.0);
    return failures ? 1 : 0;
}
