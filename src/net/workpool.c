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

typedef struct start_arg {
    pl_workpool *p;
    int idx;
} start_arg;

static void run_job(pl_worker *w, job *j)
{
    j->work(w, j->arg);
    if (!j->loop || pl_loop_post(j->loop, j->done, j->arg, true) != PL_OK)
        j->done(NULL, j->arg);
    free(j);
}

static void *worker_main(void *p_)
{
    pl_workpool *p = p_;
    pl_qitem items[16];
    size_t n;
    pl_worker *w = NULL;
    /* identify ourselves */
    for (int i = 0; i < p->n; i++)
        if (pthread_equal(p->threads[i], pthread_self()))
            w = &p->workers[i];
    while ((n = pl_queue_pop_many(&p->q, items, 16, true)) > 0)
        for (size_t i = 0; i < n; i++)
            run_job(w, items[i].a);
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
    p->n = nthreads;
    /* threads look themselves up in p->threads: hold them until filled */
    pthread_mutex_lock(&p->q.mu);
    for (int i = 0; i < nthreads; i++)
        pthread_create(&p->threads[i], NULL, worker_main, p);
    pthread_mutex_unlock(&p->q.mu);
    *out = p;
    return PL_OK;
fail:
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
