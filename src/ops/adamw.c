/* Launchers of cl/adamw.cl. */
#include "ops/adamw.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>

#include "clformer/launch.h"

/* A work-group handles GROUP_BLOCKS float4 blocks per sweep, on every device, so the number of groups
 * (and the norm's workspace) depends on n only. GPUs: 256 work-items of 16 blocks. CPUs: 64 of 64, as
 * PoCL pays for each work-item at every barrier of the tree. */
#define GROUP_BLOCKS 4096
#define NORM_MAX_GROUPS 1024 /* partial sums at most: enough groups to fill a large GPU */

/* The largest power of two <= want that the device accepts as a work-group. */
static size_t fit_wg(const clf_device *dev, size_t want) {
    size_t max = clf_device_get_info(dev)->max_work_group;
    while (want > 1 && want > max) want /= 2;
    return want;
}

/* One build of cl/adamw.cl serves all four kernels; returns the work-group size. */
static size_t adamw_opts(const clf_device *dev, char *opts, size_t len) {
    size_t wg = fit_wg(dev, clf_device_get_info(dev)->is_cpu ? 64 : 256);
    snprintf(opts, len, "-DWG=%zu -DBLOCKS=%zu", wg, GROUP_BLOCKS / wg);
    return wg;
}

/* Groups that cover n elements in one sweep (at least one, for the tail). */
static size_t groups_for(size_t n) {
    size_t n4 = n / 4;
    return n4 ? (n4 + GROUP_BLOCKS - 1) / GROUP_BLOCKS : 1;
}

/* A function of n only, so the reduction order never depends on the run; past the cap the groups
 * sweep again. */
size_t clf_grad_norm_workspace_floats(size_t n) {
    size_t groups = groups_for(n);
    return groups > NORM_MAX_GROUPS ? NORM_MAX_GROUPS : groups;
}

static clf_status check_n(const char *fn, size_t n) {
    if (n == 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: n must be positive", fn);
    if (n > (size_t)INT_MAX - 8) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: n = %zu is too large", fn, n);
    return CLF_OK;
}

clf_status clf_grad_norm(clf_device *dev, cl_mem norm /* [1] */, cl_mem grads /* [n] */, cl_mem workspace, size_t n) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "grad_norm: dev is NULL");
    if (!norm) return CLF_ERROR(CLF_ERR_INVALID_ARG, "grad_norm: norm is NULL");
    if (!grads) return CLF_ERROR(CLF_ERR_INVALID_ARG, "grad_norm: grads is NULL");
    if (!workspace) return CLF_ERROR(CLF_ERR_INVALID_ARG, "grad_norm: workspace is NULL");
    clf_status st = check_n("grad_norm", n);
    if (st != CLF_OK) return st;
    char opts[32];
    size_t groups = clf_grad_norm_workspace_floats(n), wg = adamw_opts(dev, opts, sizeof opts);
    size_t local = wg, global = groups * wg;
    st = CLF_RUN(dev, "adamw", opts, "grad_norm_partial", 1, &global, &local, CLF_ARG_MEM(workspace),
                 CLF_ARG_MEM(grads), CLF_ARG_INT(n));
    if (st != CLF_OK) return st;
    global = wg;
    return CLF_RUN(dev, "adamw", opts, "grad_norm_final", 1, &global, &local, CLF_ARG_MEM(norm),
                   CLF_ARG_MEM(workspace), CLF_ARG_INT(groups));
}

clf_status clf_adamw_step(clf_device *dev, cl_mem params /* [n] */, cl_mem m /* [n] */, cl_mem v /* [n] */,
                          cl_mem state /* int32 [1] */, cl_mem grads /* [n] */, cl_mem norm /* [1] */,
                          size_t n, size_t n_decay, const clf_adamw_params *p) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: dev is NULL");
    if (!params || !m || !v)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: %s is NULL", !params ? "params" : !m ? "m" : "v");
    if (!state) return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: state is NULL");
    if (!grads) return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: grads is NULL");
    if (!norm) return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: norm is NULL");
    if (!p) return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: p (the hyper-parameters) is NULL");
    clf_status st = check_n("adamw_step", n);
    if (st != CLF_OK) return st;
    if (n_decay > n) return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: n_decay = %zu exceeds n = %zu", n_decay, n);
    if (!(isfinite(p->lr) && p->lr >= 0))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: lr %g must be finite and >= 0", (double)p->lr);
    if (!(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: beta1 %g and beta2 %g must be in [0, 1)",
                         (double)p->beta1, (double)p->beta2);
    if (!(isfinite(p->eps) && p->eps > 0))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: eps %g must be finite and > 0", (double)p->eps);
    if (!(isfinite(p->weight_decay) && p->weight_decay >= 0))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: weight_decay %g must be finite and >= 0",
                         (double)p->weight_decay);
    if (isnan(p->max_norm)) return CLF_ERROR(CLF_ERR_INVALID_ARG, "adamw_step: max_norm is NaN");
    /* torch forms 1 - lr*wd in double and rounds it once to the parameter type */
    float decay = (float)(1.0 - (double)p->lr * (double)p->weight_decay);
    char opts[32];
    size_t local = adamw_opts(dev, opts, sizeof opts), global = groups_for(n) * local;
    st = CLF_RUN(dev, "adamw", opts, "adamw_step", 1, &global, &local, CLF_ARG_MEM(params), CLF_ARG_MEM(m),
                 CLF_ARG_MEM(v), CLF_ARG_MEM(state), CLF_ARG_MEM(grads), CLF_ARG_MEM(norm), CLF_ARG_INT(n),
                 CLF_ARG_INT(n_decay), CLF_ARG_FLOAT(p->lr), CLF_ARG_FLOAT(p->beta1), CLF_ARG_FLOAT(p->beta2),
                 CLF_ARG_FLOAT(p->eps), CLF_ARG_FLOAT(decay), CLF_ARG_FLOAT(p->max_norm));
    if (st != CLF_OK) return st;
    size_t one = 1;
    return CLF_RUN(dev, "adamw", opts, "adamw_advance", 1, &one, &one, CLF_ARG_MEM(state), CLF_ARG_MEM(norm));
}
