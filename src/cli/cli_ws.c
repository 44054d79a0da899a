/* cli_ws.c - the CLI's WebSocket client: TCP connect, HTTP/1.1 upgrade,
 * masked frames out, frame parsing in (pl_ws_parse_header). */
#include "cli_ws.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "core/jwt.h"
#include "core/timeutil.h"
#include "proto/ws.h"

#define WS_MAX_PAYLOAD (16u << 20) /* far above the server's max-frame */
#define WS_BUF_INIT 16384
#define WS_HEAD_MAX 16384          /* upgrade response head */
#define WS_ERRBODY_MAX 65536       /* error body of a refused upgrade */
#define WS_SEND_TIMEOUT_MS 10000

static void set_err(cli_ws *ws, const char *what, const char *detail)
{
    snprintf(ws->err, sizeof ws->err, "%s%s%s", what, detail ? ": " : "",
             detail ? detail : "");
}

static int copy_part(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* Splits "HOST[:PORT]" (HOST may be "[v6]") from authority[0..n). */
static int split_authority(const char *a, size_t n, char *host, size_t hcap,
                           char *port, size_t pcap)
{
    const char *colon = NULL, *hs = a, *he;

    if (n && a[0] == '[') {
        he = memchr(a, ']', n);
        if (!he)
            return -1;
        hs = a + 1;
        colon = he + 1 < a + n && he[1] == ':' ? he + 1 : NULL;
    } else {
        colon = memrchr(a, ':', n);
        he = colon ? colon : a + n;
    }
    if (copy_part(host, hcap, hs, (size_t)(he - hs)) < 0)
        return -1;
    if (!colon)
        return copy_part(port, pcap, "80", 2);
    return copy_part(port, pcap, colon + 1, (size_t)(a + n - colon - 1));
}

int cli_ws_parse_url(const char *url, char *host, size_t hostcap, char *port,
                     size_t portcap, char *prefix, size_t prefixcap)
{
    const char *a = url, *slash;
    size_t plen;

    if (strncasecmp(url, "http://", 7) == 0)
        a = url + 7;
    else if (strstr(url, "://"))
        return -1; /* https (wss) would need TLS */
    slash = strchr(a, '/');
    if (!slash)
        slash = a + strlen(a);
    if (split_authority(a, (size_t)(slash - a), host, hostcap, port,
                        portcap) < 0)
        return -1;
    plen = strlen(slash);
    while (plen && slash[plen - 1] == '/')
        plen--;
    if (plen >= prefixcap)
        return -1;
    memcpy(prefix, slash, plen);
    prefix[plen] = '\0';
    return 0;
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - pl_mono_ms();

    return left < 0 ? 0 : left > 86400000 ? 86400000 : (int)left;
}

/* Waits for events on fd until deadline. 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int64_t deadline = pl_mono_ms() + timeout_ms;
    int r;

    do {
        r = poll(&p, 1, remaining_ms(deadline));
    } while (r < 0 && errno == EINTR);
    return r;
}

/* Non-blocking connect to one address, finished within timeout_ms. */
static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
                                       SOCK_CLOEXEC, ai->ai_protocol);
    int err = 0, one = 1;
    socklen_t elen = sizeof err;

    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
        (errno != EINPROGRESS || wait_fd(fd, POLLOUT, timeout_ms) <= 0 ||
         getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err)) {
        if (err)
            errno = err;
        else if (errno == EINPROGRESS)
            errno = ETIMEDOUT;
        err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    /* Small frames (pings, pongs) should not wait for Nagle. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int tcp_connect(cli_ws *ws, const char *host, const char *port,
                       int timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    int fd = -1, rc = getaddrinfo(host, port, &hints, &res);

    if (rc != 0) {
        set_err(ws, "cannot resolve host", gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = connect_one(ai, timeout_ms);
    if (fd < 0)
        set_err(ws, "cannot connect", strerror(errno));
    freeaddrinfo(res);
    return fd;
}

static pl_status send_all(cli_ws *ws, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(ws->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN &&
            wait_fd(ws->fd, POLLOUT, WS_SEND_TIMEOUT_MS) > 0)
            continue;
        if (w <= 0) {
            set_err(ws, "send failed", w < 0 ? strerror(errno) : NULL);
            return PL_ERR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return PL_OK;
}

/* Makes room for more input: moves unconsumed bytes to the front and
 * grows the buffer when it is full. 0 or -1. */
static int make_room(cli_ws *ws)
{
    size_t cap = ws->cap ? ws->cap * 2 : WS_BUF_INIT;
    uint8_t *p;

    if (ws->start) {
        memmove(ws->buf, ws->buf + ws->start, ws->len - ws->start);
        ws->len -= ws->start;
        ws->start = 0;
    }
    if (ws->len < ws->cap)
        return 0;
    if (cap > WS_MAX_PAYLOAD + 64)
        return -1;
    if (!(p = realloc(ws->buf, cap)))
        return -1;
    ws->buf = p;
    ws->cap = cap;
    return 0;
}

/* Reads what is available within timeout_ms. PL_OK (got bytes), PL_AGAIN
 * (timeout), PL_DONE (EOF), PL_ERR_IO. */
static pl_status fill(cli_ws *ws, int timeout_ms)
{
    ssize_t n;
    int r;

    if (make_room(ws) < 0) {
        set_err(ws, "message too large", NULL);
        return PL_ERR_IO;
    }
    r = wait_fd(ws->fd, POLLIN, timeout_ms);
    if (r == 0)
        return PL_AGAIN;
    do {
        n = r < 0 ? -1 : recv(ws->fd, ws->buf + ws->len, ws->cap - ws->len, 0);
    } while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return PL_DONE;
    if (n < 0 && errno == EAGAIN)
        return PL_AGAIN;
    if (n < 0) {
        set_err(ws, "receive failed", strerror(errno));
        return PL_ERR_IO;
    }
    ws->len += (size_t)n;
    return PL_OK;
}

/* ---- handshake --------------------------------------------------------- */

static void make_key(char key[32])
{
    uint8_t raw[16];

    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(key, 32, raw, sizeof raw,
                      sodium_base64_VARIANT_ORIGINAL);
}

static pl_status send_upgrade(cli_ws *ws, const char *host, const char *port,
                              const char *prefix, const char *token,
                              const char *key)
{
    char req[PL_JWT_MAX_TOKEN + 1024];
    int bracket = strchr(host, ':') != NULL; /* IPv6 literal */
    int n = snprintf(req, sizeof req,
                     "GET %s/v1/ws HTTP/1.1\r\n"
                     "Host: %s%s%s:%s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Authorization: Bearer %s\r\n"
                     "User-Agent: parley-cli/1\r\n\r\n",
                     prefix, bracket ? "[" : "", host, bracket ? "]" : "",
                     port, key, token);

    if (n < 0 || (size_t)n >= sizeof req) {
        set_err(ws, "token too long", NULL);
        return PL_ERR_INVALID;
    }
    return send_all(ws, (const uint8_t *)req, (size_t)n);
}

/* Length of the response head (through CRLFCRLF), 0 if incomplete. */
static size_t head_len(const uint8_t *p, size_t n)
{
    for (size_t i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' &&
            p[i - 3] == '\r')
            return i + 1;
    return 0;
}

/* Reads until the head is complete. Its length, or 0 on failure. */
static size_t read_head(cli_ws *ws, int64_t deadline)
{
    size_t h;
    pl_status st;

    while ((h = head_len(ws->buf, ws->len)) == 0) {
        if (ws->len >= WS_HEAD_MAX) {
            set_err(ws, "upgrade response head too large", NULL);
            return 0;
        }
        st = fill(ws, remaining_ms(deadline));
        if (st != PL_OK) {
            set_err(ws, st == PL_AGAIN ? "handshake timed out"
                                       : "connection closed in handshake",
                    NULL);
            return 0;
        }
    }
    return h;
}

/* Value of header name in head[0..n) (first match), trimmed; NULL if
 * absent. *vlen receives its length. */
static const char *find_header(const char *head, size_t n, const char *name,
                               size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = memchr(head, '\n', n), *end = head + n;

    while (p && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *v;
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && p[nl] == ':' &&
            strncasecmp(p, name, nl) == 0) {
            for (v = p + nl + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
                ;
            *vlen = (size_t)(eol - v);
            while (*vlen && (v[*vlen - 1] == '\r' || v[*vlen - 1] == ' ' ||
                             v[*vlen - 1] == '\t'))
                (*vlen)--;
            return v;
        }
        p = eol;
    }
    return NULL;
}

/* 1 if the header's comma-separated value list holds token. */
static int header_has(const char *head, size_t n, const char *name,
                      const char *token)
{
    size_t vlen = 0, tl = strlen(token);
    const char *v = find_header(head, n, name, &vlen), *end;

    if (!v)
        return 0;
    end = v + vlen;
    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v)), *e;
        e = comma ? comma : end;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - v) == tl && strncasecmp(v, token, tl) == 0)
            return 1;
        v = comma ? comma + 1 : end;
    }
    return 0;
}

