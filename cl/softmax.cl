/* Masked softmax over keys for the materialized attention path (src/ops/attention_matmul.c):
 * rows r = (b * H + h) * tq + i of a [b, H, tq, tk] matrix, one work-group per row with tree
 * reductions in local memory (deterministic), plus dropout on the probabilities. */
#include "common.cl"

#ifndef WG
#define WG 64 /* a power of two */
#endif

/* Dropout on P (DROP_PARAMS, DROP_FACTOR of common.cl), as in cl/attention.cl: idx = r * tk + j. */

/* Tree reductions over the work-group; every work-item gets the result. */
inline float group_max(__local float *red, float x) {
    const int li = get_local_id(0);
    red[li] = x;
    for (int s = WG / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (li < s) red[li] = fmax(red[li], red[li + s]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    x = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return x;
}

inline float group_sum(__local float *red, float x) {
    const int li = get_local_id(0);
    red[li] = x;
    for (int s = WG / 2; s > 0; s >>= 1) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (li < s) red[li] += red[li + s];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    x = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return x;
}

/* p [b, H, tq, tk]: scores in, probabilities out, in place. Key j of row (b, i) is masked when
 * kmask[b * tk + j] == 0 (kmask [b, tk] or NULL) or, with causal, j > i. A row with every key
 * masked becomes zeros. Global rows * WG. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
softmax_fwd(__global float *p, __global const int *kmask, int heads, int tq, int tk, int causal) {
    __local float red[WG];
    const int li = get_local_id(0);
    const size_t r = get_group_id(0);
    const int i = (int)(r % tq), b = (int)(r / ((size_t)heads * tq));
    __global float *row = p + r * tk;
    __global const int *mb = kmask ? kmask + (size_t)b * tk : 0;
    const int n = causal ? min(tk, i + 1) : tk; /* keys past n are masked */
    float m = -INFINITY;
    for (int j = li; j < n; j += WG)
        if (!mb || mb[j]) m = fmax(m, row[j]);
    m = group_max(red, m);
    float sum = 0.0f;
    if (m > -INFINITY)
        for (int j = li; j < n; j += WG)
            if (!mb || mb[j]) sum += exp(row[j] - m);
    sum = group_sum(red, sum);
    for (int j = li; j < tk; j += WG)
        row[j] = j < n && (!mb || mb[j]) && m > -INFINITY ? exp(row[j] - m) / sum : 0.0f;
}

/* w [rows, tk] = p * dropout factor: the dropped probabilities P V is taken with. Global (tk, rows). */
__kernel void softmax_fwd_dropout(__global float *w, __global const float *p, int tk, int rows, DROP_PARAMS) {
    const int j = get_global_id(0), r = get_global_id(1);
    if (j >= tk || r >= rows) return;
    const size_t e = (size_t)r * tk + j;
    w[e] = p[e] * DROP_FACTOR((uint)r * (uint)tk + (uint)j);
}

/* w [rows, tk]: dP (gradient of the dropped probabilities) in, scale * dS out, in place:
 * dS_j = P_j (f_j dP_j - sum_k P_k f_k dP_k) with f the dropout factor; p [rows, tk] the
 * undropped probabilities (zero where masked, so masked entries get zero). Global rows * WG. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
softmax_bwd(__global float *w, __global const float *p, int tk, float scale, DROP_PARAMS) {
    __local float red[WG];
    const int li = get_local_id(0);
    const size_t r = get_group_id(0);
    __global float *wr = w + r * tk;
    __global const float *pr = p + r * tk;
    const uint idx0 = (uint)r * (uint)tk;
    float dot = 0.0f;
    for (int j = li; j < tk; j += WG) { /* each work-item rereads only what it wrote: no barrier */
        const float g = wr[j] * DROP_FACTOR(idx0 + (uint)j);
        wr[j] = g;
        dot = fma(pr[j], g, dot);
    }
    dot = group_sum(red, dot);
    for (int j = li; j < tk; j += WG) wr[j] = scale * pr[j] * (wr[j] - dot);
}
