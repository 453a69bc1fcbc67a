/* Cross-entropy with label smoothing, forward and backward in one launch (SPEC "Loss"), and the
 * deterministic mean of the per-row losses. */
#include "common.cl"

#ifndef WG
#define WG 1 /* work-items per row; a power of two (1 on CPUs, 64 or 256 on GPUs) */
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

/* CE_MAX here too: the walk's maxima hold no NaN (CE_MAX keeps its second argument, from -inf). */
inline float ce_hmax(floatv v) {
    float4 a = CE_TO4(v, CE_MAX);
    float2 b = CE_MAX(a.lo, a.hi);
    return CE_MAX(b.x, b.y);
}

inline float ce_hsum(floatv v) {
    float4 a = CE_TO4(v, CE_ADD);
    float2 b = a.lo + a.hi;
    return b.x + b.y;
}

inline float ce_hsum16(float16 v) {
    float4 a = (v.lo.lo + v.lo.hi) + (v.hi.lo + v.hi.hi);
    float2 b = a.lo + a.hi;
    return b.x + b.y;
}

/* log(s) for row sums s, which lie in [1, v]: Cephes' logf (the mantissa's log by a degree-8
 * polynomial around 1, the exponent times ln2 in two parts), within about 1 ulp. PoCL's library log
 * cost a quarter of the kernel's time at 259 columns. Lanes outside [1, 2^126] go to the library.
 * One definition per width: ce_log1 (a row at a time, GPUs), ce_log16 (16 rows at once, CPUs). */
#define CE_DEFINE_LOG(W, F, I, AS_I, AS_F, TO_F, ANY)                                                   \
    inline F ce_log##W(F s) {                                                                           \
        I bits = AS_I(s);                                                                               \
        F e = TO_F((bits >> 23) - 126);                                                                 \
        F f = AS_F((bits & 0x007fffff) | 0x3f000000); /* s = f 2^e, f in [0.5, 1) */                     \
        I low = f < 0.707106781186547524f;                                                              \
        e = select(e, e - 1.0f, low);                                                                   \
        f = select(f - 1.0f, f + f - 1.0f, low);                                                        \
        F z = f * f;                                                                                    \
        F p = (F)(7.0376836292e-2f);                                                                    \
        p = fma(p, f, (F)(-1.1514610310e-1f));                                                          \
        p = fma(p, f, (F)(1.1676998740e-1f));                                                           \
        p = fma(p, f, (F)(-1.2420140846e-1f));                                                          \
        p = fma(p, f, (F)(1.4249322787e-1f));                                                           \
        p = fma(p, f, (F)(-1.6668057665e-1f));                                                          \
        p = fma(p, f, (F)(2.0000714765e-1f));                                                           \
        p = fma(p, f, (F)(-2.4999993993e-1f));                                                          \
        p = fma(p, f, (F)(3.3333331174e-1f));                                                           \
        F y = f * z * p;                                                                                \
        y = fma(e, (F)(-2.12194440e-4f), y);                                                            \
        y = fma(z, (F)(-0.5f), y);                                                                      \
        F r = fma(e, (F)(0.693359375f), f + y);                                                         \
        I inside = s >= 1.0f && s <= 0x1p126f;                                                          \
        return ANY(!inside) ? select(log(s), r, inside) : r;                                            \
    }                                                                                                   \
    /* loss_r = (1-eps)(lse - x_y) + eps (lse - mean x), against the row max m: lse - m = log(s); a     \
     * NaN x_y (target out of range) makes it NaN */                                                    \
    inline F ce_loss##W(F m, F sx, F s, F xy, float eps, int v) {                                      \
        F log_s = ce_log##W(s);                                                                         \
        return (1.0f - eps) * (log_s - (xy - m)) + eps * (log_s - (sx / (float)v - m));                 \
    }
#define CE_SCALAR_ANY(c) (c)
CE_DEFINE_LOG(1, float, int, as_int, as_float, convert_float, CE_SCALAR_ANY)
CE_DEFINE_LOG(16, float16, int16, as_int16, as_float16, convert_float16, any)

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

