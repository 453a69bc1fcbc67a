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

/* exp for x <= 0 at the walk's width (cl/common.cl): the library exp of PoCL was this kernel's limit. */
#define ce_exp CE_CAT(clf_exp_neg, VW)
#define ce_exp1 clf_exp_neg1

/* Vector j of a row at any float alignment. On CPUs (one item per row) through a typedef that lowers
 * the alignment: one unaligned 512-bit move, where PoCL's vstore16 is four 128-bit stores. GPUs keep
 * the portable vloadN/vstoreN. */
#if WG == 1
typedef floatv ce_floatv_u __attribute__((aligned(4)));
#define CE_LD(p, j) (*(__global const ce_floatv_u *)((p) + (size_t)(j) * VW))
#define CE_ST(p, j, val) (*(__global ce_floatv_u *)((p) + (size_t)(j) * VW) = (val))
#else
#define CE_LD(p, j) CE_CAT(vload, VW)((j), (p))
#define CE_ST(p, j, val) CE_CAT(vstore, VW)((val), (j), (p))
#endif

/* Lane numbers 0 .. VW-1. */
#if VW == 16
#define CE_LANES ((intv)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#elif VW == 8
#define CE_LANES ((intv)(0, 1, 2, 3, 4, 5, 6, 7))
#else
#define CE_LANES ((intv)(0, 1, 2, 3))
#endif

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
/* max that ignores NaN in its first argument only: one vmaxps, where fmax's NaN rule costs a mask
 * chain per vector. A NaN logit still reaches the loss and gradients through the sums. */
#define CE_MAX(a, b) ((a) > (b) ? (a) : (b))

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

/* log(s) for the row sum s, which lies in [1, v]: Cephes' logf (the mantissa's log by a degree-8
 * polynomial around 1, the exponent times ln2 in two parts), within about 1 ulp. PoCL's library log
 * cost a quarter of the kernel's time at 259 columns. Anything outside [1, 2^126] goes to the library. */
