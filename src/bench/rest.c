/* rest.c - blocking HTTP/1.1 client for setup (see rest.h). */
#include "bench/rest.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REST_TIMEOUT_S 60
#define REST_MAX_RESP (64u << 20)

void rest_init(rest_conn *r, const bench_target *t)
{
    memset(r, 0, sizeof(*r));
    r->t = t;
    r->fd = -1;
}

void rest_close(rest_conn *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

static int rest_open(rest_conn *r)
{
    struct timeval tv = {REST_TIMEOUT_S, 0};
    int one = 1;
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->fd < 0)
        return -1;
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(r->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(r->fd, (const struct sockaddr *)&r->t->addr,
                sizeof(r->t->addr)) < 0) {
        close(r->fd);
        r->fd = -1;
        return -1;
    }
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads more bytes into r->buf; 0 ok, -1 error or EOF. */
static int read_more(rest_conn *r)
{
    if (r->cap - r->len < 4096) {
        size_t cap = r->cap ? r->cap * 2 : 16384;
        char *p = cap <= REST_MAX_RESP ? realloc(r->buf, cap + 1) : NULL;
        if (!p)
            return -1;
        r->buf = p;
        r->cap = cap;
    }
    ssize_t n;
    do
        n = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1;
    r->len += (size_t)n;
    r->buf[r->len] = '\0';
    return 0;
}

/* Content-Length from the head r->buf[0..head), or -1. */
static long content_length(const char *head, size_t hlen)
{
    const char *p = head, *end = head + hlen;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        if ((size_t)(nl - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
            return strtol(p + 15, NULL, 10);
        p = nl + 1;
    }
    return -1;
}

/* Reads one response; returns the status, fills body and blen (pointing into
 * r->buf). */
static int read_response(rest_conn *r, const char **body, size_t *blen)
{
    char *hend;
    r->len = 0;
    if (r->buf)
        r->buf[0] = '\0';
    while (!r->buf || !(hend = strstr(r->buf, "\r\n\r\n")))
        if (read_more(r) < 0)
            return -1;
    size_t hlen = (size_t)(hend - r->buf) + 4;
    long cl = content_length(r->buf, hlen);
    if (cl < 0 || (size_t)cl > REST_MAX_RESP)
        cl = 0;
    while (r->len < hlen + (size_t)cl)
        if (read_more(r) < 0)
            return -1;
    int status = 0;
    if (sscanf(r->buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    *body = r->buf + hlen;
    *blen = (size_t)cl;
    return status;
}

static int do_request(rest_conn *r, const char *req, size_t rlen,
                      const char **body, size_t *blen)
{
    if (r->fd < 0 && rest_open(r) < 0)
        return -1;
    if (send_all(r->fd, req, rlen) < 0)
        return -1;
    return read_response(r, body, blen);
}

int rest_call(rest_conn *r, const char *method, const char *path,
              const char *token, const json_t *body, json_t **resp, char *err,
              size_t cap)
{
    char *js = body ? json_dumps(body, JSON_COMPACT) : NULL;
    size_t jlen = js ? strlen(js) : 0, hcap = 3072 + jlen;
    char *req = malloc(hcap);
    int status = -1;
    if (!req || (body && !js))
        goto out;
    int n = snprintf(req, hcap,
                     "%s %s HTTP/1.1\r\nHost: %s\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s%s\r\n%s",
                     method, path, r->t->hostport, jlen,
                     token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "", js ? js : "");
    if (n < 0 || (size_t)n >= hcap)
        goto out;
    const char *rb;
    size_t rblen;
    status = do_request(r, req, (size_t)n, &rb, &rblen);
    if (status < 0) { /* the keep-alive connection may have timed out */
        if (r->fd >= 0)
            close(r->fd);
        r->fd = -1;
        status = do_request(r, req, (size_t)n, &rb, &rblen);
    }
    if (status >= 0 && resp)
        *resp = json_loadb(rb, rblen, 0, NULL);
out:
    if (status < 0)
        snprintf(err, cap, "%s %s: %s", method, path,
                 errno ? strerror(errno) : "bad response");
    free(req);
    free(js);
    return status;
}
