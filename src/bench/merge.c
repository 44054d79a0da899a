/* merge.c - `parley-bench merge OUT NAME=FILE...`: combines the result
 * files of a suite run into one JSON (bench/results/latest.json) with a
 * summary of the headline figures and the ratios to the raw-socket floor,
 * and prints that summary as a table. Used by bench/run.sh so the suite
 * needs no JSON tool besides this binary. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"

/* runs.NAME.results.<path...> as a number, or -1. */
static double fig(json_t *runs, const char *name, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(runs, name), "results");
    v = json_object_get(v, a);
    if (b)
        v = json_object_get(v, b);
    return json_is_number(v) ? json_number_value(v) : -1;
}

static void put(json_t *o, const char *key, double v)
{
    json_object_set_new(o, key, v >= 0 ? json_real(v) : json_null());
}

static double ratio(double a, double b)
{
    return a >= 0 && b > 0 ? a / b : -1;
}

/* The headline figures: summary key, run name, results path. */
static const struct {
    const char *key, *run, *a, *b;
} figs[] = {
    {"direct_delivered_per_s", "direct", "delivered_per_s", NULL},
    {"direct_p50_ms", "direct", "send_to_receive_latency", "p50_ms"},
    {"direct_p99_ms", "direct", "send_to_receive_latency", "p99_ms"},
    {"direct_p999_ms", "direct", "send_to_receive_latency", "p999_ms"},
    {"direct_high_delivered_per_s", "direct_high", "delivered_per_s", NULL},
    {"direct_high_p99_ms", "direct_high", "send_to_receive_latency", "p99_ms"},
    {"direct_max_rate", "direct_max", "max_rate", NULL},
    {"direct_max_p99_ms", "direct_max", "p99_ms_at_max", NULL},
    {"group_deliveries_per_s", "group", "deliveries_per_s", NULL},
    {"group_all_reached_p50_ms", "group", "all_reached_latency", "p50_ms"},
    {"group_all_reached_p99_ms", "group", "all_reached_latency", "p99_ms"},
    {"floor_all_reached_p50_ms", "floor", "all_reached_latency", "p50_ms"},
    {"floor_all_reached_p99_ms", "floor", "all_reached_latency", "p99_ms"},
    {"group_burst_deliveries_per_s", "group_burst", "deliveries_per_s", NULL},
    {"floor_burst_deliveries_per_s", "floor_burst", "deliveries_per_s", NULL},
    {"floor_burst_coalesced_deliveries_per_s", "floor_burst_coalesced",
     "deliveries_per_s", NULL},
    {"relay_p99_ms", "relay", "send_to_receive_latency", "p99_ms"},
    {"relay_high_arrived_per_s", "relay_high", "arrived_per_s", NULL},
    {"idle_rss_bytes_per_conn", "idle", "rss_bytes_per_conn", NULL},
    {"idle_connects_per_s", "idle", "connects_per_s", NULL},
};

static json_t *summary(json_t *runs)
{
    json_t *s = json_object();
    for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++)
        put(s, figs[i].key, fig(runs, figs[i].run, figs[i].a, figs[i].b));
    double gb = fig(runs, "group_burst", "deliveries_per_s", NULL);
    put(s, "group_burst_ratio_to_floor",
        ratio(gb, fig(runs, "floor_burst", "deliveries_per_s", NULL)));
    put(s, "group_burst_ratio_to_coalesced_floor",
        ratio(gb,
              fig(runs, "floor_burst_coalesced", "deliveries_per_s", NULL)));
    put(s, "direct_high_ratio_to_relay_floor",
        ratio(fig(runs, "direct_high", "delivered_per_s", NULL),
              fig(runs, "relay_high", "arrived_per_s", NULL)));
    json_t *cpu = json_object_get(
        json_object_get(json_object_get(runs, "direct"), "server"),
        "cpu_ms_per_1k_deliveries");
    put(s, "direct_server_cpu_ms_per_1k",
        json_is_number(cpu) ? json_number_value(cpu) : -1);
    return s;
}

