/* Element-wise kernels: the residual add with inverted dropout (forward and backward), axpy and
 * scale. Each op has a body kernel, where work-item g handles elements 4g..4g+3 with one Philox
 * block and no bounds check (the host launches only whole work-groups of whole groups of four),
 * and a _tail kernel, one element per work-item with a bounds check, for the rest; the tail kernel
 * over all of n is the scalar path. Both give the same mask: word i % 4 of block i / 4.
 * The body is written with scalars, not float4: PoCL vectorizes a kernel across work-items only when
 * it has no vector types and no bounds branch (float4 arithmetic made the dropout body 10x slower).
 * The residual ops also have a _wide kernel for CPU devices, written in float16 vectors itself:
 * work-item g takes elements 64g..64g+63 with one 16-lane Philox call for their 16 blocks
 * (common.cl's clf_drop64), the last item checking bounds, so one launch covers any n. */
#include "common.cl"

/* No fused multiply-add contraction: the same bits from body and tail and on every device. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG
#define WG 64
#endif
#ifndef DROP /* 0: p == 0, no Philox at all */
#define DROP 1
#endif
#ifndef ACC /* residual_dropout_fwd: add x; residual_dropout_bwd: accumulate into dx */
#define ACC 1
#endif
#ifndef ALIGNED /* 1: buffers start on a float16 boundary, so the wide kernels' chunks are aligned */
#define ALIGNED 0
#endif

/* Calls inside the work-item loop stop PoCL from vectorizing it: inline everything. */
#define ALWAYS inline __attribute__((always_inline))
#define REQD __attribute__((reqd_work_group_size(WG, 1, 1)))

/* The dropout a kernel applies: the mask index of element 0, then common.cl's DROP_PARAMS. */
#define EW_DROP_PARAMS uint mask0, DROP_PARAMS
#define EW_DROP_ARGS mask0, DROP_ARGS

#if DROP
/* The Philox block of body work-item g (mask0 is a multiple of 4). */
ALWAYS uint4 drop_block(uint g, EW_DROP_PARAMS) {
    return philox4x32_10((uint4)((mask0 >> 2) + g, drop_site, drop_step, 0u), (uint2)(seed_lo, seed_hi));
}
/* One word of that block as a multiplier, decided as clf_dropout_keep decides it. */
ALWAYS float drop_word(uint w, uint threshold, float scale) { return (w >> 8) >= threshold ? scale : 0.0f; }
/* The multiplier of element i on its own (the tail). */
ALWAYS float drop_one(uint i, EW_DROP_PARAMS) { return DROP_FACTOR(mask0 + i); }
#else
ALWAYS uint4 drop_block(uint g, EW_DROP_PARAMS) { return (uint4)(0u); }
ALWAYS float drop_word(uint w, uint threshold, float scale) { return 1.0f; }
ALWAYS float drop_one(uint i, EW_DROP_PARAMS) { return 1.0f; }
#endif

/* ---- y = x + drop(s) (y = drop(s) without ACC); y may alias x or s ---- */

ALWAYS void fwd_elem(__global float *y, __global const float *x, __global const float *s, uint i, float m) {
#if ACC
    y[i] = x[i] + s[i] * m;
#else
    y[i] = s[i] * m;
#endif
}

__kernel REQD void residual_dropout_fwd(__global float *y, __global const float *x, __global const float *s,
                                        EW_DROP_PARAMS) {
    uint g = get_global_id(0), i = 4u * g;
    uint4 r = drop_block(g, EW_DROP_ARGS);
    fwd_elem(y, x, s, i, drop_word(r.x, drop_threshold, drop_scale));
    fwd_elem(y, x, s, i + 1u, drop_word(r.y, drop_threshold, drop_scale));
    fwd_elem(y, x, s, i + 2u, drop_word(r.z, drop_threshold, drop_scale));
    fwd_elem(y, x, s, i + 3u, drop_word(r.w, drop_threshold, drop_scale));
}

__kernel REQD void residual_dropout_fwd_tail(__global float *y, __global const float *x, __global const float *s,
                                             uint start, uint n, EW_DROP_PARAMS) {
    uint i = start + (uint)get_global_id(0);
    if (i < n) fwd_elem(y, x, s, i, drop_one(i, EW_DROP_ARGS));
}

/* ---- dx += dy (with ACC), ds += drop(dy): the mask regenerated from the same indices. ow (uniform):
 * bit 0 stores dx, bit 1 ds, without reading them (the first writer of a gradient: its bytes may hold
 * anything). A stored value is 0 + v, bit for bit what a zero fill and then += give (-0 turns +0). ---- */

#define OW_DX 1u
#define OW_DS 2u

/* What a gradient element holds before this kernel adds to it. */
ALWAYS float bwd_old(__global const float *p, uint i, uint fresh) { return fresh ? 0.0f : p[i]; }

ALWAYS void bwd_elem(__global float *dx, __global float *ds, __global const float *dy, uint i, float m, uint ow) {
    float g = dy[i];
#if ACC
    dx[i] = bwd_old(dx, i, ow & OW_DX) + g;
#endif
    ds[i] = bwd_old(ds, i, ow & OW_DS) + g * m;
}

