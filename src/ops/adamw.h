/* The optimizer step: global gradient norm and AdamW with clipping, enqueued without any host wait. */
#ifndef CLFORMER_OPS_ADAMW_H
#define CLFORMER_OPS_ADAMW_H

#include <stddef.h>

#include "clformer/device.h"

/* Parameters, gradients and both moments are each one flat buffer; elements [0, n_decay) get weight
 * decay (the 2-D weights are laid first), the rest do not (biases, LayerNorm). */

/* Floats of workspace clf_grad_norm needs for n gradients (the partial sums of its first stage). */
size_t clf_grad_norm_workspace_floats(size_t n);

/* norm[0] = sqrt(sum g^2) over the whole buffer, deterministic (fixed-order two-stage reduction; the
 * number of partial sums depends on n only). */
clf_status clf_grad_norm(clf_device *dev, cl_mem norm /* [1] */, cl_mem grads /* [n] */, cl_mem workspace, size_t n);

typedef struct clf_adamw_params {
    float lr, beta1, beta2, eps, weight_decay, max_norm; /* max_norm <= 0: no clipping */
} clf_adamw_params;

/* One AdamW step as torch.optim.AdamW (decoupled decay p *= 1 - lr*wd first; bias-corrected m, v; eps after the
 * sqrt), with gradients scaled by clip = min(1, max_norm / (norm + 1e-6)) as torch's clip_grad_norm_ (below 1
 * exactly when norm > max_norm, up to the 1e-6). The step count t lives on the device in state (int32 [1], the
 * number of steps applied so far): the kernel uses t+1 for bias correction. If norm[0] is not finite, nothing
 * changes (params, m, v, t): the step is skipped; a second tiny kernel advances t only when norm is finite.
 * No host wait anywhere. */
clf_status clf_adamw_step(clf_device *dev, cl_mem params /* [n] */, cl_mem m /* [n] */, cl_mem v /* [n] */,
                          cl_mem state /* int32 [1] */, cl_mem grads /* [n] */, cl_mem norm /* [1] */,
                          size_t n, size_t n_decay, const clf_adamw_params *p);

#endif
