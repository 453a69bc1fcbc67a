#include "bench_norm.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/elementwise.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"

typedef struct norm_ctx {
    clf_device *dev;
    int n, t, d, vocab;
    cl_mem x, y, dx, dy, mean, rstd, gamma, beta, dgamma, dbeta, ln_ws; /* LayerNorm */
    cl_mem table, dtable, tokens, pe, emb_ws;                          /* embedding (out, dout: y, dy) */
    cl_mem s, sum, ds, dsum;                                           /* residual add + LayerNorm */
    clf_dropout drop;
} norm_ctx;

static clf_status run_emb_fwd(void *p) {
    norm_ctx *c = p;
    return clf_embedding_fwd(c->dev, c->y, c->table, c->tokens, c->pe, c->n, c->t, c->d, c->vocab,
                             sqrtf((float)c->d));
}

static clf_status run_emb_bwd(void *p) {
    norm_ctx *c = p;
    return clf_embedding_bwd(c->dev, c->dtable, c->dy, c->tokens, c->emb_ws, c->n, c->d, c->vocab,
                             sqrtf((float)c->d));
}

static clf_status run_ln_fwd(void *p) {
    norm_ctx *c = p;
    return clf_layernorm_fwd(c->dev, c->y, c->mean, c->rstd, c->x, c->gamma, c->beta, c->n, c->d, 1e-5f);
}

static clf_status run_ln_bwd(void *p) {
    norm_ctx *c = p;
    return clf_layernorm_bwd(c->dev, c->dx, c->dgamma, c->dbeta, c->dy, c->x, c->mean, c->rstd, c->gamma, c->ln_ws,
                             c->n, c->d);
}

/* The residual add + LayerNorm of a sub-layer, fused and as the two kernels it replaces. */
static clf_status run_add_ln_fwd(void *p) {
    norm_ctx *c = p;
    return clf_add_layernorm_fwd(c->dev, c->y, c->sum, c->mean, c->rstd, c->x, c->s, c->gamma, c->beta, c->n, c->d,
                                 1e-5f, &c->drop);
}

static clf_status run_add_ln_fwd_unfused(void *p) {
    norm_ctx *c = p;
    clf_status st = clf_residual_dropout_fwd(c->dev, c->sum, c->x, c->s, (size_t)c->n * (size_t)c->d, &c->drop);
    return st == CLF_OK ? clf_layernorm_fwd(c->dev, c->y, c->mean, c->rstd, c->sum, c->gamma, c->beta, c->n, c->d,
                                            1e-5f)
                        : st;
}

static clf_status run_add_ln_bwd(void *p) {
    norm_ctx *c = p;
    return clf_add_layernorm_bwd(c->dev, c->dx, c->ds, c->dgamma, c->dbeta, c->dy, c->dsum, c->sum, c->mean, c->rstd,
                                 c->gamma, c->ln_ws, c->n, c->d, &c->drop);
}

/* LayerNorm's backward accumulates into dsum (the stream's gradient), which the residual backward then
 * hands on to dx and ds: what the graph runs without the fused op. */
static clf_status run_add_ln_bwd_unfused(void *p) {
    norm_ctx *c = p;
    clf_status st = clf_layernorm_bwd(c->dev, c->dsum, c->dgamma, c->dbeta, c->dy, c->sum, c->mean, c->rstd, c->gamma,
                                      c->ln_ws, c->n, c->d);
    return st == CLF_OK ? clf_residual_dropout_bwd(c->dev, c->dx, c->ds, c->dsum, (size_t)c->n * (size_t)c->d,
                                                   &c->drop)
                        : st;
}

/* Token ids shaped like byte text: a few ids take most rows, so the backward's sums are uneven. */
static clf_status upload_tokens(clf_bench *b, norm_ctx *c) {
    int32_t *tok = malloc((size_t)c->n * sizeof *tok);
    if (!tok) return CLF_ERROR(CLF_ERR_NO_MEMORY, "bench_norm: out of host memory");
    uint32_t s = 12345;
    for (int r = 0; r < c->n; r++) {
        s = s * 1664525u + 1013904223u;
        tok[r] = (int32_t)((s >> 8) % 4 ? ((s >> 12) % 32) + 97 : (s >> 12) % (uint32_t)c->vocab);
        if (tok[r] >= c->vocab) tok[r] = 0;
    }
    clf_status st = clf_buffer_alloc(b->dev, (size_t)c->n * sizeof *tok, "benchmark tokens", &c->tokens);
    if (st == CLF_OK) st = clf_buffer_write(b->dev, c->tokens, 0, (size_t)c->n * sizeof *tok, tok);
    free(tok);
    return st;
}

static clf_status upload_pe(clf_bench *b, norm_ctx *c) {
    float *pe = malloc((size_t)c->t * (size_t)c->d * sizeof *pe);
    if (!pe) return CLF_ERROR(CLF_ERR_NO_MEMORY, "bench_norm: out of host memory");
    clf_positional_table(pe, c->t, c->d);
    clf_status st = clf_buffer_alloc(b->dev, (size_t)c->t * (size_t)c->d * sizeof *pe, "benchmark pe", &c->pe);
    if (st == CLF_OK) st = clf_buffer_write(b->dev, c->pe, 0, (size_t)c->t * (size_t)c->d * sizeof *pe, pe);
    free(pe);
    return st;
}

