/* LayerNorm over the last dimension, in chunks of VW floats (float16 on AVX-512 CPUs), and the same
 * fused with the residual add before it (sum = x + drop(s), y = LN(sum)). WG work-items share a row
 * (WG = 1 on CPUs: one item per row, whose chunk loops are the vectors), taking its chunks in turn;
 * partial sums meet in a tree in local memory (pairwise, so accurate at large d).
 * Each pass reads a row from memory once: the forward's later looks at it find it in the cache, and
 * the backward updates a row in the same loop that reads the next one. The backward's groups own
 * ROWS rows each and leave per-group column partials of dgamma and dbeta, gathered row by row in the
 * group's own slice of the workspace (which stays in the cache), then summed in group order by a
 * second kernel: no atomics anywhere. Row counts and the fused kernels' choices are arguments, so one
 * build serves every shape. */
#include "common.cl"

/* g - mean(g) must cancel exactly where it should (d = 1 gives dx = 0): a fused g = dy * gamma in one
 * place and a rounded one in the other would not. The residual add must also round as
 * cl/elementwise.cl rounds it (x + s * m, no contraction). */
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG
#define WG 64 /* a power of two */
#endif
#ifndef ROWS
#define ROWS 32 /* rows per work-group in the backward: one dgamma/dbeta partial per group */
#endif
#ifndef VW
#define VW 16 /* floats per chunk: 8 or 16 */
#endif
#ifndef ALIGNED
#define ALIGNED 0 /* 1: d % VW == 0 and buffers start on a chunk boundary, so whole chunks are aligned */
#endif
#if VW == 16
#define floatV float16
#define intV int16
#define VLOAD vload16
#define VSTORE vstore16
#define LANES ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#else
#define floatV float8
#define intV int8
#define VLOAD vload8
#define VSTORE vstore8
#define LANES ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#endif

#define ALWAYS inline __attribute__((always_inline))

/* Whole chunk k of p. Aligned chunks go through a vector pointer, which compiles to one full-width
 * load or store (vload16 on a float pointer is split into pieces by PoCL's compiler). */
#if ALIGNED
#define LD_FULL(p, k) (((__global const floatV *)(p))[k])
#define ST_FULL(v, p, k) (((__global floatV *)(p))[k] = (v))
#else
#define LD_FULL(p, k) VLOAD(k, p)
#define ST_FULL(v, p, k) VSTORE(v, k, p)
#endif

/* Chunk k of a row: floats VW k .. VW k + VW - 1; those at or past d read as 0 and are never written. */
ALWAYS floatV ln_load(__global const float *p, int k, int d) {
    if (VW * k + VW <= d) return LD_FULL(p, k);
    float v[VW];
    for (int j = 0; j < VW; j++) v[j] = VW * k + j < d ? p[VW * k + j] : 0.0f;
    return VLOAD(0, v);
}

ALWAYS void ln_store(floatV v, __global float *p, int k, int d) {
    if (VW * k + VW <= d) {
        ST_FULL(v, p, k);
        return;
    }
    float t[VW];
    VSTORE(v, 0, t);
    for (int j = 0; VW * k + j < d; j++) p[VW * k + j] = t[j];
}

/* What chunk k of a gradient holds before the backward adds to it: fresh (its first writer, the
 * overwrite bits) reads nothing, and 0 + t stores bit for bit what a zero fill and += would. */
#define OW_DX 1
#define OW_DS 2
ALWAYS floatV ln_old(__global const float *p, int k, int d, int fresh) {
    return fresh ? (floatV)(0.0f) : ln_load(p, k, d);
}

/* One compensated step: *s += v, with *c gathering what each addition lost (common.cl's two-sum). */
ALWAYS void ln_kahan(floatV *s, floatV *c, floatV v) { CLF_TWO_SUM_STEP(floatV, *s, *c, v); }

/* base + (s + c) with the addition's own error (Knuth's two-sum) kept, rounded once at the end. */
ALWAYS floatV add_compensated(floatV base, floatV s, floatV c) {
    floatV t = base + s, sv = t - base, bv = t - sv;
    floatV err = (base - bv) + (s - sv);
    return t + (err + c);
}