static void print_summary(json_t *s)
{
    const char *k;
    json_t *v;
    printf("\nsuite summary\n");
    json_object_foreach(s, k, v)
    {
        if (json_is_number(v))
            printf("  %-42s %14.3f\n", k, json_number_value(v));
        else
            printf("  %-42s %14s\n", k, "-");
    }
}

/* Adds NAME=FILE to runs; 0 or -1. */
static int add_run(json_t *runs, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char name[64];
    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name)) {
        fprintf(stderr, "parley-bench merge: expected NAME=FILE: %s\n", arg);
        return -1;
    }
    memcpy(name, arg, (size_t)(eq - arg));
    name[eq - arg] = '\0';
    json_error_t e;
    json_t *j = json_load_file(eq + 1, 0, &e);
    if (!j) {
        fprintf(stderr, "parley-bench merge: %s: %s\n", eq + 1, e.text);
        return -1;
    }
    json_object_set_new(runs, name, j);
    return 0;
}

int bench_merge(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: parley-bench merge OUT NAME=FILE...\n");
        return 2;
    }
    json_t *runs = json_object();
    int rc = 0;
    for (int i = 3; i < argc && rc == 0; i++)
        rc = add_run(runs, argv[i]);
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *first = json_object_iter_value(json_object_iter(runs));
    json_t *root = json_pack("{s:s, s:O?, s:o, s:O}", "created_at", ts,
                             "machine", json_object_get(first, "machine"),
                             "summary", summary(runs), "runs", runs);
    if (rc == 0 && root) {
        print_summary(json_object_get(root, "summary"));
        if (json_dump_file(root, argv[2], JSON_INDENT(1))) {
            fprintf(stderr, "parley-bench merge: cannot write %s\n", argv[2]);
            rc = 1;
        } else {
            printf("results: %s\n", argv[2]);
        }
    }
    json_decref(root);
    json_decref(runs);
    return rc ? 1 : 0;
}

/* Prints the timeline as columns: t, sent, delivered, then the four
 * latency quantiles (keys ending in "_ms", a's before b's). */
/* The server's RSS (KiB) at second t: the last sample at or before it,
 * or 0 when the run has none (server not local). */
static double rss_at(json_t *samples, double t)
{
    size_t i;
    json_t *s;
    double rss = 0;
    json_array_foreach(samples, i, s)
    {
        if (json_number_value(json_object_get(s, "t")) > t + 0.5)
            break;
        rss = json_number_value(json_object_get(s, "rss_kib"));
    }
    return rss;
}

static void print_timeline(json_t *tl, json_t *samples)
{
    size_t i;
    json_t *e;
    printf("# t sent delivered a_p50_ms a_p99_ms b_p50_ms b_p99_ms "
           "server_rss_kib\n");
    json_array_foreach(tl, i, e)
    {
        double q[4] = {0};
        int k = 0;
        const char *key;
        json_t *x;
        json_object_foreach(e, key, x)
        {
            size_t n = strlen(key);
            if (n > 3 && strcmp(key + n - 3, "_ms") == 0 && k < 4)
                q[k++] = json_number_value(x);
        }
        double t = json_number_value(json_object_get(e, "t"));
        printf("%g %g %g %g %g %g %g %g\n", t,
               json_number_value(json_object_get(e, "sent")),
               json_number_value(json_object_get(e, "delivered")), q[0], q[1],
               q[2], q[3], rss_at(samples, t));
    }
}

int bench_timeline(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: parley-bench timeline RESULT.json\n");
        return 2;
    }
    json_error_t e;
    json_t *j = json_load_file(argv[2], JSON_PRESERVE_ORDER, &e);
    json_t *tl = json_object_get(j, "timeline");
    if (!json_is_array(tl)) {
        fprintf(stderr, "parley-bench timeline: %s: no timeline\n", argv[2]);
        json_decref(j);
        return 1;
    }
    print_timeline(tl, json_object_get(json_object_get(j, "server"), "samples"));
    json_decref(j);
    return 0;
}
