/* gw_relay.c - the gateway side of cluster mode (docs/ARCHITECTURE.md
 * §15, "The gateway relay").
 *
 * Requests: gw_submit() hands a send/read to messaging in this process
 * (single node) or publishes it as a PL_CW_REQ record on the bus topic
 * PL_TOPIC_SENDS (cluster mode); the answer then comes back as a PL_CW_ACK
 * on this gateway's Redis channel.
 *
 * The relay thread (pl-relay, one per gateway process, cluster mode only)
 * owns a Redis subscriber on pl:g:{id}, pl:presence, pl:members and
 * pl:c:{conv} for every conversation with an online member on one of the
 * loops. The loops tell it about conversations that gained their first /
 * lost their last local member through a pending map (gw_relay_state.h)
 * under a mutex; the relay swaps it out every poll (20 ms) and applies it.
 * Acks go to their loop through gw_msg_done; events are turned into one
 * WebSocket frame and handed to pl_gateway_deliver. Durable deliveries are
 * tracked per conversation by seq: re-publishes are dropped, gaps are read
 * from the store (the relay's own store connection: this thread may
 * block) and delivered first, and each (re)confirmed subscription is
 * checked against the store's last seq.
 *
 * Hello gating: a WebSocket session gets its `hello` only once every
 * subscription requested up to its start (generation G of the pending
 * changes) is confirmed; the relay publishes the confirmed generation and
 * pokes the loops, which also check on their tick and time out with 1013. */
#include <pthread.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../backends/redis.h"
#include "../core/log.h"
#include "../core/metrics.h"
#include "../core/timeutil.h"
#include "../core/util.h"
#include "cluster_wire.h"
#include "gw_relay_state.h"
#include "gw_rest.h"

#define RELAY_POLL_MS 20
#define RELAY_CHECKS_PER_ROUND 256 /* store checks between two polls */
#define RELAY_REPAIR_MAX 10000     /* messages per repair (newest kept) */
#define RELAY_REPAIR_PAGE 500
#define HELLO_TIMEOUT_MS 5000
#define JOINS_MAX 65536        /* membership adds remembered for a baseline */
#define JOIN_TTL_MS 30000
#define CHAN_MAX (PL_CW_REPLY_TO_MAX + 16)

enum { FIX_GATEWAY, FIX_PRESENCE, FIX_MEMBERS, FIX_N };

struct gw_relay {
    pl_gateway *g;
    pl_node *node;
    char id[PL_CW_REPLY_TO_MAX + 1];
    char fixed[FIX_N][CHAN_MAX];
    size_t fixed_len[FIX_N];
    /* shared with the loops */
    pthread_mutex_t mu;
    pl_hmap pending;  /* conv -> summed +1/-1 (gw_rpend_*), under mu */
    uint64_t req_gen; /* +1 per pending change, under mu */
    atomic_uint_fast64_t confirmed_gen;
    atomic_int waiting; /* sessions waiting for hello, over all loops */
    atomic_bool stopping;
    pthread_t thread;
    bool started;
    /* the relay thread's own */
    pl_redis_sub *sub;
    pl_store_conn *sc;
    pl_hmap convs;      /* conv -> gw_rconv */
    pl_hmap joins;      /* conv -> gw_join: members added, seq at the add */
    int64_t joins_swept_ms;
    gw_rbatches batches;
    uint64_t fixed_batch;
    unsigned fixed_seen; /* bit per fixed channel confirmed once */
    pl_uuid *checks;     /* confirmed conversations to check in the store */
    size_t nchecks, checks_cap;
    int64_t gauge;       /* what relay_subscriptions holds from us */
    int64_t poll_err_log_ms;
};

/* --- requests ------------------------------------------------------------- */