/* v with its lanes at or past d set to 0. */
ALWAYS floatV ln_valid(floatV v, int k, int d) {
    if (VW * k + VW <= d) return v;
    intV col = LANES + VW * k;
    return select((floatV)(0.0f), v, col < d);
}

ALWAYS float ln_hsum(floatV v) {
#if VW == 16
    float8 h = v.lo + v.hi;
    float4 a = h.lo + h.hi;
#else
    float4 a = v.lo + v.hi;
#endif
    float2 b = a.lo + a.hi;
    return b.x + b.y;
}

/* The work-group's sum of v, returned to every item. */
ALWAYS float2 ln_wg_sum(__local float2 *s, float2 v) {
    if (WG == 1) return v;
    int l = get_local_id(0);
    s[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int o = WG / 2; o > 0; o >>= 1) {
        if (l < o) s[l] += s[l + o];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float2 r = s[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* Dropout multipliers, as common.cl's clf_dropout_keep decides them, so the mask is the residual
 * kernel's bit for bit. An item walking its row's chunks in order (WG 1, the CPU launch) computes them
 * 64 elements at a time with one 16-lane Philox call for their 16 blocks (when the 64 do not start a
 * block, d % 4 != 0: one block per element): the first LN_DROP_AHEAD floats of a row before the
 * row's loop, in a loop of independent calls the processor overlaps (inside the row's loop their
 * latency showed), the rest at every 64th float. Other launches: per chunk, from a block boundary one
 * block per four elements, else element by element. Only called with dropout on. */
#ifndef LN_DROP_AHEAD
#define LN_DROP_AHEAD 1024 /* a multiple of 64 */
#endif
#if WG == 1
#define LN_DROP_FLOATS (LN_DROP_AHEAD + 64) /* ahead, then a window of 64 */
#else
#define LN_DROP_FLOATS 1
#endif

/* The multipliers of the 64 elements from mask index e into f. */
ALWAYS void ln_drop64(float *f, uint e, DROP_PARAMS) {
    float16 *v = (float16 *)f;
    if ((e & 3u) == 0u) {
        clf_drop64(v, e, DROP_ARGS);
    } else {
        const uint16 lanes = (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int u = 0; u < 4; u++) v[u] = clf_drop16(e + 16u * (uint)u + lanes, DROP_ARGS);
    }
}

/* Before a row's loop: the multipliers ahead for the row from mask index i0 (WG 1). */
ALWAYS void ln_drop_row(float *dc, uint i0, int d, DROP_PARAMS) {
#if WG == 1
    for (int c = 0; c < min(d, LN_DROP_AHEAD); c += 64) ln_drop64(dc + c, i0 + (uint)c, DROP_ARGS);
#endif
}

/* The multipliers of chunk k of that row. */
ALWAYS floatV ln_drop(float *dc, uint i0, int k, DROP_PARAMS) {
#if WG == 1
    int c = VW * k;
    if (c < LN_DROP_AHEAD) return VLOAD(0, dc + c);
    if (c % 64 == 0) ln_drop64(dc + LN_DROP_AHEAD, i0 + (uint)c, DROP_ARGS);
    return VLOAD(0, dc + LN_DROP_AHEAD + c % 64);
#else
    float f[VW];
    uint i = i0 + (uint)(VW * k);
    if ((i & 3u) == 0u) {
        for (int j = 0; j < VW; j += 4) {
            uint4 w = philox4x32_10((uint4)((i >> 2) + (uint)(j >> 2), drop_site, drop_step, 0u),
                                    (uint2)(seed_lo, seed_hi));
            vstore4(clf_keep4(w, drop_threshold, drop_scale), 0, f + j);
        }
    } else {
        for (int j = 0; j < VW; j++) f[j] = DROP_FACTOR(i + (uint)j);
    }
    return VLOAD(0, f);
#endif
}

/* One row whose first pass is done: a holds the item's share of sum(x). Corrected two-pass
 * statistics: the second pass sums (x - m) as well as its square, which removes the first pass's
 * rounding from both mean and variance; x is in the cache by now. */
ALWAYS void ln_fwd_finish(__local float2 *s, floatV a, __global float *yr, __global float *mean,
                          __global float *rstd, __global const float *xr, __global const float *gamma,
                          __global const float *beta, int r, int d, float eps) {
    int chunks = (d + VW - 1) / VW;
    float m0 = ln_wg_sum(s, (float2)(ln_hsum(a), 0.0f)).x / d;
    floatV q1 = (floatV)(0.0f), q2 = (floatV)(0.0f);
    for (int k = get_local_id(0); k < chunks; k += WG) {
        floatV t = ln_valid(ln_load(xr, k, d) - m0, k, d);
        q1 += t;
        q2 += t * t;
    }
    float2 q = ln_wg_sum(s, (float2)(ln_hsum(q1), ln_hsum(q2)));
    float dm = q.x / d, m = m0 + dm;
    float var = fmax(q.y / d - dm * dm, 0.0f);
    float rs = 1.0f / sqrt(var + eps);
    for (int k = get_local_id(0); k < chunks; k += WG) {
        floatV xh = (ln_load(xr, k, d) - m) * rs;
        ln_store(ln_load(gamma, k, d) * xh + ln_load(beta, k, d), yr, k, d);
    }
    if (get_local_id(0) == 0) {
        mean[r] = m;
        rstd[r] = rs;
    }
}

/* Rows frows g .. frows g + frows - 1 in turn. global (WG, ceil(n / frows)), local (WG, 1). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void layernorm_fwd(__global float *y /* [n, d] */, __global float *mean /* [n] */, __global float *rstd /* [n] */,
                   __global const float *x /* [n, d] */, __global const float *gamma /* [d] */,
                   __global const float *beta /* [d] */, int n, int d, float eps, int frows) {
    __local float2 s[WG];
    int r0 = get_group_id(1) * frows, r1 = min(r0 + frows, n);
    for (int r = r0; r < r1; r++) { /* uniform over the group */
        __global const float *xr = x + (size_t)r * d;
        floatV a = (floatV)(0.0f);
        for (int k = get_local_id(0); k < (d + VW - 1) / VW; k += WG) a += ln_load(xr, k, d);
        ln_fwd_finish(s, a, y + (size_t)r * d, mean, rstd, xr, gamma, beta, r, d, eps);
    }
}

/* sum = x + drop(s) (has_x; else drop(s)), rounded as residual_dropout_fwd rounds it, then
 * y = LN(sum). The mask index of element (r, c) is r d + c. Same launch as layernorm_fwd; x is not
 * read without has_x (any buffer may be passed). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void add_layernorm_fwd(__global float *y /* [n, d] */, __global float *sum /* [n, d] */,
                       __global float *mean /* [n] */, __global float *rstd /* [n] */,
                       __global const float *x /* [n, d] */, __global const float *sl /* [n, d] */,
                       __global const float *gamma /* [d] */, __global const float *beta /* [d] */, int n, int d,
                       float eps, int frows, int has_x, DROP_PARAMS) {
    __local float2 s[WG];
    int r0 = get_group_id(1) * frows, r1 = min(r0 + frows, n);
    for (int r = r0; r < r1; r++) {
        size_t off = (size_t)r * d;
        floatV a = (floatV)(0.0f);
        float16 dcv[LN_DROP_FLOATS / 16 + 1]; /* ln_drop's multipliers, float16-aligned */
        float *dc = (float *)dcv;
        if (drop_threshold) ln_drop_row(dc, (uint)off, d, DROP_ARGS);
        /* each item reads back only the chunks it writes here: no barrier */
        for (int k = get_local_id(0); k < (d + VW - 1) / VW; k += WG) {
            floatV v = ln_load(sl + off, k, d);
            if (drop_threshold) v *= ln_drop(dc, (uint)off, k, DROP_ARGS); /* s * 1 is s */
            if (has_x) v = ln_load(x + off, k, d) + v;
            ln_store(v, sum + off, k, d);
            a += v; /* lanes past d: 0 + 0 * m */
        }
        ln_fwd_finish(s, a, y + off, mean, rstd, sum + off, gamma, beta, r, d, eps);
    }
}

