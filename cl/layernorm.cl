/* LayerNorm over the last dimension. WG work-items share a row (WG = 1 on CPUs: one item per row,
 * whose float8 loops are the vectors), taking its float8 chunks in turn; partial sums meet in a tree
 * in local memory (pairwise, so accurate at large d). The backward also leaves per-group column
 * partials of dgamma and dbeta, summed in group order by a second kernel: no atomics anywhere. */
#include "common.cl"

/* g - mean(g) must cancel exactly where it should (d = 1 gives dx = 0): a fused g = dy * gamma in one
 * place and a rounded one in the other would not. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG
#define WG 64 /* a power of two */
#endif
#ifndef ROWS
#define ROWS 16 /* rows per work-group in the backward: one dgamma/dbeta partial per group */
#endif

/* Chunk k of a row: floats 8k .. 8k+7; those at or past d read as 0 and are never written. */
inline float8 ln_load(__global const float *p, int k, int d) {
    if (8 * k + 8 <= d) return vload8(k, p);
    float v[8];
    for (int j = 0; j < 8; j++) v[j] = 8 * k + j < d ? p[8 * k + j] : 0.0f;
    return vload8(0, v);
}

inline void ln_store(float8 v, __global float *p, int k, int d) {
    if (8 * k + 8 <= d) {
        vstore8(v, k, p);
        return;
    }
    float t[8];
    vstore8(v, 0, t);
    for (int j = 0; 8 * k + j < d; j++) p[8 * k + j] = t[j];
}

/* One compensated step (Kahan-Babuska / Neumaier): *s += v, with *c gathering the low-order parts
 * each addition lost, so the sum is *s + *c and its error is about one rounding of the result even
 * when the terms cancel (plain Kahan's bound grows with the terms instead). Needs FP_CONTRACT OFF,
 * which this file sets. */
inline void kahan8(float8 *s, float8 *c, float8 v) {
    float8 t = *s + v;
    *c += select((v - t) + *s, (*s - t) + v, isgreaterequal(fabs(*s), fabs(v)));
    *s = t;
}

/* base + (s + c) with the addition's own error (Knuth's two-sum) kept, rounded once at the end. */
inline float8 add_compensated(float8 base, float8 s, float8 c) {
    float8 t = base + s, sv = t - base, bv = t - sv;
    float8 err = (base - bv) + (s - sv);
    return t + (err + c);
}

/* The same on a float8 chunk of a sum and its compensation held in global memory. */
inline void ln_kahan_add(__global float *sum, __global float *comp, int k, int d, float8 v) {
    float8 s = ln_load(sum, k, d), c = ln_load(comp, k, d);
    kahan8(&s, &c, v);
    ln_store(s, sum, k, d);
    ln_store(c, comp, k, d);
}

/* v with its lanes at or past d set to 0. */
inline float8 ln_valid(float8 v, int k, int d) {
    if (8 * k + 8 <= d) return v;
    int8 col = (int8)(0, 1, 2, 3, 4, 5, 6, 7) + 8 * k;
    return select((float8)(0.0f), v, col < d);
}

inline float ln_hsum(float8 v) {
    float4 a = v.lo + v.hi;
    float2 b = a.lo + a.hi;
    return b.x + b.y;
}

/* The work-group's sum of v, returned to every item. */
inline float2 ln_wg_sum(__local float2 *s, float2 v) {
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

/* global (WG, n), local (WG, 1). Corrected two-pass statistics: the second pass sums (x - m) as
 * well as its square, which removes the first pass's rounding from both mean and variance. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void layernorm_fwd(__global float *y /* [n, d] */, __global float *mean /* [n] */, __global float *rstd /* [n] */,
                   __global const float *x /* [n, d] */, __global const float *gamma /* [d] */,
                   __global const float *beta /* [d] */, int n, int d, float eps) {
    __local float2 s[WG];
    int l = get_local_id(0), r = get_group_id(1), chunks = (d + 7) / 8;
    if (r >= n) return; /* uniform over the group */
    __global const float *xr = x + (size_t)r * d;
    __global float *yr = y + (size_t)r * d;

    float8 a = (float8)(0.0f);
    for (int k = l; k < chunks; k += WG) a += ln_load(xr, k, d);
    float m0 = ln_wg_sum(s, (float2)(ln_hsum(a), 0.0f)).x / d;

    float8 q1 = (float8)(0.0f), q2 = (float8)(0.0f);
    for (int k = l; k < chunks; k += WG) {
        float8 t = ln_valid(ln_load(xr, k, d) - m0, k, d);
        q1 += t;
        q2 += t * t;
    }
    float2 q = ln_wg_sum(s, (float2)(ln_hsum(q1), ln_hsum(q2)));
    float dm = q.x / d, m = m0 + dm;
    float var = fmax(q.y / d - dm * dm, 0.0f);
    float rs = 1.0f / sqrt(var + eps);

    for (int k = l; k < chunks; k += WG) {
        float8 xh = (ln_load(xr, k, d) - m) * rs;
        ln_store(ln_load(gamma, k, d) * xh + ln_load(beta, k, d), yr, k, d);
    }
    if (l == 0) {
        mean[r] = m;
        rstd[r] = rs;
    }
}

