/* log.c - one JSON object per line on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "timeutil.h"

static atomic_int log_level = PL_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void pl_log_set_level(int level) { atomic_store(&log_level, level); }

int pl_log_enabled(int level) { return level >= atomic_load(&log_level); }

int pl_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

typedef struct line {
    char buf[2048];
    size_t len;
} line;

static void put(line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 2 - l->len; /* keep "}\n" */
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Appends s as a JSON string body (without quotes), escaping as needed. */
static void put_escaped(line *l, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c < 0x20) {
            int n = snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(l, esc, (size_t)n);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
}

static void put_field(line *l, const char *key, int type, va_list *ap)
{
    char num[64];
    int n = 0;
    put(l, ",\"", 2);
    put_escaped(l, key);
    put(l, "\":", 2);
    if (type == PL_LS) {
        const char *v = va_arg(*ap, const char *);
        put(l, "\"", 1);
        put_escaped(l, v ? v : "");
        put(l, "\"", 1);
        return;
    }
    if (type == PL_LI)
        n = snprintf(num, sizeof(num), "%lld", (long long)va_arg(*ap, int64_t));
    else
        n = snprintf(num, sizeof(num), "%.6g", va_arg(*ap, double));
    put(l, num, (size_t)n);
}

void pl_log(int level, const char *event, ...)
{
    if (!pl_log_enabled(level))
        return;
    line l = {.len = 0};
    char ts[PL_TIME_STRLEN + 1];
    put(&l, "{\"ts\":\"", 7);
    put(&l, pl_time_fmt(pl_now_ms(), ts), PL_TIME_STRLEN);
    put(&l, "\",\"level\":\"", 11);
    put(&l, level_names[level & 3], strlen(level_names[level & 3]));
    put(&l, "\",\"event\":\"", 11);
    put_escaped(&l, event);
    put(&l, "\"", 1);
    va_list ap;
    va_start(ap, event);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        int type = va_arg(ap, int);
        put_field(&l, key, type, &ap);
    }
    va_end(ap);
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    ssize_t w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
}