static pl_status publish_req(gw_loop *gw, pl_msg_req *r)
{
    pl_dbuf d;
    pl_dbuf_init(&d, PL_CW_CONTENT_MAX + 4096);
    pl_status st = pl_cw_encode_req(r, gw->relay->id, pl_now_ms(), &d);
    pl_rbuf *payload = st == PL_OK ? pl_rbuf_copy(d.p, d.len) : NULL;
    pl_dbuf_free(&d);
    if (!payload)
        return st != PL_OK ? st : PL_ERR_NOMEM;
    pl_bus_msg m = {.topic = PL_TOPIC_SENDS, .key = r->conv_id,
                    .payload = payload};
    st = pl_bus_publish(gw->node->bus, &m);
    pl_rbuf_unref(payload);
    return st == PL_OK ? PL_OK : PL_ERR_BUSY;
}

pl_status gw_submit(gw_loop *gw, pl_msg_req *r)
{
    r->ctx = gw;
    r->ctx_loop = (uint32_t)gw->idx;
    r->done = gw_msg_done;
    if (gw->node->messaging)
        return pl_messaging_submit(gw->node->messaging, r);
    if (!gw->relay)
        return PL_ERR_BUSY; /* no messaging anywhere we can reach */
    pl_status st = publish_req(gw, r);
    if (st == PL_OK)
        pl_msg_req_free(r); /* the answer comes back as an ack */
    return st;
}

/* --- the loops' side ---------------------------------------------------- */

static void pend_add(gw_relay *r, const pl_uuid *conv, int delta)
{
    pthread_mutex_lock(&r->mu);
    pl_status st = gw_rpend_add(&r->pending, conv, delta);
    r->req_gen++;
    pthread_mutex_unlock(&r->mu);
    if (st != PL_OK)
        pl_log(PL_LOG_ERROR, "relay_pending_oom", NULL);
}

void gw_relay_conv_ref(gw_loop *gw, const pl_uuid *conv, int delta)
{
    if (gw->relay)
        pend_add(gw->relay, conv, delta);
}

static uint64_t requested_gen(gw_relay *r)
{
    pthread_mutex_lock(&r->mu);
    uint64_t g = r->req_gen;
    pthread_mutex_unlock(&r->mu);
    return g;
}

/* Ready for hello: its channels are subscribed, and its connect reached
 * the presence backend (another gateway asked about it sees it online). */
static bool hello_ready(gw_loop *gw, uint64_t gen, uint64_t pmark)
{
    return atomic_load(&gw->relay->confirmed_gen) >= gen &&
           pl_presence_reached(gw->node->presence, pmark);
}

void gw_relay_hello(gw_conn *c)
{
    gw_loop *gw = c->gw;
    gw_relay *r = gw->relay;
    uint64_t gen = r ? requested_gen(r) : 0;
    uint64_t pmark = r ? pl_presence_mark(gw->node->presence) : 0;
    if (!r || hello_ready(gw, gen, pmark)) {
        gw_ws_open(c);
        return;
    }
    if (gw->nhello == gw->hello_cap) {
        size_t cap = gw->hello_cap ? gw->hello_cap * 2 : 16;
        gw_hello_wait *p = realloc(gw->hello_wait, cap * sizeof(*p));
        if (!p) {
            gw_ws_close(c, PL_WS_CLOSE_INTERNAL, "out of memory");
            return;
        }
        gw->hello_wait = p;
        gw->hello_cap = cap;
    }
    gw->hello_wait[gw->nhello++] = (gw_hello_wait){
        .conn_id = c->id, .gen = gen, .pmark = pmark,
        .deadline_ms = pl_loop_now_ms(gw->loop) + HELLO_TIMEOUT_MS};
    atomic_fetch_add(&r->waiting, 1);
}

