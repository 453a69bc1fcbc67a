/* Fused attention launchers (cl/attention.cl): register-tiled kernels on CPU devices, local-memory
 * kernels elsewhere; and the checks both paths share. */
#include "ops/attention.h"

#include <math.h>
#include <stdio.h>

#include "clformer/launch.h"

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

static const char *fused_options(clf_device *dev, int dh, char *buf, size_t size) {
    snprintf(buf, size, "-DDH=%d -DWG=%d", dh, fused_wg(dev, dh));
    return buf;
}

size_t clf_attention_workspace_floats(const clf_attention_shape *s) {
    return s && s->batch > 0 && s->heads > 0 && s->tq > 0 ? (size_t)s->batch * s->heads * s->tq : 0;
}

/* Whether the register-tiled kernels run: asked for, or AUTO on a CPU device. */
static clf_status use_tiles(const char *fn, clf_device *dev, clf_attention_kernels kernels, int *tiles) {
    if (kernels != CLF_ATTENTION_AUTO && kernels != CLF_ATTENTION_TILES && kernels != CLF_ATTENTION_GROUPS)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: unknown kernel family %d", fn, (int)kernels);
    *tiles = kernels == CLF_ATTENTION_TILES || (kernels == CLF_ATTENTION_AUTO && clf_device_get_info(dev)->is_cpu);
    return CLF_OK;
}

/* The register-tiled kernels own 16 query rows (forward, dq) or 64 keys (dk/dv) per work-item. */
enum { TILE_ROWS = 16, TILE_KEYS = 64 };

clf_status clf_attention_fwd_using(clf_device *dev, clf_attention_kernels kernels, cl_mem o, cl_mem lse, cl_mem q,
                                   cl_mem k, cl_mem v, cl_mem kmask, const clf_attention_shape *s,
                                   const clf_dropout *drop) {
    const char *fn = "clf_attention_fwd";
    const clf_attention_buf bufs[] = {{o, "o"}, {lse, "lse"}, {q, "q"}, {k, "k"}, {v, "v"}};
    clf_dropout_args da;
    int tiles = 0;
    clf_status st = clf_attention_check(fn, dev, s, drop, bufs, sizeof bufs / sizeof bufs[0], &da);
    if (st == CLF_OK) st = use_tiles(fn, dev, kernels, &tiles);
    if (st != CLF_OK) return st;
    char opts[64];
    fused_options(dev, s->dh, opts, sizeof opts);
    size_t bh = (size_t)s->batch * s->heads, wg = tiles ? 1 : (size_t)fused_wg(dev, s->dh);
    size_t global[2] = {tiles ? ((size_t)s->tq + TILE_ROWS - 1) / TILE_ROWS : (size_t)s->tq, bh}, local[2] = {wg, 1};
    return CLF_RUN(dev, "attention", opts, tiles ? "attention_fwd_cpu" : "attention_fwd", 2, global, local,
                   CLF_ARG_MEM(o), CLF_ARG_MEM(lse), CLF_ARG_MEM(q), CLF_ARG_MEM(k), CLF_ARG_MEM(v),
                   CLF_ARG_MEM(kmask), CLF_ARG_INT(s->heads), CLF_ARG_INT(s->tq), CLF_ARG_INT(s->tk),
                   CLF_ARG_INT(s->causal != 0), CLF_ARG_FLOAT(1.0 / sqrt((double)s->dh)), CLF_DROPOUT_ARGS(da));
}

clf_status clf_attention_fwd(clf_device *dev, cl_mem o, cl_mem lse, cl_mem q, cl_mem k, cl_mem v, cl_mem kmask,
                             const clf_attention_shape *s, const clf_dropout *drop) {
    return clf_attention_fwd_using(dev, CLF_ATTENTION_AUTO, o, lse, q, k, v, kmask, s, drop);
}

