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

/* exp(x) for x <= 0 (NaN stays NaN, -inf and anything below -87 give 0, i.e. results under 2^-125
 * flush to zero), within about 1 ulp: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite: ln2 in two parts, the
 * first exact in few bits so n * C1 is exact), exp(r) by Cephes' degree-7 polynomial, then 2^n built
 * in the exponent bits. The library exp of some drivers (PoCL's among them) is several times slower.
 * One definition per width: clf_exp_neg1 (float), clf_exp_neg4, clf_exp_neg8, clf_exp_neg16. */
#define CLF_DEFINE_EXP_NEG(W, F, AS_I, AS_F)                                                              \
    __attribute__((always_inline)) inline F clf_exp_neg##W(F x) {                                       \
        F xc = select(x, (F)(-88.0f), x < -88.0f); /* NaN compares false and passes through */          \
        /* n = round(x / ln2) by the 1.5 * 2^23 trick: no call to rint or a conversion (either may     \
         * leave the vector path) */                                                                    \
        F big = xc * 1.44269504088896341f + 12582912.0f;                                                \
        F n = big - 12582912.0f;                                                                        \
        F r = fma(n, (F)(-0.693359375f), xc);                                                           \
        r = fma(n, (F)(2.12194440e-4f), r);                                                             \
        F p = (F)(1.9875691500e-4f);                                                                    \
        p = fma(p, r, (F)(1.3981999507e-3f));                                                           \
        p = fma(p, r, (F)(8.3334519073e-3f));                                                           \
        p = fma(p, r, (F)(4.1665795894e-2f));                                                           \
        p = fma(p, r, (F)(1.6666665459e-1f));                                                           \
        p = fma(p, r, (F)(5.0000001201e-1f));                                                           \
        p = fma(p, r * r, r) + 1.0f;                                                                    \
        F two_n = AS_F((AS_I(big) - 0x4B400000 + 127) << 23);                                           \
        return select(p * two_n, (F)(0.0f), x < -87.0f);                                                \
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

/* Chunk k (floats 16k .. 16k + 15) of a row of n floats: those at or past n read as 0. */
__attribute__((always_inline)) inline float16 clf_load16(__global const float *p, int k, int n) {
    if (16 * k + 16 <= n) return vload16(k, p);
    float v[16];
    for (int j = 0; j < 16; j++) v[j] = 16 * k + j < n ? p[16 * k + j] : 0.0f;
    return vload16(0, v);
}

#endif
