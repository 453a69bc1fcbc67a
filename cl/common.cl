/* Helpers shared by every kernel program (inlined at build time by tools/embed_kernels.py). */
#ifndef CLF_COMMON_CL
#define CLF_COMMON_CL

#if CLF_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"). The host twin is
 * src/philox.c; both must give the same bits. */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__attribute__((always_inline)) inline uint4 philox4x32_10(uint4 c, uint2 k) {
    /* scalar words, 64-bit products and an unrolled loop: PoCL vectorizes this across work-items */
    uint c0 = c.x, c1 = c.y, c2 = c.z, c3 = c.w, k0 = k.x, k1 = k.y;
#pragma unroll
    for (int r = 0; r < 10; r++) {
        ulong p0 = (ulong)PHILOX_M0 * c0, p1 = (ulong)PHILOX_M1 * c2;
        c0 = (uint)(p1 >> 32) ^ c1 ^ k0;
        c1 = (uint)p1;
        c2 = (uint)(p0 >> 32) ^ c3 ^ k1;
        c3 = (uint)p0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    return (uint4)(c0, c1, c2, c3);
}

/* Dropout's keep decision for element i of a site at a step: the 32-bit word i % 4 of the Philox
 * block (counter = (i / 4, site, step, 0), key = seed), kept when its top 24 bits reach the
 * threshold round(p * 2^24). Independent of work-group size and device. */
__attribute__((always_inline)) inline bool clf_dropout_keep(uint i, uint site, uint step, uint2 seed, uint threshold) {
    uint4 r = philox4x32_10((uint4)(i >> 2, site, step, 0u), seed);
    uint w = (i & 3u) == 0u ? r.x : (i & 3u) == 1u ? r.y : (i & 3u) == 2u ? r.z : r.w;
    return (w >> 8) >= threshold;
}

/* Dropout as a kernel takes it: DROP_PARAMS are its arguments (the host passes them with
 * CLF_DROPOUT_ARGS of src/ops/elementwise.h; threshold 0 means off), DROP_ARGS hands them on to a
 * helper, and DROP_FACTOR(idx) is what element idx is multiplied by: 0 dropped, 1/(1-p) kept, 1 off. */
#define DROP_PARAMS uint drop_threshold, uint seed_lo, uint seed_hi, uint drop_step, uint drop_site, float drop_scale
#define DROP_ARGS drop_threshold, seed_lo, seed_hi, drop_step, drop_site, drop_scale
#define DROP_FACTOR(idx)                                                                                   \
    (drop_threshold == 0u ? 1.0f                                                                        \
     : clf_dropout_keep((idx), drop_site, drop_step, (uint2)(seed_lo, seed_hi), drop_threshold) ? drop_scale \
                                                                                                  : 0.0f)

/* ---- Dropout's words sixteen Philox blocks at a time, for kernels written in float16 vectors ----
 * clf_philox16: philox4x32_10 lane-wise on the counters (c0, site, step, 0) with key (k0, k1); w[u]
 * gets word u of each lane's block. The lanes are split into even and odd halves, each word in the
 * low half of a 64-bit lane: one 32 x 32 -> 64 multiply (the masks select it) then gives both words
 * of a product in place, with no packing inside the rounds; only the result is packed again. */
__attribute__((always_inline)) inline void clf_philox16(uint16 *w, uint16 c0, uint site, uint step, uint k0,
                                                        uint k1) {
    const ulong lo32 = 0xFFFFFFFFul;
    ulong8 e[4], o[4]; /* word u of the even lanes, of the odd lanes */
    e[0] = as_ulong8(c0) & lo32;
    o[0] = as_ulong8(c0) >> 32;
    e[1] = o[1] = (ulong8)(site);
    e[2] = o[2] = (ulong8)(step);
    e[3] = o[3] = (ulong8)(0ul);
#pragma unroll
    for (int r = 0; r < 10; r++) {
        const ulong8 pe0 = (e[0] & lo32) * (ulong)PHILOX_M0, po0 = (o[0] & lo32) * (ulong)PHILOX_M0;
        const ulong8 pe2 = (e[2] & lo32) * (ulong)PHILOX_M1, po2 = (o[2] & lo32) * (ulong)PHILOX_M1;
        e[0] = (pe2 >> 32) ^ e[1] ^ (ulong)k0;
        o[0] = (po2 >> 32) ^ o[1] ^ (ulong)k0;
        e[2] = (pe0 >> 32) ^ e[3] ^ (ulong)k1;
        o[2] = (po0 >> 32) ^ o[3] ^ (ulong)k1;
        e[1] = pe2, o[1] = po2;
        e[3] = pe0, o[3] = po0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
#pragma unroll
    for (int u = 0; u < 4; u++) w[u] = as_uint16((e[u] & lo32) | (o[u] << 32));
}

/* The multipliers of dropout words, decided as clf_dropout_keep decides: scale when the top 24 bits
 * reach the threshold, else 0. */
__attribute__((always_inline)) inline float4 clf_keep4(uint4 w, uint threshold, float scale) {
    return select((float4)(0.0f), (float4)(scale), (w >> 8) >= threshold);
}
__attribute__((always_inline)) inline float16 clf_keep16(uint16 w, uint threshold, float scale) {
    return select((float16)(0.0f), (float16)(scale), (w >> 8) >= threshold);
}

/* The multipliers of the 16 elements with mask indices e (any, lane-wise): one block per element,
 * of which one word is used. For indices that do not start blocks; clf_drop64 wastes nothing. */
__attribute__((always_inline)) inline float16 clf_drop16(uint16 e, DROP_PARAMS) {
    uint16 w[4];
    clf_philox16(w, e >> 2, drop_site, drop_step, seed_lo, seed_hi);
    const uint16 sel = e & 3u;
    return clf_keep16(sel == 0u ? w[0] : sel == 1u ? w[1] : sel == 2u ? w[2] : w[3], drop_threshold, drop_scale);
}

/* The multipliers of the 64 consecutive elements from mask index e, a multiple of 4, in order:
 * f[k] lane j is element e + 16 k + j. One clf_philox16 call on the 16 blocks they cover, then a
 * transpose in two-source shuffles within 128-bit lanes: lane 4 L + v computes block 4 v + L, so
 * after interleaving the words (stage 1: 32-bit, stage 2: 64-bit pairs) 128-bit lane L of vector v
 * holds block 4 v + L, and vector v is chunk v. */
__attribute__((always_inline)) inline void clf_drop64(float16 *f, uint e, DROP_PARAMS) {
    uint16 w[4];
    float16 m[4];
    clf_philox16(w, (e >> 2) + (uint16)(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), drop_site, drop_step,
                 seed_lo, seed_hi);
#pragma unroll
    for (int u = 0; u < 4; u++) m[u] = clf_keep16(w[u], drop_threshold, drop_scale);
    /* stage 1: (m0, m1) and (m2, m3) interleaved, lower and upper pairs of each 128-bit lane */
    ulong8 p[4];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const float16 a = m[2 * h], b = m[2 * h + 1];
        p[2 * h] = as_ulong8((float16)(a.s0, b.s0, a.s1, b.s1, a.s4, b.s4, a.s5, b.s5, a.s8, b.s8, a.s9, b.s9, a.sc,
                                       b.sc, a.sd, b.sd));
        p[2 * h + 1] = as_ulong8((float16)(a.s2, b.s2, a.s3, b.s3, a.s6, b.s6, a.s7, b.s7, a.sa, b.sa, a.sb, b.sb,
                                           a.se, b.se, a.sf, b.sf));
    }
    /* stage 2: the words of one block, (m0, m1) pair then (m2, m3) pair */
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const ulong8 a = p[h], b = p[2 + h];
        f[2 * h] = as_float16((ulong8)(a.s0, b.s0, a.s2, b.s2, a.s4, b.s4, a.s6, b.s6));
        f[2 * h + 1] = as_float16((ulong8)(a.s1, b.s1, a.s3, b.s3, a.s5, b.s5, a.s7, b.s7));
    }
}

