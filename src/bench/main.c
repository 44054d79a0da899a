/* main.c - parley-bench entry point: options, then one scenario. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "bench/bench.h"
#include "bench/report.h"

int main(int argc, char **argv)
{
    bench_opts o;
    char err[BENCH_ERRLEN] = "";
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        bench_usage(stdout);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "selftest"))
        return bench_selftest();
    if (argc >= 2 && !strcmp(argv[1], "merge"))
        return bench_merge(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "timeline"))
        return bench_timeline(argc, argv);
    if (bench_parse_opts(argc, argv, &o, err, sizeof(err)) != PL_OK) {
        fprintf(stderr, "parley-bench: %s\n", err);
        bench_usage(stderr);
        return 2;
    }
    if (bench_fit_fds(&o, err, sizeof(err)) < 0) {
        fprintf(stderr, "parley-bench: %s\n", err);
        return 2;
    }
    report_init();
    signal(SIGPIPE, SIG_IGN);
    /* Timed waits end within ~1 us instead of the default 50 us slack:
     * open-loop sends should leave on schedule. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(o.scenario, "direct"))
        return bench_direct(&o);
    if (!strcmp(o.scenario, "group"))
        return bench_group(&o);
    if (!strcmp(o.scenario, "idle"))
        return bench_idle(&o);
    if (!strcmp(o.scenario, "max"))
        return bench_max(&o);
    if (!strcmp(o.scenario, "floor"))
        return bench_floor(&o);
    if (!strcmp(o.scenario, "relay"))
        return bench_relay(&o);
    fprintf(stderr, "parley-bench: unknown scenario '%s'\n", o.scenario);
    bench_usage(stderr);
    return 2;
}
