#include "bench.h"
#include "host_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One timed run of fn into *ms: from profiling events, or on the host clock between two finishes. */
static clf_status time_one(clf_bench *b, clf_bench_fn fn, void *ctx, int wall, double *ms) {
    if (wall) {
        clf_status st = clf_device_finish(b->dev);
        double t0 = clf_now_ms();
        if (st == CLF_OK) st = fn(ctx);
        if (st == CLF_OK) st = clf_device_finish(b->dev);
        *ms = clf_now_ms() - t0;
        return st;
    }
    clf_device_profile_begin(b->dev);
    clf_status st = fn(ctx);
    clf_status st2 = clf_device_profile_end(b->dev, ms, NULL);
    return st == CLF_OK ? st2 : st;
}

/* Warm up, then the median of iters timed runs. */
static clf_status time_median(clf_bench *b, clf_bench_fn fn, void *ctx, int wall, double *median_ms) {
    int iters = b->cfg.iters > 0 ? b->cfg.iters : 1;
    double *t = malloc((size_t)iters * sizeof *t);
    if (!t) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    clf_status st = CLF_OK;
    for (int i = 0; st == CLF_OK && i < b->cfg.warmup; i++) st = fn(ctx);
    if (st == CLF_OK) st = clf_device_finish(b->dev);
    for (int i = 0; st == CLF_OK && i < iters; i++) st = time_one(b, fn, ctx, wall, &t[i]);
    if (st == CLF_OK) {
        qsort(t, (size_t)iters, sizeof *t, cmp_double);
        *median_ms = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
    }
    free(t);
    return st;
}

clf_status clf_bench_time(clf_bench *b, clf_bench_fn fn, void *ctx, double *median_ms) {
    return time_median(b, fn, ctx, 0, median_ms);
}

clf_status clf_bench_time_wall(clf_bench *b, clf_bench_fn fn, void *ctx, double *median_ms) {
    return time_median(b, fn, ctx, 1, median_ms);
}

clf_status clf_bench_add(clf_bench *b, const char *name, const char *shape, double ms, double bytes, double flops,
                         int memory_bound) {
    if (b->n_rows == b->cap_rows) {
        size_t cap = b->cap_rows ? 2 * b->cap_rows : 32;
        clf_bench_row *r = realloc(b->rows, cap * sizeof *r);
        if (!r) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
        b->rows = r;
        b->cap_rows = cap;
    }
    clf_bench_row *r = &b->rows[b->n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->shape, sizeof r->shape, "%s", shape);
    r->ms = ms;
    if (ms > 0) {
        r->gbps = bytes / (ms * 1e-3) / 1e9;
        r->gflops = flops / (ms * 1e-3) / 1e9;
    }
    if (memory_bound && b->copy_gbps > 0) r->frac = r->gbps / b->copy_gbps;
    else if (!memory_bound && b->gemm_gflops > 0) r->frac = r->gflops / b->gemm_gflops;
    return CLF_OK;
}

clf_status clf_bench_buffer(clf_bench *b, size_t n, float value, cl_mem *out) {
    clf_status st = clf_buffer_alloc(b->dev, (n ? n : 1) * sizeof(float), "benchmark buffer", out);
    if (st == CLF_OK) st = clf_buffer_fill_float(b->dev, *out, 0, n ? n : 1, value);
    return st;
}
