/* Fused multi-head attention (FlashAttention style), online softmax; the tq x tk scores never
 * reach global memory. Forward saves the row log-sum-exp, backward recomputes P from it. Two
 * families with one contract, in one program: for GPUs (first half) one work-item per query (or
 * key) row of one head, tiles of the other side staged in local memory, work-groups of (WG rows,
 * one (batch, head) pair); for CPUs (second half, *_cpu) register tiles. DH is the head size,
 * fixed per build so the private arrays have a known size. Launchers: src/ops/attention.c. */
#include "common.cl"

#ifndef DH
#define DH 64
#endif
#ifndef WG
#define WG 64 /* rows per work-group and per staged tile */
#endif

/* Dropout on P (DROP_PARAMS, DROP_FACTOR of common.cl): element idx = ((b*H + h)*tq + i)*tk + j. */

/* The backward kernels' ow (uniform): the gradients they store instead of add to, unread (each
 * element is written once, by one work-item, with its whole sum). 0 + v stores bit for bit what a
 * zero fill and += would. */
#define OW_DQ 1
#define OW_DK 2
#define OW_DV 4
inline float grad_old(__global const float *p, size_t at, int fresh) { return fresh ? 0.0f : p[at]; }

/* Stage rows [r0, r0 + WG) of one head of x (rows of stride d, n rows) into t[WG][DH]; rows past n
 * read as zero. Consecutive work-items read consecutive floats. Every work-item must call it. */
inline void load_tile(__local float *t, __global const float *x, int r0, int n, int d) {
    for (int e = get_local_id(0); e < WG * DH; e += WG) {
        int r = e / DH, c = e - r * DH;
        t[e] = r0 + r < n ? x[(size_t)(r0 + r) * d + c] : 0.0f;
    }
}

/* Whether key j (of n) is attendable: in range and not masked (kmask row of this batch item or NULL). */
inline int key_on(__global const int *kmask_b, int j, int n) {
    return j < n && (kmask_b == 0 || kmask_b[j] != 0);
}

/* Keys the forward and dq kernels visit: .x for the whole work-group (causal: up to its last query,
 * so every work-item reaches the same barriers), .y for query row i (none past tq). */
inline int2 key_span(int i, int tq, int tk, int causal) {
    const int last = min(tq, (int)(get_group_id(0) + 1) * WG) - 1; /* the group's last query */
    const int kend = causal ? min(tk, last + 1) : tk;
    return (int2)(kend, i >= tq ? 0 : causal ? min(kend, i + 1) : kend);
}

/* Stage key tile j0: rows of K and V of this head into ks and vs, whether each key is attendable
 * into kon. Every work-item must call it. */
inline void stage_keys(__local float *ks, __local float *vs, __local int *kon, __global const float *kb,
                       __global const float *vb, __global const int *mb, int j0, int tk, int d) {
    barrier(CLK_LOCAL_MEM_FENCE);
    load_tile(ks, kb, j0, tk, d);
    load_tile(vs, vb, j0, tk, d);
    kon[get_local_id(0)] = key_on(mb, j0 + (int)get_local_id(0), tk);
    barrier(CLK_LOCAL_MEM_FENCE);
}

/* Eight independent partial sums: a single chain of DH dependent FMAs is latency-bound on CPUs,
 * and a fixed order keeps results identical run to run. */