static int parse_status(const char *head, size_t n)
{
    int code = 0;

    if (n < 12 || strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++) {
        if (head[i] < '0' || head[i] > '9')
            return -1;
        code = code * 10 + (head[i] - '0');
    }
    return code;
}

/* For a refused upgrade: reads the JSON error body into ws->err. */
static void read_error_body(cli_ws *ws, size_t hlen, int64_t deadline)
{
    size_t vlen, want = 0;
    const char *cl = find_header((const char *)ws->buf, hlen,
                                 "Content-Length", &vlen);
    json_t *j, *e;

    if (cl)
        want = (size_t)strtoul(cl, NULL, 10);
    if (want > WS_ERRBODY_MAX)
        want = WS_ERRBODY_MAX;
    while (ws->len - hlen < want && fill(ws, remaining_ms(deadline)) == PL_OK)
        ;
    if (ws->len - hlen < want)
        want = ws->len - hlen;
    j = json_loadb((const char *)ws->buf + hlen, want, 0, NULL);
    e = json_object_get(j, "error");
    snprintf(ws->err, sizeof ws->err, "%s: %s (HTTP %d)",
             json_string_value(json_object_get(e, "code")) ?: "upgrade refused",
             json_string_value(json_object_get(e, "message")) ?: "",
             ws->http_status);
    json_decref(j);
}

