/* gw_rest_auth.c - register, login, me, users. */
#include <stdlib.h>
#include <string.h>

#include "../core/metrics.h"
#include "../core/timeutil.h"
#include "auth.h"
#include "gw_rest.h"
#include "presence_role.h"

pl_status gw_auth_token(gw_conn *c, const char *token, size_t len)
{
    pl_jwt_claims cl;
    pl_status st = pl_jwt_verify(&c->gw->keys, token, len,
                                 pl_now_ms() / 1000, &cl);
    if (st != PL_OK)
        return PL_ERR_UNAUTH;
    c->token_kid = pl_jwt_kid_hash(cl.kid);
    c->user_id = cl.sub;
    memcpy(c->username, cl.username, sizeof(c->username));
    c->username[sizeof(c->username) - 1] = '\0';
    c->token_exp = cl.exp;
    return PL_OK;
}

static json_t *user_json(const pl_user *u)
{
    char id[PL_UUID_STRLEN + 1], ts[PL_TIME_STRLEN + 1];
    return json_pack("{s:s,s:s,s:s}", "user_id", pl_uuid_fmt(&u->id, id),
                     "username", u->username, "created_at",
                     pl_time_fmt(u->created_ms, ts));
}

/* --- register ------------------------------------------------------------- */

static void register_work(pl_worker *w, rest_job *j)
{
    const char *name = json_string_value(json_object_get(j->in, "username"));
    json_t *pwj = json_object_get(j->in, "password");
    pl_user u;
    memset(&u, 0, sizeof(u));
    pl_status st = pl_auth_hash_password(&j->node->cfg, json_string_value(pwj),
                                         json_string_length(pwj), u.pw_hash);
    if (st != PL_OK) {
        gw_limits_auth_end(j->gw, &j->ticket, GW_AUTH_NOT_TRIED);
        rest_error(j, 503, "overloaded", "could not hash the password");
        return;
    }
    pl_uuid_v4(&u.id);
    snprintf(u.username, sizeof(u.username), "%s", name);
    u.created_ms = pl_now_ms();
    st = pl_store_user_create(w->store, &u);
    if (st == PL_ERR_CONFLICT) {
        rest_error(j, 409, "username_taken", "that username is taken");
        return;
    }
    if (st != PL_OK) {
        gw_limits_auth_end(j->gw, &j->ticket, GW_AUTH_NOT_TRIED);
        rest_store_error(j, st);
        return;
    }
    j->status = 201;
    j->out = user_json(&u);
}

/* Validates {username, password}; answers 400 itself when invalid. */
static json_t *credentials(gw_conn *c, const gw_request *r)
{
    json_t *o = rest_body_object(c, r);
    if (!o)
        return NULL;
    const char *name = json_string_value(json_object_get(o, "username"));
    json_t *pw = json_object_get(o, "password");
    const char *why = NULL;
    if (!name || !json_is_string(pw))
        why = "username and password (strings) are required";
    else
        why = pl_auth_check_username(name);
    if (!why)
        why = pl_auth_check_password(json_string_value(pw),
                                     json_string_length(pw));
    if (why) {
        json_decref(o);
        gw_http_respond_error(c, 400, "invalid_request", why);
        return NULL;
    }
    return o;
}

/* Hands a login or register job to the hash pool, giving its throttle
 * tokens back if it never runs. */
static void submit_auth(gw_conn *c, rest_job *j, json_t *o, gw_ticket *t)
{
    if (j) {
        j->in = o;
        j->ticket = *t;
    } else {
        json_decref(o);
    }
    if (rest_submit(c, c->gw->node->hash_pool, j) != PL_OK)
        gw_limits_auth_end(c->gw, t, GW_AUTH_NOT_TRIED);
}

void rest_register(gw_conn *c, const gw_request *r)
{
    gw_ticket t;
    json_t *o = credentials(c, r);
    if (!o)
        return;
    if (!gw_limits_register_begin(c, r, &t)) {
        json_decref(o); /* answered 429 */
        return;
    }
    submit_auth(c, rest_job_new(c, register_work), o, &t);
}

/* --- login ---------------------------------------------------------------- */

