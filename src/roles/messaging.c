/* messaging.c - the group-commit pipeline (see messaging.h). */
#include "messaging_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/jsonw.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/timeutil.h"

#define SEQ_CACHE_MAX 1000000   /* conversations whose next seq we remember */
#define SIZE_CACHE_MAX 100000   /* conversations whose member count we keep */
#define SIZE_TTL_MS 10000       /* a member count this old is read again */
#define MEMBER_CACHE_MAX 262144 /* (conversation, sender) pairs cached */
#define MEMBER_TTL_MS 30000     /* a cached membership this old is re-read */

pl_msg_req *pl_msg_req_new(int kind)
{
    pl_msg_req *r = calloc(1, sizeof(*r));
    if (r) {
        r->kind = kind;
        r->dup_of = -1;
    }
    return r;
}

void pl_msg_req_free(pl_msg_req *r)
{
    if (!r)
        return;
    free(r->content);
    pl_msg_clear(&r->msg);
    free(r);
}

/* Written directly (core/jsonw.h): jansson's tree of allocated nodes was
 * a tenth of the pipeline thread's CPU, for the same bytes. */
char *pl_msg_to_json(const pl_msg *m, bool with_type, size_t *len)
{
    char conv[PL_UUID_STRLEN + 1], id[PL_UUID_STRLEN + 1],
        sender[PL_UUID_STRLEN + 1], ts[PL_TIME_STRLEN + 1];
    size_t clen = m->content ? m->content_len : 0;
    size_t cap = 256 + pl_jsonw_str_max(clen) +
                 pl_jsonw_str_max(sizeof(m->client_msg_id));
    char *buf = malloc(cap);
    pl_jsonw w;

    if (len)
        *len = 0;
    pl_jsonw_init(&w, buf, cap);
    PL_JSONW_LIT(&w, "{");
    if (with_type)
        PL_JSONW_LIT(&w, "\"type\":\"message\",");
    PL_JSONW_LIT(&w, "\"conversation_id\":\"");
    pl_jsonw_raw(&w, pl_uuid_fmt(&m->conv_id, conv), PL_UUID_STRLEN);
    PL_JSONW_LIT(&w, "\",\"seq\":");
    pl_jsonw_int(&w, m->seq);
    PL_JSONW_LIT(&w, ",\"message_id\":\"");
    pl_jsonw_raw(&w, pl_uuid_fmt(&m->msg_id, id), PL_UUID_STRLEN);
    PL_JSONW_LIT(&w, "\",\"sender_id\":\"");
    pl_jsonw_raw(&w, pl_uuid_fmt(&m->sender_id, sender), PL_UUID_STRLEN);
    PL_JSONW_LIT(&w, "\",\"client_msg_id\":");
    pl_jsonw_str(&w, m->client_msg_id, strlen(m->client_msg_id));
    PL_JSONW_LIT(&w, ",\"content\":");
    pl_jsonw_str(&w, m->content ? m->content : "", clen);
    PL_JSONW_LIT(&w, ",\"created_at\":\"");
    pl_jsonw_raw(&w, pl_time_fmt(m->created_ms, ts), PL_TIME_STRLEN);
    PL_JSONW_LIT(&w, "\"}\0");
    if (!w.ok) {
        free(buf);
        return NULL;
    }
    if (len)
        *len = w.len - 1;
    return buf;
}

/* --- sequencing ------------------------------------------------------- */

static pl_status seq_next(pl_messaging *m, const pl_uuid *conv, int64_t *seq)
{
    seq_entry *e = pl_hmap_get(&m->seqs, conv);
    if (!e) {
        int64_t last = 0;
        pl_status st = pl_store_conv_last_seq(m->store, conv, &last);
        if (st != PL_OK)
            return st;
        e = malloc(sizeof(*e));
        if (!e || pl_hmap_put(&m->seqs, conv, e) != PL_OK) {
            free(e);
            return PL_ERR_NOMEM;
        }
        e->last_seq = last;
    }
    *seq = e->last_seq + 1;
    return PL_OK;
}

static void seq_commit(pl_messaging *m, const pl_uuid *conv, int64_t seq)
{
    seq_entry *e = pl_hmap_get(&m->seqs, conv);
    if (e && seq > e->last_seq)
        e->last_seq = seq;
}

void pl_messaging_forget_seqs(pl_messaging *m)
{
    for (size_t i = 0; i < m->seqs.cap; i++)
        free(m->seqs.slots[i].val);
    pl_hmap_free(&m->seqs);
}

