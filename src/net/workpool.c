/* workpool.c - see workpool.h. */
#include "workpool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/log.h"
#include "../core/queue.h"

typedef struct job {
    pl_work_fn work;
    pl_task_fn done;
    pl_loop *loop;
    void *arg;
} job;

struct pl_workpool {
    char name[32];
    pl_queue q;
    int n;
    pthread_t *threads;
    pl_worker *workers;
};

static void run_job(pl_worker *w, job *j)
{
    j->work(w, j->arg);
    if (!j->loop || pl_loop_post(j->loop, j->done, j->arg, true) != PL_OK)
        j->done(NULL, j->arg);
    free(j);
}

static void *worker_main(void *arg)
{
    pl_worker *w = arg;
    pl_workpool *p = w->pool;
    pl_qitem it;
    char name[16];
    snprintf(name, sizeof(name), "pl-%.8s-%d", p->name, w->idx);
    pthread_setname_np(pthread_self(), name);
    /* one job at a time: a worker that grabbed a backlog would run it
     * serially while its siblings sleep */
    while (pl_queue_pop_many(&p->q, &it, 1, true) == 1)
        run_job(w, it.a);
    return NULL;
}

pl_status pl_workpool_start(const char *name, int nthreads, size_t queue_cap,
                            pl_store *store, pl_workpool **out)
{
    pl_workpool *p = calloc(1, sizeof(*p));
    pl_status st = PL_ERR_NOMEM;
    if (!p)
        return st;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->threads = calloc((size_t)nthreads, sizeof(*p->threads));
    p->workers = calloc((size_t)nthreads, sizeof(*p->workers));
    if (!p->threads || !p->workers || pl_queue_init(&p->q, queue_cap) != PL_OK)
        goto fail;
    for (int i = 0; i < nthreads; i++) {
        p->workers[i].idx = i;
        st = pl_store_conn_open(store, &p->workers[i].store);
        if (st != PL_OK)
            goto fail;
    }
    for (int i = 0; i < nthreads; i++) {
        p->workers[i].pool = p;
        if (pthread_create(&p->threads[i], NULL, worker_main,
                           &p->workers[i]) != 0) {
            pl_log(PL_LOG_ERROR, "thread_create_failed", "pool", PL_LS, name,
                   NULL);
            pl_queue_close(&p->q);
            for (int k = 0; k < i; k++)
                pthread_join(p->threads[k], NULL);
            st = PL_ERR;
            goto fail;
        }
        p->n = i + 1;
    }
    *out = p;
    return PL_OK;
fail:
    if (p->q.items)
        pl_queue_destroy(&p->q);
    for (int i = 0; p->workers && i < nthreads; i++)
        if (p->workers[i].store)
            pl_store_conn_close(p->workers[i].store);
    free(p->threads);
    free(p->workers);
    free(p);
    return st;
}

pl_status pl_workpool_submit(pl_workpool *p, pl_loop *l, pl_work_fn work,
                             pl_task_fn done, void *arg)
{
    job *j = malloc(sizeof(*j));
    if (!j)
        return PL_ERR_NOMEM;
    *j = (job){work, done, l, arg};
    pl_status st = pl_queue_push(&p->q, (pl_qitem){j, NULL}, false);
    if (st != PL_OK) {
        free(j);
        return PL_ERR_BUSY;
    }
    /* cppcheck-suppress memleak ; the queue owns j from here on */
    return PL_OK;
}

void pl_workpool_stop(pl_workpool *p)
{
    if (!p)
        return;
    pl_queue_close(&p->q);
    for (int i = 0; i < p->n; i++)
        pthread_join(p->threads[i], NULL);
    for (int i = 0; i < p->n; i++)
        pl_store_conn_close(p->workers[i].store);
    pl_queue_destroy(&p->q);
    free(p->threads);
    free(p->workers);
    free(p);
}

size_t pl_workpool_pending(pl_workpool *p) { return pl_queue_len(&p->q); }
