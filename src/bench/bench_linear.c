#include "bench_linear.h"

#include <stdio.h>

#include "ops/linear.h"

typedef struct lin_ctx {
    clf_device *dev;
    int n, in, out;
    clf_activation act;
    int bias, keep_pre;
    cl_mem x, w, b, y, pre, dy, dx, dw, db, ws;
} lin_ctx;

static clf_status run_fwd(void *p) {
    lin_ctx *c = p;
    return clf_linear_fwd(c->dev, c->y, c->keep_pre ? c->pre : NULL, c->x, c->w, c->bias ? c->b : NULL, c->n, c->in,
                          c->out, c->act);
}

static clf_status run_bwd(void *p) {
    lin_ctx *c = p;
    return clf_linear_bwd(c->dev, c->dx, c->dw, c->bias ? c->db : NULL, c->dy, c->x, c->w, c->y, c->pre, c->ws, c->n,
                          c->in, c->out, c->act);
}

static void release_all(lin_ctx *c) {
    cl_mem *all[] = {&c->x, &c->w, &c->b, &c->y, &c->pre, &c->dy, &c->dx, &c->dw, &c->db, &c->ws};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        clf_buffer_release(c->dev, *all[i]);
        *all[i] = NULL;
    }
}

static clf_status alloc_all(clf_bench *b, lin_ctx *c) {
    size_t ni = (size_t)c->n * c->in, no = (size_t)c->n * c->out, oi = (size_t)c->out * c->in;
    size_t ws = clf_linear_workspace_floats(c->n, c->out, c->act);
    clf_status st = clf_bench_buffer(b, ni, 0.5f, &c->x);
    if (st == CLF_OK) st = clf_bench_buffer(b, oi, 0.01f, &c->w);
    if (st == CLF_OK) st = clf_bench_buffer(b, (size_t)c->out, 0.1f, &c->b);
    if (st == CLF_OK) st = clf_bench_buffer(b, no, 0.0f, &c->y);
    if (st == CLF_OK) st = clf_bench_buffer(b, no, 0.0f, &c->pre);
    if (st == CLF_OK) st = clf_bench_buffer(b, no, 0.001f, &c->dy);
    if (st == CLF_OK) st = clf_bench_buffer(b, ni, 0.0f, &c->dx);
    if (st == CLF_OK) st = clf_bench_buffer(b, oi, 0.0f, &c->dw);
    if (st == CLF_OK) st = clf_bench_buffer(b, (size_t)c->out, 0.0f, &c->db);
    if (st == CLF_OK && ws) st = clf_bench_buffer(b, ws, 0.0f, &c->ws);
    return st;
}

static const char *const ACT_NAME[] = {"", " relu", " gelu"};

/* One layer shape: forward (2 n in out flops) and backward (dx and dw: 4 n in out). */
static clf_status bench_layer(clf_bench *b, const char *role, int in, int out, clf_activation act, int bias,
                              int gemm_only) {
    lin_ctx c = {.dev = b->dev, .n = b->cfg.tokens, .in = in, .out = out, .act = act, .bias = bias,
                 .keep_pre = act == CLF_ACT_GELU};
    char shape[96];
    snprintf(shape, sizeof shape, "%s %dx%d->%d%s%s", role, c.n, in, out, ACT_NAME[act], bias ? " +b" : "");
    double flops = 2.0 * c.n * (double)in * out, ms = 0;
    clf_status st = alloc_all(b, &c);
    if (st == CLF_OK) st = clf_bench_time_wall(b, run_fwd, &c, &ms);
    if (st == CLF_OK) st = clf_bench_add(b, gemm_only ? "linear_fwd_gemm_only" : "linear_fwd", shape, ms, 0, flops, 0);
    if (st == CLF_OK && !gemm_only) st = clf_bench_time_wall(b, run_bwd, &c, &ms);
    if (st == CLF_OK && !gemm_only) st = clf_bench_add(b, "linear_bwd", shape, ms, 0, 2 * flops, 0);
    release_all(&c);
    return st;
}

clf_status clf_bench_linear(clf_bench *b) {
    int d = b->cfg.d_model, ff = b->cfg.d_ff;
    const struct {
        const char *role;
        int in, out;
        clf_activation act;
        int bias, gemm_only, full_only;
    } layers[] = {
        {"qkv/o", d, d, CLF_ACT_NONE, 1, 0, 0},
        {"qkv fused", d, 3 * d, CLF_ACT_NONE, 1, 0, 1},
        {"ffn1", d, ff, CLF_ACT_RELU, 1, 0, 0},
        {"ffn1", d, ff, CLF_ACT_GELU, 1, 0, 1},
        {"ffn1", d, ff, CLF_ACT_NONE, 0, 1, 1}, /* the product alone: what the epilogue adds */
        {"ffn2", ff, d, CLF_ACT_NONE, 1, 0, 0},
        {"generator", d, b->cfg.vocab, CLF_ACT_NONE, 0, 0, 0},
    };
    clf_status st = CLF_OK;
    for (size_t i = 0; st == CLF_OK && i < sizeof layers / sizeof layers[0]; i++)
        if (!b->cfg.quick || !layers[i].full_only)
            st = bench_layer(b, layers[i].role, layers[i].in, layers[i].out, layers[i].act, layers[i].bias,
                             layers[i].gemm_only);
    return st;
}
