#include "bench_attention.h"

#include <stdio.h>
#include <stdlib.h>

#include "ops/attention.h"
#include "ops/elementwise.h"

typedef struct attn_ctx {
    clf_device *dev;
    int fused;
    clf_attention_shape s;
    clf_dropout drop;
    cl_mem q, k, v, o, dout, dq, dk, dv, saved, ws, kmask;
} attn_ctx;

static clf_status run_fwd(void *p) {
    attn_ctx *c = p;
    if (c->fused) return clf_attention_fwd(c->dev, c->o, c->saved, c->q, c->k, c->v, c->kmask, &c->s, &c->drop);
    return clf_attention_matmul_fwd(c->dev, c->o, c->saved, c->q, c->k, c->v, c->kmask, c->ws, &c->s, &c->drop);
}

static clf_status run_fwd_bwd(void *p) {
    attn_ctx *c = p;
    clf_status st = run_fwd(p);
    if (st != CLF_OK) return st;
    if (c->fused)
        return clf_attention_bwd(c->dev, c->dq, c->dk, c->dv, c->dout, c->q, c->k, c->v, c->o, c->saved, c->kmask,
                                 c->ws, &c->s, &c->drop);
    return clf_attention_matmul_bwd(c->dev, c->dq, c->dk, c->dv, c->dout, c->q, c->k, c->v, c->saved, c->kmask,
                                    c->ws, &c->s, &c->drop);
}

/* Floats of what the path keeps beyond q, k, v, o and the gradients (which both share): the saved
 * lse or probabilities, and the workspace. */
static size_t scratch_floats(const attn_ctx *c) {
    const clf_attention_shape *s = &c->s;
    size_t rows = (size_t)s->batch * s->heads * s->tq;
    return c->fused ? rows + clf_attention_workspace_floats(s)
                    : rows * s->tk + clf_attention_matmul_workspace_floats(s);
}

static void release_all(attn_ctx *c) {
    cl_mem *all[] = {&c->q, &c->k, &c->v, &c->o, &c->dout, &c->dq, &c->dk, &c->dv, &c->saved, &c->ws, &c->kmask};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        clf_buffer_release(c->dev, *all[i]);
        *all[i] = NULL;
    }
}

static clf_status alloc_all(clf_bench *b, attn_ctx *c) {
    const clf_attention_shape *s = &c->s;
    size_t d = (size_t)s->heads * s->dh, nq = (size_t)s->batch * s->tq * d, nk = (size_t)s->batch * s->tk * d;
    size_t rows = (size_t)s->batch * s->heads * s->tq;
    size_t ws = c->fused ? clf_attention_workspace_floats(s) : clf_attention_matmul_workspace_floats(s);
    clf_status st = clf_bench_buffer(b, nq, 0.1f, &c->q);
    if (st == CLF_OK) st = clf_bench_buffer(b, nk, 0.2f, &c->k);
    if (st == CLF_OK) st = clf_bench_buffer(b, nk, 0.3f, &c->v);
    if (st == CLF_OK) st = clf_bench_buffer(b, nq, 0.0f, &c->o);
    if (st == CLF_OK) st = clf_bench_buffer(b, nq, 0.01f, &c->dout);
    if (st == CLF_OK) st = clf_bench_buffer(b, nq, 0.0f, &c->dq);
    if (st == CLF_OK) st = clf_bench_buffer(b, nk, 0.0f, &c->dk);
    if (st == CLF_OK) st = clf_bench_buffer(b, nk, 0.0f, &c->dv);
    if (st == CLF_OK) st = clf_bench_buffer(b, c->fused ? rows : rows * s->tk, 0.0f, &c->saved);
    if (st == CLF_OK) st = clf_bench_buffer(b, ws, 0.0f, &c->ws);
    if (st == CLF_OK) { /* every key attended: a float buffer of 1.0f is not an int 1, so fill from the host */
        size_t n = (size_t)s->batch * s->tk;
        int *ones = malloc(n * sizeof *ones);
        if (!ones) return CLF_ERROR(CLF_ERR_NO_MEMORY, "out of host memory");
        for (size_t i = 0; i < n; i++) ones[i] = 1;
        st = clf_buffer_alloc(c->dev, n * sizeof *ones, "benchmark mask", &c->kmask);
        if (st == CLF_OK) st = clf_buffer_write(c->dev, c->kmask, 0, n * sizeof *ones, ones);
        free(ones);
    }
    return st;
}

