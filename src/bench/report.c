/* report.c - terminal tables and JSON result files (see report.h). */
#include "bench/report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

double report_ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* "model name" from /proc/cpuinfo into buf. */
static void cpu_model(char *buf, size_t cap)
{
    char line[512];
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 2 - (colon[1] != ' ');
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(buf, cap, "%s", colon);
            break;
        }
    }
    fclose(f);
}

static json_t *machine(void)
{
    char model[256];
    struct utsname u;
    cpu_model(model, sizeof(model));
    if (uname(&u) < 0)
        memset(&u, 0, sizeof(u));
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGE_SIZE);
    return json_pack("{s:i, s:s, s:s, s:s, s:I}", "nproc",
                     (int)sysconf(_SC_NPROCESSORS_ONLN), "model", model,
                     "kernel", u.release, "hostname", u.nodename, "mem_mib",
                     (json_int_t)((double)pages * (double)psz / 1048576.0));
}

static json_t *command_line(const bench_opts *o)
{
    size_t len = 0;
    for (int i = 0; i < o->argc; i++)
        len += strlen(o->argv[i]) + 1;
    char *s = malloc(len + 1), *p = s;
    if (!s)
        return json_null();
    for (int i = 0; i < o->argc; i++) {
        size_t n = strlen(o->argv[i]);
        memcpy(p, o->argv[i], n);
        p += n;
        *p++ = i + 1 < o->argc ? ' ' : '\0';
    }
    if (o->argc == 0)
        *p = '\0';
    json_t *j = json_string(s);
    free(s);
    return j ? j : json_null();
}

/* The 1-minute load average: other work on the machine skews results. */
static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "re");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* When the run started, and the load then (set by report_init). */
static time_t start_time;
static double start_load = -1;

void report_init(void)
{
    start_time = time(NULL);
    start_load = loadavg();
}

json_t *report_new(const bench_opts *o)
{
    char ts[32];
    time_t now = start_time ? start_time : time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s, s:o, s:s, s:s, s:o, s:i, s:f}", "scenario",
                     o->scenario, "command", command_line(o), "started_at", ts,
                     "target", o->target.url, "machine", machine(), "threads",
                     o->threads, "loadavg_start", loadavg());
}

json_t *report_hist(const bh_hist *h)
{
    json_t *b = json_array();
    for (size_t i = 0; i < BH_BUCKETS; i++)
        if (h->b[i])
            json_array_append_new(b, json_pack("[f, I]",
                                               (double)bh_bucket_low(i) / 1e3,
                                               (json_int_t)h->b[i]));
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o}", "count",
                     (json_int_t)h->count, "mean_ms", bh_mean(h) / 1e6,
                     "min_ms", h->count ? report_ms(h->min) : 0.0, "p50_ms",
                     report_ms(bh_quantile(h, 0.5)), "p90_ms",
                     report_ms(bh_quantile(h, 0.9)), "p99_ms",
                     report_ms(bh_quantile(h, 0.99)), "p999_ms",
                     report_ms(bh_quantile(h, 0.999)), "max_ms",
                     report_ms(h->max), "buckets_us", b);
}

json_t *report_timeline(const bc_sec *tl, size_t len, const char *a,
                        const char *b)
{
    char ka50[64], ka99[64], kb50[64], kb99[64];
    snprintf(ka50, sizeof(ka50), "%s_p50_ms", a);
    snprintf(ka99, sizeof(ka99), "%s_p99_ms", a);
    snprintf(kb50, sizeof(kb50), "%s_p50_ms", b);
    snprintf(kb99, sizeof(kb99), "%s_p99_ms", b);
    json_t *arr = json_array();
    for (size_t s = 0; s < len; s++) {
        const bc_sec *x = &tl[s];
        if (!x->sent && !x->acked && !x->delivered && !x->errors)
            continue;
        json_array_append_new(
            arr,
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f}", "t",
                      (json_int_t)s, "sent", (json_int_t)x->sent, "acked",
                      (json_int_t)x->acked, "delivered",
                      (json_int_t)x->delivered, "errors", (json_int_t)x->errors,
                      ka50, report_ms(bh_quantile(&x->a, 0.5)), ka99,
                      report_ms(bh_quantile(&x->a, 0.99)), kb50,
                      report_ms(bh_quantile(&x->b, 0.5)), kb99,
                      report_ms(bh_quantile(&x->b, 0.99))));
    }
    return arr;
}