/* After a failed commit the cached sequencers may be ahead of the store. */
static void seq_forget(pl_messaging *m, const pl_uuid *conv)
{
    free(pl_hmap_del(&m->seqs, conv));
}

/* --- validation --------------------------------------------------------- */

static pl_status check_member(pl_messaging *m, pl_msg_req *r, int64_t now)
{
    int role;
    if (pl_member_cache_get(&m->members, &r->conv_id, &r->user_id, now, &role))
        return PL_OK;
    pl_status st =
        pl_store_member_role(m->store, &r->conv_id, &r->user_id, &role);
    if (st == PL_OK)
        pl_member_cache_put(&m->members, &r->conv_id, &r->user_id, role, now);
    if (st != PL_ERR_NOTFOUND)
        return st;
    pl_conv c;
    st = pl_store_conv_get(m->store, &r->conv_id, &c);
    return st == PL_OK ? PL_ERR_FORBIDDEN : st;
}

static pl_uuid dedupe_key(const pl_msg_req *r)
{
    /* fold (conv, user, client_msg_id) into 16 bytes: FNV-1a twice */
    uint64_t h1 = 1469598103934665603ull, h2 = 1099511628211ull * 31;
    const uint8_t *parts[3] = {r->conv_id.b, r->user_id.b,
                               (const uint8_t *)r->client_msg_id};
    const size_t lens[3] = {16, 16, strlen(r->client_msg_id)};
    for (int p = 0; p < 3; p++)
        for (size_t i = 0; i < lens[p]; i++) {
            h1 = (h1 ^ parts[p][i]) * 1099511628211ull;
            h2 = (h2 ^ parts[p][i]) * 0x100000001b3ull + 7;
        }
    pl_uuid k;
    memcpy(k.b, &h1, 8);
    memcpy(k.b + 8, &h2, 8);
    return k;
}

static bool same_send(const pl_msg_req *a, const pl_msg_req *b)
{
    return pl_uuid_eq(&a->conv_id, &b->conv_id) &&
           pl_uuid_eq(&a->user_id, &b->user_id) &&
           strcmp(a->client_msg_id, b->client_msg_id) == 0;
}

/* Prepares a SEND. Returns true if it needs a new row (msgs[*nm] filled
 * and the sender's read offset queued in offs[*no]).
 *
 * A resend of a message stored by an earlier batch is rare, so the store
 * is not asked per message (careful = false): the append's own fence
 * rejects the batch (PL_ERR_CONFLICT) and process_batch prepares it again
 * with careful = true, which looks every client_msg_id up. */
static bool prepare_send(pl_messaging *m, pl_msg_req **reqs, int idx,
                         size_t *nm, size_t *no, int64_t now_ms, bool careful)
{
    pl_msg_req *r = reqs[idx];
    pl_uuid k = dedupe_key(r);
    uintptr_t first = (uintptr_t)pl_hmap_get(&m->dedupe, &k);
    if (first && same_send(reqs[first - 1], r)) {
        r->dup_of = (int)first - 1;
        return false;
    }
    r->st = careful
                ? pl_store_msg_by_client_id(m->store, &r->conv_id, &r->user_id,
                                            r->client_msg_id, &r->msg)
                : PL_ERR_NOTFOUND;
    if (r->st == PL_OK) {
        r->duplicate = true;
        return false;
    }
    if (r->st != PL_ERR_NOTFOUND)
        return false;
    r->st = seq_next(m, &r->conv_id, &r->msg.seq);
    if (r->st != PL_OK)
        return false;
    seq_commit(m, &r->conv_id, r->msg.seq); /* provisional: see fail_batch */
    r->msg.conv_id = r->conv_id;
    r->msg.sender_id = r->user_id;
    r->msg.created_ms = now_ms;
    pl_uuid_v7(&r->msg.msg_id, now_ms);
    memcpy(r->msg.client_msg_id, r->client_msg_id,
           sizeof(r->msg.client_msg_id));
    r->msg.content = r->content; /* moved into the message */
    r->msg.content_len = r->content_len;
    r->content = NULL;
    m->msgs[(*nm)++] = r->msg;
    m->offs[(*no)++] = (pl_read_offset){r->conv_id, r->user_id, r->msg.seq};
    if (!first)
        pl_hmap_put(&m->dedupe, &k, (void *)(uintptr_t)(idx + 1));
    return true;
}

/* The conversation's member count, cached for SIZE_TTL_MS: the read
 * receipt policy may lag a membership change by that much. */
