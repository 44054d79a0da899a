/* timeutil.c - clocks and RFC 3339 UTC timestamps with milliseconds. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* timegm, gmtime_r; the build defines it too */
#endif
#include "timeutil.h"

#include <string.h>
#include <time.h>

/* Years 0000..9999 keep the fixed-width format; clamp to that range so a
 * wild value can never produce a longer string. */
#define MIN_MS (-62167219200000LL)  /* 0000-01-01T00:00:00.000Z */
#define MAX_MS (253402300799999LL)  /* 9999-12-31T23:59:59.999Z */

int64_t pl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pl_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t pl_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Writes v (0 <= v < 10^width) as exactly width decimal digits. */
static char *put_digits(char *p, int v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

char *pl_time_fmt(int64_t unix_ms, char *buf)
{
    struct tm tm;
    char *p = buf;

    if (unix_ms < MIN_MS)
        unix_ms = MIN_MS;
    if (unix_ms > MAX_MS)
        unix_ms = MAX_MS;
    /* Floor division: -1 ms is 1969-12-31T23:59:59.999Z. */
    int64_t sec = unix_ms / 1000, ms = unix_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof tm); /* unreachable for the clamped range */
    p = put_digits(p, tm.tm_year + 1900, 4);
    *p++ = '-';
    p = put_digits(p, tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, (int)ms, 3);
    *p++ = 'Z';
    *p = '\0';
    return buf;
}

/* A cursor over the input that never reads past end. */
typedef struct tcur {
    const char *p, *end;
} tcur;

/* Reads exactly n decimal digits. */
static int read_digits(tcur *c, int n, int *out)
{
    int v = 0;

    if (c->end - c->p < n)
        return -1;
    for (int i = 0; i < n; i++) {
        char ch = c->p[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    c->p += n;
    *out = v;
    return 0;
}

static int expect(tcur *c, char a, char b)
{
    if (c->p >= c->end || (*c->p != a && *c->p != b))
        return -1;
    c->p++;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Parses "YYYY-MM-DDTHH:MM:SS" into tm fields, range-checked. */
static int parse_datetime(tcur *c, struct tm *tm)
{
    int y, mo, d, h, mi, s;

    if (read_digits(c, 4, &y) || expect(c, '-', '-') ||
        read_digits(c, 2, &mo) || expect(c, '-', '-') ||
        read_digits(c, 2, &d) || expect(c, 'T', 't') ||
        read_digits(c, 2, &h) || expect(c, ':', ':') ||
        read_digits(c, 2, &mi) || expect(c, ':', ':') ||
        read_digits(c, 2, &s))
        return -1;
    /* Second 60 is a leap second (RFC 3339); timegm rolls it over. */
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || s > 60)
        return -1;
    *tm = (struct tm){.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                      .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return 0;
}

/* Optional ".digits": milliseconds from the first three, rest ignored. */
static int parse_fraction(tcur *c, int *ms)
{
    int n = 0, scale = 100;

    *ms = 0;
    if (c->p >= c->end || *c->p != '.')
        return 0;
    c->p++;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (n < 3) {
            *ms += (*c->p - '0') * scale;
            scale /= 10;
        }
        n++;
        c->p++;
    }
    return n >= 1 && n <= 9 ? 0 : -1;
}

/* "Z" or "+HH:MM" / "-HH:MM": seconds east of UTC. */
static int parse_offset(tcur *c, int *off_s)
{
    int sign, h, m;

    if (c->p >= c->end)
        return -1;
    if (*c->p == 'Z' || *c->p == 'z') {
        c->p++;
        *off_s = 0;
        return 0;
    }
    if (*c->p != '+' && *c->p != '-')
        return -1;
    sign = *c->p == '-' ? -1 : 1;
    c->p++;
    if (read_digits(c, 2, &h) || expect(c, ':', ':') || read_digits(c, 2, &m))
        return -1;
    if (h > 23 || m > 59)
        return -1;
    *off_s = sign * (h * 3600 + m * 60);
    return 0;
}

pl_status pl_time_parse(const char *s, size_t len, int64_t *unix_ms)
{
    tcur c;
    struct tm tm;
    int ms, off_s;

    if (s == NULL) /* checked before s + len: NULL + 0 is undefined */
        return PL_ERR_INVALID;
    c = (tcur){s, s + len};
    if (parse_datetime(&c, &tm) || parse_fraction(&c, &ms) ||
        parse_offset(&c, &off_s) || c.p != c.end)
        return PL_ERR_INVALID;
    time_t t = timegm(&tm);
    int64_t sec = (int64_t)t - off_s;
    *unix_ms = sec * 1000 + ms;
    return PL_OK;
}