static pl_status check_upgrade(cli_ws *ws, const char *key, size_t hlen)
{
    const char *head = (const char *)ws->buf;
    char expect[29];
    size_t alen;
    const char *acc = find_header(head, hlen, "Sec-WebSocket-Accept", &alen);

    if (!header_has(head, hlen, "Upgrade", "websocket") ||
        !header_has(head, hlen, "Connection", "upgrade")) {
        set_err(ws, "server did not upgrade to WebSocket", NULL);
        return PL_ERR_PROTO;
    }
    if (pl_ws_accept_key(key, strlen(key), expect) < 0 || !acc ||
        alen != strlen(expect) || memcmp(acc, expect, alen) != 0) {
        set_err(ws, "bad Sec-WebSocket-Accept from server", NULL);
        return PL_ERR_PROTO;
    }
    ws->start = hlen; /* frames may follow the head at once */
    return PL_OK;
}

static pl_status handshake(cli_ws *ws, const char *host, const char *port,
                           const char *prefix, const char *token,
                           int64_t deadline)
{
    char key[32];
    size_t hlen;
    pl_status st;

    make_key(key);
    st = send_upgrade(ws, host, port, prefix, token, key);
    if (st != PL_OK)
        return st;
    if ((hlen = read_head(ws, deadline)) == 0)
        return PL_ERR_IO;
    ws->http_status = parse_status((const char *)ws->buf, hlen);
    if (ws->http_status == 101)
        return check_upgrade(ws, key, hlen);
    if (ws->http_status < 0) {
        set_err(ws, "bad HTTP response to the upgrade", NULL);
        return PL_ERR_PROTO;
    }
    read_error_body(ws, hlen, deadline);
    return ws->http_status == 401 ? PL_ERR_UNAUTH : PL_ERR_IO;
}