/* exp(x) for x <= 0 (NaN stays NaN, -inf and anything below -87 give 0, i.e. results under 2^-125
 * flush to zero), within 2e-7 relative: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 in two
 * parts, the first exact in few bits so n * C1 is exact), exp(r) by a degree-5 polynomial fit for
 * relative error on [-ln2/2, ln2/2], then 2^n (1 + q) as one fma with 2^n built in the exponent bits.
 * The library exp of some drivers (PoCL's among them) is several times slower, and this exp is most
 * of the arithmetic of softmax-like kernels on CPUs. One definition per width: clf_exp_neg1 (float),
 * clf_exp_neg4, clf_exp_neg8, clf_exp_neg16. */
#define CLF_DEFINE_EXP_NEG(W, F, AS_I, AS_F)                                                              \
    __attribute__((always_inline)) inline F clf_exp_neg##W(F x) {                                       \
        F xc = select(x, (F)(-88.0f), x < -88.0f); /* NaN compares false and passes through */          \
        /* n = round(x / ln2) by the 1.5 * 2^23 trick: no call to rint or a conversion (either may     \
         * leave the vector path) */                                                                    \
        F big = xc * 1.44269504088896341f + 12582912.0f;                                                \
        F n = big - 12582912.0f;                                                                        \
        F r = fma(n, (F)(-0.693359375f), xc);                                                           \
        r = fma(n, (F)(2.12194440e-4f), r);                                                             \
        F p = (F)(8.31252523e-3f);                                                                      \
        p = fma(p, r, (F)(4.18901145e-2f));                                                             \
        p = fma(p, r, (F)(1.66671142e-1f));                                                             \
        p = fma(p, r, (F)(4.99992311e-1f));                                                             \
        F two_n = AS_F((AS_I(big) - 0x4B400000 + 127) << 23);                                           \
        return select(fma(fma(p, r * r, r), two_n, two_n), (F)(0.0f), x < -87.0f);                     \
    }
