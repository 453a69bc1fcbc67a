/* Fused attention launchers (cl/attention.cl): register-tiled kernels or local-memory kernels, as
 * measured per device and shape (tune.h; without tuning: tiles on CPU devices, groups elsewhere); and
 * the checks both paths share. */
#include "ops/attention.h"

#include <math.h>
#include <stdio.h>

#include "clformer/launch.h"
#include "tune.h"

/* The shape's own checks. */
static clf_status check_shape(const char *fn, const clf_attention_shape *s) {
    if (!s) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: shape is NULL", fn);
    if (s->batch <= 0 || s->heads <= 0 || s->tq <= 0 || s->tk <= 0 || s->dh <= 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: sizes must be positive (batch=%d heads=%d tq=%d tk=%d dh=%d)", fn,
                         s->batch, s->heads, s->tq, s->tk, s->dh);
    if (s->dh > CLF_ATTENTION_MAX_DH)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: head size dh=%d exceeds %d", fn, s->dh, CLF_ATTENTION_MAX_DH);
    if (s->causal && s->tq != s->tk)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: causal needs tq == tk (tq=%d tk=%d)", fn, s->tq, s->tk);
    /* element counts of the largest tensors must fit in int (kernel row indices) */
    double rows = (double)s->batch * s->heads * (s->tq > s->tk ? s->tq : s->tk);
    if (rows * s->dh > 2147483647.0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: shape too large (batch=%d heads=%d tq=%d tk=%d dh=%d)", fn,
                         s->batch, s->heads, s->tq, s->tk, s->dh);
    return CLF_OK;
}

clf_status clf_attention_check(const char *fn, clf_device *dev, const clf_attention_shape *s, const clf_dropout *drop,
                               const clf_attention_buf *bufs, size_t n_bufs, clf_dropout_args *da) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: dev is NULL", fn);
    clf_status st = check_shape(fn, s);
    if (st == CLF_OK) st = clf_dropout_args_of(fn, drop, da);
    for (size_t i = 0; st == CLF_OK && i < n_bufs; i++)
        if (!bufs[i].mem) st = CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: %s is NULL", fn, bufs[i].name);
    return st;
}

/* Rows per work-group: 64, halved until two staged tiles of WG x dh floats fit in local memory
 * (with room for the driver) and the group fits the device. */
static int fused_wg(clf_device *dev, int dh) {
    const clf_device_info *di = clf_device_get_info(dev);
    int wg = 64;
    while (wg > 8 && ((size_t)wg > di->max_work_group ||
                      (unsigned long long)wg * (2ull * (unsigned)dh + 2) * sizeof(float) + 1024 > di->local_mem))
        wg /= 2;
    return wg;
}

size_t clf_attention_workspace_floats(const clf_attention_shape *s) {
    return s && s->batch > 0 && s->heads > 0 && s->tq > 0 ? (size_t)s->batch * s->heads * s->tq : 0;
}

/* Launch configurations the tuner picks among: register tiles, or work-groups of the largest size that
 * fits (fused_wg) or half that. */
enum { CAND_TILES, CAND_GROUPS, CAND_GROUPS_HALF, CANDIDATES };

/* The register-tiled kernels own 16 query rows (forward, dq) or 64 keys (dk/dv) per work-item. */
enum { TILE_ROWS = 16, TILE_KEYS = 64 };

typedef struct launch_cfg {
    bool tiles;
    size_t wg;
    char opts[64];
} launch_cfg;

/* The tiles share the default groups' build (one program per head size). */
static launch_cfg cfg_of(clf_device *dev, int dh, int cand) {
    int wg = fused_wg(dev, dh);
    launch_cfg c = {cand == CAND_TILES, cand == CAND_TILES ? 1 : (size_t)(cand == CAND_GROUPS_HALF ? wg / 2 : wg), ""};
    snprintf(c.opts, sizeof c.opts, "-DDH=%d -DWG=%d", dh, cand == CAND_GROUPS_HALF ? wg / 2 : wg);
    return c;
}

