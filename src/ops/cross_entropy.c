/* Launchers of cl/cross_entropy.cl. */
#include "ops/cross_entropy.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "clformer/launch.h"

/* GPUs: wide rows get 256 work-items, narrow ones (the byte vocabulary, 259) 64, so few sit idle.
 * CPUs: one work-item walks the whole row (see the kernel). Never more than the device allows (a
 * power of two, as the tree needs). */
static int ce_wg(const clf_device *dev, int v) {
    size_t want = clf_device_get_info(dev)->is_cpu ? 1 : v >= 2048 ? 256 : 64;
    size_t max = clf_device_get_info(dev)->max_work_group;
    while (want > 1 && want > max) want /= 2;
    return (int)want;
}

clf_status clf_cross_entropy_fwd_bwd(clf_device *dev, cl_mem loss_rows /* [n] */, cl_mem dlogits /* [n, v] or NULL */,
                                     cl_mem logits /* [n, v] */, cl_mem targets /* int32 [n] */,
                                     int n, int v, int pad, float label_smoothing, float inv_count) {
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
    int wg = ce_wg(dev, v);
    char opts[32];
    snprintf(opts, sizeof opts, "-DWG=%d", wg);
    size_t local = (size_t)wg, global = (size_t)n * local;
    return CLF_RUN(dev, "cross_entropy", opts, "cross_entropy_fwd_bwd", 1, &global, &local, CLF_ARG_MEM(loss_rows),
                   CLF_ARG_MEM(dlogits), CLF_ARG_MEM(logits), CLF_ARG_MEM(targets), CLF_ARG_INT(n), CLF_ARG_INT(v),
                   CLF_ARG_INT(pad), CLF_ARG_FLOAT(label_smoothing), CLF_ARG_FLOAT(inv_count),
                   CLF_ARG_INT(dlogits != NULL));
}

clf_status clf_loss_reduce(clf_device *dev, cl_mem loss /* [1] */, cl_mem loss_rows /* [n] */, int n, float inv_count) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "loss_reduce: dev is NULL");
    if (!loss) return CLF_ERROR(CLF_ERR_INVALID_ARG, "loss_reduce: loss is NULL");
    if (!loss_rows) return CLF_ERROR(CLF_ERR_INVALID_ARG, "loss_reduce: loss_rows is NULL");
    if (n <= 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "loss_reduce: n = %d must be positive", n);
    if (!(inv_count >= 0.0f && inv_count <= 1.0f))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "loss_reduce: inv_count %g is outside [0, 1]", (double)inv_count);
    /* the narrow-row width, so the usual vocabulary needs one program build, not two */
    int wg = ce_wg(dev, 1);
    char opts[32];
    snprintf(opts, sizeof opts, "-DWG=%d", wg);
    size_t local = (size_t)wg, global = local;
    return CLF_RUN(dev, "cross_entropy", opts, "cross_entropy_reduce", 1, &global, &local, CLF_ARG_MEM(loss),
                   CLF_ARG_MEM(loss_rows), CLF_ARG_INT(n), CLF_ARG_FLOAT(inv_count));
}
