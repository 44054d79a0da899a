/* gw_sync.c - the `sync` frame: history over the WebSocket.
 *
 * {"type":"sync","conversation_id":C,"after_seq":N[,"limit":L]} answers
 * with ONE frame {"type":"synced","conversation_id":C,"after_seq":N,
 * "messages":[...],"has_more":B}: the stored messages with seq > N in seq
 * order (at most L, default and maximum 200, and at most a quarter of
 * outbound-limit bytes: then has_more is true). One frame per page keeps a
 * replay from interleaving with live `message` frames message by message:
 * the client merges the page into what it has by seq (PROTOCOL.md,
 * "Resuming"). Membership is checked like any history read. */
#include <stdlib.h>
#include <string.h>

#include "gw_rest.h"

typedef struct sync_job {
    gw_loop *gw;
    uint64_t conn_id;
    pl_uuid conv, user;
    int64_t after;
    size_t limit;
    pl_status st;
    pl_msg *msgs;
    size_t n;
    bool more;
} sync_job;

static void sync_work(pl_worker *w, void *arg)
{
    sync_job *j = arg;
    int role;
    j->st = pl_store_member_role(w->store, &j->conv, &j->user, &role);
    if (j->st == PL_ERR_NOTFOUND) {
        pl_conv cv;
        pl_status cs = pl_store_conv_get(w->store, &j->conv, &cv);
        j->st = cs == PL_OK ? PL_ERR_FORBIDDEN : cs;
    }
    if (j->st == PL_OK)
        j->st = pl_store_msgs_range(w->store, &j->conv, j->after, -1, j->limit,
                                    &j->msgs, &j->n, &j->more);
}

/* A page never exceeds budget bytes of JSON (but holds at least one
 * message): a page larger than the connection's outbound limit would get
 * the client closed as a slow consumer, and a retry would loop. */
static json_t *sync_frame(sync_job *j, size_t budget)
{
    char cid[PL_UUID_STRLEN + 1];
    json_t *arr = json_array();
    size_t used = 0;
    for (size_t i = 0; i < j->n; i++) {
        size_t len;
        char *s = pl_msg_to_json(&j->msgs[i], false, &len);
        if (i > 0 && used + len > budget) {
            free(s);
            j->more = true; /* the rest comes with the next sync */
            break;
        }
        used += len;
        json_array_append_new(arr, s ? json_loadb(s, len, 0, NULL) : json_null());
        free(s);
    }
    return json_pack("{s:s,s:s,s:I,s:o,s:b}", "type", "synced",
                     "conversation_id", pl_uuid_fmt(&j->conv, cid), "after_seq",
                     (json_int_t)j->after, "messages", arr, "has_more", j->more);
}

static void sync_done(pl_loop *l, void *arg)
{
    sync_job *j = arg;
    gw_conn *c = l ? gw_conn_find(j->gw, j->conn_id) : NULL;
    if (c && c->state == GW_WS_OPEN) {
        if (j->st == PL_OK) {
            gw_ws_send_json(c, sync_frame(j, (size_t)c->gw->node->cfg
                                                      .outbound_limit / 4));
        } else {
            const char *code;
            int status = gw_msg_error(j->st, &code);
            gw_ws_send_error(c, code,
                             status == 403 ? "not a member of this conversation"
                                           : pl_status_str(j->st),
                             NULL);
        }
    }
    pl_msg_list_free(j->msgs, j->n);
    free(j);
}

void gw_ws_sync(gw_conn *c, const pl_ws_msg *m)
{
    sync_job *j = calloc(1, sizeof(*j));
    if (!j) {
        gw_ws_send_error(c, "overloaded", "out of memory", NULL);
        return;
    }
    *j = (sync_job){.gw = c->gw, .conn_id = c->id, .conv = m->conv,
                    .user = c->user_id, .after = m->seq,
                    .limit = (size_t)m->limit};
    if (pl_workpool_submit(c->gw->node->store_pool, c->gw->loop, sync_work,
                           sync_done, j) != PL_OK) {
        free(j);
        gw_ws_send_error(c, "overloaded", "server busy, retry later", NULL);
    }
}