inline float dot_row(const float *a, __local const float *b) {
    float s[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    int c = 0;
    for (; c + 8 <= DH; c += 8)
        for (int u = 0; u < 8; u++) s[u] = fma(a[c + u], b[c + u], s[u]);
    for (; c < DH; c++) s[c & 7] = fma(a[c], b[c], s[c & 7]);
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

/* o [b, tq, d], lse [b, H, tq] (-inf for a row with no attendable key); q [b, tq, d]; k, v [b, tk, d];
 * kmask [b, tk] or NULL. Global (tq rounded up to WG, b * H). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
attention_fwd(__global float *o, __global float *lse, __global const float *q, __global const float *k,
              __global const float *v, __global const int *kmask, int heads, int tq, int tk, int causal,
              float scale, DROP_PARAMS) {
    __local float ks[WG * DH], vs[WG * DH];
    __local int kon[WG];
    const int li = get_local_id(0), i = get_group_id(0) * WG + li, bh = get_group_id(1);
    const int b = bh / heads, h = bh - b * heads, d = heads * DH;
    __global const float *kb = k + (size_t)b * tk * d + h * DH, *vb = v + (size_t)b * tk * d + h * DH;
    __global const int *mb = kmask ? kmask + (size_t)b * tk : 0;
    const size_t row = ((size_t)b * tq + i) * d + h * DH;
    float qi[DH], acc[DH];
    for (int c = 0; c < DH; c++) {
        qi[c] = i < tq ? q[row + c] : 0.0f;
        acc[c] = 0.0f;
    }
    /* m: running max of the scores; l: sum of exp(s - m) over attendable keys (undropped) */
    float m = -INFINITY, l = 0.0f;
    const int2 span = key_span(i, tq, tk, causal);
    const uint idx0 = ((uint)bh * (uint)tq + (uint)i) * (uint)tk;
    for (int j0 = 0; j0 < span.x; j0 += WG) {
        stage_keys(ks, vs, kon, kb, vb, mb, j0, tk, d);
        const int jn = min(WG, span.y - j0);
        for (int jj = 0; jj < jn; jj++) {
            if (!kon[jj]) continue;
            const float s = dot_row(qi, ks + jj * DH) * scale;
            if (s > m) { /* rescale what was summed under the old max */
                const float c = exp(m - s);
                l *= c;
                for (int e = 0; e < DH; e++) acc[e] *= c;
                m = s;
            }
            const float p = exp(s - m);
            l += p;
            const float pd = p * DROP_FACTOR(idx0 + (uint)(j0 + jj));
            for (int e = 0; e < DH; e++) acc[e] = fma(pd, vs[jj * DH + e], acc[e]);
        }
    }
    if (i >= tq) return;
    for (int c = 0; c < DH; c++) o[row + c] = l > 0.0f ? acc[c] / l : 0.0f;
    lse[(size_t)bh * tq + i] = l > 0.0f ? m + log(l) : -INFINITY;
}

/* D [b, H, tq] = rowsum(dout * o) per head, the softmax-backward term (dropout included:
 * sum_j P_ij dP_ij = dO_i . O_i). Global rows = b * H * tq. */
__kernel void attention_bwd_dot(__global float *dd, __global const float *dout, __global const float *o, int heads,
                                int tq, int rows) {
    const int r = get_global_id(0); /* (b * H + h) * tq + i */
    if (r >= rows) return;
    const size_t i = r % tq, bh = r / tq, b = bh / heads, h = bh % heads;
    const size_t row = (b * tq + i) * heads * DH + h * DH;
    float s = 0.0f;
    for (int c = 0; c < DH; c++) s = fma(dout[row + c], o[row + c], s);
    dd[r] = s;
}

/* dq [b, tq, d] += scale * sum_j dS_ij k_j (ow: =), one query row per work-item, key tiles staged.
 * dd [b, H, tq] from attention_bwd_dot. Global (tq rounded up to WG, b * H). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
attention_bwd_dq(__global float *dq, __global const float *dout, __global const float *q, __global const float *k,
                 __global const float *v, __global const float *lse, __global const float *dd,
                 __global const int *kmask, int heads, int tq, int tk, int causal, float scale, int ow,
                 DROP_PARAMS) {
    __local float ks[WG * DH], vs[WG * DH];
    __local int kon[WG];
    const int li = get_local_id(0), i = get_group_id(0) * WG + li, bh = get_group_id(1);
    const int b = bh / heads, h = bh - b * heads, d = heads * DH;
    __global const float *kb = k + (size_t)b * tk * d + h * DH, *vb = v + (size_t)b * tk * d + h * DH;
    __global const int *mb = kmask ? kmask + (size_t)b * tk : 0;
    const size_t row = ((size_t)b * tq + i) * d + h * DH;
    float qi[DH], doi[DH], acc[DH];
    for (int c = 0; c < DH; c++) {
        qi[c] = i < tq ? q[row + c] : 0.0f;
        doi[c] = i < tq ? dout[row + c] : 0.0f;
        acc[c] = 0.0f;
    }
    const float lse_i = i < tq ? lse[(size_t)bh * tq + i] : 0.0f, d_i = i < tq ? dd[(size_t)bh * tq + i] : 0.0f;
    const int2 span = key_span(i, tq, tk, causal);
    const uint idx0 = ((uint)bh * (uint)tq + (uint)i) * (uint)tk;
    for (int j0 = 0; j0 < span.x; j0 += WG) {
        stage_keys(ks, vs, kon, kb, vb, mb, j0, tk, d);
        const int jn = min(WG, span.y - j0);
        for (int jj = 0; jj < jn; jj++) {
            if (!kon[jj]) continue; /* a row with an attendable key has a finite lse */
            const float p = exp(dot_row(qi, ks + jj * DH) * scale - lse_i);
            const float dp = dot_row(doi, vs + jj * DH) * DROP_FACTOR(idx0 + (uint)(j0 + jj));
            const float ds = p * (dp - d_i);
            for (int e = 0; e < DH; e++) acc[e] = fma(ds, ks[jj * DH + e], acc[e]);
        }
    }
    if (i >= tq) return;
    for (int c = 0; c < DH; c++) dq[row + c] = grad_old(dq, row + c, ow & OW_DQ) + scale * acc[c];
}