CLF_DEFINE_EXP_NEG(1, float, as_int, as_float)
CLF_DEFINE_EXP_NEG(4, float4, as_int4, as_float4)
CLF_DEFINE_EXP_NEG(8, float8, as_int8, as_float8)
CLF_DEFINE_EXP_NEG(16, float16, as_int16, as_float16)

/* One compensated step of a sum, for any float type: s += v, with c gathering what each addition lost,
 * exactly (Knuth's two-sum: no branch, no magnitude test), so the sum is s + c and its error is about
 * one rounding of the result even when the terms cancel. Additions only, so contraction cannot break it. */
#define CLF_TWO_SUM_STEP(F, s, c, v)                                                                     \
    do {                                                                                                \
        F two_sum_v_ = (v), two_sum_t_ = (s) + two_sum_v_, two_sum_vv_ = two_sum_t_ - (s);               \
        (c) += ((s) - (two_sum_t_ - two_sum_vv_)) + (two_sum_v_ - two_sum_vv_);                        \
        (s) = two_sum_t_;                                                                               \
    } while (0)

/* Sums of a vector's lanes as a fixed tree of halves (deterministic; pairwise, so accurate). */
__attribute__((always_inline)) inline float clf_hsum4(float4 v) {
    float2 h = v.lo + v.hi;
    return h.x + h.y;
}
__attribute__((always_inline)) inline float clf_hsum8(float8 v) { return clf_hsum4(v.lo + v.hi); }
__attribute__((always_inline)) inline float clf_hsum16(float16 v) { return clf_hsum8(v.lo + v.hi); }

