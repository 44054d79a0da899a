/* test_hmap.c - the open-addressing map, checked against a plain array
 * model through many random inserts and deletes (deletion by backward
 * shift is where such maps break). */
#include <stdlib.h>

#include "core/hmap.h"
#include "unit.h"

#define N 5000

static void test_model(void)
{
    pl_hmap m;
    pl_hmap_init(&m);
    static int present[N];
    static uintptr_t vals[N];
    srand(7);
    for (int step = 0; step < 200000; step++) {
        int k = rand() % N;
        pl_uuid key = pl_hmap_key_u64((uint64_t)k);
        if (rand() % 3) {
            vals[k] = (uintptr_t)step + 1;
            CHECK(pl_hmap_put(&m, &key, (void *)vals[k]) == PL_OK);
            present[k] = 1;
        } else {
            void *v = pl_hmap_del(&m, &key);
            CHECK(v == (present[k] ? (void *)vals[k] : NULL));
            present[k] = 0;
        }
    }
    size_t count = 0;
    for (int k = 0; k < N; k++) {
        pl_uuid key = pl_hmap_key_u64((uint64_t)k);
        void *v = pl_hmap_get(&m, &key);
        CHECK(v == (present[k] ? (void *)vals[k] : NULL));
        count += (size_t)present[k];
    }
    CHECK_EQ_INT(m.len, count);
    pl_hmap_free(&m);
}

static void test_empty_and_replace(void)
{
    pl_hmap m;
    pl_hmap_init(&m);
    pl_uuid a = pl_hmap_key_u64(1);
    CHECK(pl_hmap_get(&m, &a) == NULL);
    CHECK(pl_hmap_del(&m, &a) == NULL);
    int x, y;
    CHECK(pl_hmap_put(&m, &a, &x) == PL_OK);
    CHECK(pl_hmap_put(&m, &a, &y) == PL_OK);
    CHECK_EQ_INT(m.len, 1);
    CHECK(pl_hmap_get(&m, &a) == &y);
    pl_hmap_free(&m);
}

int main(void)
{
    test_empty_and_replace();
    test_model();
    UNIT_DONE();
}
