/* test_kafka_client.c - src/backends/kafka_client.h without a broker:
 * configuration errors, the bounded producer queue, and that every
 * queued message gets exactly one delivery report, also when it cannot be
 * delivered and when the producer is freed with messages still queued.
 * (The broker side: tests/infra/kafka_smoke.c, scripts/infra-test.sh.) */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#ifdef PL_HAVE_KAFKA
#include "backends/kafka_client.h"
#include "core/log.h"
#include "unit.h"

typedef struct reports {
    int ok, failed, io;
    int seen[16]; /* per message index: reports received */
} reports;

static void on_dr(void *opaque, void *msg_opaque, pl_status st,
                  int32_t partition, int64_t offset)
{
    reports *r = opaque;
    intptr_t i = (intptr_t)msg_opaque;

    if (i >= 0 && i < 16)
        r->seen[i]++;
    if (st == PL_OK) {
        r->ok++;
    } else {
        r->failed++;
        r->io += st == PL_ERR_IO;
        CHECK_EQ_INT(offset, -1);
    }
}

/* Nothing listens on port 1: connections are refused at once. */
#define NOWHERE "127.0.0.1:1"

static void test_config_errors(void)
{
    char err[256] = "";
    const char *bad_syntax[] = {"linger.ms", NULL};
    const char *unknown[] = {"no.such.property=1", NULL};
    const char *bad_value[] = {"linger.ms=-5", NULL};
    pl_kafka_conf c = {.brokers = NULL};

    CHECK(pl_kafka_producer_new(&c, NULL, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "no brokers") != NULL);
    c.brokers = NOWHERE;
    c.props = bad_syntax;
    CHECK(pl_kafka_producer_new(&c, NULL, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "name=value") != NULL);
    c.props = unknown;
    CHECK(pl_kafka_producer_new(&c, NULL, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "no.such.property") != NULL);
    c.props = bad_value;
    CHECK(pl_kafka_producer_new(&c, NULL, NULL, err, sizeof(err)) == NULL);
    c.props = NULL;
    const char *topics[] = {"t"};
    CHECK(pl_kafka_consumer_new(&c, topics, 1, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "group") != NULL);
}

/* queue_max bounds the messages waiting for a report: the next produce
 * is refused with PL_ERR_BUSY instead of growing the queue. Freeing the
 * producer fails what is left, each message reported exactly once. */
static void test_bounded_queue_and_free(void)
{
    char err[256];
    reports r = {0};
    pl_kafka_conf c = {.brokers = NOWHERE, .queue_max = 5};
    pl_kafka_producer *p =
        pl_kafka_producer_new(&c, on_dr, &r, err, sizeof(err));

    CHECK(p != NULL);
    if (!p)
        return;
    for (intptr_t i = 0; i < 5; i++)
        CHECK_EQ_INT(pl_kafka_produce(p, "t", "k", 1, "v", 1, (void *)i),
                     PL_OK);
    CHECK_EQ_INT(pl_kafka_produce(p, "t", "k", 1, "v", 1, (void *)5),
                 PL_ERR_BUSY);
    CHECK_EQ_INT(pl_kafka_producer_pending(p), 5);
    CHECK_EQ_INT(pl_kafka_producer_flush(p, 50), PL_AGAIN);
    pl_kafka_producer_free(p, 50);
    CHECK_EQ_INT(r.ok, 0);
    CHECK_EQ_INT(r.failed, 5);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(r.seen[i], 1);
    CHECK_EQ_INT(r.seen[5], 0);
}

/* A message that cannot be delivered within message.timeout.ms is
 * reported failed (an I/O failure), through poll, on our thread. */
static void test_delivery_timeout(void)
{
    char err[256];
    reports r = {0};
    const char *props[] = {"message.timeout.ms=300", NULL};
    pl_kafka_conf c = {.brokers = NOWHERE, .props = props};
    pl_kafka_producer *p =
        pl_kafka_producer_new(&c, on_dr, &r, err, sizeof(err));
    time_t end = time(NULL) + 10;

    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_EQ_INT(pl_kafka_produce(p, "t", NULL, 0, "v", 1, (void *)0), PL_OK);
    while (r.failed == 0 && time(NULL) < end)
        pl_kafka_producer_poll(p, 100);
    CHECK_EQ_INT(r.failed, 1);
    CHECK_EQ_INT(r.io, 1);
    CHECK_EQ_INT(pl_kafka_producer_pending(p), 0);
    CHECK_EQ_INT(pl_kafka_producer_flush(p, 0), PL_OK);
    pl_kafka_producer_free(p, 0);
    CHECK_EQ_INT(r.seen[0], 1);
}

/* With no broker a consumer polls empty and closes cleanly. */
static void test_consumer_without_broker(void)
{
    char err[256];
    const char *topics[] = {"t"};
    pl_kafka_conf c = {.brokers = NOWHERE, .group_id = "g"};
    pl_kafka_consumer *k =
        pl_kafka_consumer_new(&c, topics, 1, err, sizeof(err));
    pl_kafka_msg m;

    CHECK(k != NULL);
    if (!k)
        return;
    CHECK_EQ_INT(pl_kafka_consumer_poll(k, &m, 100), PL_AGAIN);
    CHECK(m.priv_ == NULL);
    CHECK_EQ_INT(pl_kafka_consumer_commit(k), PL_OK); /* nothing stored */
    CHECK_EQ_INT(pl_kafka_consumer_store(k, &m), PL_ERR_INVALID);
    pl_kafka_consumer_free(k);
}

int main(void)
{
    pl_log_set_level(PL_LOG_ERROR); /* refused connections are expected */
    test_config_errors();
    test_bounded_queue_and_free();
    test_delivery_timeout();
    test_consumer_without_broker();
    UNIT_DONE();
}
#else
int main(void)
{
    printf("kafka client not built (no librdkafka): skipped\n");
    return 0;
}
#endif