static clf_status fwd_launch(clf_device *dev, int cand, cl_mem o, cl_mem lse, cl_mem q, cl_mem k, cl_mem v,
                             cl_mem kmask, const clf_attention_shape *s, const clf_dropout_args *da) {
    launch_cfg c = cfg_of(dev, s->dh, cand);
    size_t bh = (size_t)s->batch * s->heads;
    size_t global[2] = {c.tiles ? ((size_t)s->tq + TILE_ROWS - 1) / TILE_ROWS : (size_t)s->tq, bh}, local[2] = {c.wg, 1};
    return CLF_RUN(dev, "attention", c.opts, c.tiles ? "attention_fwd_cpu" : "attention_fwd", 2, global, local,
                   CLF_ARG_MEM(o), CLF_ARG_MEM(lse), CLF_ARG_MEM(q), CLF_ARG_MEM(k), CLF_ARG_MEM(v),
                   CLF_ARG_MEM(kmask), CLF_ARG_INT(s->heads), CLF_ARG_INT(s->tq), CLF_ARG_INT(s->tk),
                   CLF_ARG_INT(s->causal != 0), CLF_ARG_FLOAT(1.0 / sqrt((double)s->dh)), CLF_DROPOUT_ARGS(*da));
}

/* The forward with a query row per work-item (attention_fwd_row_cpu), in groups of ROW_WG (b, h) pairs.
 * Below ROW_MAX_TQ query rows it is the CPU default: a 16-row tile would mostly idle. */
enum { ROW_WG = 8, ROW_MAX_TQ = 4 };

static clf_status fwd_rows_launch(clf_device *dev, cl_mem o, cl_mem lse, cl_mem q, cl_mem k, cl_mem v, cl_mem kmask,
                                  const clf_attention_shape *s, const clf_dropout_args *da) {
    launch_cfg c = cfg_of(dev, s->dh, CAND_TILES); /* the same build */
    size_t bh = (size_t)s->batch * s->heads, global[2] = {bh, (size_t)s->tq}, local[2] = {ROW_WG, 1};
    return CLF_RUN(dev, "attention", c.opts, "attention_fwd_row_cpu", 2, global, local, CLF_ARG_MEM(o),
                   CLF_ARG_MEM(lse), CLF_ARG_MEM(q), CLF_ARG_MEM(k), CLF_ARG_MEM(v), CLF_ARG_MEM(kmask),
                   CLF_ARG_INT(s->heads), CLF_ARG_INT(s->tq), CLF_ARG_INT(s->tk), CLF_ARG_INT(s->causal != 0),
                   CLF_ARG_FLOAT(1.0 / sqrt((double)s->dh)), CLF_ARG_INT((int)bh), CLF_DROPOUT_ARGS(*da));
}

