/* bucket.h - a token bucket: rate tokens per second, at most burst saved.
 * Not thread-safe (each bucket belongs to one loop). */
#ifndef PL_BUCKET_H
#define PL_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

typedef struct pl_bucket {
    double tokens;
    int64_t at_ms; /* last refill; 0 = never used (starts full) */
} pl_bucket;

/* Takes one token at now_ms. Returns true if there was one; else false and
 * *retry_ms = how long until there is one. rate <= 0 disables the limit. */
bool pl_bucket_take(pl_bucket *b, double rate, double burst, int64_t now_ms,
                    int64_t *retry_ms);

#endif
