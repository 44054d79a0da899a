/* scn.c - helpers shared by the scenarios (see scn.h). */
#include "bench/scn.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/jscan.h"
#include "bench/report.h"

void scn_codes_add(scn_codes *c, const char *frame, size_t n)
{
    js_val v;
    if (js_get(frame, n, "code", &v) != 1 || !v.is_str || v.len >= 32) {
        c->other++;
        return;
    }
    for (int i = 0; i < SCN_MAX_CODES; i++) {
        if (c->c[i].n == 0) {
            memcpy(c->c[i].code, v.p, v.len);
            c->c[i].code[v.len] = '\0';
        }
        if (strlen(c->c[i].code) == v.len &&
            memcmp(c->c[i].code, v.p, v.len) == 0) {
            c->c[i].n++;
            return;
        }
    }
    c->other++;
}

void scn_codes_merge(scn_codes *dst, const scn_codes *src)
{
    for (int i = 0; i < SCN_MAX_CODES && src->c[i].n; i++) {
        char frame[64];
        int len =
            snprintf(frame, sizeof(frame), "{\"code\":\"%s\"}", src->c[i].code);
        for (uint64_t k = 0; k < src->c[i].n && len > 0; k++)
            scn_codes_add(dst, frame, (size_t)len);
    }
    dst->other += src->other;
}

void scn_codes_print(const scn_codes *c, FILE *f)
{
    if (!c->c[0].n && !c->other)
        return;
    fprintf(f, "  error codes  ");
    for (int i = 0; i < SCN_MAX_CODES && c->c[i].n; i++)
        fprintf(f, " %s %llu", c->c[i].code, (unsigned long long)c->c[i].n);
    if (c->other)
        fprintf(f, " other %llu", (unsigned long long)c->other);
    fprintf(f, "\n");
}

json_t *scn_codes_json(const scn_codes *c)
{
    json_t *o = json_object();
    for (int i = 0; i < SCN_MAX_CODES && c->c[i].n; i++)
        json_object_set_new(o, c->c[i].code,
                            json_integer((json_int_t)c->c[i].n));
    if (c->other)
        json_object_set_new(o, "other", json_integer((json_int_t)c->other));
    return o;
}

int scn_users(const bench_opts *o, size_t need, bench_users *u, char *err,
              size_t cap)
{
    if (!o->quiet)
        fprintf(stderr, "setup: %s %zu users\n",
                o->users_file ? "loading" : "creating", need);
    return bench_users_get(o, need, u, err, cap) == PL_OK ? 0 : -1;
}

int scn_create_conv(rest_conn *r, const char *token, const json_t *body,
                    char id[37], char *err, size_t cap)
{
    json_t *resp = NULL;
    int st =
        rest_call(r, "POST", "/v1/conversations", token, body, &resp, err, cap);
    const char *cid =
        json_string_value(json_object_get(resp, "conversation_id"));
    int rc = -1;
    if ((st == 200 || st == 201) && cid && strlen(cid) == 36) {
        memcpy(id, cid, 37);
        rc = 0;
    } else if (st >= 0) {
        snprintf(err, cap, "POST /v1/conversations: HTTP %d", st);
    }
    json_decref(resp);
    return rc;
}

void scn_run_id(char *buf, size_t cap)
{
    snprintf(buf, cap, "%llx%x-",
             (unsigned long long)bw_now_ns() & 0xffffffffffull,
             (unsigned)getpid() & 0xfff);
}

char *scn_content(size_t n)
{
    static const char pat[] = "parley bench message ";
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        s[i] = i < sizeof(pat) - 1 ? pat[i] : (char)('a' + i % 26);
    s[n] = '\0';
    return s;
}

void scn_shared_init(bc_shared *sh, const bench_opts *o, const char *label,
                     size_t conns)
{
    memset(sh, 0, sizeof(*sh));
    sh->nworkers = o->threads;
    sh->quiet = o->quiet;
    sh->label = label;
    sh->warm_ns = (uint64_t)(o->warmup * 1e9);
    sh->meas_ns = (uint64_t)(o->duration * 1e9);
    sh->drain_ns = (uint64_t)(o->drain * 1e9);
    sh->expect_conns = conns;
    sh->inflight = (size_t)o->concurrency / (size_t)o->threads + 1;
    sh->private_fds = o->private_fds;
}

json_t *scn_timeline(bc_worker **wp, int n, const char *a, const char *b)
{
    size_t len;
    bc_sec *tl = bc_merge_timeline(wp, n, &len);
    if (!tl)
        return json_array();
    json_t *j = report_timeline(tl, len, a, b);
    free(tl);
    return j;
}

int scn_check_fds(const bench_opts *o, size_t nconns, char *err, size_t cap)
{
    long lim = bench_raise_nofile();
    size_t per = o->private_fds ? (nconns + (size_t)o->threads - 1) /
                                      (size_t)o->threads
                                : nconns;
    if ((long)per + BENCH_FD_RESERVE <= lim)
        return 0;
    snprintf(err, cap,
             "%zu connections need %zu file descriptors but one fd table "
             "holds %ld (`max` keeps its connections across steps in one "
             "table; direct and group split them over worker threads with "
             "their own tables by themselves)",
             nconns, nconns + BENCH_FD_RESERVE, lim);
    return -1;
}

int scn_server_pid(const bench_opts *o)
{
    if (o->server_pid)
        return o->server_pid;
    return bench_find_listener_pid(ntohs(o->target.addr.sin_port));
}
