/* Fused multi-head attention (FlashAttention style): one work-item per query (or key) row of one
 * head, tiles of the other side staged in local memory, online softmax; the tq x tk scores never
 * reach global memory. Forward saves the row log-sum-exp, backward recomputes P from it.
 * Work-groups are (WG rows, one (batch, head) pair); DH is the head size, fixed per build so the
 * private row arrays have a known size. Launchers: src/ops/attention.c. */
#include "common.cl"

#ifndef DH
#define DH 64
#endif
#ifndef WG
#define WG 64 /* rows per work-group and per staged tile */
#endif

/* Dropout on P (DROP_PARAMS, DROP_FACTOR of common.cl): element idx = ((b*H + h)*tq + i)*tk + j. */

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

/* dq [b, tq, d] += scale * sum_j dS_ij k_j, one query row per work-item, key tiles staged.
 * dd [b, H, tq] from attention_bwd_dot. Global (tq rounded up to WG, b * H). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
attention_bwd_dq(__global float *dq, __global const float *dout, __global const float *q, __global const float *k,
                 __global const float *v, __global const float *lse, __global const float *dd,
                 __global const int *kmask, int heads, int tq, int tk, int causal, float scale, DROP_PARAMS) {
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
    for (int c = 0; c < DH; c++) dq[row + c] += scale * acc[c];
}

/* dk, dv [b, tk, d] += ..., one key row per work-item, query tiles (q, dout, lse, D) staged.
 * Global (tk rounded up to WG, b * H). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
attention_bwd_dkdv(__global float *dk, __global float *dv, __global const float *dout, __global const float *q,
                   __global const float *k, __global const float *v, __global const float *lse,
                   __global const float *dd, __global const int *kmask, int heads, int tq, int tk, int causal,
                   float scale, DROP_PARAMS) {
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
        dk[row + c] += scale * dka[c];
        dv[row + c] += dva[c];
    }
}