void gw_relay_hello_check(gw_loop *gw)
{
    if (!gw->relay || gw->nhello == 0)
        return;
    uint64_t conf = atomic_load(&gw->relay->confirmed_gen);
    int64_t now = pl_loop_now_ms(gw->loop);
    size_t keep = 0, before = gw->nhello;
    for (size_t i = 0; i < gw->nhello; i++) {
        gw_hello_wait w = gw->hello_wait[i];
        gw_conn *c = gw_conn_find(gw, w.conn_id);
        if (!c || c->state != GW_WS_LOADING)
            continue; /* closed meanwhile */
        if (hello_ready(gw, w.gen, w.pmark)) {
            gw_ws_open(c);
        } else if (now >= w.deadline_ms) {
            PL_METRIC_ADD(relay_hello_timeouts_total, 1);
            pl_log(PL_LOG_WARN, "hello_timeout", "peer", PL_LS, c->peer,
                   "wanted_gen", PL_LI, (int64_t)w.gen, "confirmed_gen",
                   PL_LI, (int64_t)conf, NULL);
            gw_ws_close(c, PL_WS_CLOSE_TRY_AGAIN,
                        "subscriptions not ready, retry later");
        } else {
            gw->hello_wait[keep++] = w;
        }
    }
    gw->nhello = keep;
    atomic_fetch_sub(&gw->relay->waiting, (int)(before - keep));
}

static void on_confirmed(pl_loop *l, void *arg)
{
    if (l)
        gw_relay_hello_check(pl_loop_data(l));
}

/* --- membership adds: the baseline of a conversation subscribed because
 * a local user was just added to it. Its channel is subscribed only after
 * the add, so messages sent in between would be missed: the add carries
 * the conversation's last seq at that moment, which becomes the baseline,
 * and the confirmation's store check delivers everything after it. */

typedef struct gw_join {
    int64_t seq;
    int64_t at_ms;
} gw_join;

static void note_join(gw_relay *r, const uint8_t *json, size_t len)
{
    json_t *o = json_loadb((const char *)json, len, 0, NULL);
    const char *op = json_string_value(json_object_get(o, "op"));
    json_t *seq = json_object_get(o, "seq");
    pl_uuid conv;
    if (op && strcmp(op, "add") == 0 && json_is_integer(seq) &&
        json_integer_value(seq) >= 0 &&
        json_string_length(json_object_get(o, "conversation_id")) ==
            PL_UUID_STRLEN &&
        pl_uuid_parse(json_string_value(json_object_get(o, "conversation_id")),
                      PL_UUID_STRLEN, &conv) == PL_OK) {
        /* the latest add wins: an older one (members of a new group,
         * seq 0) must not replay what came before this add */
        gw_join *j = pl_hmap_get(&r->joins, &conv);
        if (!j && r->joins.len < JOINS_MAX && (j = malloc(sizeof(*j))) &&
            pl_hmap_put(&r->joins, &conv, j) != PL_OK) {
            free(j);
            j = NULL;
        }
        if (j)
            *j = (gw_join){json_integer_value(seq), pl_now_ms()};
    }
    json_decref(o);
}

/* A new subscription: its baseline if a recent add named it. */
static void take_join(gw_relay *r, gw_rconv *c)
{
    gw_join *j = pl_hmap_del(&r->joins, &c->id);
    if (j && c->last_seq < 0)
        c->last_seq = j->seq;
    free(j);
}

static void sweep_joins(gw_relay *r)
{
    int64_t now = pl_now_ms();
    if (r->joins.len == 0 || now - r->joins_swept_ms < 1000)
        return;
    r->joins_swept_ms = now;
    pl_uuid old[64];
    size_t n = 0;
    for (size_t i = 0; i < r->joins.cap && n < 64; i++) {
        gw_join *j = r->joins.slots[i].val;
        if (j && now - j->at_ms > JOIN_TTL_MS)
            old[n++] = r->joins.slots[i].key;
    }
    for (size_t i = 0; i < n; i++)
        free(pl_hmap_del(&r->joins, &old[i]));
}

/* --- deliveries ------------------------------------------------------------ */

static void bad_record(const char *why)
{
    PL_METRIC_ADD(relay_bad_records_total, 1);
    pl_log(PL_LOG_DEBUG, "relay_bad_record", "why", PL_LS, why, NULL);
}

static void on_ack(gw_relay *r, const char *p, size_t n)
{
    pl_msg_req *q = pl_msg_req_new(0);
    if (!q)
        return; /* OOM: the client resends */
    if (pl_cw_decode_ack(p, n, q) != PL_OK ||
        q->ctx_loop >= (uint32_t)gw_loop_count(r->g)) {
        bad_record("ack");
        pl_msg_req_free(q);
        return;
    }
    q->ctx = gw_loop_get(r->g, (int)q->ctx_loop);
    q->done = gw_msg_done;
    PL_METRIC_ADD(relay_acks_total, 1);
    gw_msg_done(q); /* the loop finds the connection by id, or drops it */
}

