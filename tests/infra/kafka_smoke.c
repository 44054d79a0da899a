/* kafka_smoke.c - the Kafka client (src/backends/kafka_client.h) against
 * a real broker, through a broker restart. Run by scripts/infra-test.sh:
 *
 *   kafka-smoke --brokers 127.0.0.1:PORT --topic T \
 *               --restart-cmd "scripts/infra/kafka.sh restart DIR"
 *
 * 1. An idempotent producer sends N messages on K keys (message i has key
 *    i % K and is that key's message number i / K) to a topic with
 *    several partitions, through a small bounded queue (backpressure).
 * 2. Meanwhile a consumer-group member consumes, stores each offset after
 *    "processing" and commits every few hundred messages.
 * 3. Once a third of the messages are acknowledged, the restart command
 *    runs while production goes on.
 * Checks: every message is acknowledged (none fails), every acknowledged
 * message is consumed (none lost), each key's messages arrive in order
 * (a message may come again after a restart: counted, not an error), and
 * a new member of the group resumes after the last commit: it gets a
 * marker produced after the first member left, and nothing before it.
 * Exit status 0 when every check holds. */
#include <getopt.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/kafka_client.h"
#include "core/log.h"

extern char **environ;

#define MARKER "marker"

typedef struct opts {
    const char *brokers, *topic, *group, *restart_cmd;
    int n, keys, queue, timeout_s;
} opts;

typedef struct smoke {
    opts o;
    /* producer side (main thread: reports are served by its polls) */
    unsigned char *acked;
    int acked_count, failed, busy;
    /* consumer side (consumer thread until joined) */
    unsigned char *seen;
    int *next_seq; /* per key: the next message number expected */
    int seen_count, dups, disorder, bad, commits_failed;
    atomic_int stop;
} smoke;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_delivery(void *opaque, void *msg_opaque, pl_status st,
                        int32_t partition, int64_t offset)
{
    smoke *s = opaque;
    intptr_t i = (intptr_t)msg_opaque;

    if (i < 0 || i >= s->o.n)
        return; /* the marker */
    if (st == PL_OK && !s->acked[i]) {
        s->acked[i] = 1;
        s->acked_count++;
    } else if (st != PL_OK) {
        s->failed++;
    }
}

/* ---- consumer ---- */

/* Message i as the consumer sees it: key "k<i % K>", value "<i>". */
static int parse_msg(const smoke *s, const pl_kafka_msg *m)
{
    char v[32], k[32];
    long i;

    if (m->value_len == 0 || m->value_len >= sizeof(v) || !m->key ||
        m->key_len >= sizeof(k))
        return -1;
    memcpy(v, m->value, m->value_len);
    v[m->value_len] = '\0';
    memcpy(k, m->key, m->key_len);
    k[m->key_len] = '\0';
    i = strtol(v, NULL, 10);
    if (i < 0 || i >= s->o.n)
        return -1;
    snprintf(v, sizeof(v), "k%ld", i % s->o.keys);
    return strcmp(v, k) == 0 ? (int)i : -1;
}

static void check_order(smoke *s, int i)
{
    int key = i % s->o.keys, seq = i / s->o.keys;

    if (seq < s->next_seq[key]) {
        s->dups++; /* redelivered after a restart: allowed */
        if (!s->seen[i])
            s->disorder++; /* earlier than one already seen, never seen */
    } else {
        if (seq > s->next_seq[key])
            s->disorder++; /* skipped over messages of this key */
        s->next_seq[key] = seq + 1;
    }
    if (!s->seen[i]) {
        s->seen[i] = 1;
        s->seen_count++;
    }
}

static void consume_one(smoke *s, pl_kafka_consumer *c, pl_kafka_msg *m,
                        int *uncommitted)
{
    int i = parse_msg(s, m);

    if (i < 0)
        s->bad++;
    else
        check_order(s, i);
    pl_kafka_consumer_store(c, m); /* processed: commit may cover it */
    pl_kafka_msg_release(m);
    if (++*uncommitted >= 500) {
        if (pl_kafka_consumer_commit(c) != PL_OK)
            s->commits_failed++;
        *uncommitted = 0;
    }
}