/* dk, dv [b, tk, d] += ... (ow: =), one key row per work-item, query tiles (q, dout, lse, D) staged.
 * Global (tk rounded up to WG, b * H). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
attention_bwd_dkdv(__global float *dk, __global float *dv, __global const float *dout, __global const float *q,
                   __global const float *k, __global const float *v, __global const float *lse,
                   __global const float *dd, __global const int *kmask, int heads, int tq, int tk, int causal,
                   float scale, int ow, DROP_PARAMS) {
    __local float qs[WG * DH], dos[WG * DH], lses[WG], ds_[WG];
    const int li = get_local_id(0), j = get_group_id(0) * WG + li, bh = get_group_id(1);
    const int b = bh / heads, h = bh - b * heads, d = heads * DH;
    __global const float *qb = q + (size_t)b * tq * d + h * DH, *dob = dout + (size_t)b * tq * d + h * DH;
    __global const int *mb = kmask ? kmask + (size_t)b * tk : 0;
    const size_t row = ((size_t)b * tk + j) * d + h * DH;
    float kj[DH], vj[DH], dka[DH], dva[DH];
    for (int c = 0; c < DH; c++) {
        kj[c] = j < tk ? k[row + c] : 0.0f;
        vj[c] = j < tk ? v[row + c] : 0.0f;
        dka[c] = dva[c] = 0.0f;
    }
    const int on = key_on(mb, j, tk); /* a masked key gets no gradient */
    const int first = causal ? (int)get_group_id(0) * WG : 0; /* queries before the group's first key see none */
    for (int i0 = first; i0 < tq; i0 += WG) {
        barrier(CLK_LOCAL_MEM_FENCE);
        load_tile(qs, qb, i0, tq, d);
        load_tile(dos, dob, i0, tq, d);
        lses[li] = i0 + li < tq ? lse[(size_t)bh * tq + i0 + li] : 0.0f;
        ds_[li] = i0 + li < tq ? dd[(size_t)bh * tq + i0 + li] : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        const int in = on ? min(WG, tq - i0) : 0;
        for (int ii = causal ? max(0, j - i0) : 0; ii < in; ii++) {
            const uint idx = ((uint)bh * (uint)tq + (uint)(i0 + ii)) * (uint)tk + (uint)j;
            const float p = exp(dot_row(kj, qs + ii * DH) * scale - lses[ii]);
            const float f = DROP_FACTOR(idx), pd = p * f;
            const float ds = p * (dot_row(vj, dos + ii * DH) * f - ds_[ii]);
            for (int e = 0; e < DH; e++) {
                dva[e] = fma(pd, dos[ii * DH + e], dva[e]);
                dka[e] = fma(ds, qs[ii * DH + e], dka[e]);
            }
        }
    }
    if (j >= tk) return;
    for (int c = 0; c < DH; c++) {
        dk[row + c] = grad_old(dk, row + c, ow & OW_DK) + scale * dka[c];
        dv[row + c] = grad_old(dv, row + c, ow & OW_DV) + dva[c];
    }
}

/* Only CPU devices build the tiled kernels: their private arrays would spill on a GPU. */
#ifdef CLF_CPU

/* ======== Register-tiled kernels for CPU devices (PoCL) ========
 * Each work-item computes one tile with explicit float16 vectors and no local memory: PoCL runs a
 * work-group's work-items one after another, so the vector types are what reach the SIMD units.
 * Forward and dq: a work-item owns 16 query rows, one float16 lane per row, and walks the keys in
 * blocks of KB; every product is "broadcast one K or V element, FMA into a row vector", and the
 * online softmax is lane-wise arithmetic. dk/dv: a work-item owns KW = 64 keys in four float16
 * vectors (lane t of vector u is key 4t + u, so that one Philox call per query row yields the
 * dropout words of all 64 keys in place) and walks the queries in blocks of 16. Every reduction
 * has a fixed order. */

