/* util.c - see util.h. */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

int pl_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pl_write_all(int fd, const void *p_, size_t n)
{
    const char *p = p_;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void pl_gateway_id_resolve(char *id, size_t cap)
{
    char host[64] = "host";
    if (cap == 0 || strcmp(id, "auto") != 0)
        return;
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "host");
    host[sizeof(host) - 1] = '\0';
    for (char *c = host; *c; c++) /* keep to the gateway-id alphabet */
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_.-", *c))
            *c = '_';
    snprintf(id, cap, "%s:%ld:%08x", host, (long)getpid(),
             (unsigned)randombytes_random());
}
