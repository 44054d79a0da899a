/* netaddr.c - see netaddr.h. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void pl_ipaddr_from_v4(pl_ipaddr *a, uint32_t v4)
{
    memcpy(a->b, v4_prefix, 12);
    memcpy(a->b + 12, &v4, 4);
}

bool pl_ipaddr_is_v4(const pl_ipaddr *a)
{
    return memcmp(a->b, v4_prefix, 12) == 0;
}

bool pl_ipaddr_parse(const char *s, size_t len, pl_ipaddr *out)
{
    char buf[PL_IPADDR_STRLEN];
    struct in_addr v4;

    if (len == 0 || len >= sizeof buf || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        pl_ipaddr_from_v4(out, v4.s_addr);
        return true;
    }
    return inet_pton(AF_INET6, buf, out->b) == 1;
}

char *pl_ipaddr_fmt(const pl_ipaddr *a, char *out)
{
    if (pl_ipaddr_is_v4(a))
        inet_ntop(AF_INET, a->b + 12, out, PL_IPADDR_STRLEN);
    else
        inet_ntop(AF_INET6, a->b, out, PL_IPADDR_STRLEN);
    return out;
}

pl_ipaddr pl_ipaddr_limit_key(const pl_ipaddr *a)
{
    pl_ipaddr k = *a;
    if (!pl_ipaddr_is_v4(a))
        memset(k.b + 8, 0, 8);
    return k;
}

/* --- CIDR lists ----------------------------------------------------------- */

static void clear_host_bits(pl_ipaddr *a, int bits)
{
    for (int i = 0; i < 16; i++) {
        int keep = bits - 8 * i; /* bits of this byte that are prefix */
        if (keep >= 8)
            continue;
        a->b[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
    }
}

static bool prefix_match(const pl_cidr *c, const pl_ipaddr *a)
{
    pl_ipaddr m = *a;
    clear_host_bits(&m, c->bits);
    return memcmp(m.b, c->net.b, 16) == 0;
}

bool pl_cidr_list_match(const pl_cidr_list *l, const pl_ipaddr *a)
{
    for (int i = 0; i < l->n; i++)
        if (prefix_match(&l->v[i], a))
            return true;
    return false;
}

static void seterr(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (!err || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* One item "ADDR" or "ADDR/BITS" of [s, s + len). */
static bool parse_cidr(const char *s, size_t len, pl_cidr *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (!pl_ipaddr_parse(s, alen, &out->net))
        return false;
    int max = pl_ipaddr_is_v4(&out->net) ? 32 : 128, bits = max;
    if (slash) {
        size_t n = len - alen - 1;
        if (n == 0 || n > 3)
            return false;
        bits = 0;
        for (size_t i = 0; i < n; i++) {
            char c = slash[1 + i];
            if (c < '0' || c > '9')
                return false;
            bits = bits * 10 + (c - '0');
        }
        if (bits > max)
            return false;
    }
    out->bits = max == 32 ? 96 + bits : bits;
    clear_host_bits(&out->net, out->bits);
    return true;
}

pl_status pl_cidr_list_parse(const char *s, pl_cidr_list *out, char *err,
                             size_t errcap)
{
    out->n = 0;
    if (strcmp(s, "none") == 0)
        return PL_OK;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ','), *e = comma ? comma : p + strlen(p);
        while (p < e && *p == ' ')
            p++;
        while (e > p && e[-1] == ' ')
            e--;
        if (out->n == PL_CIDR_MAX) {
            seterr(err, errcap, "more than %d entries", PL_CIDR_MAX);
            return PL_ERR_INVALID;
        }
        if (!parse_cidr(p, (size_t)(e - p), &out->v[out->n])) {
            seterr(err, errcap, "'%.*s' is not ADDR or ADDR/BITS", (int)(e - p),
                   p);
            return PL_ERR_INVALID;
        }
        out->n++;
        if (!comma)
            return PL_OK;
        p = comma + 1;
    }
}

/* --- X-Forwarded-For ------------------------------------------------------ */

/* One list entry, trimmed: "ADDR", "[V6]", "[V6]:PORT" or "V4:PORT". */
static bool parse_entry(const char *s, size_t len, pl_ipaddr *out)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return false;
        return pl_ipaddr_parse(s + 1, (size_t)(close - s - 1), out);
    }
    const char *colon = memchr(s, ':', len);
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
        len = (size_t)(colon - s); /* one colon: IPv4 with a port */
    return pl_ipaddr_parse(s, len, out);
}

pl_ipaddr pl_forwarded_client(const pl_cidr_list *trusted,
                              const pl_ipaddr *peer, const char *const *vals,
                              const size_t *lens, size_t n)
{
    pl_ipaddr cur = *peer;
    for (size_t h = n; h-- > 0;) {
        const char *v = vals[h];
        size_t end = lens[h];
        for (;;) { /* entries right to left */
            size_t start = end;
            while (start > 0 && v[start - 1] != ',')
                start--;
            pl_ipaddr a;
            if (!parse_entry(v + start, end - start, &a))
                return cur;
            cur = a;
            if (!pl_cidr_list_match(trusted, &a))
                return cur;
            if (start == 0)
                break;
            end = start - 1; /* skip the comma */
        }
    }
    return cur;
}
