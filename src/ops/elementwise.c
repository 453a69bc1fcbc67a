/* Launchers of cl/elementwise.cl: argument checks, the dropout parameters as the kernels take them
 * (threshold, scale, the seed split into two words), the program variant (-DDROP, -DACC, -DALIGNED)
 * and the split of n into a body of whole work-groups and a checked tail, or (vec 64) one launch of
 * the wide kernel. */
#include "ops/elementwise.h"

#include <math.h>
#include <stdio.h>

#include "clformer/launch.h"
#include "clformer/philox.h"

#define EW_DEFAULT_WG 64
#define EW_MAX_N 0xFFFFFFF0u /* indices and n are 32-bit in the kernels, with room for rounding up */

/* Body kernel over `body` work-items (elements [0, 4 * body), whole work-groups), tail kernel over
 * elements [start, n). vec 1 puts everything in the tail. wide (vec 64): the _wide kernel alone over
 * `body` work-items, ceil(n / 64) rounded up to whole work-groups; start = n. */
typedef struct ew_launch {
    size_t wg, body, start, n;
    uint32_t mask0;
    int wide, aligned;
} ew_launch;

/* Resolve cfg against the device and n; every launcher starts here. */
static clf_status ew_prepare(clf_device *dev, const char *op, size_t n, const clf_elementwise_cfg *cfg,
                             ew_launch *l) {
    if (!dev) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: dev is NULL", op);
    if (n == 0) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: n is 0", op);
    if (n > EW_MAX_N) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: n = %zu exceeds %u", op, n, EW_MAX_N);
    const clf_device_info *info = clf_device_get_info(dev);
    l->wg = cfg && cfg->wg ? cfg->wg : EW_DEFAULT_WG;
    /* CPUs: explicit float16 code with one 16-lane Philox call per 64 elements; GPUs vectorize the
     * four-per-item body across work-items themselves */
    int vec = cfg && cfg->vec ? cfg->vec : info->is_cpu ? 64 : 4;
    l->mask0 = cfg ? cfg->mask0 : 0;
    l->n = n;
    size_t max_wg = info->max_work_group;
    if (l->wg > max_wg)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: work-group size %zu exceeds the device's %zu", op, l->wg, max_wg);
    if (vec != 1 && vec != 4 && vec != 64)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: vec = %d, not 1, 4 or 64", op, vec);
    if (vec != 1 && l->mask0 % 4)
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: mask0 = %u is not a multiple of 4 (vec %d)", op, l->mask0, vec);
    if ((uint64_t)l->mask0 + n > ((uint64_t)1 << 32))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: mask indices %u + %zu pass 2^32", op, l->mask0, n);
    l->wide = vec == 64;
    l->aligned = info->mem_base_align % (16 * sizeof(float)) == 0;
    if (l->wide) {
        l->body = ((n + 63) / 64 + l->wg - 1) / l->wg * l->wg;
        l->start = n;
    } else {
        l->body = vec == 4 ? n / 4 / l->wg * l->wg : 0;
        l->start = 4 * l->body;
    }
    return CLF_OK;
}

/* Launch `kernel` (body) and `kernel`_tail: bufs first, then (tail only) start and n, then params; or
 * `kernel`_wide: bufs, n, params. */
static clf_status ew_run(clf_device *dev, const ew_launch *l, const char *options, const char *kernel, size_t nb,
                         const clf_arg *bufs, size_t np, const clf_arg *params) {
    clf_arg args[16];
    char tail[64];
    size_t k = 0;
    for (size_t i = 0; i < nb; i++) args[k++] = bufs[i];
    if (l->wide) {
        args[k++] = CLF_ARG_UINT(l->n);
        for (size_t i = 0; i < np; i++) args[k++] = params[i];
        snprintf(tail, sizeof tail, "%s_wide", kernel);
        return clf_run(dev, "elementwise", options, tail, 1, &l->body, &l->wg, k, args);
    }
    for (size_t i = 0; i < np; i++) args[k++] = params[i];
    if (l->body) {
        clf_status st = clf_run(dev, "elementwise", options, kernel, 1, &l->body, &l->wg, k, args);
        if (st != CLF_OK) return st;
    }
    if (l->start == l->n) return CLF_OK;
    size_t items = l->n - l->start;
    k = nb;
    args[k++] = CLF_ARG_UINT(l->start);
    args[k++] = CLF_ARG_UINT(l->n);
    for (size_t i = 0; i < np; i++) args[k++] = params[i];
    snprintf(tail, sizeof tail, "%s_tail", kernel);
    return clf_run(dev, "elementwise", options, tail, 1, &items, &l->wg, k, args);
}

clf_status clf_dropout_args_of(const char *fn, const clf_dropout *d, clf_dropout_args *out) {
    *out = (clf_dropout_args){0, 0, 0, 0, 0, 1.0f};
    if (!d) return CLF_OK;
    if (!(d->p >= 0.0f && d->p < 1.0f))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: dropout p = %g outside [0, 1)", fn, (double)d->p);
    if (d->p == 0.0f) return CLF_OK;
    out->threshold = clf_dropout_threshold(d->p);
    out->seed_lo = (cl_uint)(d->seed & 0xFFFFFFFFu);
    out->seed_hi = (cl_uint)(d->seed >> 32);
    out->step = d->step;
    out->site = d->site;
    out->scale = 1.0f / (1.0f - d->p);
    return CLF_OK;
}

