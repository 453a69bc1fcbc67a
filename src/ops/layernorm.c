/* LayerNorm launchers, plain and fused with the residual add before it: wg work-items per row
 * forward; the backward runs groups of LN_ROWS rows, each leaving column partials of dgamma and dbeta
 * in the workspace, then one kernel sums the partials in group order. Both reductions have a fixed
 * order, so results are bit-identical between runs. */
#include "ops/layernorm.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "clformer/launch.h"

#define LN_GPU_WG 64 /* items per row on GPUs; CPUs take 1 */
#ifndef LN_ROWS
#define LN_ROWS 32 /* rows per backward group (fixes the workspace size) */
#endif
#ifndef LN_VW
#define LN_VW 16 /* floats per vector chunk in the kernels */
#endif

static size_t ln_groups(int n) { return ((size_t)n + LN_ROWS - 1) / LN_ROWS; }

size_t clf_layernorm_workspace_floats(int n, int d) {
    return n > 0 && d > 0 ? ln_groups(n) * 4 * (size_t)d : 0; /* sums and their compensations */
}

/* Forward rows per work-group: on CPUs a group takes rows until it holds about LN_CPU_FLOATS (PoCL
 * schedules groups one by one, and a narrow row costs less than a group); GPUs want many groups. */
#define LN_CPU_FLOATS 4096
static int ln_fwd_rows(const clf_device_info *info, int d) {
    if (!info->is_cpu) return 1;
    int rows = LN_CPU_FLOATS / d;
    return rows < 1 ? 1 : rows > 16 ? 16 : rows;
}

/* What a launch needs beyond its buffers: the work-group size and the program's build options. */
typedef struct ln_launch {
    size_t wg, fwd_groups;
    int fwd_rows;
    char opts[128];
} ln_launch;

/* Checks what every pass shares and resolves the launch. One program serves every n, d and variant
 * (row counts and the fused kernels' choices are arguments), but for whole-chunk rows. */
static clf_status ln_prepare(clf_device *dev, const char *fn, int n, int d, const clf_layernorm_cfg *cfg,
                             ln_launch *l) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: dev is NULL", fn);
    if (n <= 0 || d <= 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: sizes must be positive (n %d, d %d)", fn, n, d);
    const clf_device_info *info = clf_device_get_info(dev);
    int w = cfg && cfg->wg ? cfg->wg : info->is_cpu ? 1 : LN_GPU_WG;
    if (w < 0 || (w & (w - 1)) || (size_t)w > info->max_work_group)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: wg %d is not a power of two up to the device's %zu", fn, w,
                         info->max_work_group);
    l->wg = (size_t)w;
    l->fwd_rows = ln_fwd_rows(info, d);
    l->fwd_groups = ((size_t)n + (size_t)l->fwd_rows - 1) / (size_t)l->fwd_rows;
    /* whole chunks are aligned when rows are whole chunks and buffers start on a chunk boundary */
    int aligned = d % LN_VW == 0 && info->mem_base_align % (LN_VW * sizeof(float)) == 0;
    snprintf(l->opts, sizeof l->opts, "-DWG=%d -DROWS=%d -DVW=%d -DALIGNED=%d", w, LN_ROWS, LN_VW, aligned);
    return CLF_OK;
}

/* The overwrite bits of cfg, checked: a pass takes those in `allowed`, of non-NULL gradients only. */
static clf_status ln_overwrite(const char *fn, const clf_layernorm_cfg *cfg, unsigned allowed, cl_mem dx,
                               int *ow) {
    unsigned bits = cfg ? cfg->overwrite : 0u;
    *ow = (int)bits;
    if (bits & ~allowed) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: overwrite 0x%x names gradients it has not", fn, bits);
    if ((bits & CLF_OVERWRITE_DX) && !dx) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: overwrite of dx, which is NULL", fn);
    return CLF_OK;
}