/* PoCL may leave a plain inline function out of line, and a call taking private arrays keeps
 * them in memory. */
#define INLINE __attribute__((always_inline)) inline
#define RT 16 /* query rows per tile (lanes) */
#define KB 32 /* keys per block in the row-tiled kernels, two halves of KH */
#define KH 16
#define KW 64 /* keys per work-item in attention_bwd_dkdv_cpu */
#define CH (DH < 16 ? DH : 16) /* head-size columns per accumulator chunk */
#define LANES ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))

/* Factors of elements e + u, u = 0..3, into f[u]. When every lane of e is a multiple of 4, the four
 * are the words of one Philox block: one call instead of four. */
INLINE void drop16x4(float16 *f, uint16 e, int aligned, DROP_PARAMS) {
    if (aligned) {
        uint16 w[4];
        clf_philox16(w, e >> 2, drop_site, drop_step, seed_lo, seed_hi);
        for (int u = 0; u < 4; u++) f[u] = clf_keep16(w[u], drop_threshold, drop_scale);
    } else {
        for (int u = 0; u < 4; u++) f[u] = clf_drop16(e + (uint)u, DROP_ARGS);
    }
}

/* The 16 rows from i0 of one head of x (row stride d, n rows), transposed: t[c] holds column c of
 * each row, rows past n as zero. */
INLINE void load_rows_t(float16 *t, __global const float *x, int i0, int n, int d) {
    float *tf = (float *)t;
    for (int r = 0; r < RT; r++)
        for (int c = 0; c < DH; c++) tf[c * RT + r] = i0 + r < n ? x[(size_t)(i0 + r) * d + c] : 0.0f;
}

/* dst [DH] = src [DH] if on, else zeros; src is readable either way. */
INLINE void copy_row(float *dst, __global const float *src, int on) {
#if DH % 16 == 0
    for (int c = 0; c < DH / 16; c++) ((float16 *)dst)[c] = on ? vload16(c, src) : (float16)(0.0f);
#else
    for (int c = 0; c < DH; c++) dst[c] = on ? src[c] : 0.0f;
#endif
}

/* Keys [j0, j0 + KB) of one head of k and v into kb, vb [KB][DH]; a key out of range or masked
 * becomes a zero row and on[jj] = 0, so that it contributes exactly nothing. */
INLINE void stage_block(float *kb, float *vb, int *on, __global const float *k, __global const float *v,
                        __global const int *mb, int j0, int tk, int d) {
    for (int jj = 0; jj < KB; jj++) {
        const int j = j0 + jj;
        const size_t row = (size_t)min(j, tk - 1) * d;
        on[jj] = key_on(mb, j, tk);
        copy_row(kb + jj * DH, k + row, on[jj]);
        copy_row(vb + jj * DH, v + row, on[jj]);
    }
}

/* s[jj] = sum_c x[jj][c] * yt[c] for the KB keys of a block: x [KB][DH] (kb or vb), yt a transposed
 * row tile. KH accumulators at a time, c in order. */
INLINE void block_dots(float16 *s, const float *x, const float16 *yt) {
    for (int h = 0; h < KB; h += KH) {
        float16 a[KH];
#pragma unroll
        for (int jj = 0; jj < KH; jj++) a[jj] = (float16)(0.0f);
        for (int c = 0; c < DH; c++) {
            const float16 y = yt[c];
#pragma unroll
            for (int jj = 0; jj < KH; jj++) a[jj] = fma((float16)(x[(h + jj) * DH + c]), y, a[jj]);
        }
#pragma unroll
        for (int jj = 0; jj < KH; jj++) s[h + jj] = a[jj];
    }
}

/* acct[c] = acct[c] * alpha + sum_jj x[jj][c] * w[jj]: acct a transposed row tile, in chunks of CH
 * columns held in registers; keys in order. */
