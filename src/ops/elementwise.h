/* Element-wise ops (cl/elementwise.cl): the residual add with inverted dropout, forward and backward,
 * and the small helpers the scheduler needs (axpy, scale). All buffers hold float32; outputs may alias
 * inputs element for element (y == x for an in-place residual stream), except ds == dx. */
#ifndef CLFORMER_OPS_ELEMENTWISE_H
#define CLFORMER_OPS_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>

#include "clformer/device.h"

/* Dropout of one site: element i is kept when clf_dropout_keep(i, site, step, seed,
 * clf_dropout_threshold(p)) and kept values are scaled by 1/(1-p). p == 0 (or a NULL pointer where
 * a clf_dropout is taken): identity. p must lie in [0, 1). */
typedef struct clf_dropout {
    float p;
    uint64_t seed;
    uint32_t step, site;
} clf_dropout; /* p == 0: identity */

/* A dropout as the kernels take it (DROP_PARAMS of cl/common.cl, in this order); threshold 0: off. */
typedef struct clf_dropout_args {
    cl_uint threshold, seed_lo, seed_hi, step, site;
    cl_float scale; /* 1 / (1 - p) */
} clf_dropout_args;
/* *out for d (NULL or p == 0: off); a p outside [0, 1) is CLF_ERR_INVALID_ARG, the message led by fn. */
clf_status clf_dropout_args_of(const char *fn, const clf_dropout *d, clf_dropout_args *out);
/* The kernel arguments of a clf_dropout_args (the CLF_ARG_ macros of clformer/launch.h). */
#define CLF_DROPOUT_ARGS(a)                                                                                  \
    CLF_ARG_UINT((a).threshold), CLF_ARG_UINT((a).seed_lo), CLF_ARG_UINT((a).seed_hi), CLF_ARG_UINT((a).step), \
        CLF_ARG_UINT((a).site), CLF_ARG_FLOAT((a).scale)

/* y = x + drop(s): the residual add of a sub-layer's output s onto the stream x. x may be NULL (then y = drop(s)). */
clf_status clf_residual_dropout_fwd(clf_device *dev, cl_mem y /* [n] */, cl_mem x /* [n] or NULL */,
                                    cl_mem s /* [n] */, size_t n, const clf_dropout *d);
/* Accumulates dx += dy (if dx non-NULL) and ds += drop'(dy) (mask regenerated, scaled by 1/(1-p)). */
clf_status clf_residual_dropout_bwd(clf_device *dev, cl_mem dx /* [n] or NULL */, cl_mem ds /* [n] */,
                                    cl_mem dy /* [n] */, size_t n, const clf_dropout *d);
/* Bits of a backward's overwrite mask (the _cfg launchers here, in layernorm.h and attention.h): the
 * gradient is stored, not added to, and not read, so it may hold anything before (NaN included). The
 * scheduler sets them for the first writer of a gradient in a backward pass, instead of zeroing it
 * first; a stored value is bit for bit what a zero fill and then the accumulating launch give. */
#define CLF_OVERWRITE_DX 1u
#define CLF_OVERWRITE_DS 2u

/* dst += alpha * src */
clf_status clf_axpy(clf_device *dev, cl_mem dst /* [n] */, cl_mem src /* [n] */, size_t n, float alpha);
/* dst = alpha * src (copy when alpha == 1) */
clf_status clf_scale(clf_device *dev, cl_mem dst /* [n] */, cl_mem src /* [n] */, size_t n, float alpha);

/* How the element-wise kernels are launched. Results never depend on wg or vec (the tests check it);
 * mask0 shifts the mask so element j uses mask index mask0 + j, which lets a tensor be processed in
 * pieces and lets tests reach indices near 2^32 without 16 GiB buffers. */
typedef struct clf_elementwise_cfg {
    size_t wg;      /* work-group size; 0: the default (64) */
    int vec;        /* elements per work-item: 4 (one Philox block each; the default on GPUs), 64 (float16
                     * code, one 16-lane Philox call each; the default on CPUs) or 1; 0: the default */
    uint32_t mask0; /* mask index of element 0; a multiple of 4 when vec is 4 or 64 */
    unsigned overwrite; /* backward: CLF_OVERWRITE_ bits of the gradients to store instead of add to */
} clf_elementwise_cfg;

/* The launchers above with an explicit configuration (NULL: the defaults). mask0 + n must not
 * exceed 2^32: the mask index is 32 bits wide. The backward's cfg->overwrite (CLF_OVERWRITE_DX, _DS):
 * dx = dy, ds = drop'(dy) for the gradients named; the forward ignores it. */
clf_status clf_residual_dropout_fwd_cfg(clf_device *dev, cl_mem y /* [n] */, cl_mem x /* [n] or NULL */,
                                        cl_mem s /* [n] */, size_t n, const clf_dropout *d,
                                        const clf_elementwise_cfg *cfg);
clf_status clf_residual_dropout_bwd_cfg(clf_device *dev, cl_mem dx /* [n] or NULL */, cl_mem ds /* [n] */,
                                        cl_mem dy /* [n] */, size_t n, const clf_dropout *d,
                                        const clf_elementwise_cfg *cfg);

#endif
