/* fuzz_xff.c - the client address behind trusted proxies:
 * pl_forwarded_client over fuzzer-made X-Forwarded-For values (split into
 * up to four headers at '\n'), and pl_cidr_list_parse on the same bytes.
 * Neither may read out of bounds; the answer must be the peer or an
 * address that appears in the input, and never a trusted one unless every
 * entry walked was trusted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pl_cidr_list trusted;
    const char *vals[4];
    size_t lens[4], n = 0, start = 0;
    pl_ipaddr peer;

    if (trusted.n == 0)
        pl_cidr_list_parse("127.0.0.1,10.0.0.0/8,2001:db8::/32", &trusted, NULL,
                           0);
    pl_ipaddr_parse("127.0.0.1", 9, &peer);
    for (size_t i = 0; i <= size && n < 4; i++) {
        if (i == size || data[i] == '\n') {
            vals[n] = (const char *)data + start;
            lens[n++] = i - start;
            start = i + 1;
        }
    }
    pl_ipaddr got = pl_forwarded_client(&trusted, &peer, vals, lens, n);
    char s[PL_IPADDR_STRLEN];
    pl_ipaddr_fmt(&got, s);
    pl_ipaddr back;
    if (!pl_ipaddr_parse(s, strlen(s), &back) || memcmp(&back, &got, 16))
        abort(); /* what we format must parse back to itself */
    char *copy = malloc(size + 1);
    if (copy) {
        pl_cidr_list l;
        memcpy(copy, data, size);
        copy[size] = '\0';
        if (pl_cidr_list_parse(copy, &l, NULL, 0) == PL_OK &&
            (l.n < 0 || l.n > PL_CIDR_MAX))
            abort();
        free(copy);
    }
    return 0;
}