static void deliver_json(gw_relay *r, int kind, const pl_cw_event *e,
                         const char *json, size_t len)
{
    pl_rbuf *frame = pl_rbuf_ws_text(json, len);
    if (!frame) {
        PL_METRIC_ADD(events_dropped_total, 1);
        return; /* OOM: receivers resume from history */
    }
    frame->coalesce = e->coalesce;
    const pl_uuid *ex = pl_uuid_is_nil(&e->exclude_user) ? NULL
                                                         : &e->exclude_user;
    const pl_uuid *only = pl_uuid_is_nil(&e->only_user) ? NULL
                                                        : &e->only_user;
    pl_gateway_deliver(r->g, kind, &e->key, ex, only, frame);
    pl_rbuf_unref(frame);
}

static pl_store_conn *store_conn(gw_relay *r)
{
    if (!r->sc && pl_store_conn_open(r->node->store, &r->sc) != PL_OK) {
        r->sc = NULL;
        pl_log(PL_LOG_WARN, "relay_store_unavailable", NULL);
    }
    return r->sc;
}

/* Delivers stored messages from..to (inclusive) of c, in order, with the
 * bytes fanout uses (pl_msg_to_json with its type). */
static void repair(gw_relay *r, const pl_uuid *conv, int64_t from, int64_t to)
{
    pl_store_conn *sc = store_conn(r);
    int64_t after = from - 1, done = 0;
    pl_cw_event e = {.key = *conv};
    PL_METRIC_ADD(relay_repairs_total, 1);
    while (sc && after < to) {
        pl_msg *ms = NULL;
        size_t n = 0, want = (size_t)(to - after);
        bool more = false;
        pl_status st = pl_store_msgs_range(
            sc, conv, after, 0,
            want < RELAY_REPAIR_PAGE ? want : RELAY_REPAIR_PAGE, &ms, &n, &more);
        if (st != PL_OK) {
            pl_log(PL_LOG_WARN, "relay_repair_failed", "status", PL_LS,
                   pl_status_str(st), NULL);
            break;
        }
        for (size_t i = 0; i < n && ms[i].seq <= to; i++) {
            size_t len;
            char *s = pl_msg_to_json(&ms[i], true, &len);
            if (s)
                deliver_json(r, PL_DELIVER_DURABLE, &e, s, len);
            free(s);
            after = ms[i].seq;
            done++;
        }
        pl_msg_list_free(ms, n);
        if (n == 0 || !more)
            break;
    }
    PL_METRIC_ADD(relay_repaired_messages_total, done);
    char id[PL_UUID_STRLEN + 1];
    pl_log(PL_LOG_INFO, "relay_repair", "conversation_id", PL_LS,
           pl_uuid_fmt(conv, id), "from", PL_LI, from, "to", PL_LI, to,
           "delivered", PL_LI, done, NULL);
}

static void on_durable(gw_relay *r, const pl_cw_event *e)
{
    gw_rconv *c = pl_hmap_get(&r->convs, &e->key);
    int64_t from = 0;
    if (!c)
        return; /* no local member (any more) */
    int v = gw_rseq_live(&c->last_seq, e->seq, &from);
    if (v == GW_RSEQ_DROP) {
        PL_METRIC_ADD(relay_dropped_duplicates_total, 1);
        return;
    }
    if (v == GW_RSEQ_REPAIR)
        repair(r, &e->key, gw_rseq_cap(from, e->seq - 1, RELAY_REPAIR_MAX),
               e->seq - 1);
    deliver_json(r, PL_DELIVER_DURABLE, e, (const char *)e->payload,
                 e->payload_len);
}