INLINE void block_update(float16 *acct, float16 alpha, const float *x, const float16 *w) {
    for (int c0 = 0; c0 < DH; c0 += CH) {
        float16 a[CH];
#pragma unroll
        for (int cc = 0; cc < CH; cc++) a[cc] = c0 + cc < DH ? acct[c0 + cc] * alpha : (float16)(0.0f);
        for (int jj = 0; jj < KB; jj++) {
            const float16 wj = w[jj];
#pragma unroll
            for (int cc = 0; cc < CH; cc++)
                a[cc] = fma((float16)(x[jj * DH + (c0 + cc < DH ? c0 + cc : 0)]), wj, a[cc]);
        }
#pragma unroll
        for (int cc = 0; cc < CH; cc++)
            if (c0 + cc < DH) acct[c0 + cc] = a[cc];
    }
}

/* Scaled scores of a block with the masks applied: masked or out-of-range keys and (causal) keys
 * after the row are -inf. rows: the tile's row indices. */
INLINE void block_scores(float16 *s, const int *on, int j0, int16 rows, int causal, float scale) {
#pragma unroll
    for (int jj = 0; jj < KB; jj++) {
        float16 x = on[jj] ? s[jj] * scale : (float16)(-INFINITY);
        if (causal) x = select(x, (float16)(-INFINITY), (int16)(j0 + jj) > rows);
        s[jj] = x;
    }
}

/* w[jj] *= the dropout factor of element e + jj, lane-wise. */
INLINE void block_dropout(float16 *w, uint16 e, int aligned, DROP_PARAMS) {
    for (int jj = 0; jj < KB; jj += 4) {
        float16 f[4];
        drop16x4(f, e + (uint)jj, aligned, DROP_ARGS);
#pragma unroll
        for (int u = 0; u < 4; u++) w[jj + u] *= f[u];
    }
}

/* As attention_fwd, tiles of 16 query rows. Global (ceil(tq / 16), b * H), work-groups of 1. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
attention_fwd_cpu(__global float *o, __global float *lse, __global const float *q, __global const float *k,
                  __global const float *v, __global const int *kmask, int heads, int tq, int tk, int causal,
                  float scale, DROP_PARAMS) {
    const int i0 = get_global_id(0) * RT, bh = get_global_id(1);
    if (i0 >= tq) return;
    const int b = bh / heads, h = bh - b * heads, d = heads * DH;
    const size_t qoff = (size_t)b * tq * d + h * DH, koff = (size_t)b * tk * d + h * DH;
    __global const int *mb = kmask ? kmask + (size_t)b * tk : 0;
    float16 qt[DH], ot[DH], kbv[KB * DH / 16], vbv[KB * DH / 16];
    float *kb = (float *)kbv, *vb = (float *)vbv;
    int on[KB];
    load_rows_t(qt, q + qoff, i0, tq, d);
    for (int c = 0; c < DH; c++) ot[c] = (float16)(0.0f);
    const int16 rows = i0 + LANES;
    /* element index of (row, key 0) for dropout, as attention_fwd computes it (uint arithmetic) */
    const uint16 e0 = ((uint)bh * (uint)tq + convert_uint16(rows)) * (uint)tk;
    const int aligned = (tk & 3) == 0;
    float16 m = (float16)(-INFINITY), l = (float16)(0.0f);
    const int kend = causal ? min(tk, i0 + RT) : tk;
    for (int j0 = 0; j0 < kend; j0 += KB) {
        stage_block(kb, vb, on, k + koff, v + koff, mb, j0, tk, d);
        float16 s[KB];
        block_dots(s, kb, qt);
        block_scores(s, on, j0, rows, causal, scale);
        float16 mx = m;
        for (int jj = 0; jj < KB; jj++) mx = fmax(mx, s[jj]);
        const float16 ms = select(mx, (float16)(0.0f), isinf(mx)); /* no finite score yet: exp(-inf) = 0 */
        const float16 alpha = exp(m - ms);
        float16 sum = (float16)(0.0f);
        for (int jj = 0; jj < KB; jj++) {
            s[jj] = exp(s[jj] - ms);
            sum += s[jj];
        }
        l = l * alpha + sum;
        m = mx;
        if (drop_threshold) block_dropout(s, e0 + (uint)j0, aligned, DROP_ARGS);
        block_update(ot, alpha, vb, s);
    }
    const float16 lse_v = select(m + log(l), (float16)(-INFINITY), l <= 0.0f);
    const float *otf = (const float *)ot, *lsef = (const float *)&lse_v, *lf = (const float *)&l;
    const int nr = min(RT, tq - i0);
    for (int r = 0; r < nr; r++) {
        __global float *orow = o + qoff + (size_t)(i0 + r) * d;
        for (int c = 0; c < DH; c++) orow[c] = lf[r] > 0.0f ? otf[c * RT + r] / lf[r] : 0.0f;
        lse[(size_t)bh * tq + i0 + r] = lsef[r];
    }
}