/* Bytes are what each op must move at least once: the embedding table is read once however many
 * rows gather from it; the backward reads and writes dtable and reads dout; LayerNorm's forward reads
 * x and writes y, its backward reads dy and x and updates dx. Row and column vectors are counted too.
 * The residual add + LayerNorm rows, fused and unfused alike, count what the fused op moves (forward:
 * x, s in, sum, y out; backward: dy, dsum, sum in, dx, ds updated), so their fractions compare the two. */
static clf_status bench_all(clf_bench *b, norm_ctx *c) {
    const double f = sizeof(float), nd = (double)c->n * c->d, vd = (double)c->vocab * c->d, n = c->n, d = c->d;
    const struct {
        const char *name;
        clf_bench_fn fn;
        double bytes;
    } cases[] = {
        {"embedding_fwd", run_emb_fwd, f * (nd + vd + (double)c->t * d + n)},
        {"embedding_bwd", run_emb_bwd, f * (nd + 2 * vd + n)},
        {"layernorm_fwd", run_ln_fwd, f * (2 * nd + 2 * d + 2 * n)},
        {"layernorm_bwd", run_ln_bwd, f * (4 * nd + 5 * d + 2 * n)},
        {"add_layernorm_fwd p0.1", run_add_ln_fwd, f * (4 * nd + 2 * d + 2 * n)},
        {"residual+layernorm_fwd p0.1", run_add_ln_fwd_unfused, f * (4 * nd + 2 * d + 2 * n)},
        {"add_layernorm_bwd p0.1", run_add_ln_bwd, f * (7 * nd + 5 * d + 2 * n)},
        {"layernorm+residual_bwd p0.1", run_add_ln_bwd_unfused, f * (7 * nd + 5 * d + 2 * n)},
        {"add_layernorm_fwd p0", run_add_ln_fwd, f * (4 * nd + 2 * d + 2 * n)},
        {"residual+layernorm_fwd p0", run_add_ln_fwd_unfused, f * (4 * nd + 2 * d + 2 * n)},
        {"add_layernorm_bwd p0", run_add_ln_bwd, f * (7 * nd + 5 * d + 2 * n)},
        {"layernorm+residual_bwd p0", run_add_ln_bwd_unfused, f * (7 * nd + 5 * d + 2 * n)},
    };
    char shape[96];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double ms = 0;
        if (i < 2) snprintf(shape, sizeof shape, "%dx%d v%d", c->n, c->d, c->vocab);
        else snprintf(shape, sizeof shape, "%dx%d", c->n, c->d);
        c->drop.p = strstr(cases[i].name, "p0.1") ? 0.1f : 0.0f;
        clf_status st = clf_bench_time(b, cases[i].fn, c, &ms);
        if (st == CLF_OK) st = clf_bench_add(b, cases[i].name, shape, ms, cases[i].bytes, 0, 1);
        if (st != CLF_OK) return st;
    }
    return CLF_OK;
}

clf_status clf_bench_norm(clf_bench *b) {
    norm_ctx c = {.dev = b->dev, .n = b->cfg.tokens, .t = b->cfg.seq, .d = b->cfg.d_model, .vocab = b->cfg.vocab,
                  .drop = {.p = 0.1f, .seed = 42, .step = 1, .site = 1}};
    if (c.n <= 0 || c.t <= 0 || c.d <= 0 || c.vocab <= 0 || c.n % c.t)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "bench_norm: tokens %d, seq %d, d_model %d, vocab %d do not fit", c.n,
                         c.t, c.d, c.vocab);
    size_t nd = (size_t)c.n * (size_t)c.d, n = (size_t)c.n, d = (size_t)c.d, vd = (size_t)c.vocab * d;
    struct {
        cl_mem *m;
        size_t floats;
        float value;
    } bufs[] = {
        {&c.x, nd, 0.5f},     {&c.y, nd, 0.0f},      {&c.dx, nd, 0.0f},       {&c.dy, nd, 0.01f},
        {&c.mean, n, 0.0f},   {&c.rstd, n, 1.0f},    {&c.gamma, d, 1.0f},     {&c.beta, d, 0.0f},
        {&c.dgamma, d, 0.0f}, {&c.dbeta, d, 0.0f},   {&c.table, vd, 0.02f},   {&c.dtable, vd, 0.0f},
        {&c.s, nd, 0.25f},    {&c.sum, nd, 0.0f},    {&c.ds, nd, 0.0f},       {&c.dsum, nd, 0.0f},
        {&c.ln_ws, clf_layernorm_workspace_floats(c.n, c.d), 0.0f},
        {&c.emb_ws, clf_embedding_workspace_floats(c.n, c.d, c.vocab), 0.0f},
    };
    const size_t nbufs = sizeof bufs / sizeof bufs[0];
    clf_status st = CLF_OK;
    for (size_t i = 0; st == CLF_OK && i < nbufs; i++) st = clf_bench_buffer(b, bufs[i].floats, bufs[i].value, bufs[i].m);
    if (st == CLF_OK) st = upload_tokens(b, &c);
    if (st == CLF_OK) st = upload_pe(b, &c);
    if (st == CLF_OK) st = run_ln_fwd(&c); /* mean and rstd for the backward */
    if (st == CLF_OK) st = bench_all(b, &c);
    for (size_t i = 0; i < nbufs; i++) clf_buffer_release(b->dev, *bufs[i].m);
    clf_buffer_release(b->dev, c.tokens);
    clf_buffer_release(b->dev, c.pe);
    return st;
}