static void on_event(gw_relay *r, const char *p, size_t n)
{
    pl_cw_event e;
    if (pl_cw_decode_event(p, n, &e) != PL_OK) {
        bad_record("event");
        return;
    }
    if (e.kind == PL_DELIVER_DURABLE && e.seq > 0) {
        on_durable(r, &e);
    } else if (e.kind == PL_DELIVER_DROPPABLE ||
               e.kind == PL_DELIVER_PRESENCE) {
        deliver_json(r, e.kind, &e, (const char *)e.payload, e.payload_len);
    } else if (e.kind == PL_DELIVER_MEMBERSHIP) {
        note_join(r, e.payload, e.payload_len);
        pl_rbuf *b = pl_rbuf_copy(e.payload, e.payload_len);
        if (b)
            pl_gateway_deliver(r->g, PL_DELIVER_MEMBERSHIP, &e.key, NULL,
                               NULL, b);
        pl_rbuf_unref(b);
    } else {
        bad_record("event kind or seq");
        return;
    }
    PL_METRIC_ADD(relay_events_total, 1);
}

static void on_message(void *ctx, const char *ch, size_t chlen,
                       const char *msg, size_t len)
{
    int kind = pl_cw_peek_kind(msg, len);
    if (kind == PL_CW_ACK)
        on_ack(ctx, msg, len);
    else if (kind == PL_CW_EVENT)
        on_event(ctx, msg, len);
    else
        bad_record("kind");
}

/* --- subscriptions ------------------------------------------------------ */

static int fixed_index(const gw_relay *r, const char *ch, size_t len)
{
    for (int i = 0; i < FIX_N; i++)
        if (r->fixed_len[i] == len && memcmp(r->fixed[i], ch, len) == 0)
            return i;
    return -1;
}

/* "pl:c:{<uuid>}" -> the uuid. */
static bool conv_of(const char *ch, size_t len, pl_uuid *out)
{
    return len == 7 + PL_UUID_STRLEN && memcmp(ch, "pl:c:{", 6) == 0 &&
           ch[len - 1] == '}' &&
           pl_uuid_parse(ch + 6, PL_UUID_STRLEN, out) == PL_OK;
}

static void queue_check(gw_relay *r, gw_rconv *c)
{
    if (c->check_queued)
        return;
    if (r->nchecks == r->checks_cap) {
        size_t cap = r->checks_cap ? r->checks_cap * 2 : 64;
        pl_uuid *p = realloc(r->checks, cap * sizeof(*p));
        if (!p) { /* unchecked: gating only, no baseline */
            if (c->batch)
                gw_rbatch_done(&r->batches, c->batch);
            c->batch = 0;
            return;
        }
        r->checks = p;
        r->checks_cap = cap;
    }
    r->checks[r->nchecks++] = c->id;
    c->check_queued = true;
}

/* From inside pl_redis_sub_poll: records, never calls back into Redis. */
static void on_state(void *ctx, const char *ch, size_t len, bool on)
{
    gw_relay *r = ctx;
    int f = fixed_index(r, ch, len);
    pl_uuid conv;
    if (f >= 0) {
        if (on && !(r->fixed_seen & (1u << f))) {
            r->fixed_seen |= 1u << f;
            gw_rbatch_done(&r->batches, r->fixed_batch);
        }
        return;
    }
    gw_rconv *c = conv_of(ch, len, &conv) ? pl_hmap_get(&r->convs, &conv)
                                          : NULL;
    if (!c)
        return;
    c->confirmed = on;
    if (on)
        queue_check(r, c);
}

/* One confirmed conversation against the store: a baseline, or a repair
 * of what was published while the channel was not subscribed. */
static void check_one(gw_relay *r, gw_rconv *c)
{
    pl_store_conn *sc = store_conn(r);
    int64_t stored = 0, from = 0;
    pl_status st = sc ? pl_store_conv_last_seq(sc, &c->id, &stored)
                      : PL_ERR_IO;
    if (st == PL_OK &&
        gw_rseq_confirmed(&c->last_seq, stored, RELAY_REPAIR_MAX, &from) > 0)
        repair(r, &c->id, from, stored);
    else if (st != PL_OK && st != PL_ERR_NOTFOUND)
        pl_log(PL_LOG_WARN, "relay_check_failed", "status", PL_LS,
               pl_status_str(st), NULL);
    if (c->batch) /* gating needs the subscription; the check is a bonus */
        gw_rbatch_done(&r->batches, c->batch);
    c->batch = 0;
}

