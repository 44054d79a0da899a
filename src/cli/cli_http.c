/* cli_http.c - libcurl REST helper of the CLI. */
#include "cli_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (64u << 20) /* a page of messages is far below this */
#define CONNECT_TIMEOUT_MS 10000L
#define REQUEST_TIMEOUT_MS 30000L

typedef struct body_buf {
    char *p;
    size_t len, cap;
} body_buf;

pl_status cli_http_init(cli_http *h, const char *base, const char *token)
{
    h->curl = curl_easy_init();
    h->base = base;
    h->token = token;
    return h->curl ? PL_OK : PL_ERR_NOMEM;
}

void cli_http_cleanup(cli_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    h->curl = NULL;
}

/* Grows b to hold n more bytes plus a NUL. 0 or -1. */
static int body_reserve(body_buf *b, size_t n)
{
    size_t need = b->len + n + 1, cap = b->cap ? b->cap : 4096;
    char *p;

    if (need > BODY_MAX)
        return -1;
    if (need <= b->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    body_buf *b = arg;
    size_t n = size * nmemb;

    if (body_reserve(b, n) < 0)
        return 0; /* makes curl fail the transfer with a write error */
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

static struct curl_slist *make_headers(const cli_http *h, int has_body)
{
    struct curl_slist *l = NULL, *t;
    char auth[PL_JWT_MAX_TOKEN + 32];

    /* Without this curl waits for "100 Continue" on larger bodies. */
    l = curl_slist_append(l, "Expect:");
    if (l && has_body) {
        t = curl_slist_append(l, "Content-Type: application/json");
        l = t ? t : (curl_slist_free_all(l), NULL);
    }
    if (l && h->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", h->token);
        t = curl_slist_append(l, auth);
        l = t ? t : (curl_slist_free_all(l), NULL);
    }
    return l;
}

static int set_url(cli_http *h, const char *path)
{
    size_t n = strlen(h->base) + strlen(path) + 1;
    char *url = malloc(n);
    int rc;

    if (!url)
        return -1;
    snprintf(url, n, "%s%s", h->base, path);
    rc = curl_easy_setopt(h->curl, CURLOPT_URL, url) == CURLE_OK ? 0 : -1;
    free(url); /* curl copies the URL string */
    return rc;
}

static void set_common(cli_http *h, body_buf *b, cli_resp *r,
                       struct curl_slist *hdrs)
{
    CURL *c = h->curl;

    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "parley-cli/1");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->err);
}

static void set_method(CURL *c, const char *method, const char *data)
{
    if (data) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(data));
    }
    if (strcmp(method, data ? "POST" : "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
}

/* Moves the received body into r and parses it. */
static void take_body(cli_resp *r, body_buf *b)
{
    r->body = b->p;
    r->body_len = b->len;
    if (b->len)
        r->json = json_loadb(b->p, b->len, 0, NULL);
}

pl_status cli_http_do(cli_http *h, const char *method, const char *path,
                      const json_t *body, cli_resp *r)
{
    body_buf b = {0};
    struct curl_slist *hdrs = NULL;
    char *data = NULL;
    pl_status st = PL_ERR_IO;
    CURLcode cc;

    memset(r, 0, sizeof *r);
    curl_easy_reset(h->curl); /* keeps the connection cache */
    if (body && !(data = json_dumps(body, JSON_COMPACT))) {
        snprintf(r->err, sizeof r->err, "out of memory");
        goto out;
    }
    hdrs = make_headers(h, data != NULL);
    if (!hdrs || set_url(h, path) < 0) {
        snprintf(r->err, sizeof r->err, "out of memory");
        goto out;
    }
    set_common(h, &b, r, hdrs);
    set_method(h->curl, method, data);
    cc = curl_easy_perform(h->curl);
    if (cc != CURLE_OK) {
        if (!r->err[0])
            snprintf(r->err, sizeof r->err, "%s", curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &r->status);
    take_body(r, &b);
    b.p = NULL;
    st = PL_OK;
out:
    free(b.p);
    free(data);
    curl_slist_free_all(hdrs);
    return st;
}

void cli_resp_free(cli_resp *r)
{
    json_decref(r->json);
    free(r->body);
    r->json = NULL;
    r->body = NULL;
}

int cli_resp_ok(const cli_resp *r)
{
    return r->status >= 200 && r->status < 300;
}

void cli_resp_report(const cli_resp *r)
{
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));

    if (r->status == 0) {
        fprintf(stderr, "error: cannot reach server: %s\n", r->err);
    } else if (code) {
        fprintf(stderr, "error: %s: %s (HTTP %ld)\n", code, msg ? msg : "",
                r->status);
    } else {
        fprintf(stderr, "error: HTTP %ld: %.200s\n", r->status,
                r->body ? r->body : "");
    }
}

char *cli_http_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0), *copy;

    if (!e)
        return NULL;
    copy = strdup(e); /* so callers free() it like everything else */
    curl_free(e);
    return copy;
}

const char *cli_user_name(cli_http *h, json_t *cache, const char *user_id)
{
    json_t *hit = json_object_get(cache, user_id);
    const char *name = NULL;
    char *id = NULL, path[128];
    cli_resp r;

    if (hit)
        return json_string_value(hit);
    id = cli_http_escape(user_id);
    if (id && strlen(id) < 64) {
        snprintf(path, sizeof path, "/v1/users/%s", id);
        if (cli_http_do(h, "GET", path, NULL, &r) == PL_OK &&
            cli_resp_ok(&r))
            name = json_string_value(json_object_get(r.json, "username"));
        json_object_set_new(cache, user_id, json_string(name ? name
                                                              : user_id));
        cli_resp_free(&r);
    }
    free(id);
    hit = json_object_get(cache, user_id);
    return hit ? json_string_value(hit) : user_id;
}