/* The target's -(1 - eps) scale. GPUs put it into the same vector store as its neighbours (the lane of
 * y, in the overlapping tail vector too: shared lanes get the same bits), so no element is written
 * by two work-items; the single item of a CPU row stores the plain walk and subtracts it from the one
 * element afterwards, the same bits without a compare and select per vector. */
#if WG == 1
#define CE_HIT_V(first) ((floatv)(0.0f))
#define CE_HIT_S(j) 0.0f
#else
#define CE_HIT_V(first) select((floatv)(0.0f), (floatv)(hit), CE_LANES == (intv)(ty - (first)))
#define CE_HIT_S(j) ((j) == ty ? hit : 0.0f)
#endif

/* One row of a work-group (every item of it calls, with the same row; uniform, so every item meets
 * every barrier). Work-item lid takes vectors lid, lid + WG, ... (coalesced on GPUs, one contiguous
 * walk when WG is 1 on CPUs, where PoCL would otherwise turn a group's loop into gathers). The last
 * v % VW elements: with one item per row (and v >= VW), one more vector ending at the row's end, its
 * lanes the full vectors already hold left out of the sums; else work-item 0, one by one. Three walks
 * over a row, the second and third from cache: max and sum of x; s = sum exp(x - m), the exponentials
 * kept in dlogits (the overlapping vector's in a register); dlogits = e * (inv_count / s) - inv_count
 * eps/V, rewritten in place (each item rereads only what it wrote). One exp per element, no division
 * but one per row. Returns (m, sum x, s, x[y]) for the loss, x[y] NaN for a target outside [0, v),
 * whose gradient is NaN too. Everything is against the row max m, never m + log(s), so large logits
 * keep their precision. */
inline float4 ce_row(__local float2 *t, __global float *dlogits, __global const float *logits, int row, int y,
                     int v, float eps, float inv_count, int write_grad) {
    const int lid = get_local_id(0), nvec = v / VW, tail = VW * nvec;
    /* the overlapping last vector (one item per row only), and its lanes the full vectors hold */
    const bool vec_tail = WG == 1 && nvec > 0 && tail < v;
    const intv dup = CE_LANES < (intv)(tail - (v - VW));
    const int scalar_from = vec_tail ? v : tail; /* elements item 0 takes one by one */
    __global const float *x = logits + (size_t)row * (size_t)v;
    __global float *dx = dlogits + (size_t)row * (size_t)v;
    __global const float *xt = x + (vec_tail ? v - VW : 0); /* the overlapping vector */
    __global float *dxt = dx + (vec_tail ? v - VW : 0);

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
    if (write_grad) /* two loops: PoCL tests write_grad per vector otherwise */
        for (int j = lid; j < nvec; j += WG) {
            floatv e = ce_exp(CE_LD(x, j) - m);
            sv += e;
            CE_ST(dx, j, e);
        }
    else
        for (int j = lid; j < nvec; j += WG) sv += ce_exp(CE_LD(x, j) - m);
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

    const bool valid = y >= 0 && y < v;
    if (write_grad) {
        const float scale = valid ? inv_count : NAN;
        const float c1 = scale / s, c0 = scale * (eps / (float)v), hit = scale * (1.0f - eps);
        const int ty = valid ? y : -1;
        for (int j = lid; j < nvec; j += WG)
            CE_ST(dx, j, fma(CE_LD(dx, j), (floatv)(c1), (floatv)(-c0)) - CE_HIT_V(j * VW));
        if (vec_tail) CE_ST(dxt, 0, fma(et, (floatv)(c1), (floatv)(-c0)) - CE_HIT_V(v - VW));
        if (lid == 0)
            for (int j = scalar_from; j < v; j++) dx[j] = fma(dx[j], c1, -c0) - CE_HIT_S(j);
        if (WG == 1 && valid) dx[y] -= hit;
    }
    return (float4)(m, sx, s, valid ? x[y] : NAN);
}

