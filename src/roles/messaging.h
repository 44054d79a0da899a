/* messaging.h - the messaging role: validate, sequence, persist, publish.
 *
 * One pipeline thread per process owns the sequencers (the next seq of each
 * conversation) and is the only writer of messages, so seq is assigned
 * without locks and is gap-free by construction. It drains its bounded
 * input queue in batches and writes each batch in ONE store transaction
 * (group commit): while one batch commits, the next accumulates, so the
 * batch size grows with load and the cost of a commit is shared.
 *
 * After the commit, and only then, it publishes each new message on the
 * bus (PL_TOPIC_MESSAGES) and completes each request (the gateway acks).
 *
 * Request ownership: the submitter allocates a pl_msg_req (pl_msg_req_new)
 * and hands it over with pl_messaging_submit; done(r) is called exactly
 * once on the pipeline thread and then owns r (it must eventually call
 * pl_msg_req_free). If submit fails, the caller still owns r. */
#ifndef PL_MESSAGING_H
#define PL_MESSAGING_H

#include <stdbool.h>

#include "../backends/store.h"
#include "node.h"

enum pl_req_kind { PL_REQ_SEND = 1, PL_REQ_READ };

typedef struct pl_msg_req pl_msg_req;
typedef void (*pl_msg_done_fn)(pl_msg_req *r);

struct pl_msg_req {
    int kind;
    pl_uuid conv_id;
    pl_uuid user_id;                                 /* sender / reader */
    char client_msg_id[PL_CLIENT_MSG_ID_MAX + 1];    /* SEND */
    char *content;                                   /* SEND, malloc'd */
    size_t content_len;
    int64_t seq;                                     /* READ: requested */
    /* results */
    pl_status st;     /* PL_OK, PL_ERR_NOTFOUND (no conversation),
                         PL_ERR_FORBIDDEN (not a member), PL_ERR_IO, ... */
    bool duplicate;   /* SEND: answered from the earlier copy */
    pl_msg msg;       /* SEND: the stored message (content owned) */
    int64_t read_seq; /* READ: the offset after the update */
    bool read_private; /* READ: the conversation is above
                          read-receipts-max-members: the event goes to the
                          reader's own devices only */
    /* completion */
    pl_msg_done_fn done;
    void *ctx;        /* the submitter's */
    uint64_t ctx_id;
    int ctx_kind;
    uint32_t ctx_loop; /* the submitter's loop, for replies across
                          processes (cluster_wire.h) */
    int dup_of;       /* internal: index of an in-batch original, or -1 */
};

typedef struct pl_messaging pl_messaging;

pl_msg_req *pl_msg_req_new(int kind);
void pl_msg_req_free(pl_msg_req *r);

pl_status pl_messaging_start(pl_node *node, pl_messaging **out);
/* Non-blocking: PL_ERR_BUSY when the input queue is full. */
pl_status pl_messaging_submit(pl_messaging *m, pl_msg_req *r);
/* Processes what is queued, then stops the thread and frees m. */
void pl_messaging_stop(pl_messaging *m);

/* Serialises a stored message as the JSON `message` object (with "type"
 * when with_type); returns a malloc'd string and its length. */
char *pl_msg_to_json(const pl_msg *m, bool with_type, size_t *len);

#endif