pl_status cli_ws_connect(cli_ws *ws, const char *base_url, const char *token,
                         int timeout_ms)
{
    char host[256], port[16], prefix[512];
    int64_t deadline = pl_mono_ms() + timeout_ms;

    memset(ws, 0, sizeof *ws);
    ws->fd = -1;
    ws->close_code = 1006;
    if (cli_ws_parse_url(base_url, host, sizeof host, port, sizeof port,
                         prefix, sizeof prefix) < 0) {
        set_err(ws, "unsupported URL (only http://HOST[:PORT])", base_url);
        return PL_ERR_INVALID;
    }
    ws->fd = tcp_connect(ws, host, port, timeout_ms);
    if (ws->fd < 0)
        return PL_ERR_IO;
    return handshake(ws, host, port, prefix, token, deadline);
}

/* ---- frames ------------------------------------------------------------ */

static pl_status send_frame(cli_ws *ws, int opcode, const void *data,
                            size_t len)
{
    uint8_t mask[4], *frame;
    size_t h;
    pl_status st;

    if (ws->fd < 0)
        return PL_ERR_IO;
    if (!(frame = malloc(len + 14)))
        return PL_ERR_NOMEM;
    randombytes_buf(mask, sizeof mask);
    h = pl_ws_write_header_masked(frame, 1, opcode, len, mask);
    if (len)
        memcpy(frame + h, data, len);
    pl_ws_unmask(frame + h, len, mask, 0); /* XOR: masking == unmasking */
    st = send_all(ws, frame, h + len);
    free(frame);
    return st;
}

pl_status cli_ws_send_text(cli_ws *ws, const char *data, size_t len)
{
    return send_frame(ws, PL_WS_TEXT, data, len);
}

static void close_fd(cli_ws *ws)
{
    if (ws->fd >= 0)
        close(ws->fd);
    ws->fd = -1;
}

void cli_ws_close(cli_ws *ws, int code)
{
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};

    if (ws->fd >= 0 && !ws->close_sent) {
        ws->close_sent = 1;
        send_frame(ws, PL_WS_CLOSE, p, code ? 2 : 0);
    }
    close_fd(ws);
}

void cli_ws_free(cli_ws *ws)
{
    close_fd(ws);
    free(ws->buf);
    free(ws->msg);
    ws->buf = ws->msg = NULL;
}

/* The peer broke the protocol: tell it why and give up. */
static pl_status fail(cli_ws *ws, int code, const char *why)
{
    set_err(ws, "protocol error from server", why);
    cli_ws_close(ws, code);
    ws->close_code = code;
    return PL_ERR_PROTO;
}

static pl_status on_close(cli_ws *ws, const uint8_t *p, size_t n)
{
    ws->close_code = n >= 2 ? (p[0] << 8 | p[1]) : 1005;
    /* Echo the code, as RFC 6455 5.5.1 asks; 1005 must not be sent. */
    cli_ws_close(ws, ws->close_code == 1005 ? 0 : ws->close_code);
    snprintf(ws->err, sizeof ws->err, "server closed the connection (%d)",
             ws->close_code);
    return PL_DONE;
}