static void run_checks(gw_relay *r)
{
    size_t n = 0;
    while (n < r->nchecks && n < RELAY_CHECKS_PER_ROUND) {
        gw_rconv *c = pl_hmap_get(&r->convs, &r->checks[n++]);
        if (!c)
            continue; /* unsubscribed meanwhile */
        c->check_queued = false;
        if (c->confirmed)
            check_one(r, c);
    }
    if (n < r->nchecks)
        memmove(r->checks, r->checks + n,
                (r->nchecks - n) * sizeof(*r->checks));
    r->nchecks -= n;
}

static void apply_one(gw_relay *r, const pl_uuid *conv, int delta)
{
    gw_rconv *c;
    char ch[CHAN_MAX];
    size_t len = pl_cw_channel_conv(conv, ch, sizeof(ch));
    int change = gw_rtab_apply(&r->convs, conv, delta, &c);
    if (change < 0) { /* OOM: retried next round */
        pend_add(r, conv, delta);
    } else if (change == GW_RTAB_SUBSCRIBE) {
        take_join(r, c);
        pl_status st = pl_redis_sub_add(r->sub, ch, len);
        if (st == PL_OK)
            c->batch = gw_rbatch_add(&r->batches);
        else
            pl_log(PL_LOG_ERROR, "relay_subscribe_refused", "channel", PL_LS,
                   ch, "status", PL_LS, pl_status_str(st), NULL);
    } else if (change == GW_RTAB_UNSUBSCRIBE) {
        pl_redis_sub_remove(r->sub, ch, len);
        if (c->batch)
            gw_rbatch_done(&r->batches, c->batch);
        free(c);
    }
}

static void apply_pending(gw_relay *r)
{
    pthread_mutex_lock(&r->mu);
    pl_hmap todo = r->pending;
    uint64_t gen = r->req_gen;
    pl_hmap_init(&r->pending);
    pthread_mutex_unlock(&r->mu);
    gw_rbatch_drained(&r->batches, gen);
    for (size_t i = 0; i < todo.cap; i++)
        if (todo.slots[i].val)
            apply_one(r, &todo.slots[i].key,
                      gw_rpend_value(todo.slots[i].val));
    pl_hmap_free(&todo);
}

static void publish_confirmed(gw_relay *r)
{
    uint64_t conf = gw_rbatch_confirmed(&r->batches);
    /* sessions waiting only for presence are looked at every poll */
    if (conf == atomic_load(&r->confirmed_gen) &&
        atomic_load(&r->waiting) == 0)
        return;
    atomic_store(&r->confirmed_gen, conf);
    for (int i = 0; i < gw_loop_count(r->g); i++)
        pl_loop_post(gw_loop_at(r->g, i), on_confirmed, NULL, false);
    /* a full inbox: the loop's tick looks again */
}

static void update_gauge(gw_relay *r)
{
    int64_t now = (int64_t)pl_redis_sub_len(r->sub);
    PL_METRIC_ADD(relay_subscriptions, now - r->gauge);
    r->gauge = now;
}

static void *relay_main(void *arg)
{
    gw_relay *r = arg;
    pthread_setname_np(pthread_self(), "pl-relay");
    while (!atomic_load(&r->stopping)) {
        apply_pending(r);
        int timeout = r->nchecks ? 0 : RELAY_POLL_MS;
        if (pl_redis_sub_poll(r->sub, timeout, on_message, r) != PL_OK &&
            pl_mono_ms() - r->poll_err_log_ms > 5000) {
            r->poll_err_log_ms = pl_mono_ms();
            pl_log(PL_LOG_WARN, "relay_redis_unavailable", NULL);
        }
        run_checks(r);
        publish_confirmed(r);
        update_gauge(r);
        sweep_joins(r);
    }
    return NULL;
}

/* --- lifecycle ----------------------------------------------------------- */

