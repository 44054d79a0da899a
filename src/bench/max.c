/* max.c - the `max` scenario: the highest offered rate of `direct` or
 * `group` at which p99 (direct: send->receive, group: all-reached) stays
 * under --p99-ms with no error frames, failed sends, lost connections or
 * messages missing after the drain.
 *
 * Search: start at --lo, double while a step passes (up to --hi), then
 * bisect between the best passing and the lowest failing rate --bisect
 * times (or until they are within 5 %). Every step reuses the scenario's
 * setup and open connections (max.h), so a step costs only its warm-up,
 * measured time and drain. Ownership: bench_max owns the option copy, the
 * scenario handle and the step list; see max.h for the scenario's state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/max.h"
#include "bench/report.h"

#define MX_MAX_STEPS 64

typedef struct mx_step {
    double rate;
    mx_result r;
    int pass;
} mx_step;

/* Owned by bench_max; the scenario reads o by pointer. */
typedef struct mx_run {
    bench_opts o;
    mx_scenario s;
    mx_step steps[MX_MAX_STEPS];
    int n;
    uint64_t closed; /* connections lost before the current step */
    int fatal;
} mx_run;

static const char *fail_reason(const mx_run *m, const mx_step *st)
{
    if (st->r.closed > m->closed)
        return "connections lost";
    if (st->r.errors)
        return "errors";
    if (st->r.missing)
        return "missing";
    if (st->r.p99_ms > m->o.p99_ms)
        return "p99 over bound";
    return NULL;
}

static void print_step(const mx_run *m, const mx_step *st)
{
    const char *why = fail_reason(m, st);
    printf("max step %d: %.0f msgs/s offered -> %.1f %s, %s p99 %.2f ms "
           "(p50 %.2f), client lag p99 %.2f ms, %llu errors, %llu missing: "
           "%s\n",
           m->n + 1, st->rate, st->r.dlv_per_s, m->s.dlv_unit, m->s.latency,
           st->r.p99_ms, st->r.p50_ms, st->r.lag_p99_ms,
           (unsigned long long)st->r.errors,
           (unsigned long long)st->r.missing, why ? why : "pass");
    if (st->r.first_err[0])
        printf("  first error: %s\n", st->r.first_err);
}

/* Runs one step at rate; returns 1 pass, 0 fail, -1 fatal. */
static int run_step(mx_run *m, double rate)
{
    if (m->n >= MX_MAX_STEPS)
        return -1;
    mx_step *st = &m->steps[m->n];
    st->rate = rate;
    m->o.rate = rate;
    if (!m->o.quiet)
        fprintf(stderr, "max: step %d at %.0f msgs/s\n", m->n + 1, rate);
    if (m->s.step(m->s.state, &st->r) < 0) {
        m->fatal = 1;
        return -1;
    }
    st->pass = fail_reason(m, st) == NULL;
    print_step(m, st);
    m->closed = st->r.closed;
    m->n++;
    return st->pass;
}

/* Doubling from lo while steps pass; *ok = best passing rate (0 if none),
 * *bad = first failing rate (0 if every step up to hi passed). */
static int search_up(mx_run *m, double *ok, double *bad)
{
    double rate = m->o.lo;
    *ok = *bad = 0;
    for (;;) {
        int r = run_step(m, rate);
        if (r < 0)
            return -1;
        if (r == 0) {
            *bad = rate;
            return 0;
        }
        *ok = rate;
        if (rate >= m->o.hi)
            return 0;
        rate = fmin(rate * 2, m->o.hi);
    }
}

/* Bisects (ok, bad) at most o.bisect times, to whole msgs/s. */
static int search_bisect(mx_run *m, double *ok, double *bad)
{
    for (long i = 0; i < m->o.bisect && *bad > 0; i++) {
        double rate = floor((*ok + *bad) / 2);
        if (*bad - *ok <= 0.05 * *bad || rate <= *ok || rate >= *bad)
            break;
        int r = run_step(m, rate);
        if (r < 0)
            return -1;
        *(r ? ok : bad) = rate;
    }
    return 0;
}

static void print_table(const mx_run *m, double ok)
{
    printf("\nparley-bench max --of %s: p99 %s bound %.1f ms, %.0f s per "
           "step after %.0f s warm-up\n\n",
           m->o.of, m->s.latency, m->o.p99_ms, m->o.duration, m->o.warmup);
    printf("  %4s %12s %14s %10s %10s %8s %8s  %s\n", "step", "offered/s",
           m->s.dlv_unit, "p50 ms", "p99 ms", "errors", "missing", "");
    for (int i = 0; i < m->n; i++) {
        const mx_step *st = &m->steps[i];
        printf("  %4d %12.0f %14.1f %10.2f %10.2f %8llu %8llu  %s\n", i + 1,
               st->rate, st->r.dlv_per_s, st->r.p50_ms, st->r.p99_ms,
               (unsigned long long)st->r.errors,
               (unsigned long long)st->r.missing, st->pass ? "pass" : "FAIL");
    }
    if (ok > 0)
        printf("\n  max rate: %.0f msgs/s with %s p99 under %.1f ms\n", ok,
               m->s.latency, m->o.p99_ms);
    else
        printf("\n  max rate: none: even %.0f msgs/s failed\n",
               m->n ? m->steps[m->n - 1].rate : m->o.lo);
}