/* Appends a fragment to the message being assembled. */
static pl_status append_msg(cli_ws *ws, const uint8_t *p, size_t n)
{
    uint8_t *m;

    if (ws->msg_len + n > WS_MAX_PAYLOAD)
        return fail(ws, PL_WS_CLOSE_TOO_BIG, "message too large");
    if (!(m = realloc(ws->msg, ws->msg_len + n + 1)))
        return fail(ws, PL_WS_CLOSE_INTERNAL, "out of memory");
    ws->msg = m;
    if (n)
        memcpy(m + ws->msg_len, p, n);
    ws->msg_len += n;
    return PL_OK;
}

/* A data frame: a whole message, or a fragment of one. PL_OK when a
 * message is complete in *data, PL_AGAIN when more fragments follow. */
static pl_status on_data(cli_ws *ws, const pl_ws_frame *f, const uint8_t *p,
                         const char **data, size_t *len)
{
    pl_status st;

    if ((f->opcode == PL_WS_CONT) != (ws->in_msg != 0))
        return fail(ws, PL_WS_CLOSE_PROTOCOL, "bad fragmentation");
    if (f->fin && !ws->in_msg) {
        *data = (const char *)p;
        *len = (size_t)f->payload_len;
        return PL_OK;
    }
    if (!ws->in_msg)
        ws->msg_len = 0;
    st = append_msg(ws, p, (size_t)f->payload_len);
    if (st != PL_OK)
        return st;
    ws->in_msg = !f->fin;
    if (!f->fin)
        return PL_AGAIN;
    *data = (const char *)ws->msg;
    *len = ws->msg_len;
    return PL_OK;
}

static pl_status on_frame(cli_ws *ws, const pl_ws_frame *f, const uint8_t *p,
                          const char **data, size_t *len)
{
    switch (f->opcode) {
    case PL_WS_PING:
        return send_frame(ws, PL_WS_PONG, p, (size_t)f->payload_len) == PL_OK
                   ? PL_AGAIN
                   : PL_ERR_IO;
    case PL_WS_PONG:
        return PL_AGAIN;
    case PL_WS_CLOSE:
        return on_close(ws, p, (size_t)f->payload_len);
    default:
        return on_data(ws, f, p, data, len);
    }
}

/* Takes the next complete frame out of the buffer: PL_OK with f and *p
 * set, PL_AGAIN if more bytes are needed, PL_ERR_PROTO. */
static pl_status next_frame(cli_ws *ws, pl_ws_frame *f, const uint8_t **p)
{
    long n = pl_ws_parse_header(ws->buf + ws->start, ws->len - ws->start,
                                WS_MAX_PAYLOAD, f);

    if (n == PL_WS_INCOMPLETE)
        return PL_AGAIN;
    if (n == PL_WS_ERR_TOO_BIG)
        return fail(ws, PL_WS_CLOSE_TOO_BIG, "frame too large");
    if (n < 0)
        return fail(ws, PL_WS_CLOSE_PROTOCOL, "bad frame header");
    if (f->masked || f->rsv)
        return fail(ws, PL_WS_CLOSE_PROTOCOL, "masked frame or RSV bits");
    *p = ws->buf + ws->start + f->header_len;
    ws->start += (size_t)n;
    return PL_OK;
}

pl_status cli_ws_recv(cli_ws *ws, int timeout_ms, const char **data,
                      size_t *len)
{
    int64_t deadline = pl_mono_ms() + timeout_ms;
    const uint8_t *p = NULL;
    pl_ws_frame f;
    pl_status st;

    for (;;) {
        if (ws->fd < 0)
            return PL_DONE;
        st = next_frame(ws, &f, &p);
        if (st == PL_OK) {
            st = on_frame(ws, &f, p, data, len);
            if (st == PL_AGAIN)
                continue; /* a control frame or a fragment: look again */
            return st;
        }
        if (st != PL_AGAIN)
            return st;
        st = fill(ws, remaining_ms(deadline));
        if (st == PL_DONE) {
            set_err(ws, "connection closed by server", NULL);
            close_fd(ws);
            return PL_DONE;
        }
        if (st != PL_OK)
            return st;
    }
}
