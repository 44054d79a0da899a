/* srvmon.c - see srvmon.h. */
#include "bench/srvmon.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

/* utime + stime and the thread's name from a /proc/.../stat file. The
 * name is between the first '(' and the last ')' (it may hold spaces). */
static int read_stat(const char *path, char name[16], uint64_t *ticks)
{
    char buf[1024];
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *l = strchr(buf, '('), *r = strrchr(buf, ')');
    if (!l || !r || r < l)
        return -1;
    size_t nl = (size_t)(r - l - 1) < 15 ? (size_t)(r - l - 1) : 15;
    memcpy(name, l + 1, nl);
    name[nl] = '\0';
    unsigned long long ut, st;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (sscanf(r + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return -1;
    *ticks = ut + st;
    return 0;
}

void srvmon_init(srvmon *m, int pid)
{
    memset(m, 0, sizeof(*m));
    m->pid = pid;
}

void srvmon_free(srvmon *m)
{
    free(m->s);
    m->s = NULL;
    m->n = m->cap = 0;
}

void srvmon_sample(srvmon *m, double t, uint64_t delivered)
{
    char path[64], name[16];
    uint64_t ticks;
    if (m->pid <= 0)
        return;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 128;
        srvmon_point *s = realloc(m->s, cap * sizeof(*s));
        if (!s)
            return;
        m->s = s;
        m->cap = cap;
    }
    snprintf(path, sizeof(path), "/proc/%d/stat", m->pid);
    if (read_stat(path, name, &ticks) < 0)
        return;
    m->s[m->n++] = (srvmon_point){t, bench_rss_kib(m->pid),
                                   (double)ticks / (double)sysconf(_SC_CLK_TCK),
                                   delivered};
}

void srvmon_window(srvmon *m, int edge, double t, uint64_t delivered)
{
    char path[96];
    struct dirent *e;
    if (m->pid <= 0 || edge < 0 || edge > 1)
        return;
    snprintf(path, sizeof(path), "/proc/%d/task", m->pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    m->nth[edge] = 0;
    while ((e = readdir(d)) && m->nth[edge] < SRVMON_MAX_THREADS) {
        srvmon_thread *th = &m->th[edge][m->nth[edge]];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        th->tid = atoi(e->d_name);
        snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", m->pid, th->tid);
        if (read_stat(path, th->name, &th->ticks) == 0)
            m->nth[edge]++;
    }
    closedir(d);
    m->dlv[edge] = delivered;
    m->tw[edge] = t;
    m->have[edge] = 1;
}

/* Ticks a thread spent in the window (0 if it did not live through it). */
static uint64_t thread_ticks(const srvmon *m, size_t i)
{
    const srvmon_thread *b = &m->th[1][i];
    for (size_t k = 0; k < m->nth[0]; k++)
        if (m->th[0][k].tid == b->tid)
            return b->ticks - m->th[0][k].ticks;
    return 0;
}

/* CPU milliseconds per 1,000 deliveries, from ticks; -1 if unknown. */
static double per_1k(const srvmon *m, uint64_t ticks)
{
    uint64_t dlv = m->dlv[1] - m->dlv[0];
    if (!m->have[0] || !m->have[1] || dlv == 0)
        return -1;
    return (double)ticks * 1000.0 / (double)sysconf(_SC_CLK_TCK) * 1000.0 /
           (double)dlv;
}

static json_t *threads_json(const srvmon *m, uint64_t *total)
{
    json_t *o = json_object();
    *total = 0;
    for (size_t i = 0; m->have[1] && i < m->nth[1]; i++) {
        uint64_t t = thread_ticks(m, i);
        char key[40];
        *total += t;
        snprintf(key, sizeof(key), "%s/%d", m->th[1][i].name, m->th[1][i].tid);
        json_object_set_new(o, key, json_real(per_1k(m, t)));
    }
    return o;
}

/* Least-squares slope of RSS (KiB per minute) over the samples with t in
 * [a, b]; 0 with fewer than 3 samples. */
static double rss_slope(const srvmon *m, double a, double b)
{
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < m->n; i++) {
        double x = m->s[i].t / 60.0, y = (double)m->s[i].rss_kib;
        if (m->s[i].t < a || m->s[i].t > b)
            continue;
        n++;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    double den = n * sxx - sx * sx;
    return n >= 3 && den != 0 ? (n * sxy - sx * sy) / den : 0;
}

/* RSS over the window: first, last, max, and the growth rate over its
 * second half (a leak shows as a slope that does not flatten). */
static json_t *rss_json(const srvmon *m)
{
    long first = -1, last = -1, max = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->s[i].t < m->tw[0] || m->s[i].t > m->tw[1])
            continue;
        if (first < 0)
            first = m->s[i].rss_kib;
        last = m->s[i].rss_kib;
        max = m->s[i].rss_kib > max ? m->s[i].rss_kib : max;
    }
    double mid = (m->tw[0] + m->tw[1]) / 2;
    return json_pack("{s:I, s:I, s:I, s:f}", "window_first_kib",
                     (json_int_t)first, "window_last_kib", (json_int_t)last,
                     "window_max_kib", (json_int_t)max,
                     "second_half_kib_per_min", rss_slope(m, mid, m->tw[1]));
}