static int64_t conv_size(pl_messaging *m, const pl_uuid *conv, int64_t now)
{
    size_entry *e = pl_hmap_get(&m->sizes, conv);
    if (e && now - e->at_ms < SIZE_TTL_MS)
        return e->members;
    int64_t n = 0;
    if (pl_store_member_count(m->store, conv, &n) != PL_OK)
        return e ? e->members : 0;
    if (!e) {
        if (m->sizes.len >= SIZE_CACHE_MAX) {
            for (size_t i = 0; i < m->sizes.cap; i++)
                free(m->sizes.slots[i].val);
            pl_hmap_free(&m->sizes);
        }
        e = malloc(sizeof(*e));
        if (!e || pl_hmap_put(&m->sizes, conv, e) != PL_OK) {
            free(e);
            return n;
        }
    }
    e->members = n;
    e->at_ms = now;
    return n;
}

/* Prepares a READ: clamps to the last seq, keeps offsets forward-only. */
static void prepare_read(pl_messaging *m, pl_msg_req *r, size_t *no)
{
    int64_t next;
    r->st = seq_next(m, &r->conv_id, &next);
    if (r->st != PL_OK)
        return;
    int64_t seq = r->seq < next - 1 ? r->seq : next - 1;
    int64_t cur = 0;
    r->st = pl_store_read_offset_get(m->store, &r->conv_id, &r->user_id, &cur);
    if (r->st != PL_OK)
        return;
    r->read_seq = seq > cur ? seq : cur;
    r->read_private = conv_size(m, &r->conv_id, pl_now_ms()) >
                      m->node->cfg.read_receipts_max_members;
    if (seq > cur)
        m->offs[(*no)++] = (pl_read_offset){r->conv_id, r->user_id, seq};
    else
        r->seq = -1; /* nothing moved: no event */
}

static void prepare(pl_messaging *m, pl_msg_req **reqs, size_t n, size_t *nm,
                    size_t *no, bool careful)
{
    int64_t now_ms = pl_now_ms();
    *nm = *no = 0;
    pl_hmap_free(&m->dedupe);
    for (size_t i = 0; i < n; i++) {
        pl_msg_req *r = reqs[i];
        r->st = check_member(m, r, now_ms);
        if (r->st != PL_OK)
            continue;
        if (r->kind == PL_REQ_SEND)
            prepare_send(m, reqs, (int)i, nm, no, now_ms, careful);
        else
            prepare_read(m, r, no);
    }
}

/* --- commit, publish, complete ------------------------------------------ */

static pl_status commit(pl_messaging *m, size_t nm, size_t no)
{
    if (nm == 0 && no == 0)
        return PL_OK;
    pl_status st;
    for (int attempt = 0;; attempt++) {
        st = pl_store_append(m->store, m->msgs, nm, m->offs, no);
        if (st != PL_ERR_BUSY || attempt == 50)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000}; /* another writer */
        nanosleep(&ts, NULL);
    }
    PL_METRIC_ADD(store_batches_total, 1);
    PL_METRIC_ADD(store_batch_messages_total, (int64_t)nm);
    return st;
}

/* The batch did not commit: nothing of it is stored. Undo the provisional
 * sequencers and fail every request that needed a write. */
static void fail_batch(pl_messaging *m, pl_msg_req **reqs, size_t n,
                       pl_status st)
{
    PL_METRIC_ADD(store_errors_total, 1);
    pl_log(PL_LOG_ERROR, "group_commit_failed", "status", PL_LS,
           pl_status_str(st), "requests", PL_LI, (int64_t)n, NULL);
    for (size_t i = 0; i < n; i++) {
        pl_msg_req *r = reqs[i];
        seq_forget(m, &r->conv_id);
        if (r->st == PL_OK && !r->duplicate && r->dup_of < 0)
            r->st = st == PL_ERR_CONFLICT ? PL_ERR : st;
    }
}

static void publish_json(pl_messaging *m, const char *topic, const pl_uuid *key,
                         const pl_uuid *only, uint64_t coalesce, char *json,
                         size_t len)
{
    if (!json)
        return;
    pl_rbuf *payload = pl_rbuf_copy(json, len);
    free(json);
    if (!payload)
        return;
    pl_bus_msg bm = {
        .topic = topic, .key = *key, .payload = payload, .coalesce = coalesce};
    if (only)
        bm.only_user = *only;
    pl_bus_publish(m->node->bus, &bm);
    pl_rbuf_unref(payload);
}