json_t *report_closes(bc_worker **ws, int n)
{
    json_t *o = json_object();
    const char *first = "";
    for (int k = 0; k < BC_CLOSE_KINDS; k++) {
        uint64_t c = 0;
        for (int i = 0; i < n; i++)
            c += ws[i]->close_codes[k];
        if (c)
            json_object_set_new(o, bc_close_kind_name(k),
                                json_integer((json_int_t)c));
    }
    for (int i = 0; i < n && !first[0]; i++)
        first = ws[i]->first_err;
    json_object_set_new(o, "first_error", json_string(first));
    return o;
}

void report_print_closes(FILE *f, bc_worker **ws, int n)
{
    int any = 0;
    for (int k = 0; k < BC_CLOSE_KINDS; k++) {
        uint64_t c = 0;
        for (int i = 0; i < n; i++)
            c += ws[i]->close_codes[k];
        if (c)
            fprintf(f, "%s %s %llu", any++ ? "," : "  closes       ",
                    bc_close_kind_name(k), (unsigned long long)c);
    }
    for (int i = 0; i < n; i++)
        if (ws[i]->first_err[0]) {
            fprintf(f, "%sfirst error: %s\n", any ? "; " : "  ",
                    ws[i]->first_err);
            return;
        }
    if (any)
        fprintf(f, "\n");
}

void report_lat_header(FILE *f)
{
    fprintf(f, "  %-22s %9s %9s %9s %9s %9s %9s %9s\n", "latency (ms)", "count",
            "p50", "p90", "p99", "p99.9", "max", "mean");
}

void report_lat_row(FILE *f, const char *name, const bh_hist *h)
{
    fprintf(f, "  %-22s %9llu %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", name,
            (unsigned long long)h->count, report_ms(bh_quantile(h, 0.5)),
            report_ms(bh_quantile(h, 0.9)), report_ms(bh_quantile(h, 0.99)),
            report_ms(bh_quantile(h, 0.999)), report_ms(h->max),
            bh_mean(h) / 1e6);
}

/* mkdir -p for a relative or absolute directory path. */
static int mkdirs(const char *dir)
{
    char p[1024];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(p))
        return -1;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (p[i] == '/' || p[i] == '\0') {
            char c = p[i];
            p[i] = '\0';
            if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -1;
            p[i] = c;
        }
    return 0;
}

static int dump(json_t *root, const char *path)
{
    if (json_dump_file(root, path, JSON_INDENT(1) | JSON_REAL_PRECISION(6))) {
        fprintf(stderr, "parley-bench: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int report_write(const bench_opts *o, json_t *root)
{
    char ts[32], path[1200];
    time_t now = start_time ? start_time : time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    if (mkdirs(o->out_dir) < 0) {
        fprintf(stderr, "parley-bench: cannot create %s\n", o->out_dir);
        return -1;
    }
    /* Two runs in the same second must not overwrite each other. */
    snprintf(path, sizeof(path), "%s/%s-%s.json", o->out_dir, o->scenario, ts);
    for (int i = 2; access(path, F_OK) == 0 && i < 100; i++)
        snprintf(path, sizeof(path), "%s/%s-%s-%d.json", o->out_dir,
                 o->scenario, ts, i);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double user =
               (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    json_object_set_new(root, "client_cpu_s",
                        json_pack("{s:f, s:f}", "user", user, "sys", sys));
    json_object_set_new(root, "loadavg_end", json_real(loadavg()));
    printf("\nclient CPU %.2f s user + %.2f s sys (this process); load "
           "average %.2f\n",
           user, sys, loadavg());
    int rc = dump(root, path);
    if (rc == 0)
        printf("results: %s\n", path);
    if (o->json_out && dump(root, o->json_out) == 0)
        printf("results: %s\n", o->json_out);
    fflush(stdout);
    return rc;
}
