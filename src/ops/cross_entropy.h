/* Cross-entropy over the vocabulary with label smoothing and ignored pad targets (SPEC "Loss"):
 * loss, per-row losses and the gradient of the mean loss with respect to the logits, in one launch. */
#ifndef CLFORMER_OPS_CROSS_ENTROPY_H
#define CLFORMER_OPS_CROSS_ENTROPY_H

#include "clformer/device.h"

/* torch.nn.CrossEntropyLoss(ignore_index=pad, label_smoothing=eps):
 * loss_r = (1-eps)(-log p[y_r]) + eps * mean_v(-log p[v]) for rows whose target != pad; 0 for pad rows.
 * dlogits is WRITTEN (not accumulated): d(mean loss)/dlogits = inv_count * ((1-eps) (p - onehot) + eps (p - 1/V)),
 * zero rows for pad targets. inv_count = 1 / (number of non-pad rows), 0 when there are none (then loss 0,
 * gradients 0). Reads each row of logits once from memory and writes dlogits once (the other walks
 * over the row hit the cache); on CPUs one work-item walks a row with 16-wide vectors, up to 16 rows
 * in turn, on GPUs a work-group shares it. A target outside [0, v) that is not pad makes its row's loss
 * and gradient NaN (ids are validated on the host; this keeps a slip visible and the step skipped). */
clf_status clf_cross_entropy_fwd_bwd(clf_device *dev, cl_mem loss_rows /* [n] */, cl_mem dlogits /* [n, v] or NULL */,
                                     cl_mem logits /* [n, v] */, cl_mem targets /* int32 [n] */,
                                     int n, int v, int pad, float label_smoothing, float inv_count);

/* A launch configuration, for tests and benchmarks (zero fields: the device's default): wg work-items
 * per row (a power of two; 1 is the CPU walk), vw the vector width (4, 8, 16), rows per work-group (up
 * to 16, taken in turn). A device that cannot take wg gets the largest power of two it can. */
typedef struct clf_cross_entropy_cfg {
    int wg, vw, rows;
} clf_cross_entropy_cfg;

clf_status clf_cross_entropy_fwd_bwd_cfg(clf_device *dev, cl_mem loss_rows /* [n] */,
                                         cl_mem dlogits /* [n, v] or NULL */, cl_mem logits /* [n, v] */,
                                         cl_mem targets /* int32 [n] */, int n, int v, int pad, float label_smoothing,
                                         float inv_count, const clf_cross_entropy_cfg *cfg);

/* loss[0] = inv_count * sum(loss_rows), deterministic (fixed-order tree). */
clf_status clf_loss_reduce(clf_device *dev, cl_mem loss /* [1] */, cl_mem loss_rows /* [n] */, int n, float inv_count);

#endif
