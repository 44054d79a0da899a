/* store_sqlite_ckpt.c - the WAL checkpointer: copies committed WAL frames
 * into the database file from its own thread and connection, so that no
 * message commit ever runs a checkpoint.
 *
 * Why: with SQLite's automatic checkpoint, whichever commit pushes the WAL
 * past the threshold copies the whole WAL into the database and fsyncs it
 * before returning - a 115-185 ms stall of the messaging pipeline every
 * 64 MiB of WAL (docs/PERFORMANCE.md). Here:
 *  - every CKPT_INTERVAL_MS a PASSIVE checkpoint copies what was committed
 *    since the last one; PASSIVE never blocks writers or readers;
 *  - under steady writes a PASSIVE run never quite catches up with the
 *    WAL's end, so the WAL would only grow; once it holds more than
 *    CKPT_RESTART_FRAMES frames a RESTART checkpoint finishes the small
 *    remainder while holding writers off briefly, after which the next
 *    commit writes from the start of the WAL again (journal_size_limit
 *    then trims the file);
 *  - every connection keeps a far larger wal_autocheckpoint as a backstop,
 *    should this thread ever fall behind.
 *
 * Ownership: started by sq_open, stopped and joined by sq_close. */
#include <pthread.h>
#include <time.h>

#include "../core/log.h"
#include "store_sqlite_int.h"

#define CKPT_INTERVAL_MS 100
#define CKPT_RESTART_FRAMES 16384 /* 64 MiB of 4 KiB pages */

static void ckpt_once(pl_sq_ckpt *k)
{
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                       &log, &done);
    if (rc == SQLITE_OK && log >= CKPT_RESTART_FRAMES)
        rc = sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_RESTART,
                                       &log, &done);
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
        pl_log(PL_LOG_WARN, "sqlite_checkpoint_failed", "error", PL_LS,
               sqlite3_errstr(rc), NULL);
    k->runs++;
}

static void *ckpt_main(void *arg)
{
    pl_sq_ckpt *k = arg;
    pthread_setname_np(pthread_self(), "pl-checkpoint");
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += CKPT_INTERVAL_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&k->cv, &k->mu, &ts);
        if (k->stop)
            break;
        pthread_mutex_unlock(&k->mu);
        ckpt_once(k);
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

pl_status pl_sq_ckpt_start(pl_sq_ckpt *k, sqlite3 *db)
{
    pthread_condattr_t ca;
    k->db = db;
    k->stop = false;
    k->runs = 0;
    pthread_mutex_init(&k->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&k->thread, NULL, ckpt_main, k) != 0) {
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mu);
        k->db = NULL;
        return PL_ERR;
    }
    return PL_OK;
}

void pl_sq_ckpt_stop(pl_sq_ckpt *k)
{
    if (!k->db)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    sqlite3_close(k->db);
    k->db = NULL;
}