static void *consumer_main(void *arg)
{
    smoke *s = arg;
    char err[512];
    const char *topics[] = {s->o.topic};
    pl_kafka_conf kc = {.brokers = s->o.brokers,
                        .group_id = s->o.group,
                        .client_id = "smoke-consumer"};
    pl_kafka_consumer *c =
        pl_kafka_consumer_new(&kc, topics, 1, err, sizeof(err));
    pl_kafka_msg m;
    int uncommitted = 0;

    if (!c) {
        fprintf(stderr, "kafka-smoke: consumer: %s\n", err);
        return NULL;
    }
    while (s->seen_count < s->o.n && !atomic_load(&s->stop)) {
        pl_status st = pl_kafka_consumer_poll(c, &m, 200);
        if (st == PL_OK)
            consume_one(s, c, &m, &uncommitted);
        else if (st == PL_AGAIN && uncommitted > 0 &&
                 pl_kafka_consumer_commit(c) == PL_OK)
            uncommitted = 0; /* idle: commit what is processed */
    }
    pl_kafka_consumer_free(c); /* commits the rest, leaves the group */
    return NULL;
}

/* ---- producer ---- */

static int produce_one(smoke *s, pl_kafka_producer *p, int i)
{
    char k[32], v[32];
    int kl = snprintf(k, sizeof(k), "k%d", i % s->o.keys);
    int vl = snprintf(v, sizeof(v), "%d", i);

    for (;;) {
        pl_status st = pl_kafka_produce(p, s->o.topic, k, (size_t)kl, v,
                                        (size_t)vl, (void *)(intptr_t)i);
        if (st == PL_OK)
            return 0;
        if (st != PL_ERR_BUSY) {
            fprintf(stderr, "kafka-smoke: produce %d: %s\n", i,
                    pl_status_str(st));
            return -1;
        }
        s->busy++; /* the bounded queue is full: wait for reports */
        pl_kafka_producer_poll(p, 50);
    }
}

static pid_t spawn_restart(const char *cmd)
{
    /* posix_spawn takes char *const[]: copies, not casts of literals */
    char sh[] = "/bin/sh", dash_c[] = "-c";
    char *argv[] = {sh, dash_c, (char *)cmd, NULL};
    pid_t pid;

    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
        return -1;
    return pid;
}

/* Produces everything; starts the restart once a third is acknowledged.
 * Returns the restart command's wait status (0 when none was given). */
static int produce_all(smoke *s, pl_kafka_producer *p, double *restart_s)
{
    int restart_at = s->o.n / 3, status = 0;
    pid_t child = -1;
    double t0 = 0;

    for (int i = 0; i < s->o.n; i++) {
        if (produce_one(s, p, i) != 0)
            return -1;
        pl_kafka_producer_poll(p, 0);
        if (i == restart_at && s->o.restart_cmd) {
            double end = now_s() + s->o.timeout_s;
            while (s->acked_count < restart_at && s->failed == 0 &&
                   now_s() < end)
                pl_kafka_producer_poll(p, 100);
            fprintf(stderr, "kafka-smoke: %d acknowledged, restarting\n",
                    s->acked_count);
            t0 = now_s();
            child = spawn_restart(s->o.restart_cmd);
            if (child < 0)
                return -1;
        }
        if (child > 0 && i % 16 == 0)
            usleep(1000); /* spread the rest over the restart */
    }
    if (child > 0) {
        while (waitpid(child, &status, 0) < 0)
            ;
        *restart_s = now_s() - t0;
    }
    return status;
}

/* ---- resume check ---- */

/* A second member of the group must start after the first one's last
 * commit: the first message it gets on the marker's partition is the
 * marker, produced after the first member left. Returns how many earlier
 * messages it got again (0 expected), or -1 when the marker never came. */
static int resume_check(smoke *s, pl_kafka_producer *p)
{
    char err[512];
    const char *topics[] = {s->o.topic};
    pl_kafka_conf kc = {.brokers = s->o.brokers,
                        .group_id = s->o.group,
                        .client_id = "smoke-resume"};
    pl_kafka_consumer *c;
    pl_kafka_msg m;
    int again = 0, found = 0;
    double end = now_s() + 30;

    if (pl_kafka_produce(p, s->o.topic, MARKER, strlen(MARKER), MARKER,
                         strlen(MARKER), (void *)(intptr_t)-1) != PL_OK ||
        pl_kafka_producer_flush(p, 10000) != PL_OK)
        return -1;
    c = pl_kafka_consumer_new(&kc, topics, 1, err, sizeof(err));
    if (!c)
        return -1;
    while (!found && now_s() < end) {
        if (pl_kafka_consumer_poll(c, &m, 200) != PL_OK)
            continue;
        if (m.value_len == strlen(MARKER) &&
            memcmp(m.value, MARKER, m.value_len) == 0)
            found = 1;
        else
            again++;
        pl_kafka_consumer_store(c, &m);
        pl_kafka_msg_release(&m);
    }
    pl_kafka_consumer_free(c);
    return found ? again : -1;
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: kafka-smoke --brokers HOST:PORT --topic T [--group G]\n"
            "       [--messages N] [--keys K] [--queue Q] [--timeout S]\n"
            "       [--restart-cmd CMD]\n");
    exit(2);
}

