/* users.c - the bench's users: "user_id\tusername\ttoken" lines, read from
 * --users FILE or produced by running `parley admin create-users` (which
 * opens the store directly and works while parleyd runs). */
#include "bench/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define USERS_MAX_TEXT (1u << 30)

void bench_users_free(bench_users *u)
{
    free(u->u);
    free(u->text);
    memset(u, 0, sizeof(*u));
}

/* Reads all of fd into a NUL-terminated heap buffer (*out, caller frees). */
static pl_status read_all(int fd, char **out, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    while (p) {
        if (n + 1 >= cap) {
            char *q = cap < USERS_MAX_TEXT ? realloc(p, cap * 2) : NULL;
            if (!q)
                break;
            p = q;
            cap *= 2;
        }
        ssize_t r = read(fd, p + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (r == 0) {
            p[n] = '\0';
            *out = p;
            *len = n;
            return PL_OK;
        }
        n += (size_t)r;
    }
    free(p);
    return PL_ERR_IO;
}

/* Splits the text into entries in place (tabs and newlines become NULs). */
static pl_status split_lines(bench_users *u, size_t need, char *err, size_t cap)
{
    u->u = calloc(need ? need : 1, sizeof(*u->u));
    if (!u->u)
        return PL_ERR_NOMEM;
    char *p = u->text;
    while (*p && u->n < need) {
        char *nl = strchr(p, '\n'), *t1 = strchr(p, '\t');
        if (nl)
            *nl = '\0';
        char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1 || !t2 || t1 - p != 36) {
            snprintf(err, cap,
                     "users: line %zu is not "
                     "user_id<TAB>username<TAB>token",
                     u->n + 1);
            return PL_ERR_INVALID;
        }
        *t1 = *t2 = '\0';
        u->u[u->n++] = (bench_user){p, t1 + 1, t2 + 1};
        if (!nl)
            break;
        p = nl + 1;
    }
    if (u->n < need) {
        snprintf(err, cap, "users: need %zu users, got %zu", need, u->n);
        return PL_ERR_INVALID;
    }
    return PL_OK;
}

static pl_status load_file(const char *path, bench_users *u, char *err,
                           size_t cap)
{
    size_t len;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "%s: %s", path, strerror(errno));
        return PL_ERR_IO;
    }
    pl_status st = read_all(fd, &u->text, &len);
    close(fd);
    if (st)
        snprintf(err, cap, "%s: read failed", path);
    return st;
}

/* The parley CLI: --parley, else "parley" next to this binary, else
 * build/parley. Writes into buf. */
static const char *parley_path(const bench_opts *o, char *buf, size_t cap)
{
    if (o->parley_bin)
        return o->parley_bin;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            int w = snprintf(buf, cap, "%s/parley", self);
            if (w > 0 && (size_t)w < cap && access(buf, X_OK) == 0)
                return buf;
        }
    }
    return "build/parley";
}

/* Runs `parley admin create-users` with stdout to a pipe; reads it all. */
static pl_status run_create(const bench_opts *o, size_t need, bench_users *u,
                            char *err, size_t cap)
{
    char bin[PATH_MAX], count[32], prefix[32];
    const char *path = parley_path(o, bin, sizeof(bin));
    snprintf(count, sizeof(count), "%zu", need);
    /* Unique per run so repeated runs against one data dir never collide. */
    snprintf(prefix, sizeof(prefix), "b%lx%x_", (unsigned long)time(NULL),
             (unsigned)getpid() & 0xffff);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return PL_ERR_IO;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        execl(path, path, "admin", "create-users", "--count", count, "--prefix",
              prefix, "--data-dir", o->data_dir, (char *)NULL);
        fprintf(stderr, "parley-bench: exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    pl_status st = pid < 0 ? PL_ERR_IO : read_all(fds[0], &u->text, &len);
    close(fds[0]);
    int ws = 0;
    if (pid > 0)
        waitpid(pid, &ws, 0);
    if (st == PL_OK && (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)) {
        snprintf(err, cap, "%s admin create-users failed (status %d)", path,
                 WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
        st = PL_ERR;
    }
    return st;
}

pl_status bench_users_get(const bench_opts *o, size_t need, bench_users *out,
                          char *err, size_t cap)
{
    pl_status st;
    memset(out, 0, sizeof(*out));
    if (o->users_file)
        st = load_file(o->users_file, out, err, cap);
    else if (o->data_dir)
        st = run_create(o, need, out, err, cap);
    else {
        snprintf(err, cap, "give --users FILE or --data-dir DIR");
        return PL_ERR_INVALID;
    }
    if (st == PL_OK)
        st = split_lines(out, need, err, cap);
    if (st != PL_OK)
        bench_users_free(out);
    return st;
}