static clf_status ln_check_eps(const char *fn, float eps) {
    if (!isfinite(eps) || eps < 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: eps %g must be finite and >= 0", fn, (double)eps);
    return CLF_OK;
}

/* Buffers and their least sizes in bytes, checked in order; optional ones (NULL allowed) skipped when NULL. */
typedef struct ln_buf {
    cl_mem m;
    size_t bytes;
    const char *name;
    int optional;
} ln_buf;

static clf_status ln_check_bufs(const char *fn, const ln_buf *b, size_t nb) {
    for (size_t i = 0; i < nb; i++) {
        if (b[i].optional && !b[i].m) continue;
        clf_status st = clf_buffer_check(b[i].m, b[i].bytes, b[i].name);
        if (st != CLF_OK) return clf_error_context(st, "%s", fn);
    }
    return CLF_OK;
}

/* The dropout's kernel arguments; the mask index r d + c must fit in 32 bits when it is on. */
static clf_status ln_dropout(const char *fn, const clf_dropout *drop, int n, int d, clf_dropout_args *a) {
    clf_status st = clf_dropout_args_of(fn, drop, a);
    if (st == CLF_OK && a->threshold && (uint64_t)n * (uint64_t)d > ((uint64_t)1 << 32))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: n %d x d %d passes the 2^32 mask indices of dropout", fn, n, d);
    return st;
}

/* The column reduction both backwards end with. */
static clf_status ln_dgamma(clf_device *dev, const ln_launch *l, cl_mem dgamma, cl_mem dbeta, cl_mem workspace,
                            int n, int d) {
    /* a local size that does not depend on d: PoCL compiles a kernel once per local size */
    size_t chunks = ((size_t)d + LN_VW - 1) / LN_VW, lc = l->wg;
    return CLF_RUN(dev, "layernorm", l->opts, "layernorm_bwd_dgamma", 1, &chunks, &lc, CLF_ARG_MEM(dgamma),
                   CLF_ARG_MEM(dbeta), CLF_ARG_MEM(workspace), CLF_ARG_INT((int)ln_groups(n)), CLF_ARG_INT(d));
}

clf_status clf_layernorm_fwd_cfg(clf_device *dev, cl_mem y /* [n, d] */, cl_mem mean /* [n] */,
                                 cl_mem rstd /* [n] */, cl_mem x /* [n, d] */, cl_mem gamma /* [d] */,
                                 cl_mem beta /* [d] */, int n, int d, float eps, const clf_layernorm_cfg *cfg) {
    static const char fn[] = "layernorm_fwd";
    ln_launch l;
    clf_status st = ln_prepare(dev, fn, n, d, cfg, &l);
    if (st == CLF_OK) st = ln_check_eps(fn, eps);
    if (st != CLF_OK) return st;
    size_t nd = (size_t)n * (size_t)d * sizeof(float), rowb = (size_t)n * sizeof(float),
           colb = (size_t)d * sizeof(float);
    const ln_buf bufs[] = {{y, nd, "y", 0},    {mean, rowb, "mean", 0},   {rstd, rowb, "rstd", 0},
                           {x, nd, "x", 0},    {gamma, colb, "gamma", 0}, {beta, colb, "beta", 0}};
    st = ln_check_bufs(fn, bufs, sizeof bufs / sizeof *bufs);
    if (st != CLF_OK) return st;
    size_t global[2] = {l.wg, l.fwd_groups}, local[2] = {l.wg, 1};
    return CLF_RUN(dev, "layernorm", l.opts, "layernorm_fwd", 2, global, local, CLF_ARG_MEM(y), CLF_ARG_MEM(mean),
                   CLF_ARG_MEM(rstd), CLF_ARG_MEM(x), CLF_ARG_MEM(gamma), CLF_ARG_MEM(beta), CLF_ARG_INT(n),
                   CLF_ARG_INT(d), CLF_ARG_FLOAT(eps), CLF_ARG_INT(l.fwd_rows));
}

clf_status clf_layernorm_bwd_cfg(clf_device *dev, cl_mem dx /* [n, d] */, cl_mem dgamma /* [d] */,
                                 cl_mem dbeta /* [d] */, cl_mem dy /* [n, d] */, cl_mem x /* [n, d] */,
                                 cl_mem mean /* [n] */, cl_mem rstd /* [n] */, cl_mem gamma /* [d] */,
                                 cl_mem workspace, int n, int d, const clf_layernorm_cfg *cfg) {
    static const char fn[] = "layernorm_bwd";
    ln_launch l;
    int ow;
    clf_status st = ln_prepare(dev, fn, n, d, cfg, &l);
    if (st == CLF_OK) st = ln_overwrite(fn, cfg, CLF_OVERWRITE_DX, dx, &ow);
    if (st != CLF_OK) return st;
    size_t nd = (size_t)n * (size_t)d * sizeof(float), rowb = (size_t)n * sizeof(float),
           colb = (size_t)d * sizeof(float);
    const ln_buf bufs[] = {{dx, nd, "dx", 0},         {dgamma, colb, "dgamma", 0}, {dbeta, colb, "dbeta", 0},
                           {dy, nd, "dy", 0},         {x, nd, "x", 0},             {mean, rowb, "mean", 0},
                           {rstd, rowb, "rstd", 0},   {gamma, colb, "gamma", 0},
                           {workspace, clf_layernorm_workspace_floats(n, d) * sizeof(float), "workspace", 0}};
    st = ln_check_bufs(fn, bufs, sizeof bufs / sizeof *bufs);
    if (st != CLF_OK) return st;
    size_t global[2] = {l.wg, ln_groups(n)}, local[2] = {l.wg, 1};
    st = CLF_RUN(dev, "layernorm", l.opts, "layernorm_bwd_dx", 2, global, local, CLF_ARG_MEM(dx),
                 CLF_ARG_MEM(workspace), CLF_ARG_MEM(dy), CLF_ARG_MEM(x), CLF_ARG_MEM(mean), CLF_ARG_MEM(rstd),
                 CLF_ARG_MEM(gamma), CLF_ARG_INT(n), CLF_ARG_INT(d), CLF_ARG_INT(ow));
    return st == CLF_OK ? ln_dgamma(dev, &l, dgamma, dbeta, workspace, n, d) : st;
}

clf_status clf_layernorm_fwd(clf_device *dev, cl_mem y /* [n, d] */, cl_mem mean /* [n] */, cl_mem rstd /* [n] */,
                             cl_mem x /* [n, d] */, cl_mem gamma /* [d] */, cl_mem beta /* [d] */,
                             int n, int d, float eps) {
    return clf_layernorm_fwd_cfg(dev, y, mean, rstd, x, gamma, beta, n, d, eps, NULL);
}

clf_status clf_layernorm_bwd(clf_device *dev, cl_mem dx /* [n, d] */, cl_mem dgamma /* [d] */, cl_mem dbeta /* [d] */,
                             cl_mem dy /* [n, d] */, cl_mem x /* [n, d] */, cl_mem mean /* [n] */,
                             cl_mem rstd /* [n] */, cl_mem gamma /* [d] */, cl_mem workspace, int n, int d) {
    return clf_layernorm_bwd_cfg(dev, dx, dgamma, dbeta, dy, x, mean, rstd, gamma, workspace, n, d, NULL);
}

/* ---- residual add + LayerNorm ---- */

clf_status clf_add_layernorm_fwd_cfg(clf_device *dev, cl_mem y /* [n, d] */, cl_mem sum /* [n, d] */,
                                     cl_mem mean /* [n] */, cl_mem rstd /* [n] */, cl_mem x /* [n, d] or NULL */,
                                     cl_mem s /* [n, d] */, cl_mem gamma /* [d] */, cl_mem beta /* [d] */, int n,
                                     int d, float eps, const clf_dropout *drop, const clf_layernorm_cfg *cfg) {
    static const char fn[] = "add_layernorm_fwd";
    clf_dropout_args da;
    clf_status st = ln_dropout(fn, drop, n, d, &da);
    if (st != CLF_OK) return st;
    ln_launch l;
    st = ln_prepare(dev, fn, n, d, cfg, &l);
    if (st == CLF_OK) st = ln_check_eps(fn, eps);
    if (st != CLF_OK) return st;
    size_t nd = (size_t)n * (size_t)d * sizeof(float), rowb = (size_t)n * sizeof(float),
           colb = (size_t)d * sizeof(float);
    const ln_buf bufs[] = {{y, nd, "y", 0},       {sum, nd, "sum", 0}, {mean, rowb, "mean", 0},
                           {rstd, rowb, "rstd", 0}, {x, nd, "x", 1},     {s, nd, "s", 0},
                           {gamma, colb, "gamma", 0}, {beta, colb, "beta", 0}};
    st = ln_check_bufs(fn, bufs, sizeof bufs / sizeof *bufs);
    if (st != CLF_OK) return st;
    if (y == sum) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: y and sum must be different buffers", fn);
    size_t global[2] = {l.wg, l.fwd_groups}, local[2] = {l.wg, 1};
    return CLF_RUN(dev, "layernorm", l.opts, "add_layernorm_fwd", 2, global, local, CLF_ARG_MEM(y), CLF_ARG_MEM(sum),
                   CLF_ARG_MEM(mean), CLF_ARG_MEM(rstd), CLF_ARG_MEM(x ? x : s), CLF_ARG_MEM(s), CLF_ARG_MEM(gamma),
                   CLF_ARG_MEM(beta), CLF_ARG_INT(n), CLF_ARG_INT(d), CLF_ARG_FLOAT(eps), CLF_ARG_INT(l.fwd_rows),
                   CLF_ARG_INT(x != NULL), CLF_DROPOUT_ARGS(da));
}

clf_status clf_add_layernorm_bwd_cfg(clf_device *dev, cl_mem dx /* [n, d] or NULL */, cl_mem ds /* [n, d] */,
                                     cl_mem dgamma /* [d] */, cl_mem dbeta /* [d] */, cl_mem dy /* [n, d] */,
                                     cl_mem dsum /* [n, d] or NULL */, cl_mem sum /* [n, d] */,
                                     cl_mem mean /* [n] */, cl_mem rstd /* [n] */, cl_mem gamma /* [d] */,
                                     cl_mem workspace, int n, int d, const clf_dropout *drop,
                                     const clf_layernorm_cfg *cfg) {
    static const char fn[] = "add_layernorm_bwd";
    clf_dropout_args da;
    int ow;
    clf_status st = ln_dropout(fn, drop, n, d, &da);
    if (st != CLF_OK) return st;
    ln_launch l;
    st = ln_prepare(dev, fn, n, d, cfg, &l);
    if (st == CLF_OK) st = ln_overwrite(fn, cfg, CLF_OVERWRITE_DX | CLF_OVERWRITE_DS, dx, &ow);
    if (st != CLF_OK) return st;
    size_t nd = (size_t)n * (size_t)d * sizeof(float), rowb = (size_t)n * sizeof(float),
           colb = (size_t)d * sizeof(float);
    const ln_buf bufs[] = {{dx, nd, "dx", 1},       {ds, nd, "ds", 0},         {dgamma, colb, "dgamma", 0},
                           {dbeta, colb, "dbeta", 0}, {dy, nd, "dy", 0},         {dsum, nd, "dsum", 1},
                           {sum, nd, "sum", 0},     {mean, rowb, "mean", 0},   {rstd, rowb, "rstd", 0},
                           {gamma, colb, "gamma", 0},
                           {workspace, clf_layernorm_workspace_floats(n, d) * sizeof(float), "workspace", 0}};
    st = ln_check_bufs(fn, bufs, sizeof bufs / sizeof *bufs);
    if (st != CLF_OK) return st;
    if (ds == dx) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: ds and dx must be different buffers", fn);
    size_t global[2] = {l.wg, ln_groups(n)}, local[2] = {l.wg, 1};
    st = CLF_RUN(dev, "layernorm", l.opts, "add_layernorm_bwd_dx", 2, global, local, CLF_ARG_MEM(dx ? dx : ds),
                 CLF_ARG_MEM(ds), CLF_ARG_MEM(workspace), CLF_ARG_MEM(dy), CLF_ARG_MEM(dsum ? dsum : dy),
                 CLF_ARG_MEM(sum), CLF_ARG_MEM(mean), CLF_ARG_MEM(rstd), CLF_ARG_MEM(gamma), CLF_ARG_INT(n),
                 CLF_ARG_INT(d), CLF_ARG_INT(dx != NULL), CLF_ARG_INT(dsum != NULL), CLF_ARG_INT(ow),
                 CLF_DROPOUT_ARGS(da));
    return st == CLF_OK ? ln_dgamma(dev, &l, dgamma, dbeta, workspace, n, d) : st;
}

clf_status clf_add_layernorm_fwd(clf_device *dev, cl_mem y /* [n, d] */, cl_mem sum /* [n, d] */,
                                 cl_mem mean /* [n] */, cl_mem rstd /* [n] */, cl_mem x /* [n, d] or NULL */,
                                 cl_mem s /* [n, d] */, cl_mem gamma /* [d] */, cl_mem beta /* [d] */, int n, int d,
                                 float eps, const clf_dropout *drop) {
    return clf_add_layernorm_fwd_cfg(dev, y, sum, mean, rstd, x, s, gamma, beta, n, d, eps, drop, NULL);
}

clf_status clf_add_layernorm_bwd(clf_device *dev, cl_mem dx /* [n, d] or NULL */, cl_mem ds /* [n, d] */,
                                 cl_mem dgamma /* [d] */, cl_mem dbeta /* [d] */, cl_mem dy /* [n, d] */,
                                 cl_mem dsum /* [n, d] or NULL */, cl_mem sum /* [n, d] */, cl_mem mean /* [n] */,
                                 cl_mem rstd /* [n] */, cl_mem gamma /* [d] */, cl_mem workspace, int n, int d,
                                 const clf_dropout *drop) {
    return clf_add_layernorm_bwd_cfg(dev, dx, ds, dgamma, dbeta, dy, dsum, sum, mean, rstd, gamma, workspace, n, d,
                                     drop, NULL);
}
