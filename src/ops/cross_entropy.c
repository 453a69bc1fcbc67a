/* Launchers of cl/cross_entropy.cl. */
#include "ops/cross_entropy.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "clformer/launch.h"

static bool ce_cpu(const clf_device *dev) { return clf_device_get_info(dev)->is_cpu; }

/* GPUs: wide rows get 256 work-items, narrow ones (the byte vocabulary, 259) 64, so few sit idle.
 * CPUs: one work-item walks the whole row (see the kernel). Never more than the device allows (a
 * power of two, as the tree needs). */
static int ce_wg(const clf_device *dev, int v, const clf_cross_entropy_cfg *cfg) {
    size_t want = cfg && cfg->wg ? (size_t)cfg->wg : ce_cpu(dev) ? 1 : v >= 2048 ? 256 : 64;
    size_t max = clf_device_get_info(dev)->max_work_group;
    while (want > 1 && want > max) want /= 2;
    return (int)want;
}

/* Rows per work-group. CPUs: up to 16, as the kernel finishes a group's losses as one 16-wide vector
 * (the kernel's private arrays hold no more), but no fewer than CE_CPU_GROUPS_PER_UNIT groups per
 * compute unit, so short batches still spread over the cores. GPUs: one row per group. A kernel
 * argument, not a build option: one program for every n. */
#define CE_CPU_MAX_ROWS 16
#define CE_CPU_GROUPS_PER_UNIT 8
static int ce_rows(const clf_device *dev, int n, const clf_cross_entropy_cfg *cfg) {
    if (cfg && cfg->rows) return cfg->rows;
    if (!ce_cpu(dev)) return 1;
    unsigned units = clf_device_get_info(dev)->compute_units;
    int64_t groups = (int64_t)(units > 0 ? units : 1) * CE_CPU_GROUPS_PER_UNIT;
    int64_t rows = ((int64_t)n + groups - 1) / groups;
    return rows < 1 ? 1 : rows > CE_CPU_MAX_ROWS ? CE_CPU_MAX_ROWS : (int)rows;
}

/* Vectors of 16 on CPUs (PoCL's are 512 bits wide here; narrower units split them at no loss), of 4
 * on GPUs, where each work-item is one lane. */
static void ce_options(const clf_device *dev, int v, const clf_cross_entropy_cfg *cfg, char *opts, size_t len) {
    int vw = cfg && cfg->vw ? cfg->vw : ce_cpu(dev) ? 16 : 4;
    snprintf(opts, len, "-DWG=%d -DVW=%d", ce_wg(dev, v, cfg), vw);
}

clf_status clf_cross_entropy_fwd_bwd(clf_device *dev, cl_mem loss_rows /* [n] */, cl_mem dlogits /* [n, v] or NULL */,
                                     cl_mem logits /* [n, v] */, cl_mem targets /* int32 [n] */,
                                     int n, int v, int pad, float label_smoothing, float inv_count) {
    return clf_cross_entropy_fwd_bwd_cfg(dev, loss_rows, dlogits, logits, targets, n, v, pad, label_smoothing,
                                         inv_count, NULL);
}

clf_status clf_cross_entropy_fwd_bwd_cfg(clf_device *dev, cl_mem loss_rows /* [n] */,
                                         cl_mem dlogits /* [n, v] or NULL */, cl_mem logits /* [n, v] */,
                                         cl_mem targets /* int32 [n] */, int n, int v, int pad, float label_smoothing,
                                         float inv_count, const clf_cross_entropy_cfg *cfg) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "cross_entropy_fwd_bwd: dev is NULL");
    if (!loss_rows) return CLF_ERROR(CLF_ERR_INVALID_ARG, "cross_entropy_fwd_bwd: loss_rows is NULL");
    if (!logits) return CLF_ERROR(CLF_ERR_INVALID_ARG, "cross_entropy_fwd_bwd: logits is NULL");
    if (!targets) return CLF_ERROR(CLF_ERR_INVALID_ARG, "cross_entropy_fwd_bwd: targets is NULL");
    if (n <= 0 || v <= 0)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "cross_entropy_fwd_bwd: n = %d and v = %d must be positive", n, v);
    if ((int64_t)n * v > (int64_t)1 << 40)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "cross_entropy_fwd_bwd: n * v = %d * %d is too large", n, v);
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "cross_entropy_fwd_bwd: label_smoothing %g is outside [0, 1]",
                         (double)label_smoothing);
    if (!(inv_count >= 0.0f && inv_count <= 1.0f))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "cross_entropy_fwd_bwd: inv_count %g is outside [0, 1]",
                         (double)inv_count);
    if (cfg) {
        bool wg_ok = cfg->wg >= 0 && cfg->wg <= 1024 && (cfg->wg & (cfg->wg - 1)) == 0;
        bool vw_ok = cfg->vw == 0 || cfg->vw == 4 || cfg->vw == 8 || cfg->vw == 16;
        bool rows_ok = cfg->rows >= 0 && cfg->rows <= CE_CPU_MAX_ROWS;
        if (!wg_ok || !vw_ok || !rows_ok)
            return CLF_ERROR(CLF_ERR_INVALID_ARG,
                             "cross_entropy_fwd_bwd: configuration wg %d (a power of two up to 1024), vw %d (4, 8 "
                             "or 16), rows %d (up to %d) is not valid",
                             cfg->wg, cfg->vw, cfg->rows, CE_CPU_MAX_ROWS);
    }
    char opts[64];
    ce_options(dev, v, cfg, opts, sizeof opts);
    int wg = ce_wg(dev, v, cfg), rows = ce_rows(dev, n, cfg);
    size_t local[2] = {(size_t)wg, 1}, global[2] = {(size_t)wg, ((size_t)n + (size_t)rows - 1) / (size_t)rows};
    return CLF_RUN(dev, "cross_entropy", opts, "cross_entropy_fwd_bwd", 2, global, local, CLF_ARG_MEM(loss_rows),
                   CLF_ARG_MEM(dlogits), CLF_ARG_MEM(logits), CLF_ARG_MEM(targets), CLF_ARG_INT(n), CLF_ARG_INT(v),
                   CLF_ARG_INT(pad), CLF_ARG_FLOAT(label_smoothing), CLF_ARG_FLOAT(inv_count),
                   CLF_ARG_INT(dlogits != NULL), CLF_ARG_INT(rows));
}

clf_status clf_loss_reduce(clf_device *dev, cl_mem loss /* [1] */, cl_mem loss_rows /* [n] */, int n, float inv_count) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "loss_reduce: dev is NULL");
    if (!loss) return CLF_ERROR(CLF_ERR_INVALID_ARG, "loss_reduce: loss is NULL");
    if (!loss_rows) return CLF_ERROR(CLF_ERR_INVALID_ARG, "loss_reduce: loss_rows is NULL");
    if (n <= 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "loss_reduce: n = %d must be positive", n);
    if (!(inv_count >= 0.0f && inv_count <= 1.0f))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "loss_reduce: inv_count %g is outside [0, 1]", (double)inv_count);
    /* the byte vocabulary's options, so the usual run needs one program build, not two */
    char opts[64];
    ce_options(dev, 259, NULL, opts, sizeof opts);
    int wg = ce_wg(dev, 259, NULL);
    size_t local = (size_t)wg, global = local;
    return CLF_RUN(dev, "cross_entropy", opts, "cross_entropy_reduce", 1, &global, &local, CLF_ARG_MEM(loss),
                   CLF_ARG_MEM(loss_rows), CLF_ARG_INT(n), CLF_ARG_FLOAT(inv_count));
}
