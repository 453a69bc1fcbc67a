#include "bench_optim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/adamw.h"
#include "ops/cross_entropy.h"

typedef struct ce_ctx {
    clf_device *dev;
    cl_mem rows, dlogits, logits, targets, loss;
    int n, v;
} ce_ctx;

static clf_status run_ce(void *p) {
    ce_ctx *c = p;
    float inv = 1.0f / (float)c->n;
    clf_status st = clf_cross_entropy_fwd_bwd(c->dev, c->rows, c->dlogits, c->logits, c->targets, c->n, c->v, 256,
                                              0.1f, inv);
    return st == CLF_OK ? clf_loss_reduce(c->dev, c->loss, c->rows, c->n, inv) : st;
}

/* Bytes counted are the least any implementation moves: the logits read once, dlogits written once
 * (the loss only: no dlogits), and per row the target read, the row's loss written and read back by
 * the reduction. The kernel rereads each row from cache, which is not counted. */
static clf_status bench_ce(clf_bench *b, int n, int v) {
    ce_ctx c = {b->dev, NULL, NULL, NULL, NULL, NULL, n, v};
    size_t nv = (size_t)n * v;
    int32_t *t = malloc((size_t)n * sizeof *t);
    if (!t) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
    for (int r = 0; r < n; r++) t[r] = (int32_t)((r * 7919u) % (unsigned)v);
    clf_status st = clf_bench_buffer(b, nv, 0.5f, &c.logits);
    if (st == CLF_OK) st = clf_bench_buffer(b, nv, 0.0f, &c.dlogits);
    if (st == CLF_OK) st = clf_bench_buffer(b, (size_t)n, 0.0f, &c.rows);
    if (st == CLF_OK) st = clf_bench_buffer(b, 1, 0.0f, &c.loss);
    if (st == CLF_OK) st = clf_buffer_alloc(b->dev, (size_t)n * sizeof *t, "benchmark targets", &c.targets);
    if (st == CLF_OK) st = clf_buffer_write(b->dev, c.targets, 0, (size_t)n * sizeof *t, t);
    char shape[96];
    snprintf(shape, sizeof shape, "%dx%d", n, v);
    double ms = 0;
    if (st == CLF_OK) st = clf_bench_time(b, run_ce, &c, &ms);
    const double per_rows = 3.0 * sizeof(float) * (double)n + sizeof(float);
    if (st == CLF_OK)
        st = clf_bench_add(b, "cross_entropy_fwd_bwd", shape, ms, 2.0 * sizeof(float) * (double)nv + per_rows, 0, 1);
    cl_mem keep = c.dlogits;
    c.dlogits = NULL; /* loss only, as in evaluation */
    if (st == CLF_OK) st = clf_bench_time(b, run_ce, &c, &ms);
    if (st == CLF_OK) st = clf_bench_add(b, "cross_entropy_fwd", shape, ms, sizeof(float) * (double)nv + per_rows, 0, 1);
    c.dlogits = keep;
    cl_mem bufs[] = {c.rows, c.dlogits, c.logits, c.targets, c.loss};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) clf_buffer_release(b->dev, bufs[i]);
    free(t);
    return st;
}

typedef struct opt_ctx {
    clf_device *dev;
    cl_mem p, m, v, g, state, norm, ws;
    size_t n;
    clf_adamw_params hp;
} opt_ctx;

static clf_status run_norm(void *p) {
    opt_ctx *c = p;
    return clf_grad_norm(c->dev, c->norm, c->g, c->ws, c->n);
}

static clf_status run_step(void *p) {
    opt_ctx *c = p;
    return clf_adamw_step(c->dev, c->p, c->m, c->v, c->state, c->g, c->norm, c->n, c->n / 4 * 3, &c->hp);
}

static clf_status run_both(void *p) {
    clf_status st = run_norm(p);
    return st == CLF_OK ? run_step(p) : st;
}

/* Bytes per parameter: the norm reads g (4); the step reads p, m, v, g and writes p, m, v (28). */
static clf_status bench_adamw(clf_bench *b, size_t n) {
    opt_ctx c = {b->dev, NULL, NULL, NULL, NULL, NULL, NULL, NULL, n, {1e-4f, 0.9f, 0.98f, 1e-9f, 0.01f, 1.0f}};
    clf_status st = clf_bench_buffer(b, n, 0.5f, &c.p);
    if (st == CLF_OK) st = clf_bench_buffer(b, n, 0.0f, &c.m);
    if (st == CLF_OK) st = clf_bench_buffer(b, n, 0.0f, &c.v);
    if (st == CLF_OK) st = clf_bench_buffer(b, n, 1e-3f, &c.g);
    if (st == CLF_OK) st = clf_bench_buffer(b, 1, 0.0f, &c.norm);
    if (st == CLF_OK) st = clf_bench_buffer(b, clf_grad_norm_workspace_floats(n), 0.0f, &c.ws);
    if (st == CLF_OK) st = clf_bench_buffer(b, 1, 0.0f, &c.state); /* all-zero bits: int32 0 */
    char shape[96];
    snprintf(shape, sizeof shape, "%zu", n);
    double ms = 0;
    if (st == CLF_OK) st = clf_bench_time(b, run_norm, &c, &ms);
    if (st == CLF_OK) st = clf_bench_add(b, "grad_norm", shape, ms, 4.0 * (double)n, 0, 1);
    if (st == CLF_OK) st = clf_bench_time(b, run_step, &c, &ms);
    if (st == CLF_OK) st = clf_bench_add(b, "adamw_step", shape, ms, 28.0 * (double)n, 0, 1);
    if (st == CLF_OK) st = clf_bench_time(b, run_both, &c, &ms);
    if (st == CLF_OK) st = clf_bench_add(b, "grad_norm+adamw_step", shape, ms, 32.0 * (double)n, 0, 1);
    cl_mem bufs[] = {c.p, c.m, c.v, c.g, c.norm, c.ws, c.state};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) clf_buffer_release(b->dev, bufs[i]);
    return st;
}

clf_status clf_bench_optim(clf_bench *b) {
    int tokens = b->cfg.tokens > 0 ? b->cfg.tokens : 4096, vocab = b->cfg.vocab > 0 ? b->cfg.vocab : 259;
    clf_status st = bench_ce(b, tokens, vocab);
    /* the model compared with PyTorch (tools/bench_vs_torch.py): batch 16 x 64 target tokens, vocab 1000 */
    if (st == CLF_OK) st = bench_ce(b, 1024, 1000);
    if (st == CLF_OK) st = bench_ce(b, b->cfg.quick ? tokens / 8 : tokens, 32000);
    if (st == CLF_OK) st = bench_adamw(b, b->cfg.quick ? (size_t)2000000 : (size_t)20000000);
    return st;
}
