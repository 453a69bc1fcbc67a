/* LayerNorm launchers: wg work-items per row forward; the backward runs groups of LN_ROWS rows, each
 * leaving column partials of dgamma and dbeta in the workspace, then one kernel sums the partials in
 * group order. Both reductions have a fixed order, so results are bit-identical between runs. */
#include "ops/layernorm.h"

#include <math.h>
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

static size_t ln_fwd_groups(const clf_device *dev, int n, int d) {
    size_t rows = (size_t)ln_fwd_rows(clf_device_get_info(dev), d);
    return ((size_t)n + rows - 1) / rows;
}

/* Checks what both passes share and resolves the work-group size into *wg and the build options. */
static clf_status ln_prepare(clf_device *dev, const char *fn, int n, int d, const clf_layernorm_cfg *cfg,
                             size_t *wg, char *opts, size_t len) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: dev is NULL", fn);
    if (n <= 0 || d <= 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: sizes must be positive (n %d, d %d)", fn, n, d);
    const clf_device_info *info = clf_device_get_info(dev);
    int w = cfg && cfg->wg ? cfg->wg : info->is_cpu ? 1 : LN_GPU_WG;
    if (w < 0 || (w & (w - 1)) || (size_t)w > info->max_work_group)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: wg %d is not a power of two up to the device's %zu", fn, w,
                         info->max_work_group);
    *wg = (size_t)w;
    snprintf(opts, len, "-DWG=%d -DROWS=%d -DFROWS=%d -DVW=%d", w, LN_ROWS, ln_fwd_rows(info, d), LN_VW);
    return CLF_OK;
}

clf_status clf_layernorm_fwd_cfg(clf_device *dev, cl_mem y /* [n, d] */, cl_mem mean /* [n] */,
                                 cl_mem rstd /* [n] */, cl_mem x /* [n, d] */, cl_mem gamma /* [d] */,
                                 cl_mem beta /* [d] */, int n, int d, float eps, const clf_layernorm_cfg *cfg) {
    static const char fn[] = "layernorm_fwd";
    size_t wg = 0;
    char opts[64];
    clf_status st = ln_prepare(dev, fn, n, d, cfg, &wg, opts, sizeof opts);
    if (st != CLF_OK) return st;
    if (!isfinite(eps) || eps < 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: eps %g must be finite and >= 0", fn, (double)eps);
    size_t nd = (size_t)n * (size_t)d * sizeof(float), rowb = (size_t)n * sizeof(float),
           colb = (size_t)d * sizeof(float);
    st = clf_buffer_check(y, nd, "y");
    if (st == CLF_OK) st = clf_buffer_check(mean, rowb, "mean");
    if (st == CLF_OK) st = clf_buffer_check(rstd, rowb, "rstd");
    if (st == CLF_OK) st = clf_buffer_check(x, nd, "x");
    if (st == CLF_OK) st = clf_buffer_check(gamma, colb, "gamma");
    if (st == CLF_OK) st = clf_buffer_check(beta, colb, "beta");
    if (st != CLF_OK) return clf_error_context(st, "%s", fn);
    size_t global[2] = {wg, ln_fwd_groups(dev, n, d)}, local[2] = {wg, 1};
    return CLF_RUN(dev, "layernorm", opts, "layernorm_fwd", 2, global, local, CLF_ARG_MEM(y), CLF_ARG_MEM(mean),
                   CLF_ARG_MEM(rstd), CLF_ARG_MEM(x), CLF_ARG_MEM(gamma), CLF_ARG_MEM(beta), CLF_ARG_INT(n),
                   CLF_ARG_INT(d), CLF_ARG_FLOAT(eps));
}

clf_status clf_layernorm_bwd_cfg(clf_device *dev, cl_mem dx /* [n, d] */, cl_mem dgamma /* [d] */,
                                 cl_mem dbeta /* [d] */, cl_mem dy /* [n, d] */, cl_mem x /* [n, d] */,
                                 cl_mem mean /* [n] */, cl_mem rstd /* [n] */, cl_mem gamma /* [d] */,
                                 cl_mem workspace, int n, int d, const clf_layernorm_cfg *cfg) {
    static const char fn[] = "layernorm_bwd";
    size_t wg = 0;
    char opts[64];
    clf_status st = ln_prepare(dev, fn, n, d, cfg, &wg, opts, sizeof opts);
    if (st != CLF_OK) return st;
    size_t nd = (size_t)n * (size_t)d * sizeof(float), rowb = (size_t)n * sizeof(float),
           colb = (size_t)d * sizeof(float);
    st = clf_buffer_check(dx, nd, "dx");
    if (st == CLF_OK) st = clf_buffer_check(dgamma, colb, "dgamma");
    if (st == CLF_OK) st = clf_buffer_check(dbeta, colb, "dbeta");
    if (st == CLF_OK) st = clf_buffer_check(dy, nd, "dy");
    if (st == CLF_OK) st = clf_buffer_check(x, nd, "x");
    if (st == CLF_OK) st = clf_buffer_check(mean, rowb, "mean");
    if (st == CLF_OK) st = clf_buffer_check(rstd, rowb, "rstd");
    if (st == CLF_OK) st = clf_buffer_check(gamma, colb, "gamma");
    if (st == CLF_OK)
        st = clf_buffer_check(workspace, clf_layernorm_workspace_floats(n, d) * sizeof(float), "workspace");
    if (st != CLF_OK) return clf_error_context(st, "%s", fn);
    size_t groups = ln_groups(n);
    size_t global[2] = {wg, groups}, local[2] = {wg, 1};
    st = CLF_RUN(dev, "layernorm", opts, "layernorm_bwd_dx", 2, global, local, CLF_ARG_MEM(dx),
                 CLF_ARG_MEM(workspace), CLF_ARG_MEM(dy), CLF_ARG_MEM(x), CLF_ARG_MEM(mean), CLF_ARG_MEM(rstd),
                 CLF_ARG_MEM(gamma), CLF_ARG_INT(n), CLF_ARG_INT(d));
    if (st != CLF_OK) return st;
    size_t chunks = ((size_t)d + LN_VW - 1) / LN_VW, lc = chunks < 64 ? chunks : 64;
    return CLF_RUN(dev, "layernorm", opts, "layernorm_bwd_dgamma", 1, &chunks, &lc, CLF_ARG_MEM(dgamma),
                   CLF_ARG_MEM(dbeta), CLF_ARG_MEM(workspace), CLF_ARG_INT((int)groups), CLF_ARG_INT(d));
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