static void login_work(pl_worker *w, rest_job *j)
{
    const char *name = json_string_value(json_object_get(j->in, "username"));
    json_t *pwj = json_object_get(j->in, "password");
    pl_user u;
    pl_status st = pl_store_user_by_name(w->store, name, &u);
    if (st != PL_OK && st != PL_ERR_NOTFOUND) {
        gw_limits_auth_end(j->gw, &j->ticket, GW_AUTH_NOT_TRIED);
        rest_store_error(j, st);
        return;
    }
    const char *hash = st == PL_OK ? u.pw_hash : "!";
    if (pl_auth_verify_password(&j->node->cfg, hash, json_string_value(pwj),
                                json_string_length(pwj)) != PL_OK) {
        gw_limits_auth_end(j->gw, &j->ticket, GW_AUTH_FAILED);
        PL_METRIC_ADD(auth_failures_total, 1);
        rest_error(j, 401, "invalid_credentials", "wrong username or password");
        return;
    }
    gw_limits_auth_end(j->gw, &j->ticket, GW_AUTH_OK);
    char token[PL_JWT_MAX_TOKEN], id[PL_UUID_STRLEN + 1],
        ts[PL_TIME_STRLEN + 1];
    int64_t exp;
    if (pl_auth_mint(j->node, &u, token, &exp) != PL_OK) {
        rest_error(j, 500, "internal", "could not mint a token");
        return;
    }
    j->status = 200;
    j->out = json_pack("{s:s,s:s,s:s,s:s}", "token", token, "token_type",
                       "Bearer", "expires_at", pl_time_fmt(exp * 1000, ts),
                       "user_id", pl_uuid_fmt(&u.id, id));
}

void rest_login(gw_conn *c, const gw_request *r)
{
    json_t *o = rest_body_object(c, r);
    if (!o)
        return;
    json_t *pw = json_object_get(o, "password");
    const char *name = json_string_value(json_object_get(o, "username"));
    if (!name || !json_is_string(pw) || strlen(name) > PL_USERNAME_MAX ||
        json_string_length(pw) > 1024) {
        json_decref(o);
        gw_http_respond_error(c, 400, "invalid_request",
                              "username and password (strings) are required");
        return;
    }
    gw_ticket t;
    if (!gw_limits_login_begin(c, r, name, &t)) {
        json_decref(o); /* answered 429 */
        return;
    }
    submit_auth(c, rest_job_new(c, login_work), o, &t);
}

/* --- me and users --------------------------------------------------------- */

static void me_work(pl_worker *w, rest_job *j)
{
    pl_user u;
    pl_status st = pl_store_user_by_id(w->store, &j->caller, &u);
    if (st == PL_ERR_NOTFOUND) {
        rest_error(j, 401, "unauthorized", "the token's user no longer exists");
        return;
    }
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    j->status = 200;
    j->out = user_json(&u);
}

void rest_me(gw_conn *c, const gw_request *r)
{
    rest_submit(c, c->gw->node->store_pool, rest_job_new(c, me_work));
}

static void user_answer(rest_job *j, pl_status st, const pl_user *u)
{
    if (st == PL_ERR_NOTFOUND) {
        rest_error(j, 404, "not_found", "no such user");
        return;
    }
    if (st != PL_OK) {
        rest_store_error(j, st);
        return;
    }
    bool online = false;
    int64_t seen = 0;
    pl_presence_role_get(j->node, &u->id, &online, &seen);
    char ts[PL_TIME_STRLEN + 1];
    j->out = user_json(u);
    json_object_set_new(j->out, "status",
                        json_string(online ? "online" : "offline"));
    json_object_set_new(j->out, "last_seen_at",
                        seen ? json_string(pl_time_fmt(seen, ts)) : json_null());
    j->status = 200;
}

static void user_get_work(pl_worker *w, rest_job *j)
{
    pl_user u;
    user_answer(j, pl_store_user_by_id(w->store, &j->target, &u), &u);
}

void rest_user_get(gw_conn *c, const gw_request *r, const pl_uuid *id)
{
    rest_job *j = rest_job_new(c, user_get_work);
    if (j)
        j->target = *id;
    rest_submit(c, c->gw->node->store_pool, j);
}

static void user_find_work(pl_worker *w, rest_job *j)
{
    pl_user u;
    user_answer(j, pl_store_user_by_name(w->store, j->text, &u), &u);
}

void rest_user_find(gw_conn *c, const gw_request *r)
{
    char name[PL_USERNAME_MAX + 1];
    long n = pl_http_query_param(r->req->query, "username", name, sizeof(name));
    if (n < 0 || pl_auth_check_username(name)) {
        gw_http_respond_error(c, 400, "invalid_request",
                              n == -1 ? "query parameter username is required"
                                      : "username is not a valid username");
        return;
    }
    rest_job *j = rest_job_new(c, user_find_work);
    if (j)
        memcpy(j->text, name, sizeof(j->text));
    rest_submit(c, c->gw->node->store_pool, j);
}