/* One path at one shape: rows "<prefix>_fwd" (unless sweep) and "<prefix>_fwd_bwd". FLOPs are the
 * nominal products (2 forward, 4 backward, 2 b H tq tk dh each) for both paths, so rates compare.
 * Both paths take wall time, which the materialized one's GEMMs need (bench.h), so times compare too. */
static clf_status bench_path(clf_bench *b, int fused, int batch, int seq, int sweep) {
    attn_ctx c = {.dev = b->dev, .fused = fused};
    c.s = (clf_attention_shape){batch, b->cfg.n_heads, seq, seq, b->cfg.d_model / b->cfg.n_heads, 0};
    c.drop = (clf_dropout){0.1f, 1234, 1, 7};
    double prod = 2.0 * batch * c.s.heads * (double)seq * seq * c.s.dh, ms = 0;
    double mib = (double)scratch_floats(&c) * sizeof(float) / (1024.0 * 1024.0);
    char shape[96], name[64];
    snprintf(shape, sizeof shape, "b%d h%d t%d dh%d drop0.1", batch, c.s.heads, seq, c.s.dh);
    const char *prefix = fused ? "attention_fused" : "attention_matmul";
    clf_status st = alloc_all(b, &c);
    if (st == CLF_OK && !sweep) {
        st = clf_bench_time_wall(b, run_fwd, &c, &ms);
        snprintf(name, sizeof name, "%s_fwd", prefix);
        if (st == CLF_OK) st = clf_bench_add(b, name, shape, ms, 0, 2 * prod, 0);
        if (st == CLF_OK) b->rows[b->n_rows - 1].mem_mib = mib;
    }
    if (st == CLF_OK) st = clf_bench_time_wall(b, run_fwd_bwd, &c, &ms);
    snprintf(name, sizeof name, "%s_fwd_bwd%s", prefix, sweep ? "_sweep" : "");
    if (st == CLF_OK) st = clf_bench_add(b, name, shape, ms, 0, 6 * prod, 0);
    if (st == CLF_OK) b->rows[b->n_rows - 1].mem_mib = mib;
    release_all(&c);
    return st;
}

clf_status clf_bench_attention(clf_bench *b) {
    clf_bench_config *cfg = &b->cfg;
    if (cfg->n_heads <= 0 || cfg->d_model % cfg->n_heads || cfg->d_model / cfg->n_heads > CLF_ATTENTION_MAX_DH)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "bench attention: d_model %d and n_heads %d give no valid head size",
                         cfg->d_model, cfg->n_heads);
    clf_status st = CLF_OK;
    for (int fused = 1; st == CLF_OK && fused >= 0; fused--) st = bench_path(b, fused, cfg->batch, cfg->seq, 0);
    /* sequence sweep at the same token count (batch shrinks as the sequence grows, at least 1) */
    int max_seq = cfg->quick ? 1024 : 4096;
    for (int seq = 128; st == CLF_OK && seq <= max_seq; seq *= 2) {
        int batch = cfg->tokens / seq > 0 ? cfg->tokens / seq : 1;
        for (int fused = 1; st == CLF_OK && fused >= 0; fused--) {
            st = bench_path(b, fused, batch, seq, 1);
            if (st == CLF_ERR_NO_MEMORY && !fused) { /* O(T^2) may not fit: say so in a row, go on */
                st = clf_bench_add(b, "attention_matmul_fwd_bwd_sweep", "out of device memory", 0, 0, 0, 0);
            }
        }
    }
    return st;
}