clf_status clf_attention_bwd_using(clf_device *dev, clf_attention_kernels kernels, cl_mem dq, cl_mem dk, cl_mem dv,
                                   cl_mem dout, cl_mem q, cl_mem k, cl_mem v, cl_mem o, cl_mem lse, cl_mem kmask,
                                   cl_mem workspace, const clf_attention_shape *s, const clf_dropout *drop) {
    const char *fn = "clf_attention_bwd";
    const clf_attention_buf bufs[] = {{dq, "dq"}, {dk, "dk"}, {dv, "dv"}, {dout, "dout"}, {q, "q"}, {k, "k"},
                                      {v, "v"},   {o, "o"},   {lse, "lse"}, {workspace, "workspace"}};
    clf_dropout_args da;
    int tiles = 0;
    clf_status st = clf_attention_check(fn, dev, s, drop, bufs, sizeof bufs / sizeof bufs[0], &da);
    if (st == CLF_OK) st = use_tiles(fn, dev, kernels, &tiles);
    if (st != CLF_OK) return st;
    char opts[64];
    fused_options(dev, s->dh, opts, sizeof opts);
    size_t wg = tiles ? 1 : (size_t)fused_wg(dev, s->dh), bh = (size_t)s->batch * s->heads, rows = bh * s->tq;
    float scale = (float)(1.0 / sqrt((double)s->dh));
    cl_mem dd = workspace; /* D [b, H, tq] */
    size_t g1 = rows, l1 = 64;
    st = CLF_RUN(dev, "attention", opts, "attention_bwd_dot", 1, &g1, &l1, CLF_ARG_MEM(dd), CLF_ARG_MEM(dout),
                 CLF_ARG_MEM(o), CLF_ARG_INT(s->heads), CLF_ARG_INT(s->tq), CLF_ARG_INT(rows));
    size_t gq[2] = {tiles ? ((size_t)s->tq + TILE_ROWS - 1) / TILE_ROWS : (size_t)s->tq, bh};
    size_t gk[2] = {tiles ? ((size_t)s->tk + TILE_KEYS - 1) / TILE_KEYS : (size_t)s->tk, bh}, local[2] = {wg, 1};
    if (st == CLF_OK)
        st = CLF_RUN(dev, "attention", opts, tiles ? "attention_bwd_dq_cpu" : "attention_bwd_dq", 2, gq, local,
                     CLF_ARG_MEM(dq), CLF_ARG_MEM(dout), CLF_ARG_MEM(q), CLF_ARG_MEM(k), CLF_ARG_MEM(v),
                     CLF_ARG_MEM(lse), CLF_ARG_MEM(dd), CLF_ARG_MEM(kmask), CLF_ARG_INT(s->heads),
                     CLF_ARG_INT(s->tq), CLF_ARG_INT(s->tk), CLF_ARG_INT(s->causal != 0), CLF_ARG_FLOAT(scale),
                     CLF_DROPOUT_ARGS(da));
    if (st == CLF_OK)
        st = CLF_RUN(dev, "attention", opts, tiles ? "attention_bwd_dkdv_cpu" : "attention_bwd_dkdv", 2, gk, local,
                     CLF_ARG_MEM(dk), CLF_ARG_MEM(dv), CLF_ARG_MEM(dout), CLF_ARG_MEM(q), CLF_ARG_MEM(k),
                     CLF_ARG_MEM(v), CLF_ARG_MEM(lse), CLF_ARG_MEM(dd), CLF_ARG_MEM(kmask), CLF_ARG_INT(s->heads),
                     CLF_ARG_INT(s->tq), CLF_ARG_INT(s->tk), CLF_ARG_INT(s->causal != 0), CLF_ARG_FLOAT(scale),
                     CLF_DROPOUT_ARGS(da));
    return st;
}

clf_status clf_attention_bwd(clf_device *dev, cl_mem dq, cl_mem dk, cl_mem dv, cl_mem dout, cl_mem q, cl_mem k,
                             cl_mem v, cl_mem o, cl_mem lse, cl_mem kmask, cl_mem workspace,
                             const clf_attention_shape *s, const clf_dropout *drop) {
    return clf_attention_bwd_using(dev, CLF_ATTENTION_AUTO, dq, dk, dv, dout, q, k, v, o, lse, kmask, workspace, s,
                                   drop);
}
