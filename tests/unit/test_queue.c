/* test_queue.c - the bounded queue: FIFO order, the bound (PL_AGAIN),
 * close semantics, and no loss or duplication with 4 producers and a
 * batching consumer. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/queue.h"
#include "unit.h"

#define PER_PRODUCER 100000
#define PRODUCERS 4

static pl_queue q;

static void *producer(void *arg)
{
    uintptr_t base = (uintptr_t)arg * PER_PRODUCER;
    for (uintptr_t i = 0; i < PER_PRODUCER; i++)
        pl_queue_push(&q, (pl_qitem){(void *)(base + i + 1), NULL}, true);
    return NULL;
}

static void test_concurrent(void)
{
    pl_queue_init(&q, 64);
    pthread_t t[PRODUCERS];
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        pthread_create(&t[i], NULL, producer, (void *)i);
    static uint8_t seen[PRODUCERS * PER_PRODUCER + 1];
    uintptr_t last[PRODUCERS] = {0};
    size_t total = 0, dups = 0, reordered = 0;
    pl_qitem items[32];
    while (total < PRODUCERS * PER_PRODUCER) {
        size_t n = pl_queue_pop_many(&q, items, 32, true);
        for (size_t i = 0; i < n; i++) {
            uintptr_t v = (uintptr_t)items[i].a;
            size_t p = (v - 1) / PER_PRODUCER;
            dups += seen[v];
            seen[v] = 1;
            reordered += v <= last[p];
            last[p] = v;
        }
        total += n;
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_INT(dups, 0);
    CHECK_EQ_INT(reordered, 0); /* per-producer FIFO */
    CHECK(q.high_water <= 64);
    pl_queue_destroy(&q);
}

static void test_bound_and_close(void)
{
    pl_queue_init(&q, 2);
    CHECK(pl_queue_push(&q, (pl_qitem){(void *)1, NULL}, false) == PL_OK);
    CHECK(pl_queue_push(&q, (pl_qitem){(void *)2, NULL}, false) == PL_OK);
    CHECK(pl_queue_push(&q, (pl_qitem){(void *)3, NULL}, false) == PL_AGAIN);
    pl_queue_close(&q);
    CHECK(pl_queue_push(&q, (pl_qitem){(void *)4, NULL}, true) == PL_DONE);
    pl_qitem it[4];
    CHECK_EQ_INT(pl_queue_pop_many(&q, it, 4, true), 2); /* drains */
    CHECK(it[0].a == (void *)1 && it[1].a == (void *)2);
    CHECK_EQ_INT(pl_queue_pop_many(&q, it, 4, true), 0); /* closed */
    pl_queue_destroy(&q);
}

int main(void)
{
    test_bound_and_close();
    test_concurrent();
    UNIT_DONE();
}
