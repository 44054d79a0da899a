/* gw_rest.h - the REST handler kit shared by gw_rest*.c: a job runs its
 * blocking part on a work pool and answers on the connection's loop. */
#ifndef PL_GW_REST_H
#define PL_GW_REST_H

#include "gw_int.h"
#include "messaging.h"

typedef struct rest_job rest_job;
typedef void (*rest_work_fn)(pl_worker *w, rest_job *j);

struct rest_job {
    gw_loop *gw;
    uint64_t conn_id;
    pl_node *node;
    rest_work_fn work;
    /* request */
    pl_uuid caller;
    char caller_name[PL_USERNAME_MAX + 1];
    pl_uuid conv, target; /* ids from the path */
    json_t *in;           /* parsed body, owned */
    char text[PL_USERNAME_MAX + 1]; /* a name from the query */
    int64_t after_seq, before_seq;
    size_t limit;
    bool has_cursor;
    pl_uuid cursor;
    int64_t count; /* a count a handler computes (e.g. members) */
    gw_ticket ticket; /* login / register throttle tokens (gw_limits.c) */
    /* response */
    int status;
    json_t *out; /* owned */
};

/* Route helpers (gw_rest.c). */
rest_job *rest_job_new(gw_conn *c, rest_work_fn work);
/* The pool-side half of a job: runs j->work (a pl_work_fn). */
void rest_job_run(pl_worker *w, void *arg);
/* Submits j to pool; on a full queue answers 503 and frees j (then not
 * PL_OK). j NULL: answers 500. */
pl_status rest_submit(gw_conn *c, pl_workpool *pool, rest_job *j);
void rest_error(rest_job *j, int status, const char *code, const char *msg);
/* Maps a store status to an error response (for unexpected failures). */
void rest_store_error(rest_job *j, pl_status st);
/* Caller's membership check for conversation endpoints: fills *role and
 * returns true, or sets the 404/403 response and returns false. */
bool rest_require_member(pl_worker *w, rest_job *j, int *role);
json_t *rest_conv_json(const pl_conv *cv);
/* Publishes a membership change on the bus (from a worker). seq: the
 * conversation's last seq when members were added (0 for a new one): a
 * gateway that subscribes the conversation for them delivers what came
 * after it (gw_relay.c). */
void rest_publish_membership(pl_node *node, const pl_uuid *conv,
                             const pl_uuid *users, size_t n, bool add,
                             int64_t seq);
/* Parses a JSON array of UUID strings (max entries). Returns malloc'd
 * array or NULL with *err set ("bad" / "too_many"). */
pl_uuid *rest_uuid_array(json_t *arr, size_t max, size_t *n,
                         const char **err);
bool rest_valid_client_msg_id(const char *s);

/* Handlers (gw_rest_auth.c, gw_rest_conv.c, gw_rest_msg.c). */
void rest_register(gw_conn *c, const gw_request *r);
void rest_login(gw_conn *c, const gw_request *r);
void rest_me(gw_conn *c, const gw_request *r);
void rest_user_get(gw_conn *c, const gw_request *r, const pl_uuid *id);
void rest_user_find(gw_conn *c, const gw_request *r);
void rest_conv_create(gw_conn *c, const gw_request *r);
void rest_conv_list(gw_conn *c, const gw_request *r);
void rest_conv_get(gw_conn *c, const gw_request *r, const pl_uuid *conv);
void rest_members_add(gw_conn *c, const gw_request *r, const pl_uuid *conv);
void rest_member_remove(gw_conn *c, const gw_request *r, const pl_uuid *conv,
                        const pl_uuid *user);
void rest_members_list(gw_conn *c, const gw_request *r, const pl_uuid *conv);
void rest_messages_list(gw_conn *c, const gw_request *r,
                        const pl_uuid *conv);
void rest_message_post(gw_conn *c, const gw_request *r, const pl_uuid *conv);
void rest_read_post(gw_conn *c, const gw_request *r, const pl_uuid *conv);
void rest_conv_presence(gw_conn *c, const gw_request *r, const pl_uuid *conv);

/* Parses an integer query parameter in [min, max]; def if absent.
 * Returns false (and answers 400) if malformed or out of range. */
bool rest_query_int(gw_conn *c, const gw_request *r, const char *name,
                    int64_t min, int64_t max, int64_t def, int64_t *out);

/* Parses the body as a JSON object; answers 400 and returns NULL if not. */
json_t *rest_body_object(gw_conn *c, const gw_request *r);

/* Messaging completions: posts back to the loop (gw_rest_msg.c). */
void gw_msg_done(pl_msg_req *r);
enum { GW_VIA_REST = 1, GW_VIA_WS = 2 };
/* Answers a finished messaging request over WebSocket (gw_ws.c). */
void gw_ws_msg_result(gw_conn *c, pl_msg_req *r);
/* Maps a messaging status to (HTTP status, code). */
int gw_msg_error(pl_status st, const char **code);

#endif
