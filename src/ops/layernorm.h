/* LayerNorm over the last dimension (SPEC, Forward pass), forward and backward. */
#ifndef CLFORMER_OPS_LAYERNORM_H
#define CLFORMER_OPS_LAYERNORM_H

#include <stddef.h>

#include "clformer/device.h"
#include "ops/elementwise.h"

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
    /* backward: the gradients to store instead of add to, unread (elementwise.h's CLF_OVERWRITE_DX: dx;
     * CLF_OVERWRITE_DS: the fused backward's ds); the forward ignores it */
    unsigned overwrite;
} clf_layernorm_cfg;

clf_status clf_layernorm_fwd_cfg(clf_device *dev, cl_mem y /* [n, d] */, cl_mem mean /* [n] */,
                                 cl_mem rstd /* [n] */, cl_mem x /* [n, d] */, cl_mem gamma /* [d] */,
                                 cl_mem beta /* [d] */, int n, int d, float eps, const clf_layernorm_cfg *cfg);
clf_status clf_layernorm_bwd_cfg(clf_device *dev, cl_mem dx /* [n, d] */, cl_mem dgamma /* [d] */,
                                 cl_mem dbeta /* [d] */, cl_mem dy /* [n, d] */, cl_mem x /* [n, d] */,
                                 cl_mem mean /* [n] */, cl_mem rstd /* [n] */, cl_mem gamma /* [d] */,
                                 cl_mem workspace, int n, int d, const clf_layernorm_cfg *cfg);

/* Floats of workspace clf_layernorm_bwd (and clf_add_layernorm_bwd) needs: per-group column partials
 * of dgamma and dbeta. */
size_t clf_layernorm_workspace_floats(int n, int d);

/* The residual add of a sub-layer fused with the LayerNorm after it, in one pass over memory:
 * sum = x + drop(s) (x NULL: sum = drop(s)), y = LN(sum), mean and rstd saved as clf_layernorm_fwd
 * saves them. sum is bit for bit what clf_residual_dropout_fwd(sum, x, s, n * d, drop) writes (same
 * mask: index r d + c; drop NULL or p == 0: no dropout). sum may alias x or s (an in-place residual
 * stream); y must not alias sum. */
clf_status clf_add_layernorm_fwd(clf_device *dev, cl_mem y /* [n, d] */, cl_mem sum /* [n, d] */,
                                 cl_mem mean /* [n] */, cl_mem rstd /* [n] */, cl_mem x /* [n, d] or NULL */,
                                 cl_mem s /* [n, d] */, cl_mem gamma /* [d] */, cl_mem beta /* [d] */, int n, int d,
                                 float eps, const clf_dropout *drop);

/* Its backward, accumulating: t = LN'(dy) + dsum (dsum NULL: none; the gradient of sum from its
 * other consumers), dx += t (dx NULL: none), ds += drop'(t) (the forward's mask), dgamma += ...,
 * dbeta += .... sum, mean and rstd are the forward's. dx may alias dsum; ds must not alias dx.
 * workspace: clf_layernorm_workspace_floats(n, d) floats. */
clf_status clf_add_layernorm_bwd(clf_device *dev, cl_mem dx /* [n, d] or NULL */, cl_mem ds /* [n, d] */,
                                 cl_mem dgamma /* [d] */, cl_mem dbeta /* [d] */, cl_mem dy /* [n, d] */,
                                 cl_mem dsum /* [n, d] or NULL */, cl_mem sum /* [n, d] */, cl_mem mean /* [n] */,
                                 cl_mem rstd /* [n] */, cl_mem gamma /* [d] */, cl_mem workspace, int n, int d,
                                 const clf_dropout *drop);

/* The same with an explicit launch configuration (NULL: the defaults). */
clf_status clf_add_layernorm_fwd_cfg(clf_device *dev, cl_mem y /* [n, d] */, cl_mem sum /* [n, d] */,
                                     cl_mem mean /* [n] */, cl_mem rstd /* [n] */, cl_mem x /* [n, d] or NULL */,
                                     cl_mem s /* [n, d] */, cl_mem gamma /* [d] */, cl_mem beta /* [d] */, int n,
                                     int d, float eps, const clf_dropout *drop, const clf_layernorm_cfg *cfg);
clf_status clf_add_layernorm_bwd_cfg(clf_device *dev, cl_mem dx /* [n, d] or NULL */, cl_mem ds /* [n, d] */,
                                     cl_mem dgamma /* [d] */, cl_mem dbeta /* [d] */, cl_mem dy /* [n, d] */,
                                     cl_mem dsum /* [n, d] or NULL */, cl_mem sum /* [n, d] */,
                                     cl_mem mean /* [n] */, cl_mem rstd /* [n] */, cl_mem gamma /* [d] */,
                                     cl_mem workspace, int n, int d, const clf_dropout *drop,
                                     const clf_layernorm_cfg *cfg);

#endif
