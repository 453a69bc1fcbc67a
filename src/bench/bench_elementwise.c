#include "bench_elementwise.h"

#include <stdio.h>

#include "ops/elementwise.h"

typedef struct ew_ctx {
    clf_device *dev;
    cl_mem a, b, c;
    size_t n;
    clf_dropout d;
} ew_ctx;

static clf_status run_fwd(void *p) {
    ew_ctx *c = p;
    return clf_residual_dropout_fwd(c->dev, c->a, c->b, c->c, c->n, &c->d);
}

static clf_status run_bwd(void *p) {
    ew_ctx *c = p;
    return clf_residual_dropout_bwd(c->dev, c->a, c->b, c->c, c->n, &c->d);
}

static clf_status run_axpy(void *p) {
    ew_ctx *c = p;
    return clf_axpy(c->dev, c->a, c->b, c->n, 0.5f);
}

/* Bytes per element: fwd reads x, s and writes y; bwd reads dx, ds, dy and writes dx, ds; axpy
 * reads dst, src and writes dst. p = 0 shows what Philox costs on top of the memory traffic. */
static clf_status bench_shape(clf_bench *b, ew_ctx *c, const char *shape) {
    static const struct {
        const char *name;
        clf_bench_fn fn;
        float p;
        int floats;
    } cases[] = {
        {"residual_dropout_fwd", run_fwd, 0.1f, 3},
        {"residual_dropout_fwd_p0", run_fwd, 0.0f, 3},
        {"residual_dropout_bwd", run_bwd, 0.1f, 5},
        {"residual_dropout_bwd_p0", run_bwd, 0.0f, 5},
        {"axpy", run_axpy, 0.0f, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double ms = 0;
        c->d.p = cases[i].p;
        clf_status st = clf_bench_time(b, cases[i].fn, c, &ms);
        if (st == CLF_OK)
            st = clf_bench_add(b, cases[i].name, shape, ms, (double)cases[i].floats * sizeof(float) * (double)c->n,
                               0, 1);
        if (st != CLF_OK) return st;
    }
    return CLF_OK;
}

clf_status clf_bench_elementwise(clf_bench *b) {
    const int widths[] = {b->cfg.d_model, b->cfg.d_ff};
    clf_status st = CLF_OK;
    for (int w = 0; st == CLF_OK && w < 2; w++) {
        ew_ctx c = {b->dev, NULL, NULL, NULL, (size_t)b->cfg.tokens * (size_t)widths[w], {0.1f, 1234, 1, 0}};
        char shape[96];
        snprintf(shape, sizeof shape, "%dx%d", b->cfg.tokens, widths[w]);
        st = clf_bench_buffer(b, c.n, 0.5f, &c.a);
        if (st == CLF_OK) st = clf_bench_buffer(b, c.n, 0.25f, &c.b);
        if (st == CLF_OK) st = clf_bench_buffer(b, c.n, 0.125f, &c.c);
        if (st == CLF_OK) st = bench_shape(b, &c, shape);
        clf_buffer_release(b->dev, c.a);
        clf_buffer_release(b->dev, c.b);
        clf_buffer_release(b->dev, c.c);
    }
    return st;
}