/* Activations (clf_activation's values). GELU, tanh form, through 0.5 (1 + tanh(u)) = sigmoid(2u) =
 * 1 / (1 + exp(-2u)), with the exponential taken of -2|u| only: it never overflows (no inf/inf at large
 * |x|) and s (1 - s) = e / (1 + e)^2 has no cancellation. The library tanh of PoCL costs several times
 * this. One pair per width. */
#define CLF_ACT_NONE 0
#define CLF_ACT_RELU 1
#define CLF_ACT_GELU 2
#define CLF_GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define CLF_GELU_A 0.044715f
#define CLF_DEFINE_GELU(W, F)                                                                            \
    __attribute__((always_inline)) inline F clf_gelu##W(F v) {                                          \
        F u = CLF_GELU_C * (v + CLF_GELU_A * v * v * v), e = clf_exp_neg##W(-2.0f * fabs(u));             \
        F inv = 1.0f / (1.0f + e);                                                                       \
        return v * select(e * inv, inv, u >= 0.0f);                                                      \
    }                                                                                                    \
    __attribute__((always_inline)) inline F clf_gelu_grad##W(F v) {                                     \
        F u = CLF_GELU_C * (v + CLF_GELU_A * v * v * v), e = clf_exp_neg##W(-2.0f * fabs(u));             \
        F inv = 1.0f / (1.0f + e), s = select(e * inv, inv, u >= 0.0f);                                  \
        return s + 2.0f * v * (e * inv * inv) * (CLF_GELU_C * (1.0f + 3.0f * CLF_GELU_A * v * v));        \
    }

CLF_DEFINE_GELU(1, float)
CLF_DEFINE_GELU(16, float16)

__attribute__((always_inline)) inline float clf_act(int act, float v) {
    if (act == CLF_ACT_RELU) return v > 0.0f ? v : 0.0f;
    if (act == CLF_ACT_GELU) return clf_gelu1(v);
    return v;
}

__attribute__((always_inline)) inline float16 clf_act16(int act, float16 v) {
    if (act == CLF_ACT_RELU) return select((float16)(0.0f), v, v > 0.0f);
    if (act == CLF_ACT_GELU) return clf_gelu16(v);
    return v;
}

/* GEMM's epilogue, shared by the kernels that write C (cl/gemm.cl, cl/gemm_local.cl): EPI_PARAMS are
 * their arguments, EPI_PASS hands them on. v = alpha * product + beta * C, then with has_bias
 * v += bias[j] (bias [n]), with has_pre pre = v (pre laid out as C), then C = clf_act(act, v). */
#define EPI_PARAMS __global const float *bias, int has_bias, int act, __global float *pre, int has_pre
#define EPI_PASS bias, has_bias, act, pre, has_pre

/* The epilogue of one element: v is the product's value at (C's) offset off and column j. */
__attribute__((always_inline)) inline float gemm_epi1(float v, long off, int j, EPI_PARAMS) {
    if (has_bias) v += bias[j];
    if (has_pre) pre[off] = v;
    return clf_act(act, v);
}

/* C[off] = epilogue(x + beta C[off]) for x = alpha * product; beta = 0 never reads C (BLAS: NaN there
 * does not propagate). */
__attribute__((always_inline)) inline void gemm_store1(__global float *c, long off, int j, float x, float beta,
                                                       EPI_PARAMS) {
    c[off] = gemm_epi1(beta != 0.0f ? mad(beta, c[off], x) : x, off, j, EPI_PASS);
}

/* Chunk k (floats 16k .. 16k + 15) of a row of n floats: those at or past n read as 0. */
__attribute__((always_inline)) inline float16 clf_load16(__global const float *p, int k, int n) {
    if (16 * k + 16 <= n) return vload16(k, p);
    float v[16];
    for (int j = 0; j < 16; j++) v[j] = 16 * k + j < n ? p[16 * k + j] : 0.0f;
    return vload16(0, v);
}

#endif
