/* hist.c - log-bucketed latency histogram (see hist.h). */
#include "bench/hist.h"

#include <string.h>

void bh_init(bh_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

size_t bh_index(uint64_t ns)
{
    if (ns < (1ull << BH_MIN_EXP))
        ns = 1ull << BH_MIN_EXP;
    unsigned e = 63u - (unsigned)__builtin_clzll(ns);
    if (e > BH_MAX_EXP)
        return BH_BUCKETS - 1;
    size_t sub = (size_t)(ns >> (e - BH_SUB_BITS)) & (BH_SUB - 1);
    return (size_t)(e - BH_MIN_EXP) * BH_SUB + sub;
}

uint64_t bh_bucket_low(size_t idx)
{
    unsigned e = (unsigned)(idx / BH_SUB) + BH_MIN_EXP;
    uint64_t sub = idx % BH_SUB;
    return (BH_SUB + sub) << (e - BH_SUB_BITS);
}

static uint64_t bucket_mid(size_t idx)
{
    unsigned e = (unsigned)(idx / BH_SUB) + BH_MIN_EXP;
    return bh_bucket_low(idx) + ((1ull << (e - BH_SUB_BITS)) >> 1);
}

void bh_record(bh_hist *h, uint64_t ns)
{
    h->b[bh_index(ns)]++;
    h->count++;
    h->sum += (double)ns;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
}

void bh_merge(bh_hist *dst, const bh_hist *src)
{
    if (!src->count)
        return;
    for (size_t i = 0; i < BH_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t bh_quantile(const bh_hist *h, double q)
{
    if (!h->count)
        return 0;
    if (q >= 1.0)
        return h->max;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    size_t i = 0;
    for (; i < BH_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank)
            break;
    }
    uint64_t v = bucket_mid(i < BH_BUCKETS ? i : BH_BUCKETS - 1);
    if (v < h->min)
        v = h->min;
    if (v > h->max)
        v = h->max;
    return v;
}

double bh_mean(const bh_hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}

/* Formats ns as a short human string ("850us", "12.3ms", "1.20s"). */
static void fmt_short(uint64_t ns, char *buf, size_t cap)
{
    if (ns < 1000000)
        snprintf(buf, cap, "%.0fus", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, cap, "%.1fms", (double)ns / 1e6);
    else
        snprintf(buf, cap, "%.2fs", (double)ns / 1e9);
}

/* Sum of the buckets of exponent e (one row of the ASCII histogram). */
static uint64_t row_count(const bh_hist *h, unsigned e)
{
    uint64_t n = 0;
    size_t base = (size_t)(e - BH_MIN_EXP) * BH_SUB;
    for (size_t i = 0; i < BH_SUB; i++)
        n += h->b[base + i];
    return n;
}

void bh_print_ascii(const bh_hist *h, FILE *f, const char *indent)
{
    if (!h->count) {
        fprintf(f, "%s(no samples)\n", indent);
        return;
    }
    unsigned lo = (unsigned)(bh_index(h->min) / BH_SUB) + BH_MIN_EXP;
    unsigned hi = (unsigned)(bh_index(h->max) / BH_SUB) + BH_MIN_EXP;
    uint64_t peak = 1;
    for (unsigned e = lo; e <= hi; e++)
        if (row_count(h, e) > peak)
            peak = row_count(h, e);
    for (unsigned e = lo; e <= hi; e++) {
        uint64_t n = row_count(h, e);
        char a[16], b[16], bar[51];
        fmt_short(e == BH_MIN_EXP ? 0 : 1ull << e, a, sizeof(a));
        fmt_short(1ull << (e + 1), b, sizeof(b));
        size_t w = (size_t)((n * 50 + peak - 1) / peak);
        memset(bar, '#', w);
        bar[w] = '\0';
        fprintf(f, "%s%8s .. %-8s |%-50s %10llu %5.1f%%\n", indent, a, b, bar,
                (unsigned long long)n, 100.0 * (double)n / (double)h->count);
    }
}