/* Row r's statistics: mean, rstd, mean(g), mean(g * xhat) with g = dy * gamma, from the sums a1, a2
 * of g and g * xhat over the item's chunks. */
ALWAYS float4 ln_bwd_stats(__local float2 *s, floatV a1, floatV a2, float m, float rs, int d) {
    float2 mg = ln_wg_sum(s, (float2)(ln_hsum(a1), ln_hsum(a2))) / (float)d;
    return (float4)(m, rs, mg.x, mg.y);
}

/* The item's share of row r's sums of g and g * xhat at chunk k (gk: gamma there). */
#define LN_BWD_SUMS(r, k, gk, a1, a2)                                                                   \
    do {                                                                                                \
        size_t o_ = (size_t)(r) * d;                                                                    \
        floatV gy_ = ln_load(dy + o_, k, d) * gk;                                                       \
        a1 += gy_;                                                                                      \
        a2 += gy_ * ((ln_load(x + o_, k, d) - mean[r]) * rstd[r]);                                      \
    } while (0)

/* The backward of the ROWS rows of group g, row by row, in one loop over the chunks per row: row r's
 * update, t = rstd (g - mean(g) - xhat mean(g * xhat)), with its dy and x found in the cache, and the
 * sums that give row r + 1's statistics, whose dy and x come from memory alongside r's dx: one trip
 * per row, two streams in flight. The compensated column sums of dy * xhat and dy are carried from
 * row to row in the group's partials part[g] = (sums, compensations), which this item alone touches
 * at its chunks. Then plain: dx += t; fused: t += dsum (has_dsum), dx += t (has_dx), ds += drop(t).
 * Lanes past d load dy = 0, so they add nothing. ow (uniform): bit 0 stores dx, bit 1 ds, unread. */