static clf_status bwd_launch(clf_device *dev, int cand, cl_mem dq, cl_mem dk, cl_mem dv, cl_mem dout, cl_mem q,
                             cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_mem kmask, cl_mem workspace,
                             const clf_attention_shape *s, const clf_dropout_args *da, unsigned ow) {
    launch_cfg c = cfg_of(dev, s->dh, cand);
    size_t bh = (size_t)s->batch * s->heads, rows = bh * s->tq;
    float scale = (float)(1.0 / sqrt((double)s->dh));
    cl_mem dd = workspace; /* D [b, H, tq] */
    size_t g1 = rows, l1 = 64;
    clf_status st = CLF_RUN(dev, "attention", c.opts, "attention_bwd_dot", 1, &g1, &l1, CLF_ARG_MEM(dd),
                            CLF_ARG_MEM(dout), CLF_ARG_MEM(o), CLF_ARG_INT(s->heads), CLF_ARG_INT(s->tq),
                            CLF_ARG_INT(rows));
    size_t gq[2] = {c.tiles ? ((size_t)s->tq + TILE_ROWS - 1) / TILE_ROWS : (size_t)s->tq, bh};
    size_t gk[2] = {c.tiles ? ((size_t)s->tk + TILE_KEYS - 1) / TILE_KEYS : (size_t)s->tk, bh}, local[2] = {c.wg, 1};
    if (st == CLF_OK)
        st = CLF_RUN(dev, "attention", c.opts, c.tiles ? "attention_bwd_dq_cpu" : "attention_bwd_dq", 2, gq, local,
                     CLF_ARG_MEM(dq), CLF_ARG_MEM(dout), CLF_ARG_MEM(q), CLF_ARG_MEM(k), CLF_ARG_MEM(v),
                     CLF_ARG_MEM(lse), CLF_ARG_MEM(dd), CLF_ARG_MEM(kmask), CLF_ARG_INT(s->heads),
                     CLF_ARG_INT(s->tq), CLF_ARG_INT(s->tk), CLF_ARG_INT(s->causal != 0), CLF_ARG_FLOAT(scale),
                     CLF_ARG_INT((int)(ow & CLF_OVERWRITE_DQ)), CLF_DROPOUT_ARGS(*da));
    if (st == CLF_OK)
        st = CLF_RUN(dev, "attention", c.opts, c.tiles ? "attention_bwd_dkdv_cpu" : "attention_bwd_dkdv", 2, gk,
                     local, CLF_ARG_MEM(dk), CLF_ARG_MEM(dv), CLF_ARG_MEM(dout), CLF_ARG_MEM(q), CLF_ARG_MEM(k),
                     CLF_ARG_MEM(v), CLF_ARG_MEM(lse), CLF_ARG_MEM(dd), CLF_ARG_MEM(kmask), CLF_ARG_INT(s->heads),
                     CLF_ARG_INT(s->tq), CLF_ARG_INT(s->tk), CLF_ARG_INT(s->causal != 0), CLF_ARG_FLOAT(scale),
                     CLF_ARG_INT((int)(ow & (CLF_OVERWRITE_DK | CLF_OVERWRITE_DV))), CLF_DROPOUT_ARGS(*da));
    return st;
}

/* ---- tuning: on the first batch items only, about this many multiply-adds per product ---- */

typedef struct tune_ctx {
    bool bwd;
    cl_mem out[3]; /* forward: o, lse (real: overwritten whole by the real call); backward: scratch dq, dk, dv */
    cl_mem dout, q, k, v, o, lse, kmask, workspace;
    clf_attention_shape s; /* the proxy */
    clf_dropout_args da;
} tune_ctx;

static clf_status tune_try(clf_device *dev, void *ctx, int cand) {
    tune_ctx *t = ctx;
    if (!t->bwd) return fwd_launch(dev, cand, t->out[0], t->out[1], t->q, t->k, t->v, t->kmask, &t->s, &t->da);
    size_t d = (size_t)t->s.heads * t->s.dh, rows[3] = {(size_t)t->s.tq, (size_t)t->s.tk, (size_t)t->s.tk};
    for (int i = 0; i < 3; i++) /* accumulating outputs: scratch, never the caller's */
        if (!t->out[i]) {
            size_t n = (size_t)t->s.batch * rows[i] * d;
            clf_status st = clf_buffer_alloc(dev, n * sizeof(float), "attention tuning gradient", &t->out[i]);
            if (st == CLF_OK) st = clf_buffer_fill_float(dev, t->out[i], 0, n, 0.0f);
            if (st != CLF_OK) return st;
        }
    return bwd_launch(dev, cand, t->out[0], t->out[1], t->out[2], t->dout, t->q, t->k, t->v, t->o, t->lse, t->kmask,
                      t->workspace, &t->s, &t->da, 0u);
}

