/* Cross-entropy with label smoothing, forward and backward in one launch (SPEC "Loss"), and the
 * deterministic mean of the per-row losses. */
#include "common.cl"

#ifndef WG
#define WG 1 /* work-items per row; a power of two (1 on CPUs, 64 or 256 on GPUs) */
#endif
#ifndef ROWS
#define ROWS 1 /* rows a work-group takes in turn: fewer, fuller groups where a group costs more than a row */
#endif
#ifndef VW
#define VW 4 /* vector width of the row walk: 4, 8 or 16 (16 on CPUs with 512-bit vectors) */
#endif

#define CE_CAT_(a, b) a##b
#define CE_CAT(a, b) CE_CAT_(a, b)
#define floatv CE_CAT(float, VW)
#define intv CE_CAT(int, VW)
#define vloadv CE_CAT(vload, VW)
#define vstorev CE_CAT(vstore, VW)

/* exp for x <= 0 at the walk's width (cl/common.cl): the library exp of PoCL was this kernel's limit. */
#define ce_exp CE_CAT(clf_exp_neg, VW)
#define ce_exp1 clf_exp_neg1

/* Horizontal max and sum of a vector, in halves (a tree), so no lane's rounding is favoured. */
#if VW == 16
#define CE_HALVE(v, op) op((v).lo, (v).hi)
#define CE_TO4(v, op) CE_HALVE(CE_HALVE(v, op), op)
#elif VW == 8
#define CE_TO4(v, op) op((v).lo, (v).hi)
#else
#define CE_TO4(v, op) (v)
#endif
#define CE_ADD(a, b) ((a) + (b))

inline float ce_hmax(floatv v) {
    float4 a = CE_TO4(v, fmax);
    float2 b = fmax(a.lo, a.hi);
    return fmax(b.x, b.y);
}

inline float ce_hsum(floatv v) {
    float4 a = CE_TO4(v, CE_ADD);
    float2 b = a.lo + a.hi;
    return b.x + b.y;
}

/* The work-group's (max, sum) of v: a tree in local memory, its result handed to every item. */
inline float2 ce_wg_max_sum(__local float2 *t, float2 v) {
    if (WG == 1) return v;
    int l = get_local_id(0);
    t[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int o = WG / 2; o > 0; o >>= 1) {
        if (l < o) t[l] = (float2)(fmax(t[l].x, t[l + o].x), t[l].y + t[l + o].y);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float2 r = t[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* A group takes rows g*ROWS .. g*ROWS+ROWS-1; work-item lid takes vectors lid, lid + WG, ... of a row
 * (coalesced on GPUs, one contiguous walk when WG is 1 on CPUs, where PoCL would otherwise turn a
 * group's loop into gathers); the last v % VW elements go to work-item 0. Three walks over a row, the
 * second and third from cache: max and sum of x; s = sum exp(x - m), the exponentials kept in dlogits;
 * dlogits = inv_count (e / s - eps/V - (1-eps)[j==y]), rewritten in place (each item rereads only
 * what it wrote). One exp per element. Everything is expressed against the row max m and log(s), never
 * m + log(s), so large logits keep their precision.
 * loss_r = (1-eps)(lse - x_y) + eps (lse - mean x). A target outside [0, V) that is not pad gives NaN
 * loss and gradients, so the step is skipped. global (WG, ceil(n / ROWS)), local (WG, 1). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void cross_entropy_fwd_bwd(__global float *loss_rows /* [n] */, __global float *dlogits /* [n, v] or unused */,
                           __global const float *logits /* [n, v] */, __global const int *targets /* [n] */,
                           int n, int v, int pad, float eps, float inv_count, int write_grad) {
    __local float2 t[WG];
    const int lid = get_local_id(0), r0 = get_group_id(1) * ROWS, r1 = min(r0 + ROWS, n);
    const int nvec = v / VW, tail = VW * nvec;
    const float off_target = eps / (float)v, on_target = 1.0f - eps;
    for (int row = r0; row < r1; row++) { /* uniform over the group: every item meets every barrier */
        const int y = targets[row];
        __global const float *x = logits + (size_t)row * (size_t)v;
        __global float *dx = dlogits + (size_t)row * (size_t)v;
        if (y == pad) {
            if (write_grad) {
                for (int j = lid; j < nvec; j += WG) vstorev((floatv)(0.0f), j, dx);
                if (lid == 0)
                    for (int j = tail; j < v; j++) dx[j] = 0.0f;
            }
            if (lid == 0) loss_rows[row] = 0.0f;
            continue;
        }

        floatv mv = (floatv)(-INFINITY), sxv = (floatv)(0.0f);
        for (int j = lid; j < nvec; j += WG) {
            floatv a = vloadv(j, x);
            mv = fmax(mv, a);
            sxv += a;
        }
        float m = ce_hmax(mv), sx = ce_hsum(sxv);
        if (lid == 0)
            for (int j = tail; j < v; j++) {
                m = fmax(m, x[j]);
                sx += x[j];
            }
        float2 ms = ce_wg_max_sum(t, (float2)(m, sx));
        m = ms.x;
        sx = ms.y;

        floatv sv = (floatv)(0.0f);
        for (int j = lid; j < nvec; j += WG) {
            floatv e = ce_exp(vloadv(j, x) - m);
            sv += e;
            if (write_grad) vstorev(e, j, dx);
        }
        float s = ce_hsum(sv);
        if (lid == 0)
            for (int j = tail; j < v; j++) {
                float e = ce_exp1(x[j] - m);
                s += e;
                if (write_grad) dx[j] = e;
            }
        s = ce_wg_max_sum(t, (float2)(0.0f, s)).y;

        const float log_s = log(s);
        const bool valid = y >= 0 && y < v;
        if (lid == 0) {
            float nll = valid ? log_s - (x[y] - m) : NAN; /* -log p[y] */
            float smooth = log_s - (sx / (float)v - m);   /* mean_v -log p[v] */
            loss_rows[row] = (1.0f - eps) * nll + eps * smooth;
        }
        if (write_grad) {
            const float scale = valid ? inv_count : NAN;
            for (int j = lid; j < nvec; j += WG) vstorev(scale * (vloadv(j, dx) / s - off_target), j, dx);
            if (lid == 0)
                for (int j = tail; j < v; j++) dx[j] = scale * (dx[j] / s - off_target);
            /* the target's element, by the item that wrote it, from the same exponential */
            int owner = valid && y < tail ? (y / VW) % WG : 0;
            if (valid && lid == owner) dx[y] = scale * (ce_exp1(x[y] - m) / s - off_target - on_target);
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