/* As attention_fwd, one query row per work-item, vectors along the head, keys one at a time: for
 * few query rows (a decoding step), where tiles of 16 rows would mostly idle. Global (b * H rounded
 * up to the group size, tq); no local memory, so any group size. */
#define NC ((DH + 15) / 16) /* float16 chunks of a head row */
__kernel void attention_fwd_row_cpu(__global float *o, __global float *lse, __global const float *q,
                                    __global const float *k, __global const float *v, __global const int *kmask,
                                    int heads, int tq, int tk, int causal, float scale, int nbh, DROP_PARAMS) {
    const int bh = get_global_id(0), i = get_global_id(1);
    if (bh >= nbh || i >= tq) return;
    const int b = bh / heads, h = bh - b * heads, d = heads * DH;
    __global const float *qr = q + ((size_t)b * tq + i) * d + h * DH;
    __global const float *kb = k + (size_t)b * tk * d + h * DH, *vb = v + (size_t)b * tk * d + h * DH;
    __global const int *mb = kmask ? kmask + (size_t)b * tk : 0;
    float16 qv[NC], acc[NC];
    for (int c = 0; c < NC; c++) {
        qv[c] = clf_load16(qr, c, DH);
        acc[c] = (float16)(0.0f);
    }
    const uint e0 = ((uint)bh * (uint)tq + (uint)i) * (uint)tk; /* dropout's element of key 0 */
    float m = -INFINITY, l = 0.0f;
    const int kend = causal ? min(tk, i + 1) : tk;
    for (int j = 0; j < kend; j++) {
        if (!key_on(mb, j, tk)) continue;
        float16 sv = (float16)(0.0f);
        for (int c = 0; c < NC; c++) sv = fma(qv[c], clf_load16(kb + (size_t)j * d, c, DH), sv);
        const float s = clf_hsum16(sv) * scale, mn = fmax(m, s);
        const float corr = clf_exp_neg1(m - mn), p = clf_exp_neg1(s - mn); /* both <= 0 */
        l = l * corr + p;
        const float w = p * DROP_FACTOR(e0 + (uint)j);
        for (int c = 0; c < NC; c++) acc[c] = fma((float16)(w), clf_load16(vb + (size_t)j * d, c, DH), acc[c] * corr);
        m = mn;
    }
    __global float *orow = o + ((size_t)b * tq + i) * d + h * DH;
    for (int c = 0; c < DH; c++) orow[c] = l > 0.0f ? ((const float *)acc)[c] / l : 0.0f;
    lse[(size_t)bh * tq + i] = l > 0.0f ? m + log(l) : -INFINITY;
}