/* The kernels to run: forced, or the tuned choice for this shape bucket. */
static clf_status choose(const char *fn, clf_device *dev, clf_attention_kernels kernels, tune_ctx *t, int *cand) {
    if (kernels != CLF_ATTENTION_AUTO && kernels != CLF_ATTENTION_TILES && kernels != CLF_ATTENTION_GROUPS &&
        kernels != CLF_ATTENTION_ROWS)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: unknown kernel family %d", fn, (int)kernels);
    if (kernels != CLF_ATTENTION_AUTO) { /* ROWS reaches here only for the backward: its tiles */
        *cand = kernels == CLF_ATTENTION_GROUPS ? CAND_GROUPS : CAND_TILES;
        return CLF_OK;
    }
    const clf_device_info *di = clf_device_get_info(dev);
    const clf_attention_shape *s = &t->s;
    double per_item = (double)s->heads * s->tq * s->tk * s->dh, cap = di->is_gpu ? 268435456.0 : 16777216.0;
    if (per_item * s->batch < 262144.0) { /* too small to time: launch costs decide */
        *cand = di->is_cpu ? CAND_TILES : CAND_GROUPS;
        return CLF_OK;
    }
    char key[CLF_TUNE_MAX_KEY];
    snprintf(key, sizeof key, "%s dh=%d causal=%d mask=%d drop=%d bh=%zu tq=%zu tk=%zu",
             t->bwd ? "attention_bwd" : "attention_fwd", s->dh, s->causal != 0, t->kmask != NULL, t->da.threshold != 0,
             clf_tune_bucket((size_t)s->batch * s->heads), clf_tune_bucket((size_t)s->tq),
             clf_tune_bucket((size_t)s->tk));
    t->s.batch = per_item >= cap ? 1 : s->batch < cap / per_item ? s->batch : (int)(cap / per_item);
    unsigned valid = 1u << CAND_TILES | 1u << CAND_GROUPS;
    /* another group size is another build: worth it on GPUs only (a cold build on a CPU costs seconds,
     * and groups lose there anyway) */
    if (!di->is_cpu && fused_wg(dev, s->dh) >= 16) valid |= 1u << CAND_GROUPS_HALF;
    clf_tune_request r = {key, "attention", CANDIDATES, di->is_cpu ? CAND_TILES : CAND_GROUPS, valid, tune_try, t};
    clf_status st = clf_tune_choose(dev, &r, cand);
    for (int i = 0; t->bwd && i < 3; i++) clf_buffer_release(dev, t->out[i]);
    return st;
}

clf_status clf_attention_fwd_using(clf_device *dev, clf_attention_kernels kernels, cl_mem o, cl_mem lse, cl_mem q,
                                   cl_mem k, cl_mem v, cl_mem kmask, const clf_attention_shape *s,
                                   const clf_dropout *drop) {
    const char *fn = "clf_attention_fwd";
    const clf_attention_buf bufs[] = {{o, "o"}, {lse, "lse"}, {q, "q"}, {k, "k"}, {v, "v"}};
    tune_ctx t = {.out = {o, lse}, .q = q, .k = k, .v = v, .kmask = kmask};
    int cand = 0;
    clf_status st = clf_attention_check(fn, dev, s, drop, bufs, sizeof bufs / sizeof bufs[0], &t.da);
    if (st != CLF_OK) return st;
    if (kernels == CLF_ATTENTION_ROWS ||
        (kernels == CLF_ATTENTION_AUTO && clf_device_get_info(dev)->is_cpu && s->tq <= ROW_MAX_TQ))
        return fwd_rows_launch(dev, o, lse, q, k, v, kmask, s, &t.da);
    t.s = *s;
    st = choose(fn, dev, kernels, &t, &cand);
    return st == CLF_OK ? fwd_launch(dev, cand, o, lse, q, k, v, kmask, s, &t.da) : st;
}

