/* http_parse.c - zero-copy HTTP/1.x request head parser.
 *
 * The parser works line by line over the caller's buffer. A line that has
 * not fully arrived yields -2 (the caller bounds the head size); a complete
 * line that is malformed yields -1 at once, so garbage is rejected early. */
#include "proto/http_parse.h"

#include <string.h>

/* Character classes, one bit each, so every inner loop is one table load. */
#define C_TCHAR 0x01  /* RFC 9110 token character */
#define C_VALUE 0x02  /* field-value: VCHAR, obs-text, SP, HTAB */
#define C_TARGET 0x04 /* request-target: VCHAR only (RFC 3986 is ASCII) */

/* Controls (incl. NUL, CR, DEL) are in no class, so they end every span. */
static const unsigned char char_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, /*  !"#$%&'()*+,-./ */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, /* 0-9 :;<=>? */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* @A-O */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7, /* P-Z [\]^_ */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* `a-o */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0, /* p-z {|}~ DEL */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* obs-text */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

static inline int is_class(unsigned char c, unsigned char k)
{
    return (char_class[c] & k) != 0;
}

/* Length of the leading run of bytes in class k within p[0..len). */
static size_t span_class(const char *p, size_t len, unsigned char k)
{
    size_t i = 0;

    while (i < len && is_class((unsigned char)p[i], k))
        i++;
    return i;
}

/* Finds the next line in buf[pos..len). On success sets line and line_len
 * (without CR LF or LF) and returns the offset just past the LF; returns 0
 * if the line is incomplete. A CR anywhere but just before the LF stays in
 * the line and is rejected later as a control character. */
static size_t next_line(const char *buf, size_t len, size_t pos,
                        const char **line, size_t *line_len)
{
    const char *lf = memchr(buf + pos, '\n', len - pos);
    size_t n;

    if (lf == NULL)
        return 0;
    n = (size_t)(lf - (buf + pos));
    if (n > 0 && buf[pos + n - 1] == '\r')
        n--;
    *line = buf + pos;
    *line_len = n;
    return (size_t)(lf - buf) + 1;
}

static int parse_version(const char *p, size_t len, int *minor)
{
    if (len != 8 || memcmp(p, "HTTP/1.", 7) != 0)
        return -1;
    if (p[7] != '0' && p[7] != '1')
        return -1;
    *minor = p[7] - '0';
    return 0;
}

static void split_target(pl_http_request *req)
{
    const char *q = memchr(req->target.p, '?', req->target.len);

    req->path.p = req->target.p;
    if (q == NULL) {
        req->path.len = req->target.len;
        req->query.p = req->target.p + req->target.len;
        req->query.len = 0;
        return;
    }
    req->path.len = (size_t)(q - req->target.p);
    req->query.p = q + 1;
    req->query.len = req->target.len - req->path.len - 1;
}

/* request-line = method SP request-target SP HTTP-version */
static int parse_request_line(const char *p, size_t len, pl_http_request *req)
{
    size_t m = span_class(p, len, C_TCHAR), t;

    if (m == 0 || m >= len || p[m] != ' ')
        return -1;
    req->method.p = p;
    req->method.len = m;
    p += m + 1;
    len -= m + 1;
    t = span_class(p, len, C_TARGET);
    if (t == 0 || t >= len || p[t] != ' ')
        return -1;
    if (p[0] != '/' && !(t == 1 && p[0] == '*'))
        return -1;
    req->target.p = p;
    req->target.len = t;
    split_target(req);
    return parse_version(p + t + 1, len - t - 1, &req->minor_version);
}

/* field-line = field-name ":" OWS field-value OWS */
static int parse_header_line(const char *p, size_t len, pl_http_header *h)
{
    size_t n = span_class(p, len, C_TCHAR), end;

    /* n == 0 also covers obs-fold: a line starting with SP or HTAB. */
    if (n == 0 || n >= len || p[n] != ':')
        return -1;
    if (span_class(p + n + 1, len - n - 1, C_VALUE) != len - n - 1)
        return -1;
    h->name.p = p;
    h->name.len = n;
    p += n + 1;
    len -= n + 1;
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    end = len;
    while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
        end--;
    h->value.p = p;
    h->value.len = end;
    return 0;
}

int pl_http_parse_request(const char *buf, size_t len, pl_http_request *req)
{
    const char *line;
    size_t line_len, pos;

    req->nheaders = 0;
    if (len == 0)
        return -2;
    /* RFC 9112 2.2: ignore empty lines before the request-line (some
     * clients send a stray CRLF after a body). */
    pos = 0;
    do {
        pos = next_line(buf, len, pos, &line, &line_len);
        if (pos == 0)
            return -2;
    } while (line_len == 0);
    if (parse_request_line(line, line_len, req) != 0)
        return -1;
    for (;;) {
        size_t next = next_line(buf, len, pos, &line, &line_len);
        if (next == 0)
            return -2;
        pos = next;
        if (line_len == 0)
            break;
        if (req->nheaders == PL_HTTP_MAX_HEADERS)
            return -1;
        if (parse_header_line(line, line_len,
                              &req->headers[req->nheaders]) != 0)
            return -1;
        req->nheaders++;
    }
    /* Heads are bounded by max-header (KiB), far below INT_MAX; refuse
     * rather than truncate if a caller ever passes more. */
    return pos > 0x7fffffff ? -1 : (int)pos;
}

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int str_ieq(const char *a, const char *b, size_t n)
{
    const unsigned char *x = (const unsigned char *)a;
    const unsigned char *y = (const unsigned char *)b;

    for (size_t i = 0; i < n; i++) {
        if (ascii_lower(x[i]) != ascii_lower(y[i]))
            return 0;
    }
    return 1;
}

const pl_http_header *pl_http_find_header(const pl_http_request *req,
                                          const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < req->nheaders; i++) {
        const pl_http_header *h = &req->headers[i];
        if (h->name.len == n && str_ieq(h->name.p, name, n))
            return h;
    }
    return NULL;
}

int pl_http_has_token(pl_str value, const char *token)
{
    size_t tlen = strlen(token), i = 0;

    if (tlen == 0)
        return 0;
    while (i <= value.len) {
        size_t start = i, end;
        while (i < value.len && value.p[i] != ',')
            i++;
        end = i;
        while (start < end && (value.p[start] == ' ' || value.p[start] == '\t'))
            start++;
        while (end > start &&
               (value.p[end - 1] == ' ' || value.p[end - 1] == '\t'))
            end--;
        /* cppcheck-suppress knownConditionTrueFalse ; 2.10 value-flow
         * bug: the trims above make end - start anything up to len */
        if (end - start == tlen && str_ieq(value.p + start, token, tlen))
            return 1;
        i++; /* skip the comma (or step past the end) */
    }
    return 0;
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = ascii_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes v[0..len) into out. A NUL (raw or %00) counts as
 * malformed: out is used as a C string, and an embedded NUL would let
 * "alice%00x" pass as "alice". */
static long query_decode(const char *v, size_t len, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)v[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (len - i < 3)
                return -2;
            hi = hex_val((unsigned char)v[i + 1]);
            lo = hex_val((unsigned char)v[i + 2]);
            if (hi < 0 || lo < 0)
                return -2;
            c = hi << 4 | lo;
            i += 2;
        }
        if (c == 0)
            return -2;
        if (o + 1 >= cap)
            return -2;
        out[o++] = (char)c;
    }
    if (cap == 0)
        return -2;
    out[o] = '\0';
    return (long)o;
}

long pl_http_query_param(pl_str query, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name), i = 0;

    while (i < query.len) {
        const char *pair = query.p + i;
        const char *amp = memchr(pair, '&', query.len - i);
        size_t plen = amp ? (size_t)(amp - pair) : query.len - i;
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq ? (size_t)(eq - pair) : plen;

        if (klen == nlen && memcmp(pair, name, nlen) == 0) {
            if (eq == NULL)
                return query_decode(pair, 0, out, cap);
            return query_decode(eq + 1, plen - klen - 1, out, cap);
        }
        i += plen + 1;
    }
    return -1;
}