static void parse_opts(int argc, char **argv, opts *o)
{
    static const struct option lo[] = {{"brokers", 1, 0, 'b'},
                                       {"topic", 1, 0, 't'},
                                       {"group", 1, 0, 'g'},
                                       {"messages", 1, 0, 'n'},
                                       {"keys", 1, 0, 'k'},
                                       {"queue", 1, 0, 'q'},
                                       {"timeout", 1, 0, 'T'},
                                       {"restart-cmd", 1, 0, 'r'},
                                       {0, 0, 0, 0}};
    int ch;

    *o = (opts){.n = 20000,
                .keys = 64,
                .queue = 2000,
                .timeout_s = 120,
                .group = "kafka-smoke"};
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'b': o->brokers = optarg; break;
        case 't': o->topic = optarg; break;
        case 'g': o->group = optarg; break;
        case 'n': o->n = atoi(optarg); break;
        case 'k': o->keys = atoi(optarg); break;
        case 'q': o->queue = atoi(optarg); break;
        case 'T': o->timeout_s = atoi(optarg); break;
        case 'r': o->restart_cmd = optarg; break;
        default: usage();
        }
    }
    if (!o->brokers || !o->topic || o->n < 3 || o->keys < 1 || o->queue < 1 ||
        o->timeout_s < 1)
        usage();
}

static int report(const smoke *s, int restart_status, double restart_s,
                  int resumed_again, double total_s)
{
    int lost = 0;

    for (int i = 0; i < s->o.n; i++)
        lost += s->acked[i] && !s->seen[i];
    printf("kafka-smoke: %d produced, %d acknowledged, %d failed, "
           "%d producer waits on a full queue\n",
           s->o.n, s->acked_count, s->failed, s->busy);
    printf("kafka-smoke: %d consumed (%d again), %d lost, %d out of order, "
           "%d malformed, %d failed commits\n",
           s->seen_count, s->dups, lost, s->disorder, s->bad,
           s->commits_failed);
    printf("kafka-smoke: restart %s in %.1f s; new member got %d old "
           "messages before the marker; %.1f s in all\n",
           restart_status == 0 ? "ok" : "FAILED", restart_s, resumed_again,
           total_s);
    return restart_status == 0 && s->acked_count == s->o.n && s->failed == 0 &&
           lost == 0 && s->disorder == 0 && s->bad == 0 && resumed_again == 0;
}

static int run(smoke *s)
{
    char err[512];
    pl_kafka_conf kc = {.brokers = s->o.brokers,
                        .client_id = "smoke-producer",
                        .queue_max = s->o.queue};
    pl_kafka_producer *p =
        pl_kafka_producer_new(&kc, on_delivery, s, err, sizeof(err));
    pthread_t th;
    double t0 = now_s(), restart_s = 0;
    int rs, again = -1, ok, joined = 0;

    if (!p) {
        fprintf(stderr, "kafka-smoke: producer: %s\n", err);
        return 1;
    }
    if (pthread_create(&th, NULL, consumer_main, s) != 0) {
        pl_kafka_producer_free(p, 0);
        return 1;
    }
    rs = produce_all(s, p, &restart_s);
    if (pl_kafka_producer_flush(p, s->o.timeout_s * 1000) != PL_OK)
        fprintf(stderr, "kafka-smoke: flush timed out\n");
    while (s->acked_count + s->failed < s->o.n && now_s() - t0 < s->o.timeout_s)
        pl_kafka_producer_poll(p, 100);
    while (!joined && now_s() - t0 < s->o.timeout_s) {
        joined = pthread_tryjoin_np(th, NULL) == 0;
        if (!joined)
            usleep(100 * 1000);
    }
    atomic_store(&s->stop, 1); /* timed out: the consumer gives up */
    if (!joined)
        pthread_join(th, NULL);
    if (rs == 0)
        again = resume_check(s, p);
    pl_kafka_producer_free(p, 10000);
    ok = report(s, rs, restart_s, again, now_s() - t0);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    smoke s = {0};
    int rc;

    parse_opts(argc, argv, &s.o);
    pl_log_set_level(PL_LOG_WARN);
    s.acked = calloc((size_t)s.o.n, 1);
    s.seen = calloc((size_t)s.o.n, 1);
    s.next_seq = calloc((size_t)s.o.keys, sizeof(int));
    if (!s.acked || !s.seen || !s.next_seq)
        return 1;
    rc = run(&s);
    free(s.acked);
    free(s.seen);
    free(s.next_seq);
    printf("kafka-smoke: %s\n", rc == 0 ? "PASS" : "FAIL");
    return rc;
}