inline float ce_log(float s) {
    if (!(s >= 1.0f && s <= 0x1p126f)) return log(s);
    int bits = as_int(s);
    float e = (float)((bits >> 23) - 126);
    float f = as_float((bits & 0x007fffff) | 0x3f000000); /* s = f 2^e, f in [0.5, 1) */
    if (f < 0.707106781186547524f) {
        e -= 1.0f;
        f = f + f - 1.0f;
    } else {
        f = f - 1.0f;
    }
    float z = f * f;
    float p = 7.0376836292e-2f;
    p = fma(p, f, -1.1514610310e-1f);
    p = fma(p, f, 1.1676998740e-1f);
    p = fma(p, f, -1.2420140846e-1f);
    p = fma(p, f, 1.4249322787e-1f);
    p = fma(p, f, -1.6668057665e-1f);
    p = fma(p, f, 2.0000714765e-1f);
    p = fma(p, f, -2.4999993993e-1f);
    p = fma(p, f, 3.3333331174e-1f);
    float y = f * z * p;
    y = fma(e, -2.12194440e-4f, y);
    y = fma(z, -0.5f, y);
    return fma(e, 0.693359375f, f + y);
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
 * group's loop into gathers). The last v % VW elements: with one item per row (and v >= VW), one more
 * vector ending at the row's end, its lanes the full vectors already hold left out of the sums; else
 * work-item 0, one by one. Three walks over a row, the second and third from cache: max and sum of x;
 * s = sum exp(x - m), the exponentials kept in dlogits (the overlapping vector's in a register);
 * dlogits = e * (inv_count / s) - inv_count eps/V, rewritten in place (each item rereads only what it
 * wrote), the target's element recomputed from x. One exp per element, no division.
 * Everything is expressed against the row max m and log(s), never m + log(s), so large logits keep
 * their precision. loss_r = (1-eps)(lse - x_y) + eps (lse - mean x). A target outside [0, V) that is
 * not pad gives NaN loss and gradients, so the step is skipped. global (WG, ceil(n / ROWS)), local (WG, 1). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void cross_entropy_fwd_bwd(__global float *loss_rows /* [n] */, __global float *dlogits /* [n, v] or unused */,
                           __global const float *logits /* [n, v] */, __global const int *targets /* [n] */,
                           int n, int v, int pad, float eps, float inv_count, int write_grad) {
    __local float2 t[WG];
    const int lid = get_local_id(0), r0 = get_group_id(1) * ROWS, r1 = min(r0 + ROWS, n);
    const int nvec = v / VW, tail = VW * nvec;
    /* the overlapping last vector (one item per row only), and its lanes the full vectors hold */
    const bool vec_tail = WG == 1 && nvec > 0 && tail < v;
    const intv dup = CE_LANES < (intv)(tail - (v - VW));
    const int scalar_from = vec_tail ? v : tail; /* elements item 0 takes one by one */
    const float off_target = eps / (float)v;
    for (int row = r0; row < r1; row++) { /* uniform over the group: every item meets every barrier */
        const int y = targets[row];
        __global const float *x = logits + (size_t)row * (size_t)v;
        __global float *dx = dlogits + (size_t)row * (size_t)v;
        __global const float *xt = x + (vec_tail ? v - VW : 0); /* the overlapping vector */
        __global float *dxt = dx + (vec_tail ? v - VW : 0);
        if (y == pad) {
            if (write_grad) {
                for (int j = lid; j < nvec; j += WG) CE_ST(dx, j, (floatv)(0.0f));
                if (vec_tail) CE_ST(dxt, 0, (floatv)(0.0f));
                if (lid == 0)
                    for (int j = scalar_from; j < v; j++) dx[j] = 0.0f;
            }
            if (lid == 0) loss_rows[row] = 0.0f;
            continue;
        }

        floatv mv = (floatv)(-INFINITY), sxv = (floatv)(0.0f);
        for (int j = lid; j < nvec; j += WG) {
            floatv a = CE_LD(x, j);
            mv = CE_MAX(a, mv);
            sxv += a;
        }
        floatv at = (floatv)(0.0f);
        if (vec_tail) {
            at = CE_LD(xt, 0);
            mv = CE_MAX(at, mv);
            sxv += select(at, (floatv)(0.0f), dup);
        }
        float m = ce_hmax(mv), sx = ce_hsum(sxv);
        if (lid == 0)
            for (int j = scalar_from; j < v; j++) {
                m = fmax(m, x[j]);
                sx += x[j];
            }
        float2 ms = ce_wg_max_sum(t, (float2)(m, sx));
        m = ms.x;
        sx = ms.y;

        floatv sv = (floatv)(0.0f), et = (floatv)(0.0f);
        for (int j = lid; j < nvec; j += WG) {
            floatv e = ce_exp(CE_LD(x, j) - m);
            sv += e;
            if (write_grad) CE_ST(dx, j, e);
        }
        if (vec_tail) {
            et = ce_exp(at - m);
            sv += select(et, (floatv)(0.0f), dup);
        }
        float s = ce_hsum(sv);
        if (lid == 0)
            for (int j = scalar_from; j < v; j++) {
                float e = ce_exp1(x[j] - m);
                s += e;
                if (write_grad) dx[j] = e;
            }
        s = ce_wg_max_sum(t, (float2)(0.0f, s)).y;

        const float log_s = ce_log(s);
        const bool valid = y >= 0 && y < v;
        if (lid == 0) {
            float nll = valid ? log_s - (x[y] - m) : NAN; /* -log p[y] */
            float smooth = log_s - (sx / (float)v - m);   /* mean_v -log p[v] */
            loss_rows[row] = (1.0f - eps) * nll + eps * smooth;
        }
        if (write_grad) {
            const float scale = valid ? inv_count : NAN;
            const float c1 = scale / s, c0 = scale * off_target, hit = scale * (1.0f - eps);
            /* the target's element takes -(1 - eps) scale in the same store as its neighbours (the lane of
             * y in its vector, in the overlapping tail vector too: shared lanes get the same bits), so no
             * element is written twice by different work-items */
            const int ty = valid ? y : -1;
            for (int j = lid; j < nvec; j += WG)
                CE_ST(dx, j, fma(CE_LD(dx, j), (floatv)(c1), (floatv)(-c0)) -
                                 select((floatv)(0.0f), (floatv)(hit), CE_LANES == (intv)(ty - j * VW)));
            if (vec_tail)
                CE_ST(dxt, 0, fma(et, (floatv)(c1), (floatv)(-c0)) -
                                  select((floatv)(0.0f), (floatv)(hit), CE_LANES == (intv)(ty - (v - VW))));
            if (lid == 0)
                for (int j = scalar_from; j < v; j++) dx[j] = fma(dx[j], c1, -c0) - (j == ty ? hit : 0.0f);
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
