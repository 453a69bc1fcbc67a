/* CLBlast own vs tuned (gemm_clblast_tune.h) on the qkv/o projection of a training step, y = x W^T:
 * tokens x d_model x d_model, timed by wall clock as every GEMM (see bench.h). CLBlast's own set can
 * only be timed before the first tuned set is applied in the process (CLBlast cannot restore it). */
#include "bench_clblast.h"

#include <stdio.h>

#include "gemm_clblast_tune.h"

typedef struct clblast_ctx {
    clf_device *dev;
    clf_gemm_shape s;
    bool tuned;
} clblast_ctx;

static clf_status run_one(void *p) {
    clblast_ctx *c = p;
    return c->tuned ? clf_gemm_clblast(c->dev, &c->s) : clf_gemm_clblast_untuned(c->dev, &c->s);
}

static clf_status time_row(clf_bench *b, clblast_ctx *c, const char *name, const char *shape, double flops) {
    clf_bench_config saved = b->cfg;
    b->cfg.warmup = 1; /* the first run builds; CLBlast is slow on CPUs: few runs */
    b->cfg.iters = b->cfg.iters < 3 ? b->cfg.iters : 3;
    double ms = 0;
    clf_status st = clf_bench_time_wall(b, run_one, c, &ms);
    b->cfg = saved;
    return st == CLF_OK ? clf_bench_add(b, name, shape, ms, 0, flops, 0) : st;
}

clf_status clf_bench_clblast(clf_bench *b) {
    size_t m = (size_t)b->cfg.tokens, d = (size_t)b->cfg.d_model;
    bool on;
    clf_status st = clf_clblast_tune_enabled(b->dev, &on);
    if (st != CLF_OK) return st;
    clblast_ctx c = {.dev = b->dev,
                     .s = {.g = {.trans_b = true, .m = m, .n = d, .k = d, .alpha = 1, .beta = 0}, .batch = 1,
                           .lda = d, .ldb = d, .ldc = d}};
    double flops = 2.0 * (double)m * (double)d * (double)d;
    char shape[96];
    snprintf(shape, sizeof shape, "NT %zux%zux%zu qkv/o fwd", m, d, d);
    st = clf_bench_buffer(b, m * d, 0.01f, &c.s.g.a);
    if (st == CLF_OK) st = clf_bench_buffer(b, d * d, 0.01f, &c.s.g.b);
    if (st == CLF_OK) st = clf_bench_buffer(b, m * d, 0.0f, &c.s.g.c);
    if (st == CLF_OK && clf_clblast_tune_pristine(b->dev)) st = time_row(b, &c, "clblast own", shape, flops);
    if (st == CLF_OK && on) st = clf_clblast_tune(b->dev);
    clf_clblast_tune_stats ts;
    clf_clblast_tune_stats_get(&ts);
    if (st == CLF_OK && on) {
        char name[64];
        snprintf(name, sizeof name, "clblast tuned %s", ts.choice);
        c.tuned = true;
        st = time_row(b, &c, name, shape, flops);
    }
    if (st == CLF_OK && on && ts.measured > 0 && ts.default_ms > 0) { /* the tune's proxies, summed */
        snprintf(shape, sizeof shape, "tune proxies, %.1f s measuring", ts.ms / 1000);
        st = clf_bench_add(b, "clblast own (tune)", shape, ts.default_ms, 0, ts.proxy_flops, 0);
        if (st == CLF_OK) st = clf_bench_add(b, "clblast tuned (tune)", shape, ts.chosen_ms, 0, ts.proxy_flops, 0);
    }
    clf_buffer_release(b->dev, c.s.g.a);
    clf_buffer_release(b->dev, c.s.g.b);
    clf_buffer_release(b->dev, c.s.g.c);
    return st;
}
