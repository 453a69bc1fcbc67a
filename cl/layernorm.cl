/* LayerNorm over the last dimension, in chunks of VW floats (float16 on AVX-512 CPUs). WG work-items
 * share a row (WG = 1 on CPUs: one item per row, whose chunk loops are the vectors), taking its chunks
 * in turn; partial sums meet in a tree in local memory (pairwise, so accurate at large d). The
 * backward's groups own ROWS rows each and leave per-group column partials of dgamma and dbeta, held
 * in registers while a group walks down its rows, then summed in group order by a second kernel: no
 * atomics anywhere. */
#include "common.cl"

/* g - mean(g) must cancel exactly where it should (d = 1 gives dx = 0): a fused g = dy * gamma in one
 * place and a rounded one in the other would not. */
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
#ifndef FROWS
#define FROWS 1 /* rows per work-group in the forward, taken in turn (more on CPUs, where a group is dear) */
#endif

/* Chunk k of a row: floats VW k .. VW k + VW - 1; those at or past d read as 0 and are never written. */
inline floatV ln_load(__global const float *p, int k, int d) {
    if (VW * k + VW <= d) return VLOAD(k, p);
    float v[VW];
    for (int j = 0; j < VW; j++) v[j] = VW * k + j < d ? p[VW * k + j] : 0.0f;
    return VLOAD(0, v);
}

inline void ln_store(floatV v, __global float *p, int k, int d) {
    if (VW * k + VW <= d) {
        VSTORE(v, k, p);
        return;
    }
    float t[VW];
    VSTORE(v, 0, t);
    for (int j = 0; VW * k + j < d; j++) p[VW * k + j] = t[j];
}

/* One compensated step: *s += v, with *c gathering what each addition lost, exactly (Knuth's
 * two-sum: no branch, no magnitude test), so the sum is *s + *c and its error is about one rounding of
 * the result even when the terms cancel. Needs FP_CONTRACT OFF, which this file sets. */
inline void ln_kahan(floatV *s, floatV *c, floatV v) {
    floatV t = *s + v, vv = t - *s;
    *c += (*s - (t - vv)) + (v - vv);
    *s = t;
}

/* base + (s + c) with the addition's own error (Knuth's two-sum) kept, rounded once at the end. */
inline floatV add_compensated(floatV base, floatV s, floatV c) {
    floatV t = base + s, sv = t - base, bv = t - sv;
    floatV err = (base - bv) + (s - sv);
    return t + (err + c);
}

/* v with its lanes at or past d set to 0. */
inline floatV ln_valid(floatV v, int k, int d) {
    if (VW * k + VW <= d) return v;
    intV col = LANES + VW * k;
    return select((floatV)(0.0f), v, col < d);
}

inline float ln_hsum(floatV v) {
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

/* One row. Corrected two-pass statistics: the second pass sums (x - m) as well as its square, which
 * removes the first pass's rounding from both mean and variance. */
inline void ln_fwd_row(__local float2 *s, __global float *yr, __global float *mean, __global float *rstd,
                       __global const float *xr, __global const float *gamma, __global const float *beta, int r,
                       int d, float eps) {
    int l = get_local_id(0), chunks = (d + VW - 1) / VW;
    floatV a = (floatV)(0.0f);
    for (int k = l; k < chunks; k += WG) a += ln_load(xr, k, d);
    float m0 = ln_wg_sum(s, (float2)(ln_hsum(a), 0.0f)).x / d;

    floatV q1 = (floatV)(0.0f), q2 = (floatV)(0.0f);
    for (int k = l; k < chunks; k += WG) {
        floatV t = ln_valid(ln_load(xr, k, d) - m0, k, d);
        q1 += t;
        q2 += t * t;
    }
    float2 q = ln_wg_sum(s, (float2)(ln_hsum(q1), ln_hsum(q2)));
    float dm = q.x / d, m = m0 + dm;
    float var = fmax(q.y / d - dm * dm, 0.0f);
    float rs = 1.0f / sqrt(var + eps);

    for (int k = l; k < chunks; k += WG) {
        floatV xh = (ln_load(xr, k, d) - m) * rs;
        ln_store(ln_load(gamma, k, d) * xh + ln_load(beta, k, d), yr, k, d);
    }
    if (l == 0) {
        mean[r] = m;
        rstd[r] = rs;
    }
}

/* Rows FROWS*g .. FROWS*g+FROWS-1 in turn. global (WG, ceil(n / FROWS)), local (WG, 1). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void layernorm_fwd(__global float *y /* [n, d] */, __global float *mean /* [n] */, __global float *rstd /* [n] */,
                   __global const float *x /* [n, d] */, __global const float *gamma /* [d] */,
                   __global const float *beta /* [d] */, int n, int d, float eps) {
    __local float2 s[WG];
    int r0 = get_group_id(1) * FROWS, r1 = min(r0 + FROWS, n);
    for (int r = r0; r < r1; r++) /* uniform over the group */
        ln_fwd_row(s, y + (size_t)r * d, mean, rstd, x + (size_t)r * d, gamma, beta, r, d, eps);
}