static void publish_read(pl_messaging *m, const pl_msg_req *r)
{
    char conv[PL_UUID_STRLEN + 1], user[PL_UUID_STRLEN + 1];
    json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "type", "read",
                          "conversation_id", pl_uuid_fmt(&r->conv_id, conv),
                          "user_id", pl_uuid_fmt(&r->user_id, user), "seq",
                          (json_int_t)r->read_seq);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    /* latest wins: a newer read of the same user in the same conversation
     * replaces one still queued to a slow connection */
    uint64_t key =
        (pl_uuid_hash(&r->conv_id) * 31 + pl_uuid_hash(&r->user_id)) | 1;
    publish_json(m, PL_TOPIC_EVENTS, &r->conv_id,
                 r->read_private ? &r->user_id : NULL, key, s,
                 s ? strlen(s) : 0);
}

void pl_messaging_publish_msg(pl_messaging *m, const pl_msg *msg)
{
    size_t len;
    char *s = pl_msg_to_json(msg, true, &len);
    if (!s)
        return;
    pl_rbuf *payload = pl_rbuf_copy(s, len);
    free(s);
    if (!payload)
        return;
    pl_bus_msg bm = {.topic = PL_TOPIC_MESSAGES,
                     .key = msg->conv_id,
                     .seq = msg->seq,
                     .payload = payload};
    pl_bus_publish(m->node->bus, &bm);
    pl_rbuf_unref(payload);
}

static void publish_and_complete(pl_messaging *m, pl_msg_req **reqs, size_t n,
                                 bool committed)
{
    for (size_t i = 0; i < n; i++) {
        pl_msg_req *r = reqs[i];
        bool fresh =
            committed && r->st == PL_OK && !r->duplicate && r->dup_of < 0;
        /* cluster: a send found stored is a redelivery whose first
         * processing may have died before publishing: publish again */
        bool again = m->cluster && committed && r->st == PL_OK &&
                     r->duplicate && r->dup_of < 0 && r->kind == PL_REQ_SEND;
        if (fresh && r->kind == PL_REQ_SEND) {
            pl_messaging_publish_msg(m, &r->msg);
            PL_METRIC_ADD(messages_stored_total, 1);
        } else if (again) {
            pl_messaging_publish_msg(m, &r->msg);
            PL_METRIC_ADD(messaging_republished_total, 1);
        } else if (fresh && r->kind == PL_REQ_READ && r->seq >= 0) {
            publish_read(m, r);
        }
    }
    for (size_t i = 0; i < n; i++) {
        pl_msg_req *r = reqs[i];
        if (r->dup_of >= 0) { /* answer like the in-batch original */
            pl_msg_req *o = reqs[r->dup_of];
            r->st = o->st;
            r->duplicate = true;
            r->msg = o->msg;
            r->msg.content = o->msg.content ? strdup(o->msg.content) : NULL;
            PL_METRIC_ADD(messages_deduplicated_total, 1);
        } else if (r->duplicate) {
            PL_METRIC_ADD(messages_deduplicated_total, 1);
        }
    }
    for (size_t i = 0; i < n; i++)
        reqs[i]->done(reqs[i]);
}

/* The sequencer cache is bounded; it is only ever emptied between batches,
 * never while a batch holds provisional seqs in it. */
static void seq_cache_bound(pl_messaging *m)
{
    if (m->seqs.len >= SEQ_CACHE_MAX)
        pl_messaging_forget_seqs(m);
}

/* Undoes prepare after a rejected commit: the provisional seqs, and each
 * send's content goes back to the request. */
static void unprepare(pl_messaging *m, pl_msg_req **reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pl_msg_req *r = reqs[i];
        seq_forget(m, &r->conv_id);
        if (r->kind == PL_REQ_SEND && !r->content && r->msg.content) {
            r->content = r->msg.content;
            r->msg.content = NULL;
        }
        pl_msg_clear(&r->msg);
        r->st = PL_OK;
        r->duplicate = false;
        r->dup_of = -1;
    }
}

void pl_messaging_process_batch(pl_messaging *m, pl_msg_req **reqs, size_t n)
{
    size_t nm, no;
    seq_cache_bound(m);
    pl_member_cache_sync(&m->members);
    prepare(m, reqs, n, &nm, &no, false);
    pl_status st = commit(m, nm, no);
    if (st == PL_ERR_CONFLICT) { /* a resend, or another writer: look up */
        PL_METRIC_ADD(messaging_careful_batches_total, 1);
        unprepare(m, reqs, n);
        prepare(m, reqs, n, &nm, &no, true);
        st = commit(m, nm, no);
    }
    if (st != PL_OK)
        fail_batch(m, reqs, n, st);
    publish_and_complete(m, reqs, n, st == PL_OK);
}

