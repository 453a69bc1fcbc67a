/* Kernel benchmarks: warm up, then the median time of many runs (device time from OpenCL profiling
 * events, or wall time where GEMMs run), reported with achieved GB/s or GFLOP/s and the fraction of
 * the device's measured limits. */
#ifndef CLFORMER_BENCH_H
#define CLFORMER_BENCH_H

#include <stddef.h>

#include "clformer/device.h"

typedef struct clf_bench_row {
    char name[64];   /* "layernorm_fwd" */
    char shape[96];  /* "4096x512" */
    double ms;       /* median device time of one run */
    double gbps;     /* bytes moved / time, 0 when not meaningful */
    double gflops;   /* flops / time, 0 when not meaningful */
    double frac;     /* of the device's copy bandwidth (memory-bound rows) or GEMM rate (the others) */
    double mem_mib;  /* device memory the op needed, when reported (attention sweeps) */
} clf_bench_row;

/* The standard configuration the benchmarks use (d_model 512, 8 heads, d_ff 2048, 4096 tokens). */
typedef struct clf_bench_config {
    int d_model, n_heads, d_ff, tokens, batch, seq, vocab;
    int warmup, iters;
    int quick; /* smaller sweeps, fewer iterations */
} clf_bench_config;

typedef struct clf_bench {
    clf_device *dev;
    clf_bench_config cfg;
    double copy_gbps;   /* measured in the same run, the denominators of frac */
    double gemm_gflops;
    clf_bench_row *rows;
    size_t n_rows, cap_rows;
} clf_bench;

typedef clf_status (*clf_bench_fn)(void *ctx);

/* Run fn warmup times, then iters times, each between profiling begin/end; *median_ms is the median
 * of the per-run device time. */
clf_status clf_bench_time(clf_bench *b, clf_bench_fn fn, void *ctx, double *median_ms);

/* The same runs timed on the host clock: *median_ms is the median wall time between two
 * clf_device_finish calls around one run, launch overhead included (what a training step pays).
 * Use it for anything that calls clf_gemm: CLBlast hands back the event of its last kernel only, so
 * profiling events miss the packing and transposing kernels of its indirect path and undercount. */
clf_status clf_bench_time_wall(clf_bench *b, clf_bench_fn fn, void *ctx, double *median_ms);

/* Append a row; bytes and flops are per run (0 if not meaningful). memory_bound picks the limit frac
 * is taken against. */
clf_status clf_bench_add(clf_bench *b, const char *name, const char *shape, double ms, double bytes, double flops,
                         int memory_bound);

/* A device buffer of n floats filled with small values (for benchmarks, not tests). */
clf_status clf_bench_buffer(clf_bench *b, size_t n, float value, cl_mem *out);

#endif