static void ew_options(char *out, size_t size, const ew_launch *l, int drop, int acc) {
    snprintf(out, size, "-DWG=%zu -DDROP=%d -DACC=%d -DALIGNED=%d", l->wg, drop, acc, l->aligned);
}

/* Both residual kernels: three buffers, then (backward: ow, its overwrite bits, a uniform argument
 * rather than a variant: one build serves both) the mask index of element 0 and the dropout; acc
 * picks the variant that adds x (forward) or accumulates into dx (backward). */
static clf_status ew_residual(clf_device *dev, const ew_launch *l, const char *op, const char *kernel,
                              const clf_dropout *d, int acc, const clf_arg bufs[3], const unsigned *ow) {
    clf_dropout_args k;
    char options[64];
    clf_status st = clf_dropout_args_of(op, d, &k);
    if (st != CLF_OK) return st;
    ew_options(options, sizeof options, l, k.threshold != 0, acc);
    const clf_arg params[] = {CLF_ARG_UINT(ow ? *ow : 0u), CLF_ARG_UINT(l->mask0), CLF_DROPOUT_ARGS(k)};
    size_t skip = ow ? 0 : 1;
    return ew_run(dev, l, options, kernel, 3, bufs, sizeof params / sizeof params[0] - skip, params + skip);
}

clf_status clf_residual_dropout_fwd_cfg(clf_device *dev, cl_mem y, cl_mem x, cl_mem s, size_t n,
                                        const clf_dropout *d, const clf_elementwise_cfg *cfg) {
    const char *op = "clf_residual_dropout_fwd";
    ew_launch l;
    clf_status st = ew_prepare(dev, op, n, cfg, &l);
    if (st != CLF_OK) return st;
    if (!y) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: y is NULL", op);
    if (!s) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: s is NULL", op);
    /* without x the kernel never reads it; s stands in so no NULL buffer reaches the driver */
    const clf_arg bufs[] = {CLF_ARG_MEM(y), CLF_ARG_MEM(x ? x : s), CLF_ARG_MEM(s)};
    return ew_residual(dev, &l, op, "residual_dropout_fwd", d, x != NULL, bufs, NULL);
}

clf_status clf_residual_dropout_bwd_cfg(clf_device *dev, cl_mem dx, cl_mem ds, cl_mem dy, size_t n,
                                        const clf_dropout *d, const clf_elementwise_cfg *cfg) {
    const char *op = "clf_residual_dropout_bwd";
    ew_launch l;
    clf_status st = ew_prepare(dev, op, n, cfg, &l);
    if (st != CLF_OK) return st;
    if (!ds) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: ds is NULL", op);
    if (!dy) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: dy is NULL", op);
    if (dx == ds) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: dx and ds are the same buffer", op);
    unsigned ow = cfg ? cfg->overwrite : 0u;
    if (ow & ~(CLF_OVERWRITE_DX | CLF_OVERWRITE_DS))
        return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: overwrite 0x%x names gradients other than dx and ds", op, ow);
    if ((ow & CLF_OVERWRITE_DX) && !dx) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: overwrite of dx, which is NULL", op);
    const clf_arg bufs[] = {CLF_ARG_MEM(dx ? dx : ds), CLF_ARG_MEM(ds), CLF_ARG_MEM(dy)};
    return ew_residual(dev, &l, op, "residual_dropout_bwd", d, dx != NULL, bufs, &ow);
}

clf_status clf_residual_dropout_fwd(clf_device *dev, cl_mem y, cl_mem x, cl_mem s, size_t n, const clf_dropout *d) {
    return clf_residual_dropout_fwd_cfg(dev, y, x, s, n, d, NULL);
}

clf_status clf_residual_dropout_bwd(clf_device *dev, cl_mem dx, cl_mem ds, cl_mem dy, size_t n,
                                    const clf_dropout *d) {
    return clf_residual_dropout_bwd_cfg(dev, dx, ds, dy, n, d, NULL);
}

/* axpy and scale share arguments, checks and a program (the p == 0 residual variant's). */
static clf_status ew_binary(clf_device *dev, const char *op, const char *kernel, cl_mem dst, cl_mem src, size_t n,
                            float alpha) {
    ew_launch l;
    char options[64];
    const clf_elementwise_cfg cfg = {0, 4, 0, 0}; /* no wide kernels */
    clf_status st = ew_prepare(dev, op, n, &cfg, &l);
    if (st != CLF_OK) return st;
    if (!dst) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: dst is NULL", op);
    if (!src) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: src is NULL", op);
    if (!isfinite(alpha)) return CLF_ERROR(CLF_ERR_INVALID_ARG, "%s: alpha = %g is not finite", op, (double)alpha);
    ew_options(options, sizeof options, &l, 0, 1);
    const clf_arg bufs[] = {CLF_ARG_MEM(dst), CLF_ARG_MEM(src)};
    const clf_arg params[] = {CLF_ARG_FLOAT(alpha)};
    return ew_run(dev, &l, options, kernel, 2, bufs, 1, params);
}

clf_status clf_axpy(clf_device *dev, cl_mem dst, cl_mem src, size_t n, float alpha) {
    return ew_binary(dev, "clf_axpy", "axpy_f32", dst, src, n, alpha);
}

clf_status clf_scale(clf_device *dev, cl_mem dst, cl_mem src, size_t n, float alpha) {
    return ew_binary(dev, "clf_scale", "scale_f32", dst, src, n, alpha);
}