/* The backward's rows, down chunk k of the columns: dx updated, the column sums gathered in sg/eg
 * and sb/eb. LD(p) / ST(v, p) load and store chunk k of row p; a macro, so that full chunks run with
 * no bounds test in the loop. */
#define LN_BWD_COLUMN(LD, ST)                                                                           \
    do {                                                                                                \
        floatV gk = LD(gamma);                                                                          \
        for (int i = 0; i < rows; i++) {                                                                \
            size_t off = (size_t)(r0 + i) * d;                                                          \
            float4 t = st[i];                                                                           \
            floatV dyk = LD(dy + off), xh = (LD(x + off) - t.x) * t.y;                                  \
            ST(LD(dx + off) + t.y * (dyk * gk - t.z - xh * t.w), dx + off);                             \
            ln_kahan(&sg, &eg, dyk * xh);                                                               \
            ln_kahan(&sb, &eb, dyk);                                                                    \
        }                                                                                               \
    } while (0)
#define LN_LD_FULL(p) VLOAD(k, p)
#define LN_ST_FULL(v, p) VSTORE(v, k, p)
#define LN_LD_TAIL(p) ln_load(p, k, d)
#define LN_ST_TAIL(v, p) ln_store(v, p, k, d)

/* dx += rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma, for the ROWS rows of this
 * group; part[group] = (sum dy * xhat, sum dy) over those rows, per column, with compensations.
 * Two phases: the rows' statistics first (kept in private memory), then the columns, chunk by chunk
 * down the group's rows, so a chunk's compensated sums live in registers rather than in global memory
 * (the rows, a few tens of KiB, are still in cache for the second look). Each item owns its chunks, so
 * no two items touch one element. global (WG, groups), local (WG, 1). Lanes past d load dy = 0, so
 * they add nothing. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void layernorm_bwd_dx(__global float *dx /* [n, d] */, __global float *part /* [groups, 4, d] */,
                      __global const float *dy /* [n, d] */, __global const float *x /* [n, d] */,
                      __global const float *mean /* [n] */, __global const float *rstd /* [n] */,
                      __global const float *gamma /* [d] */, int n, int d) {
    __local float2 s[WG];
    int l = get_local_id(0), g = get_group_id(1), chunks = (d + VW - 1) / VW;
    int r0 = g * ROWS, rows = min(ROWS, n - r0);
    float4 st[ROWS]; /* per row: mean, rstd, mean(g), mean(g * xhat) */
    for (int i = 0; i < rows; i++) { /* uniform over the group */
        int r = r0 + i;
        __global const float *xr = x + (size_t)r * d, *dyr = dy + (size_t)r * d;
        float m = mean[r], rs = rstd[r];
        floatV a1 = (floatV)(0.0f), a2 = (floatV)(0.0f);
        for (int k = l; k < chunks; k += WG) {
            floatV xh = (ln_load(xr, k, d) - m) * rs, gy = ln_load(dyr, k, d) * ln_load(gamma, k, d);
            a1 += gy;
            a2 += gy * xh;
        }
        float2 mg = ln_wg_sum(s, (float2)(ln_hsum(a1), ln_hsum(a2))) / (float)d;
        st[i] = (float4)(m, rs, mg.x, mg.y);
    }

    __global float *pg = part + (size_t)g * 4 * d, *pb = pg + d, *cg = pb + d, *cb = cg + d;
    for (int k = l; k < chunks; k += WG) {
        /* column sums with compensations (ln_kahan): a sum whose terms cancel keeps the accuracy of its
         * result, not of its terms */
        floatV sg = (floatV)(0.0f), sb = (floatV)(0.0f), eg = (floatV)(0.0f), eb = (floatV)(0.0f);
        if (VW * k + VW <= d) /* the bounds test out of the row loop */
            LN_BWD_COLUMN(LN_LD_FULL, LN_ST_FULL);
        else
            LN_BWD_COLUMN(LN_LD_TAIL, LN_ST_TAIL);
        ln_store(sg, pg, k, d);
        ln_store(sb, pb, k, d);
        ln_store(eg, cg, k, d);
        ln_store(eb, cb, k, d);
    }
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
