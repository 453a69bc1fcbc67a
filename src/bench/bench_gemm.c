/* The products of a training step of b->cfg (linear layers forward, dx and dW; attention's
 * per-head products) timed by wall clock for three paths: clformer's selection, its own kernels
 * forced, CLBlast forced; and at two shapes (a forward and a transposed backward product) the
 * local-memory kernel forced, which the selection times on GPUs only. Rows are named "gemm <path>"
 * with the shape "TT MxNxK role". */
#include "bench_gemm.h"

#include <stdio.h>

#include "gemm_internal.h"

typedef struct gemm_path {
    const char *name;
    clf_gemm_variant v;
    bool own_only;
} gemm_path;

typedef struct gemm_ctx {
    clf_device *dev;
    clf_gemm_args g;
} gemm_ctx;

static clf_status run_one(void *p) {
    gemm_ctx *c = p;
    return clf_gemm(c->dev, &c->g);
}

static const gemm_path PATHS[] = {{"gemm selected", CLF_GEMM_AUTO, false},
                                  {"gemm own", CLF_GEMM_AUTO, true},
                                  {"gemm clblast", CLF_GEMM_CLBLAST, false}};
static const gemm_path LOCAL_PATH[] = {{"gemm own-local", CLF_GEMM_OWN_LOCAL, false}};

static clf_status bench_paths(clf_bench *b, const gemm_path *paths, size_t n_paths, const char *role, bool ta,
                              bool tb, size_t m, size_t n, size_t k, size_t batch) {
    gemm_ctx c = {.dev = b->dev,
                  .g = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .alpha = 1, .beta = 1, .batch = batch,
                        .stride_a = m * k, .stride_b = k * n, .stride_c = m * n}};
    char shape[96];
    if (batch > 1) snprintf(shape, sizeof shape, "%c%c %zux%zux%zu b%zu %s", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k,
                            batch, role);
    else snprintf(shape, sizeof shape, "%c%c %zux%zux%zu %s", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, role);
    clf_status st = clf_bench_buffer(b, batch * m * k, 0.01f, &c.g.a);
    if (st == CLF_OK) st = clf_bench_buffer(b, batch * k * n, 0.01f, &c.g.b);
    if (st == CLF_OK) st = clf_bench_buffer(b, batch * m * n, 0.0f, &c.g.c);
    double flops = 2.0 * (double)m * (double)n * (double)k * (double)batch;
    clf_bench_config saved = b->cfg;
    for (size_t i = 0; st == CLF_OK && i < n_paths; i++) {
        st = clf_gemm_force(b->dev, paths[i].v, paths[i].own_only);
        bool slow_on_cpu = paths[i].v == CLF_GEMM_CLBLAST || paths[i].v == CLF_GEMM_OWN_LOCAL;
        if (slow_on_cpu && !clf_device_get_info(b->dev)->is_gpu) { /* 10-50x slower there: fewer runs */
            b->cfg.warmup = 1;
            b->cfg.iters = b->cfg.iters < 3 ? b->cfg.iters : 3;
        }
        double ms = 0;
        if (st == CLF_OK) st = run_one(&c); /* the first call chooses (and measures): not timed */
        if (st == CLF_OK) st = clf_bench_time_wall(b, run_one, &c, &ms);
        b->cfg = saved;
        /* the name stays the same whichever variant runs, so rows line up across devices and runs */
        if (st == CLF_OK) st = clf_bench_add(b, paths[i].name, shape, ms, 0, flops, 0);
    }
    clf_status lift = clf_gemm_force(b->dev, CLF_GEMM_AUTO, false);
    if (st == CLF_OK) st = lift;
    clf_buffer_release(b->dev, c.g.a);
    clf_buffer_release(b->dev, c.g.b);
    clf_buffer_release(b->dev, c.g.c);
    return st;
}

static clf_status bench_shape(clf_bench *b, const char *role, bool ta, bool tb, size_t m, size_t n, size_t k,
                              size_t batch) {
    return bench_paths(b, PATHS, sizeof PATHS / sizeof PATHS[0], role, ta, tb, m, n, k, batch);
}

clf_status clf_bench_gemm(clf_bench *b) {
    size_t t = (size_t)b->cfg.tokens, d = (size_t)b->cfg.d_model, ff = (size_t)b->cfg.d_ff;
    size_t v = (size_t)b->cfg.vocab, h = (size_t)b->cfg.n_heads, s = (size_t)b->cfg.seq, dh = d / h;
    /* Linear y = x W^T (NT), dx = dy W (NN), dW += dy^T x (TN); attention per sequence over heads */
    const struct {
        const char *role;
        size_t in, out;
        int full_only;
    } layers[] = {{"qkv/o", d, d, 0}, {"ffn1", d, ff, 0}, {"ffn2", ff, d, 0}, {"generator", d, v, 1}};
    clf_status st = CLF_OK;
    char role[48];
    for (size_t i = 0; st == CLF_OK && i < sizeof layers / sizeof layers[0]; i++) {
        if (b->cfg.quick && layers[i].full_only) continue;
        size_t in = layers[i].in, out = layers[i].out;
        snprintf(role, sizeof role, "%s fwd", layers[i].role);
        st = bench_shape(b, role, false, true, t, out, in, 1);
        snprintf(role, sizeof role, "%s dx", layers[i].role);
        if (st == CLF_OK) st = bench_shape(b, role, false, false, t, in, out, 1);
        snprintf(role, sizeof role, "%s dW", layers[i].role);
        if (st == CLF_OK) st = bench_shape(b, role, true, false, out, in, t, 1);
    }
    if (st == CLF_OK) st = bench_shape(b, "attn QK^T", false, true, s, s, dh, h);
    if (st == CLF_OK && !b->cfg.quick) st = bench_shape(b, "attn PV", false, false, s, dh, s, h);
    if (st == CLF_OK && !b->cfg.quick) st = bench_shape(b, "attn dV", true, false, s, dh, s, h);
    /* the local-memory kernel: the qkv/o projection forward (NT) and its weight gradient (TN) */
    if (st == CLF_OK) st = bench_paths(b, LOCAL_PATH, 1, "qkv/o fwd", false, true, t, d, d, 1);
    if (st == CLF_OK) st = bench_paths(b, LOCAL_PATH, 1, "qkv/o dW", true, false, d, d, t, 1);
    return st;
}
