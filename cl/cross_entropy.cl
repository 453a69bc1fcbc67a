/* Cross-entropy with label smoothing, forward and backward in one launch (SPEC "Loss"), and the
 * deterministic mean of the per-row losses. */
#include "common.cl"

#ifndef WG
#define WG 256 /* work-items per row; a power of two */
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

/* One work-group per row. Pass 1 reads the row once: online max and sum of exp, four strided
 * elements per step so one rescaling exp serves four, plus the plain sum of x for the smoothing
 * term; a tree in local memory joins the work-items. Pass 2 reads the row again (it is still in
 * cache) to write dlogits. Everything is expressed against the row max m and log(s), never against
 * m + log(s), so large logits keep their precision.
 * loss_r = (1-eps)(lse - x_y) + eps (lse - mean x); dlogits = inv_count (p - (1-eps)[v==y] - eps/V).
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

    /* A pad row reads nothing but still meets every barrier: PoCL needs all work-items at each one. */
    const int len = pad_row ? 0 : v;
    float m = -INFINITY, s = 0.0f, sx = 0.0f;
    int i = lid;
    for (; i + 3 * WG < len; i += 4 * WG) {
        float a = x[i], b = x[i + WG], c = x[i + 2 * WG], d = x[i + 3 * WG];
        float mn = fmax(fmax(m, a), fmax(fmax(b, c), d));
        s = s * exp(m - mn) + ((exp(a - mn) + exp(b - mn)) + (exp(c - mn) + exp(d - mn)));
        m = mn;
        sx += (a + b) + (c + d);
    }
    for (; i < len; i += WG) {
        float a = x[i];
        ce_combine(&m, &s, a, 1.0f);
        sx += a;
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
        if (write_grad)
            for (int j = lid; j < v; j += WG) dx[j] = 0.0f;
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
        for (int j = lid; j < v; j += WG) {
            float p = exp((x[j] - m) - log_s);
            float g = p - off_target - (j == y ? on_target : 0.0f);
            dx[j] = valid ? inv_count * g : NAN;
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