static pl_status add_fixed(gw_relay *r)
{
    r->fixed_len[FIX_GATEWAY] = pl_cw_channel_gateway(
        r->id, r->fixed[FIX_GATEWAY], sizeof(r->fixed[FIX_GATEWAY]));
    if (r->fixed_len[FIX_GATEWAY] == 0) {
        pl_log(PL_LOG_ERROR, "bad_gateway_id", "gateway_id", PL_LS, r->id,
               NULL);
        return PL_ERR_INVALID;
    }
    snprintf(r->fixed[FIX_PRESENCE], CHAN_MAX, "%s", PL_CW_CHAN_PRESENCE);
    snprintf(r->fixed[FIX_MEMBERS], CHAN_MAX, "%s", PL_CW_CHAN_MEMBERS);
    r->fixed_len[FIX_PRESENCE] = strlen(PL_CW_CHAN_PRESENCE);
    r->fixed_len[FIX_MEMBERS] = strlen(PL_CW_CHAN_MEMBERS);
    /* generation 1: what every hello waits for */
    r->req_gen = 1;
    gw_rbatch_drained(&r->batches, 1);
    for (int i = 0; i < FIX_N; i++) {
        pl_status st = pl_redis_sub_add(r->sub, r->fixed[i], r->fixed_len[i]);
        if (st != PL_OK)
            return st;
        r->fixed_batch = gw_rbatch_add(&r->batches);
    }
    return PL_OK;
}

static pl_status open_sub(gw_relay *r, const pl_config *cfg)
{
    pl_redis_opts o;
    pl_redis_opts_from_config(cfg, &o);
    pl_status st = cfg->redis_addrs[0] ? pl_redis_sub_open(&o, &r->sub)
                                       : PL_ERR_INVALID;
    if (st != PL_OK)
        pl_log(PL_LOG_ERROR, "relay_redis_addrs_invalid", "redis_addrs",
               PL_LS, cfg->redis_addrs, NULL);
    else
        pl_redis_sub_on_state(r->sub, on_state, r);
    return st;
}

pl_status gw_relay_new(pl_gateway *g, pl_node *node, gw_relay **out)
{
    gw_relay *r = calloc(1, sizeof(*r));
    if (!r)
        return PL_ERR_NOMEM;
    r->g = g;
    r->node = node;
    pl_gateway_id_resolve(node->cfg.gateway_id, sizeof(node->cfg.gateway_id));
    snprintf(r->id, sizeof(r->id), "%s", node->cfg.gateway_id);
    pthread_mutex_init(&r->mu, NULL);
    pl_hmap_init(&r->pending);
    pl_hmap_init(&r->convs);
    pl_hmap_init(&r->joins);
    gw_rbatch_init(&r->batches);
    pl_status st = open_sub(r, &node->cfg);
    if (st == PL_OK)
        st = add_fixed(r);
    if (st != PL_OK) {
        gw_relay_free(r);
        return st;
    }
    *out = r;
    return PL_OK;
}

pl_status gw_relay_start(gw_relay *r)
{
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0)
        return PL_ERR;
    r->started = true;
    pl_log(PL_LOG_INFO, "relay_started", "gateway_id", PL_LS, r->id,
           "redis_addrs", PL_LS, r->node->cfg.redis_addrs, NULL);
    return PL_OK;
}

void gw_relay_stop(gw_relay *r)
{
    if (!r || !r->started)
        return;
    atomic_store(&r->stopping, true);
    pthread_join(r->thread, NULL);
    r->started = false;
}

void gw_relay_free(gw_relay *r)
{
    if (!r)
        return;
    gw_relay_stop(r);
    pl_redis_sub_close(r->sub);
    pl_store_conn_close(r->sc);
    gw_rtab_free(&r->convs);
    for (size_t i = 0; i < r->joins.cap; i++)
        free(r->joins.slots[i].val);
    pl_hmap_free(&r->joins);
    pl_hmap_free(&r->pending);
    PL_METRIC_ADD(relay_subscriptions, -r->gauge);
    free(r->checks);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
