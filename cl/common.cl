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

inline uint4 philox4x32_10(uint4 c, uint2 k) {
    for (int r = 0; r < 10; r++) {
        uint hi0 = mul_hi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
        uint hi1 = mul_hi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
        c = (uint4)(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += (uint2)(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

/* Dropout's keep decision for element i of a site at a step: the 32-bit word i % 4 of the Philox
 * block (counter = (i / 4, site, step, 0), key = seed), kept when its top 24 bits reach the
 * threshold round(p * 2^24). Independent of work-group size and device. */
inline bool clf_dropout_keep(uint i, uint site, uint step, uint2 seed, uint threshold) {
    uint4 r = philox4x32_10((uint4)(i >> 2, site, step, 0u), seed);
    uint w = (i & 3u) == 0u ? r.x : (i & 3u) == 1u ? r.y : (i & 3u) == 2u ? r.z : r.w;
    return (w >> 8) >= threshold;
}

#endif