ALWAYS void ln_bwd_group(const int fused, __local float2 *s, __global float *dx, __global float *ds, __global float *part,
                         __global const float *dy, __global const float *dsum, __global const float *x,
                         __global const float *mean, __global const float *rstd, __global const float *gamma,
                         int n, int d, int has_dx, int has_dsum, int ow, DROP_PARAMS) {
    int l = get_local_id(0), g = get_group_id(1), chunks = (d + VW - 1) / VW;
    int r0 = g * ROWS, r1 = min(r0 + ROWS, n);
    __global float *pg = part + (size_t)g * 4 * d, *pb = pg + d, *cg = pb + d, *cb = cg + d;
    floatV a1 = (floatV)(0.0f), a2 = (floatV)(0.0f);
    for (int k = l; k < chunks; k += WG) LN_BWD_SUMS(r0, k, ln_load(gamma, k, d), a1, a2);
    float4 st = ln_bwd_stats(s, a1, a2, mean[r0], rstd[r0], d);
    for (int r = r0; r < r1; r++) { /* uniform over the group */
        size_t off = (size_t)r * d;
        int next = r + 1 < r1;
        a1 = a2 = (floatV)(0.0f);
        float16 dcv[LN_DROP_FLOATS / 16 + 1]; /* ln_drop's multipliers, float16-aligned */
        float *dc = (float *)dcv;
        if (fused && drop_threshold) ln_drop_row(dc, (uint)off, d, DROP_ARGS);
        for (int k = l; k < chunks; k += WG) {
            floatV sg, sb, eg, eb, gk = ln_load(gamma, k, d);
            if (next) LN_BWD_SUMS(r + 1, k, gk, a1, a2);
            if (r == r0) {
                sg = sb = eg = eb = (floatV)(0.0f);
            } else {
                sg = ln_load(pg, k, d), sb = ln_load(pb, k, d), eg = ln_load(cg, k, d), eb = ln_load(cb, k, d);
            }
            floatV dyk = ln_load(dy + off, k, d), xh = (ln_load(x + off, k, d) - st.x) * st.y;
            floatV t = st.y * (dyk * gk - st.z - xh * st.w);
            if (!fused) {
                ln_store(ln_old(dx + off, k, d, ow & OW_DX) + t, dx + off, k, d);
            } else {
                if (has_dsum) t += ln_load(dsum + off, k, d);
                if (has_dx) ln_store(ln_old(dx + off, k, d, ow & OW_DX) + t, dx + off, k, d);
                if (drop_threshold) t *= ln_drop(dc, (uint)off, k, DROP_ARGS);
                ln_store(ln_old(ds + off, k, d, ow & OW_DS) + t, ds + off, k, d);
            }
            ln_kahan(&sg, &eg, dyk * xh);
            ln_kahan(&sb, &eb, dyk);
            ln_store(sg, pg, k, d);
            ln_store(sb, pb, k, d);
            ln_store(eg, cg, k, d);
            ln_store(eb, cb, k, d);
        }
        if (next) st = ln_bwd_stats(s, a1, a2, mean[r + 1], rstd[r + 1], d);
    }
}