static json_t *step_json(const mx_step *st)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I,"
                     " s:b, s:s}",
                     "rate", st->rate, "sent_per_s", st->r.sent_per_s,
                     "delivered_per_s", st->r.dlv_per_s, "p50_ms",
                     st->r.p50_ms, "p99_ms", st->r.p99_ms, "p999_ms",
                     st->r.p999_ms, "client_lag_p99_ms", st->r.lag_p99_ms,
                     "errors", (json_int_t)st->r.errors, "missing",
                     (json_int_t)st->r.missing, "closed_total",
                     (json_int_t)st->r.closed, "pass", st->pass,
                     "first_error", st->r.first_err);
}

static json_t *config_json(const bench_opts *o, const char *latency)
{
    json_t *c = json_pack(
        "{s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I}", "of", o->of,
        "latency", latency, "p99_bound_ms", o->p99_ms, "step_duration_s",
        o->duration, "warmup_s", o->warmup, "drain_s", o->drain, "lo", o->lo,
        "hi", o->hi, "bisect", (json_int_t)o->bisect, "content_bytes",
        (json_int_t)o->content_bytes);
    if (!strcmp(o->of, "direct")) {
        json_object_set_new(c, "pairs", json_integer(o->pairs));
        return c;
    }
    json_object_set_new(c, "members", json_integer(o->members));
    json_object_set_new(c, "connected", json_integer(o->connected));
    json_object_set_new(c, "senders", json_integer(o->senders));
    return c;
}

/* The passing step at rate ok, or NULL. */
static const mx_step *best_step(const mx_run *m, double ok)
{
    for (int i = 0; i < m->n; i++)
        if (m->steps[i].pass && m->steps[i].rate == ok)
            return &m->steps[i];
    return NULL;
}

static int write_json(mx_run *m, double ok)
{
    json_t *steps = json_array();
    for (int i = 0; i < m->n; i++)
        json_array_append_new(steps, step_json(&m->steps[i]));
    const mx_step *b = best_step(m, ok);
    json_t *root = report_new(&m->o);
    json_object_set_new(root, "config", config_json(&m->o, m->s.latency));
    json_t *res = json_object();
    json_object_set_new(res, "max_rate", ok > 0 ? json_real(ok) : json_null());
    json_object_set_new(res, "delivered_per_s_at_max",
                        b ? json_real(b->r.dlv_per_s) : json_null());
    json_object_set_new(res, "p99_ms_at_max",
                        b ? json_real(b->r.p99_ms) : json_null());
    json_object_set_new(res, "steps", steps);
    json_object_set_new(root, "results", res);
    int rc = report_write(&m->o, root);
    json_decref(root);
    return rc;
}

/* --of, and --lo/--hi defaults: direct from 1,000 msgs/s, group from 10;
 * both up to 1,000,000. 0 or -1. */
static int configure(mx_run *m)
{
    bench_opts *o = &m->o;
    int direct = o->of && !strcmp(o->of, "direct");
    if (!o->of || (!direct && strcmp(o->of, "group") != 0)) {
        fprintf(stderr, "parley-bench max: need --of direct|group\n");
        return -1;
    }
    if (o->lo <= 0)
        o->lo = direct ? 1000 : 10;
    if (o->hi <= 0)
        o->hi = 1000000;
    if (o->hi < o->lo) {
        fprintf(stderr, "parley-bench max: need --hi >= --lo\n");
        return -1;
    }
    o->scenario = direct ? "max-direct" : "max-group";
    o->duration = o->step_duration;
    o->rate = o->lo; /* setup sizes its tables for the first step */
    return 0;
}

int bench_max(const bench_opts *o)
{
    char err[BENCH_ERRLEN] = "";
    mx_run *m = calloc(1, sizeof(*m));
    double ok = 0, bad = 0;
    int rc = 2;
    if (!m)
        return 1;
    m->o = *o;
    if (configure(m) < 0)
        goto out;
    rc = 1;
    int (*open_fn)(const bench_opts *, mx_scenario *, char *, size_t) =
        !strcmp(m->o.of, "direct") ? direct_max_open : group_max_open;
    if (open_fn(&m->o, &m->s, err, sizeof(err)) < 0) {
        fprintf(stderr, "parley-bench max: %s\n", err);
        goto out;
    }
    if (search_up(m, &ok, &bad) == 0)
        search_bisect(m, &ok, &bad);
    m->s.close(m->s.state);
    if (m->fatal)
        fprintf(stderr, "parley-bench max: a step could not run (out of "
                        "memory or threads?)\n");
    print_table(m, ok);
    rc = write_json(m, ok) < 0 || m->fatal || ok <= 0;
out:
    free(m);
    return rc;
}
