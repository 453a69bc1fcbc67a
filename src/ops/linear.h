/* The Linear layer (torch.nn.Linear layout: w is [out, in]) with a fused bias + activation
 * epilogue: products through clf_gemm, everything elementwise in cl/linear.cl. */
#ifndef CLFORMER_OPS_LINEAR_H
#define CLFORMER_OPS_LINEAR_H

#include <stdbool.h>
#include <stddef.h>

#include "clformer/device.h"

typedef enum clf_activation { CLF_ACT_NONE = 0, CLF_ACT_RELU, CLF_ACT_GELU } clf_activation;

/* Layout of the elementwise kernels: AUTO measures the configurations once per device and shape bucket
 * and caches the winner (src/tune.h; CLFORMER_TUNE=off: ROWS on CPU devices, ELEMENTS elsewhere); tests
 * force either to check both on one device. Results agree to rounding, and each is bit-identical run to run. */
typedef enum clf_linear_layout { CLF_LINEAR_AUTO = 0, CLF_LINEAR_ELEMENTS, CLF_LINEAR_ROWS } clf_linear_layout;
typedef struct clf_linear_cfg {
    clf_linear_layout layout;
    bool overwrite_dx; /* backward: dx = dpre W, its old bytes never read (the first writer of a gradient) */
} clf_linear_cfg;

/* y = act(x W^T + b), torch.nn.Linear layout: w is [out, in]. b may be NULL (no bias).
 * pre receives x W^T + b before the activation; required when act == CLF_ACT_GELU, may be NULL otherwise
 * (ReLU's backward uses y). With act == NONE, no bias and no pre this is one GEMM and nothing else. */
clf_status clf_linear_fwd(clf_device *dev, cl_mem y /* [n, out] */, cl_mem pre /* [n, out] or NULL */,
                          cl_mem x /* [n, in] */, cl_mem w /* [out, in] */, cl_mem b /* [out] or NULL */,
                          int n, int in, int out, clf_activation act);

/* Accumulates: dx += dpre W, dw += dpre^T x, db += sum_rows dpre, where dpre = dy * act'(pre) (dy itself when
 * act == NONE). dx, db may be NULL (not needed). workspace holds dpre and the bias gradient's column
 * partials: clf_linear_workspace_floats(n, out, act) floats; it may be NULL when act == NONE and db is NULL.
 * ReLU reads y, GELU reads pre; the bias gradient is a fixed-order reduction, so results are
 * bit-identical between runs. */
size_t clf_linear_workspace_floats(int n, int out, clf_activation act);
clf_status clf_linear_bwd(clf_device *dev, cl_mem dx /* [n, in] or NULL */, cl_mem dw /* [out, in] */,
                          cl_mem db /* [out] or NULL */, cl_mem dy /* [n, out] */, cl_mem x /* [n, in] */,
                          cl_mem w /* [out, in] */, cl_mem y /* [n, out] */, cl_mem pre /* [n, out] or NULL */,
                          cl_mem workspace, int n, int in, int out, clf_activation act);

/* The same with a chosen layout (cfg may be NULL: AUTO). */
clf_status clf_linear_fwd_cfg(clf_device *dev, cl_mem y /* [n, out] */, cl_mem pre /* [n, out] or NULL */,
                              cl_mem x /* [n, in] */, cl_mem w /* [out, in] */, cl_mem b /* [out] or NULL */,
                              int n, int in, int out, clf_activation act, const clf_linear_cfg *cfg);
clf_status clf_linear_bwd_cfg(clf_device *dev, cl_mem dx /* [n, in] or NULL */, cl_mem dw /* [out, in] */,
                              cl_mem db /* [out] or NULL */, cl_mem dy /* [n, out] */, cl_mem x /* [n, in] */,
                              cl_mem w /* [out, in] */, cl_mem y /* [n, out] */, cl_mem pre /* [n, out] or NULL */,
                              cl_mem workspace, int n, int in, int out, clf_activation act,
                              const clf_linear_cfg *cfg);

#endif
