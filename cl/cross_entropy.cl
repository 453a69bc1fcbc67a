/* Cross-entropy with label smoothing, forward and backward in one launch (SPEC "Loss"), and the
 * deterministic mean of the per-row losses. */
#include "common.cl"

#ifndef WG
#define WG 256 /* work-items per row; a power of two (1 is right for CPUs) */
#endif

/* Fold (m2, s2) into (m, s), where s is sum exp(x - m) over the elements seen. An empty side has
 * s == 0 and m == -INFINITY and must not turn the other into NaN. */
inline void ce_combine(float *m, float *s, float m2, float s2) {
    if (s2 == 0.0f) return;
    if (*s == 0.0f) {
        *m = m2;
        *s = s2;
        return;
    }
    float mn = fmax(*m, m2);
    *s = *s * exp(*m - mn) + s2 * exp(m2 - mn);
    *m = mn;
}

/* One work-group per row, float4 vectors of the row (vload4: rows need not be aligned); work-item lid
 * takes vectors lid, lid + WG, ... (coalesced on GPUs, one contiguous walk when WG is 1 on CPUs, where
 * PoCL would otherwise turn a group's loop into gathers and scatters). The last v % 4 elements go to
 * work-item 0.
 * Pass 1 reads the row once: per-lane online max and sum of exp (two vectors per step, so one
 * rescaling exp serves eight elements), plus the plain sum of x for the smoothing term; the lanes,
 * then the work-items (a tree in local memory) are joined. Pass 2 reads the row again (from cache)
 * to write dlogits. Everything is expressed against the row max m and log(s), never m + log(s), so
 * large logits keep their precision.
 * loss_r = (1-eps)(lse - x_y) + eps (lse - mean x); dlogits = inv_count (p - (1-eps)[j==y] - eps/V).
 * A target outside [0, V) that is not pad gives NaN loss and gradients, so the step is skipped. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void cross_entropy_fwd_bwd(__global float *loss_rows /* [n] */, __global float *dlogits /* [n, v] or unused */,
                           __global const float *logits /* [n, v] */, __global const int *targets /* [n] */,
                           int n, int v, int pad, float eps, float inv_count, int write_grad) {
    __local float lm[WG], ls[WG], lx[WG];
    const int row = get_group_id(0), lid = get_local_id(0);
    const int y = targets[row];
    const bool pad_row = y == pad;
    __global const float *x = logits + (size_t)row * (size_t)v;
    __global float *dx = dlogits + (size_t)row * (size_t)v;
    const int nv4 = v / 4, tail = 4 * nv4;

    /* A pad row reads nothing but still meets every barrier: PoCL needs all work-items at each one. */
    const int len4 = pad_row ? 0 : nv4;
    float4 m4 = (float4)(-INFINITY), s4 = (float4)(0.0f), sx4 = (float4)(0.0f);
    int k = lid;
    for (; k + WG < len4; k += 2 * WG) {
        float4 a = vload4(k, x), b = vload4(k + WG, x);
        float4 mn = fmax(m4, fmax(a, b));
        s4 = s4 * exp(m4 - mn) + (exp(a - mn) + exp(b - mn));
        m4 = mn;
        sx4 += a + b;
    }
    if (k < len4) {
        float4 a = vload4(k, x);
        float4 mn = fmax(m4, a);
        s4 = s4 * exp(m4 - mn) + exp(a - mn);
        m4 = mn;
        sx4 += a;
    }
    /* lanes whose sum is still 0 saw nothing (m4 -INFINITY): ce_combine skips them */
    float m = m4.s0, s = s4.s0, sx = (sx4.s0 + sx4.s1) + (sx4.s2 + sx4.s3);
    ce_combine(&m, &s, m4.s1, s4.s1);
    ce_combine(&m, &s, m4.s2, s4.s2);
    ce_combine(&m, &s, m4.s3, s4.s3);
    if (lid == 0 && !pad_row)
        for (int j = tail; j < v; j++) {
            ce_combine(&m, &s, x[j], 1.0f);
            sx += x[j];
        }
    lm[lid] = m;
    ls[lid] = s;
    lx[lid] = sx;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = WG / 2; off > 0; off >>= 1) {
        if (lid < off) {
            float mm = lm[lid], ss = ls[lid];
            ce_combine(&mm, &ss, lm[lid + off], ls[lid + off]);
            lm[lid] = mm;
            ls[lid] = ss;
            lx[lid] += lx[lid + off];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (pad_row) {
        if (write_grad) {
            for (int j = lid; j < nv4; j += WG) vstore4((float4)(0.0f), j, dx);
            if (lid == 0)
                for (int j = tail; j < v; j++) dx[j] = 0.0f;
        }
        if (lid == 0) loss_rows[row] = 0.0f;
        return;
    }
    m = lm[0];
    const float log_s = log(ls[0]);
    const bool valid = y >= 0 && y < v;
    if (lid == 0) {
        float nll = valid ? log_s - (x[y] - m) : NAN;    /* -log p[y] */
        float smooth = log_s - (lx[0] / (float)v - m); /* mean_v -log p[v] */
        loss_rows[row] = (1.0f - eps) * nll + eps * smooth;
    }
    if (write_grad) {
        const float off_target = eps / (float)v, on_target = 1.0f - eps;
        const float scale = valid ? inv_count : NAN;
        for (int j = lid; j < nv4; j += WG) {
            float4 p = exp((vload4(j, x) - m) - log_s);
            int4 idx = (int4)(4 * j) + (int4)(0, 1, 2, 3);
            float4 g = p - off_target - select((float4)(0.0f), (float4)(on_target), idx == (int4)(y));
            vstore4(scale * g, j, dx);
        }
        if (lid == 0)
            for (int j = tail; j < v; j++) {
                float p = exp((x[j] - m) - log_s);
                dx[j] = scale * (p - off_target - (j == y ? on_target : 0.0f));
            }
    }
}

/* loss[0] = inv_count * sum(loss_rows): one work-group, each work-item sums a fixed strided subset
 * in order, then a tree; the same bits every run. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void cross_entropy_reduce(__global float *loss /* [1] */, __global const float *loss_rows /* [n] */, int n,
                          float inv_count) {
    __local float acc[WG];
    const int lid = get_local_id(0);
    float s = 0.0f;
    for (int i = lid; i < n; i += WG) s += loss_rows[i];
    acc[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = WG / 2; off > 0; off >>= 1) {
        if (lid < off) acc[lid] += acc[lid + off];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) loss[0] = inv_count * acc[0];
}
