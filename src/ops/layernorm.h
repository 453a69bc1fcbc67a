/* LayerNorm over the last dimension (SPEC, Forward pass), forward and backward. */
#ifndef CLFORMER_OPS_LAYERNORM_H
#define CLFORMER_OPS_LAYERNORM_H

#include <stddef.h>

#include "clformer/device.h"

/* y = gamma * (x - mean) / sqrt(var + eps) + beta over the last dimension (biased variance); saves mean and
 * rstd = 1/sqrt(var + eps) per row for the backward. */
clf_status clf_layernorm_fwd(clf_device *dev, cl_mem y /* [n, d] */, cl_mem mean /* [n] */, cl_mem rstd /* [n] */,
                             cl_mem x /* [n, d] */, cl_mem gamma /* [d] */, cl_mem beta /* [d] */,
                             int n, int d, float eps);

/* Accumulates dx += ..., dgamma += sum_rows dy * xhat, dbeta += sum_rows dy, all deterministic. */
clf_status clf_layernorm_bwd(clf_device *dev, cl_mem dx /* [n, d] */, cl_mem dgamma /* [d] */, cl_mem dbeta /* [d] */,
                             cl_mem dy /* [n, d] */, cl_mem x /* [n, d] */, cl_mem mean /* [n] */,
                             cl_mem rstd /* [n] */, cl_mem gamma /* [d] */, cl_mem workspace, int n, int d);

/* How the kernels are launched: wg work-items per row, a power of two; 0 picks the device's default
 * (1 on CPUs, where an item's float8 loops are the vectors and barriers are dear; 64 elsewhere).
 * Results agree with any wg to rounding; each wg is deterministic. */
typedef struct clf_layernorm_cfg {
    int wg;
} clf_layernorm_cfg;

clf_status clf_layernorm_fwd_cfg(clf_device *dev, cl_mem y /* [n, d] */, cl_mem mean /* [n] */,
                                 cl_mem rstd /* [n] */, cl_mem x /* [n, d] */, cl_mem gamma /* [d] */,
                                 cl_mem beta /* [d] */, int n, int d, float eps, const clf_layernorm_cfg *cfg);
clf_status clf_layernorm_bwd_cfg(clf_device *dev, cl_mem dx /* [n, d] */, cl_mem dgamma /* [d] */,
                                 cl_mem dbeta /* [d] */, cl_mem dy /* [n, d] */, cl_mem x /* [n, d] */,
                                 cl_mem mean /* [n] */, cl_mem rstd /* [n] */, cl_mem gamma /* [d] */,
                                 cl_mem workspace, int n, int d, const clf_layernorm_cfg *cfg);

/* Floats of workspace clf_layernorm_bwd needs: per-group column partials of dgamma and dbeta. */
size_t clf_layernorm_workspace_floats(int n, int d);

#endif