clf_status clf_attention_fwd(clf_device *dev, cl_mem o, cl_mem lse, cl_mem q, cl_mem k, cl_mem v, cl_mem kmask,
                             const clf_attention_shape *s, const clf_dropout *drop) {
    return clf_attention_fwd_using(dev, CLF_ATTENTION_AUTO, o, lse, q, k, v, kmask, s, drop);
}

/* The overwrite bits, checked: known ones, each naming a buffer no other gradient argument shares. */
static clf_status check_overwrite(const char *fn, unsigned ow, cl_mem dq, cl_mem dk, cl_mem dv) {
    if (ow & ~(CLF_OVERWRITE_DQ | CLF_OVERWRITE_DK | CLF_OVERWRITE_DV))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: overwrite 0x%x names gradients other than dq, dk, dv", fn, ow);
    if (((ow & CLF_OVERWRITE_DQ) && (dq == dk || dq == dv)) || ((ow & CLF_OVERWRITE_DK) && (dk == dq || dk == dv)) ||
        ((ow & CLF_OVERWRITE_DV) && (dv == dq || dv == dk)))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: overwrite 0x%x of a buffer given for two gradients", fn, ow);
    return CLF_OK;
}

clf_status clf_attention_bwd_cfg(clf_device *dev, cl_mem dq, cl_mem dk, cl_mem dv, cl_mem dout, cl_mem q, cl_mem k,
                                 cl_mem v, cl_mem o, cl_mem lse, cl_mem kmask, cl_mem workspace,
                                 const clf_attention_shape *s, const clf_dropout *drop, const clf_attention_cfg *cfg) {
    const char *fn = "clf_attention_bwd";
    clf_attention_kernels kernels = cfg ? cfg->kernels : CLF_ATTENTION_AUTO;
    unsigned ow = cfg ? cfg->overwrite : 0u;
    const clf_attention_buf bufs[] = {{dq, "dq"}, {dk, "dk"}, {dv, "dv"}, {dout, "dout"}, {q, "q"}, {k, "k"},
                                      {v, "v"},   {o, "o"},   {lse, "lse"}, {workspace, "workspace"}};
    tune_ctx t = {.bwd = true, .dout = dout, .q = q, .k = k, .v = v, .o = o, .lse = lse, .kmask = kmask,
                  .workspace = workspace};
    int cand = 0;
    clf_status st = clf_attention_check(fn, dev, s, drop, bufs, sizeof bufs / sizeof bufs[0], &t.da);
    if (st == CLF_OK) st = check_overwrite(fn, ow, dq, dk, dv);
    if (st == CLF_OK) {
        t.s = *s;
        st = choose(fn, dev, kernels, &t, &cand);
    }
    return st == CLF_OK ? bwd_launch(dev, cand, dq, dk, dv, dout, q, k, v, o, lse, kmask, workspace, s, &t.da, ow)
                        : st;
}

clf_status clf_attention_bwd_using(clf_device *dev, clf_attention_kernels kernels, cl_mem dq, cl_mem dk, cl_mem dv,
                                   cl_mem dout, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_mem kmask,
                                   cl_mem workspace, const clf_attention_shape *s, const clf_dropout *drop) {
    const clf_attention_cfg cfg = {kernels, 0u};
    return clf_attention_bwd_cfg(dev, dq, dk, dv, dout, q, k, v, o, lse, kmask, workspace, s, drop, &cfg);
}

clf_status clf_attention_bwd(clf_device *dev, cl_mem dq, cl_mem dk, cl_mem dv, cl_mem dout, cl_mem q, cl_mem k,
                             cl_mem v, cl_mem o, cl_mem lse, cl_mem kmask, cl_mem workspace,
                             const clf_attention_shape *s, const clf_dropout *drop) {
    return clf_attention_bwd_using(dev, CLF_ATTENTION_AUTO, dq, dk, dv, dout, q, k, v, o, lse, kmask, workspace, s,
                                   drop);
}