__kernel REQD void residual_dropout_bwd(__global float *dx, __global float *ds, __global const float *dy, uint ow,
                                        EW_DROP_PARAMS) {
    uint g = get_global_id(0), i = 4u * g;
    uint4 r = drop_block(g, EW_DROP_ARGS);
    bwd_elem(dx, ds, dy, i, drop_word(r.x, drop_threshold, drop_scale), ow);
    bwd_elem(dx, ds, dy, i + 1u, drop_word(r.y, drop_threshold, drop_scale), ow);
    bwd_elem(dx, ds, dy, i + 2u, drop_word(r.z, drop_threshold, drop_scale), ow);
    bwd_elem(dx, ds, dy, i + 3u, drop_word(r.w, drop_threshold, drop_scale), ow);
}

__kernel REQD void residual_dropout_bwd_tail(__global float *dx, __global float *ds, __global const float *dy,
                                             uint start, uint n, uint ow, EW_DROP_PARAMS) {
    uint i = start + (uint)get_global_id(0);
    if (i < n) bwd_elem(dx, ds, dy, i, drop_one(i, EW_DROP_ARGS), ow);
}

/* ---- The wide kernels: 64 elements per work-item, global ceil(n / 64) rounded up to WG ---- */

/* Chunk k (floats 16k .. 16k + 15). Aligned chunks go through a vector pointer: one full-width load
 * or store (vload16 on a float pointer is split into pieces by PoCL's compiler). */
#if ALIGNED
#define LD16(p, k) (((__global const float16 *)(p))[k])
#define ST16(v, p, k) (((__global float16 *)(p))[k] = (v))
#else
#define LD16(p, k) vload16(k, p)
#define ST16(v, p, k) vstore16(v, k, p)
#endif

/* The multipliers of the 64 elements of work-item g, in order (f[u] lane j: element 64g + 16u + j). */
ALWAYS void drop_wide(float16 *f, uint g, EW_DROP_PARAMS) {
#if DROP
    clf_drop64(f, mask0 + 64u * g, DROP_ARGS);
#else
    for (int u = 0; u < 4; u++) f[u] = (float16)(1.0f);
#endif
}

__kernel REQD void residual_dropout_fwd_wide(__global float *y, __global const float *x, __global const float *s,
                                             uint n, EW_DROP_PARAMS) {
    uint g = get_global_id(0);
    size_t i = 64 * (size_t)g;
    float16 f[4];
    drop_wide(f, g, EW_DROP_ARGS);
    if (i + 64 <= n) {
        for (int u = 0; u < 4; u++) {
            uint k = 4u * g + (uint)u;
#if ACC
            ST16(LD16(x, k) + LD16(s, k) * f[u], y, k);
#else
            ST16(LD16(s, k) * f[u], y, k);
#endif
        }
    } else if (i < n) {
        const float *m = (const float *)f;
        for (uint j = 0; i + j < n; j++) fwd_elem(y, x, s, (uint)i + j, m[j]);
    }
}

/* Chunk k of a gradient before the add (bwd_old for 16 floats). */
ALWAYS float16 bwd_old16(__global const float *p, uint k, uint fresh) { return fresh ? (float16)(0.0f) : LD16(p, k); }

__kernel REQD void residual_dropout_bwd_wide(__global float *dx, __global float *ds, __global const float *dy,
                                             uint n, uint ow, EW_DROP_PARAMS) {
    uint g = get_global_id(0);
    size_t i = 64 * (size_t)g;
    float16 f[4];
    drop_wide(f, g, EW_DROP_ARGS);
    if (i + 64 <= n) {
        for (int u = 0; u < 4; u++) {
            uint k = 4u * g + (uint)u;
            float16 v = LD16(dy, k);
#if ACC
            ST16(bwd_old16(dx, k, ow & OW_DX) + v, dx, k);
#endif
            ST16(bwd_old16(ds, k, ow & OW_DS) + v * f[u], ds, k);
        }
    } else if (i < n) {
        const float *m = (const float *)f;
        for (uint j = 0; i + j < n; j++) bwd_elem(dx, ds, dy, (uint)i + j, m[j], ow);
    }
}

/* ---- dst += alpha * src (axpy), dst = alpha * src (scale) ---- */

ALWAYS void axpy_elem(__global float *dst, __global const float *src, uint i, float alpha) {
    dst[i] += alpha * src[i];
}
ALWAYS void scale_elem(__global float *dst, __global const float *src, uint i, float alpha) {
    dst[i] = alpha * src[i];
}

#define BINARY_KERNELS(op)                                                                              \
    __kernel REQD void op##_f32(__global float *dst, __global const float *src, float alpha) {          \
        uint i = 4u * (uint)get_global_id(0);                                                           \
        op##_elem(dst, src, i, alpha);                                                                  \
        op##_elem(dst, src, i + 1u, alpha);                                                             \
        op##_elem(dst, src, i + 2u, alpha);                                                             \
        op##_elem(dst, src, i + 3u, alpha);                                                             \
    }                                                                                                   \
    __kernel REQD void op##_f32_tail(__global float *dst, __global const float *src, uint start, uint n, \
                                     float alpha) {                                                     \
        uint i = start + (uint)get_global_id(0);                                                        \
        if (i < n) op##_elem(dst, src, i, alpha);                                                       \
    }

BINARY_KERNELS(axpy)
BINARY_KERNELS(scale)