/* Zero gradient for a pad row. */
inline void ce_zero_row(__global float *dlogits, int row, int v) {
    __global float *dx = dlogits + (size_t)row * (size_t)v;
    for (int j = get_local_id(0); j < v / VW; j += WG) CE_ST(dx, j, (floatv)(0.0f));
    if (WG == 1 && v >= VW) CE_ST(dx + v - VW, 0, (floatv)(0.0f));
    else if (get_local_id(0) == 0)
        for (int j = VW * (v / VW); j < v; j++) dx[j] = 0.0f;
}

/* A group takes rows g*rows .. g*rows+rows-1, a row at a time (rows <= 16 when WG is 1: the launcher
 * sees to it). GPUs: each row's loss right after it. CPUs (one item per group): the group's row
 * statistics are kept and its losses computed 16 at once at the end, one vector log and loss instead
 * of a scalar chain per row, which took a sixth of the kernel's time at 259 columns. Pad rows: zero
 * loss and gradient. global (WG, ceil(n / rows)), local (WG, 1). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void cross_entropy_fwd_bwd(__global float *loss_rows /* [n] */, __global float *dlogits /* [n, v] or unused */,
                           __global const float *logits /* [n, v] */, __global const int *targets /* [n] */,
                           int n, int v, int pad, float eps, float inv_count, int write_grad, int rows) {
    __local float2 t[WG];
    const int r0 = get_group_id(1) * rows, r1 = min(r0 + rows, n);
#if WG == 1
    /* lanes past the group's rows stay pad: finite, never stored */
    float bm[16], bsx[16], bs[16], bxy[16];
    int bpad[16];
    for (int k = 0; k < 16; k++) {
        bm[k] = bsx[k] = bxy[k] = 0.0f;
        bs[k] = 1.0f;
        bpad[k] = -1;
    }
    for (int row = r0; row < r1; row++) {
        const int y = targets[row], k = row - r0;
        if (y == pad) {
            if (write_grad) ce_zero_row(dlogits, row, v);
            continue;
        }
        float4 st = ce_row(t, dlogits, logits, row, y, v, eps, inv_count, write_grad);
        bm[k] = st.x;
        bsx[k] = st.y;
        bs[k] = st.z;
        bxy[k] = st.w;
        bpad[k] = 0;
    }
    float16 loss = select(ce_loss16(vload16(0, bm), vload16(0, bsx), vload16(0, bs), vload16(0, bxy), eps, v),
                          (float16)(0.0f), vload16(0, bpad));
    if (r1 - r0 == 16) {
        vstore16(loss, 0, loss_rows + r0);
    } else {
        float out[16];
        vstore16(loss, 0, out);
        for (int row = r0; row < r1; row++) loss_rows[row] = out[row - r0];
    }
#else
    for (int row = r0; row < r1; row++) {
        const int y = targets[row];
        if (y == pad) {
            if (write_grad) ce_zero_row(dlogits, row, v);
            if (get_local_id(0) == 0) loss_rows[row] = 0.0f;
            continue;
        }
        float4 st = ce_row(t, dlogits, logits, row, y, v, eps, inv_count, write_grad);
        if (get_local_id(0) == 0) loss_rows[row] = ce_loss1(st.x, st.y, st.z, st.w, eps, v);
    }
#endif
}

/* loss[0] = inv_count * sum(loss_rows): one work-group, each work-item sums a fixed strided subset in
 * order (16 at a time when it is alone: a CPU), then a tree; the same bits every run. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void cross_entropy_reduce(__global float *loss /* [1] */, __global const float *loss_rows /* [n] */, int n,
                          float inv_count) {
    __local float acc[WG];
    const int lid = get_local_id(0);
    float s = 0.0f;
    if (WG == 1) {
        float16 s16 = (float16)(0.0f);
        for (int i = 0; i < n / 16; i++) s16 += vload16(i, loss_rows);
        s = ce_hsum16(s16);
        for (int i = n / 16 * 16; i < n; i++) s += loss_rows[i];
    } else {
        for (int i = lid; i < n; i += WG) s += loss_rows[i];
    }
    acc[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = WG / 2; off > 0; off >>= 1) {
        if (lid < off) acc[lid] += acc[lid + off];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) loss[0] = inv_count * acc[0];
}
