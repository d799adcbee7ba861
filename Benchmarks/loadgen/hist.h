/* A fixed log-linear latency histogram in microseconds, HdrHistogram-like: values below 128
 * get their own bucket, above that each power of two is split into 64 sub-buckets, so any
 * recorded value is reported within ~1.6 % (the bucket's upper bound). No allocation: one
 * array of counters, cheap to add, merge and reset. */
#ifndef LOADGEN_HIST_H
#define LOADGEN_HIST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define HIST_SUB_BITS 6                       /* 64 sub-buckets per octave */
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP 34                       /* values up to ~2^40 us (12 days) */
#define HIST_BUCKETS ((HIST_MAX_EXP + 2) * HIST_SUB)

typedef struct {
    uint64_t count[HIST_BUCKETS];
    uint64_t total;
    uint64_t max;
} hist_t;

static inline unsigned hist_index(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63 - (unsigned)__builtin_clzll(v);
    unsigned e = msb - HIST_SUB_BITS;          /* >= 1 here */
    if (e > HIST_MAX_EXP)
        return HIST_BUCKETS - 1;
    return (e + 1) * HIST_SUB + (unsigned)((v >> e) - HIST_SUB);
}

/* The largest value that lands in bucket `i` (what percentiles report, as HdrHistogram does). */
static inline uint64_t hist_upper(unsigned i)
{
    if (i < 2 * HIST_SUB)
        return i;
    unsigned e = i / HIST_SUB - 1;
    uint64_t m = i % HIST_SUB + HIST_SUB;
    return ((m + 1) << e) - 1;
}

static inline void hist_add(hist_t *h, uint64_t v)
{
    h->count[hist_index(v)]++;
    h->total++;
    if (v > h->max)
        h->max = v;
}

static inline void hist_merge(hist_t *into, const hist_t *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->count[i] += from->count[i];
    into->total += from->total;
    if (from->max > into->max)
        into->max = from->max;
}

/* Percentile `q` in [0,1]; 0 when empty. */
static inline uint64_t hist_quantile(const hist_t *h, double q)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->total + 0.5);
    if (rank < 1) rank = 1;
    if (rank > h->total) rank = h->total;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            uint64_t up = hist_upper(i);
            return up < h->max ? up : h->max;
        }
    }
    return h->max;
}

/* Sparse JSON form [[upper_us,count],...] so a driver can merge workers exactly. */
static inline void hist_print_sparse(FILE *f, const hist_t *h)
{
    fputc('[', f);
    int first = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        if (!h->count[i]) continue;
        fprintf(f, "%s[%llu,%llu]", first ? "" : ",", (unsigned long long)hist_upper(i),
                (unsigned long long)h->count[i]);
        first = 0;
    }
    fputc(']', f);
}

#endif