/* dx += rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma, for the ROWS rows of this
 * group; part[group] = (sum dy * xhat, sum dy) over those rows, per column. Each item owns its chunks
 * of the partial, so no two items touch one element. global (WG, groups), local (WG, 1). Lanes past d
 * load dy = 0, so they add nothing. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void layernorm_bwd_dx(__global float *dx /* [n, d] */, __global float *part /* [groups, 4, d] */,
                      __global const float *dy /* [n, d] */, __global const float *x /* [n, d] */,
                      __global const float *mean /* [n] */, __global const float *rstd /* [n] */,
                      __global const float *gamma /* [d] */, int n, int d) {
    __local float2 s[WG];
    int l = get_local_id(0), g = get_group_id(1), chunks = (d + 7) / 8;
    int r0 = g * ROWS, r1 = min(r0 + ROWS, n);
    /* column sums of a group, with compensations (kahan8): a sum whose terms cancel keeps the accuracy
     * of its result, not of its terms */
    __global float *pg = part + (size_t)g * 4 * d, *pb = pg + d, *cg = pb + d, *cb = cg + d;
    for (int k = l; k < chunks; k += WG) {
        ln_store((float8)(0.0f), pg, k, d);
        ln_store((float8)(0.0f), pb, k, d);
        ln_store((float8)(0.0f), cg, k, d);
        ln_store((float8)(0.0f), cb, k, d);
    }

    for (int r = r0; r < r1; r++) {
        __global const float *xr = x + (size_t)r * d, *dyr = dy + (size_t)r * d;
        __global float *dxr = dx + (size_t)r * d;
        float m = mean[r], rs = rstd[r];
        float8 a1 = (float8)(0.0f), a2 = (float8)(0.0f);
        for (int k = l; k < chunks; k += WG) {
            float8 xh = (ln_load(xr, k, d) - m) * rs, dyk = ln_load(dyr, k, d);
            float8 gy = dyk * ln_load(gamma, k, d);
            a1 += gy;
            a2 += gy * xh;
            ln_kahan_add(pg, cg, k, d, dyk * xh);
            ln_kahan_add(pb, cb, k, d, dyk);
        }
        float2 mg = ln_wg_sum(s, (float2)(ln_hsum(a1), ln_hsum(a2))) / (float)d;
        for (int k = l; k < chunks; k += WG) {
            float8 xh = (ln_load(xr, k, d) - m) * rs;
            float8 gy = ln_load(dyr, k, d) * ln_load(gamma, k, d);
            ln_store(ln_load(dxr, k, d) + rs * (gy - mg.x - xh * mg.y), dxr, k, d);
        }
    }
}

/* dgamma += the partials' first halves, dbeta += their second halves, summed in group order. One
 * item per float8 chunk of columns: global (ceil(d / 8)). */
__kernel void layernorm_bwd_dgamma(__global float *dgamma /* [d] */, __global float *dbeta /* [d] */,
                                   __global const float *part /* [groups, 4, d] */, int groups, int d) {
    int k = get_global_id(0);
    if (k >= (d + 7) / 8) return;
    float8 sg = (float8)(0.0f), sb = (float8)(0.0f), eg = (float8)(0.0f), eb = (float8)(0.0f);
    for (int g = 0; g < groups; g++) {
        __global const float *pg = part + (size_t)g * 4 * d, *pb = pg + d, *cg = pb + d, *cb = cg + d;
        kahan8(&sg, &eg, ln_load(pg, k, d));
        kahan8(&sb, &eb, ln_load(pb, k, d));
        eg += ln_load(cg, k, d);
        eb += ln_load(cb, k, d);
    }
    ln_store(add_compensated(ln_load(dgamma, k, d), sg, eg), dgamma, k, d);
    ln_store(add_compensated(ln_load(dbeta, k, d), sb, eb), dbeta, k, d);
}