static void *pipeline_main(void *arg)
{
    pl_messaging *m = arg;
    size_t n;
    pthread_setname_np(pthread_self(), "pl-messaging");
    while ((n = pl_queue_pop_many(&m->q, m->items, m->batch_max, true)) > 0) {
        PL_METRIC_ADD(messaging_queue_depth, -(int64_t)n);
        pl_msg_req **reqs = (pl_msg_req **)m->msgs_reqs;
        for (size_t i = 0; i < n; i++)
            reqs[i] = m->items[i].a;
        pl_messaging_process_batch(m, reqs, n);
    }
    return NULL;
}

/* --- lifecycle ---------------------------------------------------------- */

static void on_membership(void *ctx, const pl_bus_msg *bm)
{
    pl_node *node = ctx;
    atomic_fetch_add(&node->membership_gen, 1);
}

pl_status pl_messaging_start(pl_node *node, pl_messaging **out)
{
    pl_messaging *m = calloc(1, sizeof(*m));
    if (!m)
        return PL_ERR_NOMEM;
    m->node = node;
    m->batch_max = (size_t)node->cfg.batch_max;
    m->items = calloc(m->batch_max, sizeof(*m->items));
    m->msgs = calloc(m->batch_max, sizeof(*m->msgs));
    m->offs = calloc(m->batch_max * 2, sizeof(*m->offs));
    m->msgs_reqs = calloc(m->batch_max, sizeof(pl_msg_req *));
    pl_hmap_init(&m->seqs);
    pl_hmap_init(&m->sizes);
    pl_hmap_init(&m->dedupe);
    pl_member_cache_init(&m->members, MEMBER_CACHE_MAX, MEMBER_TTL_MS,
                         &node->membership_gen);
    pl_status st = PL_ERR_NOMEM;
    if (!m->items || !m->msgs || !m->offs || !m->msgs_reqs)
        goto fail;
    st = pl_queue_init(&m->q, (size_t)node->cfg.send_queue);
    if (st != PL_OK)
        goto fail;
    st = pl_store_conn_open(node->store, &m->store);
    /* ctx is the node: subscriptions outlive the role. Every instance
     * needs every membership change (group NULL: broadcast). */
    if (st == PL_OK)
        st = pl_bus_subscribe(node->bus, PL_TOPIC_MEMBERSHIP, NULL,
                              on_membership, node);
    m->cluster = pl_bus_is_remote(node->bus);
    if (st == PL_OK && m->cluster)
        st = pl_messaging_cluster_open(m);
    if (st != PL_OK)
        goto fail;
    pthread_create(&m->thread, NULL,
                   m->cluster ? pl_messaging_cluster_main : pipeline_main, m);
    *out = m;
    return PL_OK;
fail:
    pl_messaging_cluster_close(m);
    pl_store_conn_close(m->store);
    pl_member_cache_free(&m->members);
    free(m->items);
    free(m->msgs);
    free(m->offs);
    free(m->msgs_reqs);
    free(m);
    return st;
}

pl_status pl_messaging_submit(pl_messaging *m, pl_msg_req *r)
{
    if (!m)
        return PL_ERR_BUSY; /* not in this process (cluster: the bus) */
    pl_status st = pl_queue_push(&m->q, (pl_qitem){r, NULL}, false);
    if (st != PL_OK)
        return PL_ERR_BUSY;
    PL_METRIC_ADD(messaging_queue_depth, 1);
    return PL_OK;
}

void pl_messaging_stop(pl_messaging *m)
{
    if (!m)
        return;
    atomic_store(&m->stopping, true);
    pl_queue_close(&m->q);
    pthread_join(m->thread, NULL);
    pl_messaging_cluster_close(m);
    pl_store_conn_close(m->store);
    pl_queue_destroy(&m->q);
    pl_messaging_forget_seqs(m);
    for (size_t i = 0; i < m->sizes.cap; i++)
        free(m->sizes.slots[i].val);
    pl_hmap_free(&m->sizes);
    pl_hmap_free(&m->dedupe);
    pl_member_cache_free(&m->members);
    free(m->items);
    free(m->msgs);
    free(m->offs);
    free(m->msgs_reqs);
    free(m);
}