/* As attention_bwd_dq, tiles of 16 query rows. Global (ceil(tq / 16), b * H), work-groups of 1. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
attention_bwd_dq_cpu(__global float *dq, __global const float *dout, __global const float *q,
                     __global const float *k, __global const float *v, __global const float *lse,
                     __global const float *dd, __global const int *kmask, int heads, int tq, int tk, int causal,
                     float scale, int ow, DROP_PARAMS) {
    const int i0 = get_global_id(0) * RT, bh = get_global_id(1);
    if (i0 >= tq) return;
    const int b = bh / heads, h = bh - b * heads, d = heads * DH;
    const size_t qoff = (size_t)b * tq * d + h * DH, koff = (size_t)b * tk * d + h * DH;
    __global const int *mb = kmask ? kmask + (size_t)b * tk : 0;
    float16 qt[DH], dot[DH], dqt[DH], kbv[KB * DH / 16], vbv[KB * DH / 16];
    float *kb = (float *)kbv, *vb = (float *)vbv;
    int on[KB];
    load_rows_t(qt, q + qoff, i0, tq, d);
    load_rows_t(dot, dout + qoff, i0, tq, d);
    for (int c = 0; c < DH; c++) dqt[c] = (float16)(0.0f);
    /* the saved lse, +inf for a row with no attendable key or past tq (so exp(s - lse) is 0); D */
    float lsef[RT], df[RT];
    for (int r = 0; r < RT; r++) {
        const float x = i0 + r < tq ? lse[(size_t)bh * tq + i0 + r] : INFINITY;
        lsef[r] = x == -INFINITY ? INFINITY : x;
        df[r] = i0 + r < tq ? dd[(size_t)bh * tq + i0 + r] : 0.0f;
    }
    const float16 lsev = vload16(0, lsef), dv = vload16(0, df);
    const int16 rows = i0 + LANES;
    const uint16 e0 = ((uint)bh * (uint)tq + convert_uint16(rows)) * (uint)tk;
    const int aligned = (tk & 3) == 0;
    const int kend = causal ? min(tk, i0 + RT) : tk;
    for (int j0 = 0; j0 < kend; j0 += KB) {
        stage_block(kb, vb, on, k + koff, v + koff, mb, j0, tk, d);
        float16 s[KB], dp[KB];
        block_dots(s, kb, qt);
        block_scores(s, on, j0, rows, causal, scale);
        block_dots(dp, vb, dot);
        if (drop_threshold) block_dropout(dp, e0 + (uint)j0, aligned, DROP_ARGS);
        for (int jj = 0; jj < KB; jj++) s[jj] = exp(s[jj] - lsev) * (dp[jj] - dv); /* dS */
        block_update(dqt, (float16)(1.0f), kb, s);
    }
    const float *dqf = (const float *)dqt;
    const int nr = min(RT, tq - i0);
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < DH; c++) {
            const size_t at = qoff + (size_t)(i0 + r) * d + c;
            dq[at] = grad_old(dq, at, ow & OW_DQ) + scale * dqf[c * RT + r];
        }
}

/* x[r][u] = sum_c y[row r][c] * t[c][u] for the 16 rows from i0 of y (row stride d, clamped to n
 * rows: the caller zeroes what rows past n give); t a key tile [DH][4]. Sub-tiles of 4 rows. */
INLINE void rows_by_keys(float16 *x, __global const float *y, int i0, int n, int d, const float16 *t) {
    for (int r0 = 0; r0 < RT; r0 += 4) {
        __global const float *yr[4];
        for (int rr = 0; rr < 4; rr++) yr[rr] = y + (size_t)min(i0 + r0 + rr, n - 1) * d;
        float16 a[16];
#pragma unroll
        for (int e = 0; e < 16; e++) a[e] = (float16)(0.0f);
        for (int c = 0; c < DH; c++) {
#pragma unroll
            for (int rr = 0; rr < 4; rr++) {
                const float16 yb = (float16)(yr[rr][c]);
#pragma unroll
                for (int u = 0; u < 4; u++) a[rr * 4 + u] = fma(yb, t[c * 4 + u], a[rr * 4 + u]);
            }
        }
#pragma unroll
        for (int e = 0; e < 16; e++) x[r0 * 4 + e] = a[e];
    }
}

/* t[c][u] += sum_r y[row r][c] * w[r][u] over the 16 rows from i0 (clamped as above; w is zero for
 * them): chunks of 4 columns x 4 vectors in registers, rows in order. */
INLINE void keys_update(float16 *t, __global const float *y, int i0, int n, int d, const float16 *w) {
    for (int c0 = 0; c0 < DH; c0 += 4) {
        float16 a[16];
#pragma unroll
        for (int e = 0; e < 16; e++) a[e] = c0 + e / 4 < DH ? t[c0 * 4 + e] : (float16)(0.0f);
        for (int r = 0; r < RT; r++) {
            __global const float *yr = y + (size_t)min(i0 + r, n - 1) * d;
#pragma unroll
            for (int cc = 0; cc < 4; cc++) {
                const float16 yb = (float16)(yr[c0 + cc < DH ? c0 + cc : 0]);
#pragma unroll
                for (int u = 0; u < 4; u++) a[cc * 4 + u] = fma(yb, w[r * 4 + u], a[cc * 4 + u]);
            }
        }
#pragma unroll
        for (int e = 0; e < 16; e++)
            if (c0 + e / 4 < DH) t[c0 * 4 + e] = a[e];
    }
}

