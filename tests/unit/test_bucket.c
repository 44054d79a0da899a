/* test_bucket.c - the token bucket: starts full, refills at rate, caps at
 * burst, says how long to wait. */
#include "core/bucket.h"
#include "unit.h"

int main(void)
{
    pl_bucket b = {0};
    int64_t retry = 0, t = 1000;
    for (int i = 0; i < 5; i++)
        CHECK(pl_bucket_take(&b, 10, 5, t, &retry)); /* the burst */
    CHECK(!pl_bucket_take(&b, 10, 5, t, &retry));
    CHECK(retry > 0 && retry <= 101);                /* 1 token = 100 ms */
    CHECK(!pl_bucket_take(&b, 10, 5, t + 50, &retry));
    CHECK(pl_bucket_take(&b, 10, 5, t + 101, &retry));
    t += 100000;                                     /* long idle: capped */
    int n = 0;
    while (pl_bucket_take(&b, 10, 5, t, &retry))
        n++;
    CHECK_EQ_INT(n, 5);
    pl_bucket off = {0};
    for (int i = 0; i < 1000; i++)
        CHECK(pl_bucket_take(&off, 0, 0, t, &retry)); /* disabled */
    UNIT_DONE();
}
