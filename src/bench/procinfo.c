/* procinfo.c - what /proc says about the server process, and our fd limit. */
#include "bench/bench.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

long bench_rss_kib(int pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

/* The socket inode of a TCP listener on port (any local address), or 0. */
static unsigned long listener_inode(uint16_t port)
{
    char line[512];
    unsigned long inode = 0;
    FILE *f = fopen("/proc/net/tcp", "re");
    if (!f)
        return 0;
    if (!fgets(line, sizeof(line), f)) /* header */
        goto out;
    while (fgets(line, sizeof(line), f)) {
        unsigned lport, st;
        unsigned long ino;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line,
                   " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u "
                   "%*u %lu",
                   &lport, &st, &ino) == 3 &&
            lport == port && st == 0x0A) {
            inode = ino;
            break;
        }
    }
out:
    fclose(f);
    return inode;
}

/* 1 if /proc/pid/fd holds a link to "socket:[inode]". */
static int pid_has_socket(int pid, const char *want)
{
    char dir[64], path[384], link[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = '\0';
            found = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return found;
}

int bench_find_listener_pid(uint16_t port)
{
    unsigned long inode = listener_inode(port);
    if (!inode)
        return -1;
    char want[48];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int pid = -1;
    struct dirent *e;
    while (pid < 0 && (e = readdir(d)))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
            atoi(e->d_name) != getpid() &&
            pid_has_socket(atoi(e->d_name), want))
            pid = atoi(e->d_name);
    closedir(d);
    return pid;
}

long bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1 << 20 : (long)rl.rlim_cur;
}

/* The connections the scenario holds at once (0: not a socket-heavy one
 * that bench_fit_fds can split). */
static size_t conns_needed(const bench_opts *o)
{
    if (!strcmp(o->scenario, "direct"))
        return 2 * (size_t)o->pairs;
    if (!strcmp(o->scenario, "group"))
        return (size_t)o->connected;
    return 0;
}

int bench_fit_fds(bench_opts *o, char *err, size_t cap)
{
    long lim = bench_raise_nofile(), per = lim - BENCH_FD_RESERVE;
    size_t need = conns_needed(o);
    if (need == 0 || (long)need <= per)
        return 0;
    if (per < 1) {
        snprintf(err, cap, "the fd limit (%ld) leaves no room", lim);
        return -1;
    }
    long threads = (long)((need + (size_t)per - 1) / (size_t)per);
    if (threads > 64) {
        snprintf(err, cap, "%zu connections need %ld threads of %ld fds; "
                 "the most is 64", need, threads, per);
        return -1;
    }
    o->private_fds = 1;
    if (o->threads < threads) {
        if (!o->quiet)
            fprintf(stderr, "parley-bench: %zu connections exceed the fd limit "
                    "(%ld): %ld worker threads, each with its own fd table\n",
                    need, lim, threads);
        o->threads = (int)threads;
    }
    return 0;
}
