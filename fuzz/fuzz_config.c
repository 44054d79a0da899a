/* fuzz_config.c - the config file parser and the flag parser must never
 * crash, and must leave every option within its bounds.
 *
 * Input byte 0 picks the mode:
 *   even: the rest is config file text for pl_config_load_buf;
 *   odd:  the rest is NUL-separated command-line arguments for
 *         pl_config_load (--config is dropped: it would open files). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

#define MAX_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

static void check_bounds(const pl_config *c)
{
    if (c->max_frame < 1024 || c->max_content < 1 || c->threads < 0 ||
        c->store_threads < 1 || c->hash_threads < 1 ||
        memchr(c->listen, '\0', sizeof c->listen) == NULL ||
        memchr(c->data_dir, '\0', sizeof c->data_dir) == NULL ||
        memchr(c->roles, '\0', sizeof c->roles) == NULL ||
        c->listen[0] == '\0' || c->data_dir[0] == '\0')
        abort();
    (void)pl_config_has_role(c, "gateway");
}

static void file_mode(const uint8_t *p, size_t n)
{
    pl_config c;
    char err[256];
    char *buf = malloc(n ? n : 1); /* exact size: ASan sees overreads */

    if (buf == NULL)
        return;
    memcpy(buf, p, n);
    pl_config_defaults(&c);
    (void)pl_config_load_buf(&c, buf, n, err, sizeof err);
    check_bounds(&c);
    free(buf);
}

static void flag_mode(const uint8_t *p, size_t n)
{
    char *copy = malloc(n + 1), *argv[MAX_ARGS + 2];
    int argc = 0;
    pl_config c;
    char err[256];

    if (copy == NULL)
        return;
    memcpy(copy, p, n);
    copy[n] = '\0';
    argv[argc++] = (char *)"parleyd";
    for (char *s = copy; s <= copy + n && argc <= MAX_ARGS;
         s += strlen(s) + 1) {
        if (strncmp(s, "--config", 8) == 0)
            goto out;
        argv[argc++] = s;
    }
    argv[argc] = NULL;
    if (pl_config_load(&c, argc, argv, err, sizeof err, devnull) == PL_OK)
        check_bounds(&c);
out:
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (devnull == NULL) {
        unsetenv("PARLEY_CONFIG");
        devnull = fopen("/dev/null", "w");
        if (devnull == NULL)
            abort();
    }
    if (size == 0)
        return 0;
    if (data[0] & 1)
        flag_mode(data + 1, size - 1);
    else
        file_mode(data + 1, size - 1);
    return 0;
}
