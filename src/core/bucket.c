/* bucket.c - see bucket.h. */
#include "bucket.h"

bool pl_bucket_take(pl_bucket *b, double rate, double burst, int64_t now_ms,
                    int64_t *retry_ms)
{
    if (rate <= 0)
        return true;
    if (b->at_ms == 0)
        b->tokens = burst;
    else
        b->tokens += (double)(now_ms - b->at_ms) * rate / 1000.0;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at_ms = now_ms;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    if (retry_ms)
        *retry_ms = (int64_t)((1.0 - b->tokens) * 1000.0 / rate) + 1;
    return false;
}
