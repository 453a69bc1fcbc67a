#include "bench_limits.h"

#include <stdio.h>
#include <string.h>

#include "bench_attention.h"
#include "bench_clblast.h"
#include "bench_elementwise.h"
#include "bench_gemm.h"
#include "bench_linear.h"
#include "bench_norm.h"
#include "bench_optim.h"
#include "clformer/gemm.h"
#include "clformer/launch.h"

typedef struct {
    clf_device *dev;
    cl_mem a, b, c;
    size_t n;
} limits_ctx;

static clf_status run_copy(void *vctx) {
    limits_ctx *x = vctx;
    size_t n4 = x->n / 4, local = 256;
    return CLF_RUN(x->dev, "copy", NULL, "copy_f32x4", 1, &n4, &local, CLF_ARG_MEM(x->b), CLF_ARG_MEM(x->a),
                   CLF_ARG_INT(n4));
}

static clf_status run_gemm(void *vctx) {
    limits_ctx *x = vctx;
    clf_gemm_args g = {.m = x->n, .n = x->n, .k = x->n, .alpha = 1, .beta = 0, .a = x->a, .b = x->b, .c = x->c};
    return clf_gemm(x->dev, &g);
}

clf_status clf_bench_limits(clf_bench *b) {
    limits_ctx x = {b->dev, NULL, NULL, NULL, (size_t)(b->cfg.quick ? 16 : 64) << 20};
    double ms = 0;
    char shape[64];
    clf_status st = clf_bench_buffer(b, x.n, 1.0f, &x.a);
    if (st == CLF_OK) st = clf_bench_buffer(b, x.n, 0.0f, &x.b);
    if (st == CLF_OK) st = clf_bench_time(b, run_copy, &x, &ms);
    if (st == CLF_OK) {
        b->copy_gbps = 2.0 * (double)x.n * 4 / (ms * 1e-3) / 1e9;
        snprintf(shape, sizeof shape, "%zu MiB", x.n * 4 >> 20);
        st = clf_bench_add(b, "copy (bandwidth)", shape, ms, 2.0 * (double)x.n * 4, 0, 1);
    }
    clf_buffer_release(b->dev, x.a);
    clf_buffer_release(b->dev, x.b);
    x.a = x.b = NULL;
    if (st != CLF_OK) return st;

    x.n = b->cfg.quick ? 1024 : 2048;
    size_t nn = x.n * x.n;
    st = clf_bench_buffer(b, nn, 0.01f, &x.a);
    if (st == CLF_OK) st = clf_bench_buffer(b, nn, 0.01f, &x.b);
    if (st == CLF_OK) st = clf_bench_buffer(b, nn, 0.0f, &x.c);
    if (st == CLF_OK) st = clf_bench_time_wall(b, run_gemm, &x, &ms); /* a GEMM: see bench.h */
    if (st == CLF_OK) {
        double flops = 2.0 * (double)nn * (double)x.n;
        b->gemm_gflops = flops / (ms * 1e-3) / 1e9;
        snprintf(shape, sizeof shape, "%zux%zux%zu", x.n, x.n, x.n);
        st = clf_bench_add(b, "sgemm (clf_gemm)", shape, ms, 0, flops, 0);
    }
    clf_buffer_release(b->dev, x.a);
    clf_buffer_release(b->dev, x.b);
    clf_buffer_release(b->dev, x.c);
    return st;
}

clf_status clf_bench_all(clf_bench *b, const char *only) {
    static const struct {
        const char *name;
        clf_status (*run)(clf_bench *);
    } families[] = {
        {"linear", clf_bench_linear},       {"attention", clf_bench_attention}, {"norm", clf_bench_norm},
        {"elementwise", clf_bench_elementwise}, {"optim", clf_bench_optim},
        {"gemm", clf_bench_gemm},
    };
    /* CLBlast's own parameters can be timed only before its first tuned call, which the limits' SGEMM
     * makes on GPUs: its rows come first and get their fraction of the SGEMM rate afterwards */
    clf_status st = CLF_OK;
    size_t early = 0;
    if (!only || strstr("gemm", only)) {
        st = clf_bench_clblast(b);
        early = b->n_rows;
    }
    if (st == CLF_OK) st = clf_bench_limits(b);
    for (size_t i = 0; i < early && b->gemm_gflops > 0; i++) b->rows[i].frac = b->rows[i].gflops / b->gemm_gflops;
    for (size_t i = 0; st == CLF_OK && i < sizeof families / sizeof families[0]; i++) {
        if (only && !strstr(families[i].name, only)) continue;
        st = families[i].run(b);
        if (st != CLF_OK) clf_error_context(st, "benchmark %s", families[i].name);
    }
    return st;
}