json_t *srvmon_json(const srvmon *m)
{
    uint64_t total;
    if (m->pid <= 0)
        return json_null();
    json_t *series = json_array();
    for (size_t i = 0; i < m->n; i++)
        json_array_append_new(
            series, json_pack("{s:f, s:I, s:f, s:I}", "t", m->s[i].t, "rss_kib",
                              (json_int_t)m->s[i].rss_kib, "cpu_s",
                              m->s[i].cpu_s, "delivered",
                              (json_int_t)m->s[i].delivered));
    json_t *th = threads_json(m, &total);
    double w = m->tw[1] - m->tw[0];
    return json_pack("{s:i, s:f, s:f, s:o, s:o, s:o}", "pid", m->pid,
                     "cpu_ms_per_1k_deliveries", per_1k(m, total),
                     "cpu_cores_in_window",
                     m->have[1] && w > 0
                         ? (double)total / (double)sysconf(_SC_CLK_TCK) / w
                         : -1.0,
                     "threads_cpu_ms_per_1k", th, "rss", rss_json(m),
                     "samples", series);
}

void srvmon_print(const srvmon *m, FILE *f)
{
    uint64_t total = 0;
    long rmax = 0;
    if (m->pid <= 0) {
        fprintf(f, "  server        not measured (no local server pid)\n");
        return;
    }
    if (!m->have[0] || !m->have[1]) {
        fprintf(f, "  server        not measured (pid %d: the window was not "
                   "sampled)\n", m->pid);
        return;
    }
    fprintf(f, "  server CPU    ");
    for (size_t i = 0; i < m->nth[1]; i++) {
        uint64_t t = thread_ticks(m, i);
        total += t;
        if (t > 0)
            fprintf(f, "%s %.2f  ", m->th[1][i].name, per_1k(m, t));
    }
    fprintf(f, "= %.2f ms per 1,000 deliveries (pid %d)\n", per_1k(m, total),
            m->pid);
    for (size_t i = 0; i < m->n; i++)
        rmax = m->s[i].rss_kib > rmax ? m->s[i].rss_kib : rmax;
    if (m->n)
        fprintf(f, "  server RSS    %ld KiB at start, %ld KiB at end, max %ld "
                   "KiB (%zu samples); second half of the window: %+.0f "
                   "KiB/min\n",
                m->s[0].rss_kib, m->s[m->n - 1].rss_kib, rmax, m->n,
                rss_slope(m, (m->tw[0] + m->tw[1]) / 2, m->tw[1]));
}