/* dx += rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma (ow 1: dx = ..., unread);
 * part[group] = per-column (sum dy * xhat, sum dy) over the group's rows, with compensations.
 * global (WG, groups), local (WG, 1). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void layernorm_bwd_dx(__global float *dx /* [n, d] */, __global float *part /* [groups, 4, d] */,
                      __global const float *dy /* [n, d] */, __global const float *x /* [n, d] */,
                      __global const float *mean /* [n] */, __global const float *rstd /* [n] */,
                      __global const float *gamma /* [d] */, int n, int d, int ow) {
    __local float2 s[WG];
    ln_bwd_group(0, s, dx, dx, part, dy, dy, x, mean, rstd, gamma, n, d, 1, 0, ow, 0u, 0u, 0u, 0u, 0u, 1.0f);
}

/* The fused backward: t = LN'(dy) + dsum (has_dsum), dx += t (has_dx), ds += drop(t), with the mask
 * of add_layernorm_fwd (ow bit 0: dx = t, bit 1: ds = drop(t), unread); sum is the forward's. dsum and dx are not touched without their flags (any
 * buffer may be passed). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void add_layernorm_bwd_dx(__global float *dx /* [n, d] */, __global float *ds /* [n, d] */,
                          __global float *part /* [groups, 4, d] */, __global const float *dy /* [n, d] */,
                          __global const float *dsum /* [n, d] */, __global const float *sum /* [n, d] */,
                          __global const float *mean /* [n] */, __global const float *rstd /* [n] */,
                          __global const float *gamma /* [d] */, int n, int d, int has_dx, int has_dsum, int ow,
                          DROP_PARAMS) {
    __local float2 s[WG];
    ln_bwd_group(1, s, dx, ds, part, dy, dsum, sum, mean, rstd, gamma, n, d, has_dx, has_dsum, ow, DROP_ARGS);
}

/* dgamma += the partials' first halves, dbeta += their second halves, summed in group order. One
 * item per chunk of columns: global (ceil(d / VW)). */
__kernel void layernorm_bwd_dgamma(__global float *dgamma /* [d] */, __global float *dbeta /* [d] */,
                                   __global const float *part /* [groups, 4, d] */, int groups, int d) {
    int k = get_global_id(0);
    if (k >= (d + VW - 1) / VW) return;
    floatV sg = (floatV)(0.0f), sb = (floatV)(0.0f), eg = (floatV)(0.0f), eb = (floatV)(0.0f);
    for (int g = 0; g < groups; g++) {
        __global const float *pg = part + (size_t)g * 4 * d, *pb = pg + d, *cg = pb + d, *cb = cg + d;
        ln_kahan(&sg, &eg, ln_load(pg, k, d));
        ln_kahan(&sb, &eb, ln_load(pb, k, d));
        eg += ln_load(cg, k, d);
        eb += ln_load(cb, k, d);
    }
    ln_store(add_compensated(ln_load(dgamma, k, d), sg, eg), dgamma, k, d);
    ln_store(add_compensated(ln_load(dbeta, k, d), sb, eb), dbeta, k, d);
}