/* As attention_bwd_dkdv, KW = 64 keys per work-item. Global (ceil(tk / KW), b * H), work-groups of 1. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
attention_bwd_dkdv_cpu(__global float *dk, __global float *dv, __global const float *dout,
                       __global const float *q, __global const float *k, __global const float *v,
                       __global const float *lse, __global const float *dd, __global const int *kmask, int heads,
                       int tq, int tk, int causal, float scale, int ow, DROP_PARAMS) {
    const int j0 = get_global_id(0) * KW, bh = get_global_id(1);
    if (j0 >= tk) return;
    const int b = bh / heads, h = bh - b * heads, d = heads * DH;
    const size_t qoff = (size_t)b * tq * d + h * DH, koff = (size_t)b * tk * d + h * DH;
    __global const int *mb = kmask ? kmask + (size_t)b * tk : 0;
    /* key tiles [DH][4] of float16: lane t of element (c, u) is column c of key j0 + 4t + u */
    float16 kt[DH * 4], vt[DH * 4], dkt[DH * 4], dvt[DH * 4], sb[RT * 4], pb[RT * 4];
    float *ktf = (float *)kt, *vtf = (float *)vt;
    int onl[KW];
    for (int e = 0; e < KW; e++) { /* e = 16 u + t */
        const int j = j0 + 4 * (e % 16) + e / 16;
        onl[e] = key_on(mb, j, tk);
        for (int c = 0; c < DH; c++) {
            ktf[c * KW + e] = onl[e] ? k[koff + (size_t)j * d + c] : 0.0f;
            vtf[c * KW + e] = onl[e] ? v[koff + (size_t)j * d + c] : 0.0f;
        }
    }
    for (int e = 0; e < DH * 4; e++) dkt[e] = dvt[e] = (float16)(0.0f);
    int16 keyon[4], key[4]; /* lane attendable, key index */
    for (int u = 0; u < 4; u++) {
        keyon[u] = vload16(u, onl) != 0;
        key[u] = j0 + 4 * LANES + u;
    }
    __global const float *lse_h = lse + (size_t)bh * tq, *dd_h = dd + (size_t)bh * tq;
    const int aligned = (tk & 3) == 0; /* then every row's element index of key j0 is a multiple of 4 */
    for (int i0 = causal ? j0 : 0; i0 < tq; i0 += RT) { /* causal: earlier queries see none of these keys */
        rows_by_keys(sb, q + qoff, i0, tq, d, kt);    /* scores */
        rows_by_keys(pb, dout + qoff, i0, tq, d, vt); /* dP */
        for (int r = 0; r < RT; r++) {
            const int i = i0 + r;
            float lse_i = i < tq ? lse_h[i] : INFINITY;
            lse_i = lse_i == -INFINITY ? INFINITY : lse_i; /* no attendable key: P = 0 */
            const float d_i = i < tq ? dd_h[i] : 0.0f;
            const uint e = ((uint)bh * (uint)tq + (uint)i) * (uint)tk + (uint)j0;
            float16 f[4] = {(float16)(1.0f), (float16)(1.0f), (float16)(1.0f), (float16)(1.0f)};
            if (drop_threshold) {
                if (aligned) {
                    uint16 w[4];
                    clf_philox16(w, (e >> 2) + convert_uint16(LANES), drop_site, drop_step, seed_lo, seed_hi);
                    for (int u = 0; u < 4; u++) f[u] = clf_keep16(w[u], drop_threshold, drop_scale);
                } else {
                    for (int u = 0; u < 4; u++) f[u] = clf_drop16(e + convert_uint16(4 * LANES + u), DROP_ARGS);
                }
            }
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const int16 live = keyon[u] & (causal ? key[u] <= i : (int16)(-1));
                const float16 p = select((float16)(0.0f), exp(sb[r * 4 + u] * scale - lse_i), live);
                sb[r * 4 + u] = p * (pb[r * 4 + u] * f[u] - d_i); /* dS */
                pb[r * 4 + u] = p * f[u];                         /* dropped P */
            }
        }
        keys_update(dvt, dout + qoff, i0, tq, d, pb);
        keys_update(dkt, q + qoff, i0, tq, d, sb);
    }
    const float *dkf = (const float *)dkt, *dvf = (const float *)dvt;
    for (int e = 0; e < KW; e++) {
        const int j = j0 + 4 * (e % 16) + e / 16;
        if (j >= tk) continue;
        for (int c = 0; c < DH; c++) {
            const size_t at = koff + (size_t)j * d + c;
            dk[at] = grad_old(dk, at, ow & OW_DK) + scale * dkf[c * KW + e];
            dv[at] = grad_old(dv, at, ow & OW_DV) + dvf[c * KW + e];
        }
    }
}

#endif /* CLF_CPU */
