/* hist.h - a small HDR-style latency histogram.
 *
 * Values are nanoseconds. Buckets are log2 "exponents" each split into 64
 * linear sub-buckets, so any recorded value is known to within 1/64 (1.6%).
 * The range is 1 us .. ~68 s; smaller values count as 1 us, larger ones as
 * the top bucket (the exact min and max are kept on the side). Recording is
 * a few instructions and never allocates. Not thread-safe: one histogram per
 * thread, merged with bh_merge at the end. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BH_SUB_BITS 6
#define BH_SUB (1u << BH_SUB_BITS)
#define BH_MIN_EXP 10 /* 2^10 ns ~ 1 us */
#define BH_MAX_EXP 35 /* top exponent: [2^35, 2^36) ns ~ 34..68 s */
#define BH_BUCKETS ((BH_MAX_EXP - BH_MIN_EXP + 1) * BH_SUB)

typedef struct bh_hist {
    uint64_t count;
    uint64_t min, max; /* exact, ns; min is UINT64_MAX while empty */
    double sum;        /* ns, for the mean */
    uint64_t b[BH_BUCKETS];
} bh_hist;

void bh_init(bh_hist *h);
void bh_record(bh_hist *h, uint64_t ns);
void bh_merge(bh_hist *dst, const bh_hist *src);
/* The value at quantile q (0..1), ns: the middle of the bucket holding the
 * ceil(q * count)-th value, clamped to [min, max]. 0 when empty. */
uint64_t bh_quantile(const bh_hist *h, double q);
double bh_mean(const bh_hist *h);
/* Bucket index of a value, and the lowest value of a bucket (for tests and
 * for printing). */
size_t bh_index(uint64_t ns);
uint64_t bh_bucket_low(size_t idx);
/* Prints an ASCII histogram (one row per power of two between min and max,
 * a bar scaled to the fullest row) to f, each line prefixed by indent. */
void bh_print_ascii(const bh_hist *h, FILE *f, const char *indent);

#endif
